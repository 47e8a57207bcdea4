"""A real uvicorn server per test, serving ``create_app`` on the database backend under test.

The server runs in a background thread on a port the OS picks; tests talk to it over TCP with httpx,
so requests pass through the same HTTP parser, middleware and lifespan as in production.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import Any

import httpx
import pytest
import uvicorn
from corpora import Corpora
from fastapi import FastAPI
from llm_server import LlamaServer, run_llama_server

from docchat.api.app import create_app
from docchat.api.server import server_options
from docchat.config import BUILTIN_LOCAL_MODEL, QWEN_MODEL, Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

StartServer = Callable[..., httpx.Client]
MakeApp = Callable[[Settings], FastAPI]
ExpectError = Callable[..., dict[str, Any]]

#: Small limits, so the 413 paths are cheap to reach.
MAX_CONTENT_CHARS = 2_000
MAX_REQUEST_BYTES = 16_384


@contextmanager
def live_server(app: FastAPI) -> Iterator[httpx.Client]:
    """Serve ``app`` with uvicorn in a thread, configured as ``docchat serve`` configures it;
    yields a client bound to it, stops it afterwards."""
    settings: Settings = app.state.settings
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        lifespan="on",
        **server_options(settings.server),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server failed to start (see the captured log)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the test server did not start within 60 s")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the test server did not stop"


def with_limits(settings: Settings, **changes: dict[str, Any]) -> Settings:
    """A copy of ``settings`` with fields of its sections replaced: ``server={"port": 1}``."""
    update = {
        section: getattr(settings, section).model_copy(update=fields)
        for section, fields in changes.items()
    }
    return settings.model_copy(update=update)


def with_local_models_served(settings: Settings, server: LlamaServer) -> Settings:
    """``settings`` with the in-process models (``smollm2``, ``qwen-0.5b``) replaced by entries of
    the same names answered by ``server`` (SmolLM2-135M behind llama_cpp.server, in its window,
    32 tokens to answer: a reply cut at its length is still a reply).
    The schema tests send any model the schema lists in any
    mode, background tasks included: a long mode on Qwen in process takes minutes of 2 cores, the
    model's speed, not the HTTP face these tests check (Qwen's answers:
    tests/chat/test_model_verdict.py)."""
    served = server.model_settings(max_retries=0, max_output_tokens=32)
    models = {**settings.llm.models, BUILTIN_LOCAL_MODEL: served, QWEN_MODEL: served}
    return settings.model_copy(update={"llm": settings.llm.model_copy(update={"models": models})})


@pytest.fixture(scope="session")
def wide_smollm2_server() -> Iterator[LlamaServer]:
    """SmolLM2-135M behind llama_cpp.server in an 8,192-token window (its trained length), for
    the schema tests: the longest question and instructions the schema admits fit in it."""
    with run_llama_server(n_ctx=8192) as server:
        yield server


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The backend under test, with small content and request-size limits."""
    return with_limits(
        settings,
        sessions={"max_content_chars": MAX_CONTENT_CHARS},
        server={"max_request_bytes": MAX_REQUEST_BYTES},
    )


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    """The offline embedder, shared by every server of the run (it loads on first use, ~1 s)."""
    return MiniLMEmbedder()


@pytest.fixture
def make_app(embedder: MiniLMEmbedder) -> MakeApp:
    """Factory: ``make_app(settings)``, ``create_app`` with workspaces sharing one embedder."""

    def make(settings: Settings) -> FastAPI:
        return create_app(settings, workspace=partial(Workspace, embedder=embedder))

    return make


@pytest.fixture
def start_server(make_app: MakeApp) -> Iterator[StartServer]:
    """Factory: ``start_server(settings, app=None)`` serves an app and returns a client to it."""
    with ExitStack() as stack:

        def start(settings: Settings, app: FastAPI | None = None) -> httpx.Client:
            return stack.enter_context(live_server(app or make_app(settings)))

        yield start


@pytest.fixture
def client(api_settings: Settings, start_server: StartServer, corpora: Corpora) -> httpx.Client:
    """A client of a fresh server on a fresh database of the backend under test."""
    corpora.copy_into(api_settings, [])  # a copy of a migrated database: faster than migrating
    return start_server(api_settings)


@pytest.fixture
def expect_error() -> ExpectError:
    """Check that a response is an error of the one docchat shape; returns its ``error`` object."""

    def check(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert "Traceback" not in response.text
        body = response.json()
        assert set(body) == {"error"}
        error: dict[str, Any] = body["error"]
        assert set(error) <= {"code", "message", "field", "details"}
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
        assert error["message"]
        if code is not None:
            assert error["code"] == code, error
        return error

    return check
