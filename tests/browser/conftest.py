"""Fixtures for tests that drive a real Chromium against a real docchat server.

- ``chromium_path``: Debian's Chromium (``apt-get install chromium``).  When it is missing every
  browser test skips with one loud line saying so; with ``DOCCHAT_REQUIRE_BROWSER=1`` (as
  ``.ci/run`` sets, after installing Chromium) each fails instead.
  Playwright's own browser downloads are never used (``playwright install`` is never run).
- ``browser``: that Chromium, headless, launched once per run through Playwright.
- ``live_server``: a ``LiveServer`` (``url``, ``settings``, ``app``): uvicorn serving
  ``create_app(settings)`` in a thread on a free port of 127.0.0.1, on a fresh temporary data dir
  with the default SQLite database and the real MiniLM embedder (shared by the run).  The app's
  workspace is ``live_server.workspace`` once it has started, to ingest documents through.
- ``accounts_server``: the same with ``auth.mode`` "accounts" and one user, ``ACCOUNT_USER``
  (display name ``ACCOUNT_DISPLAY_NAME``) signing in with ``ACCOUNT_PASSWORD``.
- ``page``: a new page in its own browser context whose requests to any host but this machine
  are aborted and listed in ``foreign_requests``, so a test can assert that nothing left it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from api.conftest import live_server as serve  # the API tests' uvicorn-in-a-thread helper
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from docchat.api.app import create_app
from docchat.config import AuthSettings, Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

#: Flags for a quiet, offline Chromium in a container: no sandbox (we run as root), no GPU, and
#: none of the background requests (updates, sync, field trials) a fresh profile would send.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
ACCOUNT_USER = "ada"
ACCOUNT_DISPLAY_NAME = "Ada Lovelace"
ACCOUNT_PASSWORD = "analytical-engine-1843"


@dataclass(frozen=True)
class LiveServer:
    """A running docchat server: its base URL (no trailing slash), settings and app."""

    url: str
    settings: Settings
    app: FastAPI

    @property
    def workspace(self) -> Workspace:
        """The server's workspace (opened by the app's lifespan)."""
        workspace: Workspace = self.app.state.workspace
        return workspace


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium executable, or a skip that says loudly why browser tests did not run."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    message = "BROWSER TESTS SKIPPED: no Chromium on PATH; install it with apt-get install chromium"
    if os.environ.get("DOCCHAT_REQUIRE_BROWSER") == "1":
        pytest.fail(message.replace("SKIPPED", "REQUIRED (DOCCHAT_REQUIRE_BROWSER=1)"))
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    """Headless Chromium, launched once for the run."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def foreign_requests() -> list[str]:
    """URLs the ``page`` tried to fetch from other hosts (each was aborted)."""
    return []


def local_only(context: BrowserContext, foreign_requests: list[str]) -> None:
    """Abort (and list in ``foreign_requests``) every request the context makes to another host."""

    def guard(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            foreign_requests.append(url)
            route.abort()

    context.route("**/*", guard)


#: Where the browser tests leave their screenshots (not committed).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def shoot(page: Page, name: str) -> None:
    """A screenshot of what the page shows, into ``ARTIFACTS``."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=False)


def assert_fits(page: Page, width: int) -> list[str]:
    """Nothing on the page is wider than the screen (no sideways scrolling); returns the elements
    that reach past ``width`` all the same (clipped by an ancestor, say)."""
    wider: list[str] = page.evaluate(
        """width => [...document.querySelectorAll('body *')]
             .filter(el => el.getBoundingClientRect().right > width + 0.5)
             .map(el => `${el.tagName}#${el.id}.${el.className}`)""",
        width,
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width, wider
    return wider


@pytest.fixture
def page(browser: Browser, foreign_requests: list[str]) -> Iterator[Page]:
    """A fresh page that may reach this machine only."""
    context = browser.new_context()
    local_only(context, foreign_requests)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def live_server(tmp_path: Path, minilm: MiniLMEmbedder) -> Iterator[LiveServer]:
    """A fresh docchat server on SQLite in a temporary data dir (see the module docstring)."""
    settings = Settings(data_dir=tmp_path / "live-server")
    app = create_app(settings, workspace=partial(Workspace, embedder=minilm))
    with serve(app) as client:
        yield LiveServer(url=str(client.base_url).rstrip("/"), settings=settings, app=app)


@pytest.fixture
def accounts_server(tmp_path: Path, minilm: MiniLMEmbedder) -> Iterator[LiveServer]:
    """A fresh docchat server with accounts on and one user (see the module docstring)."""
    settings = Settings(data_dir=tmp_path / "accounts-server", auth=AuthSettings(mode="accounts"))
    app = create_app(settings, workspace=partial(Workspace, embedder=minilm))
    with serve(app) as client:
        server = LiveServer(url=str(client.base_url).rstrip("/"), settings=settings, app=app)
        server.workspace.accounts.create_user(
            ACCOUNT_USER, ACCOUNT_PASSWORD, display_name=ACCOUNT_DISPLAY_NAME
        )
        yield server
