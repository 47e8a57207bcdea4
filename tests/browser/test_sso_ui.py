"""Single sign-on in Chromium: the login page's "Sign in with …" button, the real provider's
own login and consent pages, and back into the app signed in (tests/oidc_provider.py)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from api.conftest import live_server as serve
from oidc_provider import CLIENT_ID, CLIENT_SECRET, free_port, oidc_provider
from playwright.sync_api import Page, expect

from docchat.api.app import create_app
from docchat.config import AuthSettings, OidcSettings, Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

SHOTS = Path("/tmp/shots")


@pytest.mark.one_backend
def test_sign_in_with_the_provider(
    page: Page, tmp_path: Path, minilm: MiniLMEmbedder, foreign_requests: list[str]
) -> None:
    port = free_port()
    auth = AuthSettings(
        mode="oidc",
        oidc=OidcSettings(
            issuer=f"http://127.0.0.1:{port}",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            name="Test IdP",
        ),
    )
    settings = Settings(data_dir=tmp_path / "sso", auth=auth)
    app = create_app(settings, workspace=partial(Workspace, embedder=minilm))
    with serve(app) as client:
        url = str(client.base_url).rstrip("/")
        with oidc_provider(port, [f"{url}/auth/oidc/callback"]):
            page.goto(url + "/")
            expect(page).to_have_url(url + "/login")
            button = page.get_by_role("link", name="Sign in with Test IdP")
            expect(button).to_be_visible()
            if SHOTS.is_dir():
                page.screenshot(path=str(SHOTS / "login-sso-1280.png"))
            button.click()

            # The provider's pages: any name signs in there, then the consent.
            page.locator("input[name=login]").fill("grace")
            page.locator("input[name=password]").fill("anything")
            page.locator("button[type=submit]").first.click()
            page.locator("button[type=submit]").first.click()

            expect(page).to_have_url(url + "/")
            expect(page.locator("#account-name")).to_have_text("Test grace")
            cookies = {c["name"]: c for c in page.context.cookies(url)}
            assert cookies["docchat_login"]["httpOnly"] is True
            assert cookies["docchat_login"]["sameSite"] == "Lax"
    # The provider's development pages ask for a web font; the guard aborted it.  docchat's
    # own pages asked for nothing foreign.
    assert all("127.0.0.1" not in u and "googleapis" in u for u in foreign_requests)
