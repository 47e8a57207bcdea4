"""The web app with accounts on, in a real Chromium against a real server: signing in (a wrong
password first), the user in the top bar, every change carrying the login's CSRF token (a chat,
an upload, a token), a stale token re-read once, API tokens made, used and revoked from the page,
signing out, and a lost login sending the page to /login.  With accounts off none of it shows.

One browser, few page loads: the accounts flow is one test, as a user would walk it.  Screenshots
of the login page and the tokens view at 360 and 1280 px go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from .conftest import (
    ACCOUNT_DISPLAY_NAME,
    ACCOUNT_PASSWORD,
    ACCOUNT_USER,
    LiveServer,
    assert_fits,
    shoot,
)

TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)
NARROW = {"width": 360, "height": 740}
WIDE = {"width": 1280, "height": 800}


@pytest.fixture
def watched(page: Page, foreign_requests: list[str]) -> Iterator[Page]:
    """The page, failing the test on a script error or a request to another host."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    assert foreign_requests == []
    assert errors == []


def sign_in(page: Page, password: str) -> None:
    page.fill("#login-username", ACCOUNT_USER)
    page.fill("#login-password", password)
    page.click("#login-submit")


def login_cookie(page: Page) -> str:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return cookies["docchat_login"]


def test_sign_in_chat_tokens_and_sign_out(watched: Page, accounts_server: LiveServer) -> None:
    page, url = watched, accounts_server.url
    changes: list[Request] = []
    page.on(
        "request",
        lambda r: changes.append(r) if r.method in ("POST", "PUT", "PATCH", "DELETE") else None,
    )

    # A stranger asking for the app lands on the sign-in form; a wrong password says so there.
    page.set_viewport_size(WIDE)
    page.goto(url + "/")
    expect(page).to_have_url(url + "/login")
    sign_in(page, "not-the-password")
    error = page.locator("#login-error")
    expect(error).to_have_text("wrong user name or password")
    expect(page).to_have_url(url + "/login")
    shoot(page, "login-1280.png")
    page.set_viewport_size(NARROW)
    assert_fits(page, 360)
    shoot(page, "login-360.png")
    page.set_viewport_size(WIDE)

    sign_in(page, ACCOUNT_PASSWORD)
    expect(page).to_have_url(url + "/")
    page.wait_for_selector("body.ready")
    expect(page.locator("#account-name")).to_have_text(ACCOUNT_DISPLAY_NAME)
    csrf = page.evaluate("fetch('/api/me').then(r => r.json()).then(me => me.csrf_token)")
    assert csrf
    changes.clear()  # the sign-in form's posts, which need no token

    # An upload, a new chat and a question: each change carries the login's CSRF token.
    page.click("#nav-documents")
    page.set_input_files(
        "#file-input",
        files=[
            {
                "name": "notes.md",
                "mimeType": "text/markdown",
                "buffer": b"# Notes\n\nThe boiler is serviced every October.\n",
            }
        ],
    )
    expect(page.locator("#document-rows")).to_contain_text("notes.md")
    page.click("#nav-chat")
    page.fill("#composer-input", "When is the boiler serviced?")
    page.press("#composer-input", "Enter")
    expect(page.locator("#messages > li.message.assistant:not(.streaming)")).to_have_count(1)
    expect(page.locator("#messages > li.message.user.failed")).to_have_count(0)
    expect(page.locator("#session-list li")).to_have_count(1)
    sent = {(r.method, re.sub(r"/[0-9a-f-]{32,36}/", "/{id}/", r.url[len(url) :])) for r in changes}
    assert {
        ("POST", "/api/documents"),
        ("POST", "/api/sessions"),
        ("POST", "/api/sessions/{id}/chat/stream"),
    } <= sent
    assert all(r.headers.get("x-csrf-token") == csrf for r in changes), [
        (r.method, r.url, r.headers.get("x-csrf-token")) for r in changes
    ]

    # Signing in again elsewhere (another tab) leaves this page's CSRF token stale: the next
    # change is refused once (403 csrf_failed), the page re-reads its token and sends it again.
    page.evaluate(
        """([username, password]) => fetch('/auth/login', {
             method: 'POST', headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({username, password})})""",
        [ACCOUNT_USER, ACCOUNT_PASSWORD],
    )
    changes.clear()

    # The tokens view, reached by keyboard from the account menu.
    page.focus("#account-menu summary")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "nav-tokens"
    page.keyboard.press("Enter")
    expect(page.locator("#tokens-view")).to_be_visible()
    expect(page.locator("#account-menu")).not_to_have_attribute("open", "")
    expect(page.locator("#no-tokens")).to_be_visible()

    page.fill("#token-name", "laptop script")
    page.fill("#token-days", "30")
    page.click("#token-create")
    expect(page.locator("#new-token")).to_be_visible()
    expect(page.locator("#new-token")).to_contain_text("will not be shown again")
    token = page.input_value("#new-token-value")
    assert token.startswith("dct_")
    refused = [r for r in changes if r.url.endswith("/api/tokens")]
    assert len(refused) == 2, [r.url for r in changes]  # refused once, then sent again
    first = refused[0].response()
    assert first is not None and first.status == 403
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page.click("#new-token-copy")
    expect(page.locator("#new-token-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    item = page.locator("#token-list > li").first
    expect(item).to_contain_text("laptop script")
    expect(item).to_contain_text(token[:12])
    expect(item).to_contain_text("Active")
    shoot(page, "tokens-1280.png")
    page.set_viewport_size(NARROW)
    assert_fits(page, 360)
    shoot(page, "tokens-360.png")
    page.set_viewport_size(WIDE)

    # The token works for a program, until it is revoked from the page.
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(url + "/api/sessions", headers=bearer).status_code == 200
    page.click("#new-token-done")
    expect(page.locator("#new-token")).to_be_hidden()
    assert page.input_value("#new-token-value") == ""
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="Revoke laptop script").click()
    expect(item).to_contain_text("Revoked")
    expect(item.get_by_role("button")).to_have_count(0)
    # The pressed button is gone: focus goes on to the form, not back to the top of the page.
    expect(page.locator("#token-name")).to_be_focused()
    expect(item.locator(".token-field", has_text="Last used")).not_to_contain_text("never")
    assert httpx.get(url + "/api/sessions", headers=bearer).status_code == 401

    # Signing out ends the login: back on /login, and the old cookie opens nothing.
    cookie = login_cookie(page)
    page.set_viewport_size(NARROW)
    page.click("#account-menu summary")
    expect(page.locator("#account-username")).to_have_text(ACCOUNT_USER)
    assert_fits(page, 360)
    shoot(page, "account-menu-360.png")
    page.click("#sign-out")
    expect(page).to_have_url(url + "/login")
    gone = httpx.get(url + "/api/sessions", cookies={"docchat_login": cookie})
    assert gone.status_code == 401

    # A login lost while the app is open (expired, ended elsewhere) sends the page to /login.
    sign_in(page, ACCOUNT_PASSWORD)
    expect(page).to_have_url(url + "/")
    page.wait_for_selector("body.ready")
    page.context.clear_cookies()
    page.click("#nav-documents")
    expect(page).to_have_url(url + "/login#/documents")


NOTE = {
    "name": "notes.md",
    "mimeType": "text/markdown",
    "buffer": b"# Notes\n\nThe boiler is serviced every October.\n",
}


def test_signing_in_returns_to_the_link_asked_for(
    watched: Page, accounts_server: LiveServer
) -> None:
    page, url = watched, accounts_server.url
    # A link into the app, opened signed out: after signing in the browser is where it asked.
    page.goto(url + "/#/documents")
    expect(page).to_have_url(url + "/login#/documents")
    sign_in(page, ACCOUNT_PASSWORD)
    expect(page).to_have_url(url + "/#/documents")
    expect(page.locator("#documents-view")).to_be_visible()
    # Likewise when the login is lost while the app is open.
    page.context.clear_cookies()
    page.evaluate("location.hash = '#/tokens'")
    expect(page).to_have_url(url + "/login#/tokens")
    sign_in(page, ACCOUNT_PASSWORD)
    expect(page).to_have_url(url + "/#/tokens")
    expect(page.locator("#tokens-view")).to_be_visible()
    # Signed in already, the login page sends the browser on to the link as well.
    page.goto(url + "/login#/documents")
    expect(page).to_have_url(url + "/#/documents")


def test_escape_closes_the_account_menu_only(watched: Page, accounts_server: LiveServer) -> None:
    page, url = watched, accounts_server.url
    page.goto(url + "/#/documents")
    sign_in(page, ACCOUNT_PASSWORD)
    page.wait_for_selector("body.ready")
    page.set_input_files("#file-input", files=[NOTE])
    expect(page.locator(".upload-item")).to_have_attribute("data-state", "done")
    page.click("#nav-chat")
    page.fill("#composer-input", "When is the boiler serviced?")
    page.press("#composer-input", "Enter")
    answer = page.locator("#messages > li.message.assistant:not(.streaming)")
    answer.locator("button.cite").first.click()
    expect(page.locator("#preview")).to_be_visible()
    # Escape in the open menu closes the menu, not the source beside it (nor a running answer).
    page.click("#account-menu summary")
    expect(page.locator("#sign-out")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#sign-out")).to_be_hidden()
    assert page.evaluate("document.activeElement.matches('#account-menu summary')")
    expect(page.locator("#preview")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#preview")).to_be_hidden()


def test_accounts_off_shows_no_account_ui(watched: Page, live_server: LiveServer) -> None:
    page = watched
    page.goto(live_server.url + "/#/tokens")
    page.wait_for_selector("body.ready")
    # The default mode: one implicit user, so no name, no sign-out, no tokens, not even hidden.
    assert page.locator("#account-menu, #sign-out, #nav-tokens, #tokens-view").count() == 0
    expect(page.locator("#chat-view")).to_be_visible()
    expect(page.get_by_text("Sign out")).to_have_count(0)
    expect(page.get_by_text("API tokens")).to_have_count(0)
