"""Sharing collections and the users view, in real Chromiums against a real server with accounts
on: Ada shares a collection with Bob from the Documents view (by keyboard, an unknown name
refused in the dialog), Bob signs in in a second browser context and finds it badged read-only,
without delete or re-index, beside his own collection of the same name, and cites its passage in
a chat; an admin creates a user and disables them in the users view (disabling herself is refused
in the row), and a non-admin has no link to it and gets 403 from the API.  With accounts off none
of it shows.  Screenshots of the share dialog and the users view at 360 and 1280 px go to
``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import (
    ACCOUNT_PASSWORD,
    ACCOUNT_USER,
    LiveServer,
    assert_fits,
    local_only,
    shoot,
)

TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)
NARROW = {"width": 360, "height": 740}
WIDE = {"width": 1280, "height": 800}
OTHER_USER, OTHER_PASSWORD = "bob", "difference-engine-1822"
MARKER = "quillomatic"
PRESS = f"# Press\n\nThe {MARKER} press prints forty pages a minute on recycled paper.\n"


@pytest.fixture
def pages(browser: Browser, foreign_requests: list[str]) -> Iterator[list[Page]]:
    """Two pages in two browser contexts (two people), failing the test on a script error or a
    request to another host."""
    contexts = [browser.new_context() for _ in range(2)]
    errors: list[str] = []
    opened = []
    for context in contexts:
        local_only(context, foreign_requests)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(TIMEOUT_MS)
        page.set_viewport_size(WIDE)
        opened.append(page)
    try:
        yield opened
        assert foreign_requests == []
        assert errors == []
    finally:
        for context in contexts:
            context.close()


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url + "/")
    expect(page).to_have_url(url + "/login")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    expect(page).to_have_url(url + "/")
    page.wait_for_selector("body.ready")


def upload(page: Page, collection: str, name: str, text: str) -> None:
    page.click("#nav-documents")
    page.fill("#upload-collection", collection)
    page.set_input_files(
        "#file-input",
        files=[{"name": name, "mimeType": "text/markdown", "buffer": text.encode()}],
    )
    row = page.locator("#document-rows > tr").filter(has_text=name)
    expect(row.locator("td.status")).to_have_text("Indexed")


def test_share_a_collection_read_only(pages: list[Page], accounts_server: LiveServer) -> None:
    ada, bob = pages
    url = accounts_server.url
    accounts_server.workspace.accounts.create_user(OTHER_USER, OTHER_PASSWORD)

    sign_in(ada, url, ACCOUNT_USER, ACCOUNT_PASSWORD)
    upload(ada, "handbook", "press.md", PRESS)
    item = ada.locator("#collection-list > li").filter(has_text="handbook")
    expect(item).to_contain_text("1 document")
    expect(item.locator(".badge")).to_have_count(0)

    # The dialog, by keyboard: Enter on "Share…", a name and Enter adds it, Enter on Save.
    share = item.get_by_role("button", name="Share handbook…")
    share.focus()
    ada.keyboard.press("Enter")
    dialog = ada.locator("#share-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", level=2)).to_have_text("Share “handbook”")
    expect(ada.locator("#share-nobody")).to_be_visible()
    assert ada.evaluate("document.activeElement.id") == "share-username"
    ada.keyboard.type("nobody")
    ada.keyboard.press("Enter")
    ada.keyboard.type(OTHER_USER)
    ada.keyboard.press("Enter")
    expect(ada.locator("#share-users > li")).to_have_text(["bobRemove", "nobodyRemove"])
    ada.locator("#share-save").focus()
    ada.keyboard.press("Enter")
    # A name nobody has is refused by the server (422 on "usernames"), said in the dialog.
    expect(ada.locator("#share-error")).to_contain_text("no user 'nobody'")
    expect(dialog).to_be_visible()
    shoot(ada, "share-dialog-1280.png")
    ada.set_viewport_size(NARROW)
    assert assert_fits(ada, 360) == []
    shoot(ada, "share-dialog-360.png")
    ada.set_viewport_size(WIDE)
    dialog.get_by_role("button", name="Remove nobody").click()
    expect(ada.locator("#share-users > li")).to_have_text(["bobRemove"])
    ada.click("#share-save")
    expect(dialog).to_be_hidden()
    expect(item.locator(".badge")).to_have_text("Shared")
    expect(share).to_be_focused()
    shares = ada.evaluate("fetch('/api/collections/handbook/shares').then(r => r.json())")
    assert shares == {"usernames": [OTHER_USER], "everyone": False}

    # Cancel changes nothing: Everyone ticked, then Esc.
    share.click()
    expect(ada.locator("#share-users > li")).to_have_text(["bobRemove"])
    ada.check("#share-everyone")
    ada.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert ada.evaluate("fetch('/api/collections/handbook/shares').then(r => r.json())") == shares

    # Bob, in his own browser, with a collection of the same name of his own.
    sign_in(bob, url, OTHER_USER, OTHER_PASSWORD)
    upload(bob, "handbook", "own.md", "# Own\n\nBob's own notes on the garden shed.\n")
    collections = bob.locator("#collection-list > li")
    expect(collections).to_have_count(2)
    theirs = collections.filter(has_text="Shared with you (read-only)")
    expect(theirs).to_contain_text("handbook")
    expect(theirs.get_by_role("button")).to_have_count(0)
    mine = collections.filter(has_not_text="Shared with you")
    expect(mine.get_by_role("button", name="Share handbook…")).to_be_visible()
    rows = bob.locator("#document-rows > tr")
    pressed = rows.filter(has_text="press.md")
    expect(pressed).to_contain_text("Read-only")
    expect(pressed.get_by_role("button")).to_have_count(0)
    own = rows.filter(has_text="own.md")
    expect(own.get_by_role("button", name="Delete own.md")).to_be_visible()
    expect(own.get_by_role("button", name="Re-index own.md")).to_be_visible()
    # The filter tells the two collections of one name apart.
    bob.select_option("#library-collection", label="handbook (shared with you)")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("press.md")
    bob.set_viewport_size(NARROW)
    assert assert_fits(bob, 360) == []
    shoot(bob, "shared-with-you-360.png")
    bob.set_viewport_size(WIDE)
    shoot(bob, "shared-with-you-1280.png")

    # His chat finds the passage and cites it.
    bob.click("#nav-chat")
    bob.fill("#composer-input", f"How many pages a minute does the {MARKER} press print?")
    bob.press("#composer-input", "Enter")
    answer = bob.locator("#messages > li.message.assistant:not(.streaming)")
    expect(answer).to_have_count(1)
    answer.locator("button.cite").first.click()
    expect(bob.locator("#preview .source-file")).to_have_text("press.md")
    expect(bob.locator("#preview blockquote.passage")).to_contain_text(MARKER)


def test_users_view_for_admins_only(pages: list[Page], accounts_server: LiveServer) -> None:
    admin, other = pages
    url = accounts_server.url
    accounts = accounts_server.workspace.accounts
    accounts.set_admin(ACCOUNT_USER, True)
    accounts.create_user(OTHER_USER, OTHER_PASSWORD)

    # The link is in the account menu, reached by keyboard.
    sign_in(admin, url, ACCOUNT_USER, ACCOUNT_PASSWORD)
    admin.focus("#account-menu summary")
    admin.keyboard.press("Enter")
    admin.keyboard.press("Tab")
    admin.keyboard.press("Tab")
    assert admin.evaluate("document.activeElement.id") == "nav-users"
    admin.keyboard.press("Enter")
    expect(admin.locator("#users-view")).to_be_visible()
    expect(admin).to_have_url(url + "/#/users")
    rows = admin.locator("#user-rows > tr")
    expect(rows).to_have_count(2)
    me = rows.filter(has_text=ACCOUNT_USER)
    expect(me.locator("td[data-label=Role]")).to_have_text("Admin")
    expect(me.locator("td[data-label='Last login']")).not_to_have_text("never")
    bob = rows.filter(has_text=OTHER_USER)
    expect(bob.locator("td[data-label=Role]")).to_have_text("User")
    expect(bob.locator("td[data-label='Last login']")).to_have_text("never")
    expect(bob.locator("td[data-label=Chats]")).to_have_text("0")

    # Create a user: an empty password is caught here, a short one refused by the server.
    admin.fill("#new-username", "carol")
    admin.click("#user-create")
    expect(admin.locator("#user-error")).to_have_text("Give the new user a password.")
    expect(admin.locator("#new-password")).to_be_focused()
    admin.fill("#new-password", "short")
    admin.click("#user-create")
    expect(admin.locator("#user-error")).to_contain_text("12")
    admin.fill("#new-display-name", "Carol Shaw")
    admin.fill("#new-password", "river-raid-1982-atari")
    admin.click("#user-create")
    expect(admin.locator("#user-status")).to_have_text("Created carol.")
    expect(admin.locator("#user-error")).to_be_hidden()
    expect(rows).to_have_count(3)
    carol = rows.filter(has_text="carol")
    expect(carol.locator(".user-shown")).to_have_text("Carol Shaw")
    expect(carol.locator("td[data-label=State]")).to_have_text("Active")
    assert httpx.post(
        url + "/auth/login", json={"username": "carol", "password": "river-raid-1982-atari"}
    ).is_success

    # Disable her (confirmed): the row says so and her password no longer signs in.
    admin.once("dialog", lambda dialog: dialog.accept())
    carol.get_by_role("button", name="Disable carol").click()
    expect(carol.locator("td[data-label=State]")).to_have_text("Disabled")
    expect(carol.get_by_role("button", name="Enable carol")).to_be_focused()
    refused = httpx.post(
        url + "/auth/login", json={"username": "carol", "password": "river-raid-1982-atari"}
    )
    assert not refused.is_success
    # Make Bob an admin and back.
    bob.get_by_role("button", name=f"Make admin {OTHER_USER}").click()
    expect(bob.locator("td[data-label=Role]")).to_have_text("Admin")
    bob.get_by_role("button", name=f"Remove admin {OTHER_USER}").click()
    expect(bob.locator("td[data-label=Role]")).to_have_text("User")
    # Demoting herself is refused (409), said in her row; she stays an admin.
    me.get_by_role("button", name=f"Remove admin {ACCOUNT_USER}").click()
    expect(me.locator("p.error")).to_contain_text("you cannot disable or demote yourself")
    expect(me.locator("td[data-label=Role]")).to_have_text("Admin")
    shoot(admin, "users-1280.png")
    admin.set_viewport_size(NARROW)
    assert assert_fits(admin, 360) == []
    shoot(admin, "users-360.png")

    # Bob, no admin: no link, no view, and the API refuses him.
    sign_in(other, url, OTHER_USER, OTHER_PASSWORD)
    other.click("#account-menu summary")
    expect(other.locator("#nav-tokens")).to_be_visible()
    assert other.locator("#nav-users, #users-view").count() == 0
    other.goto(url + "/#/users")
    other.wait_for_selector("body.ready")
    expect(other.locator("#chat-view")).to_be_visible()
    status = other.evaluate("fetch('/api/users').then(r => r.status)")
    assert status == 403


def test_accounts_off_shows_no_sharing_or_users(pages: list[Page], live_server: LiveServer) -> None:
    page = pages[0]
    page.goto(live_server.url + "/#/documents")
    page.wait_for_selector("body.ready")
    upload(page, "handbook", "press.md", PRESS)
    row = page.locator("#document-rows > tr").filter(has_text="press.md")
    expect(row.get_by_role("button", name="Delete press.md")).to_be_visible()
    # One implicit user: nothing to share with and nobody to manage, not even hidden.
    assert page.locator("#collections-section, #share-dialog, #users-view, #nav-users").count() == 0
    expect(page.get_by_text("Share…")).to_have_count(0)
    expect(page.get_by_text("Read-only")).to_have_count(0)
    page.goto(live_server.url + "/#/users")
    expect(page.locator("#chat-view")).to_be_visible()
