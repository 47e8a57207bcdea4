"""``Accounts`` on SQLite and PostgreSQL: users, the login throttle, logins, API tokens, adoption.

Every password is hashed for real (Argon2id, ~160 ms), so each test makes one or two users.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpora import Corpora
from sqlalchemy import func, select, update

from docchat.accounts import Accounts, Principal
from docchat.accounts.models import ApiTokenRow, LoginFailureRow, LoginRow
from docchat.accounts.store import SHOWN_TOKEN_CHARS, TOKEN_PREFIX, WRONG_LOGIN
from docchat.config import AuthSettings, Settings
from docchat.db import Database, utcnow
from docchat.documents.models import CollectionRow, DocumentRow
from docchat.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    TokenNotFound,
    TooManyLogins,
    UserNotFound,
)
from docchat.sessions.models import SessionRow
from docchat.tasks.models import TaskRow
from docchat.workspace import Workspace

PASSWORD = "correct horse battery"
HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"


@pytest.fixture
def db(settings: Settings, corpora: Corpora) -> Iterator[Database]:
    """A fresh, migrated database of the backend under test."""
    corpora.copy_into(settings, [])  # a copy of a migrated database: faster than migrating
    database = Database.from_settings(settings, migrate=False)
    yield database
    database.dispose()


@pytest.fixture
def accounts(db: Database) -> Accounts:
    """The accounts of that database, with the default settings."""
    return Accounts(db, AuthSettings(mode="accounts"))


def _failures(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(LoginFailureRow)) or 0)


# -- users ---------------------------------------------------------------------------------------


def test_create_and_list_users(accounts: Accounts) -> None:
    alice = accounts.create_user("Alice ", PASSWORD, display_name=" Alice A. ", admin=True)
    assert alice.username == "alice"
    assert alice.display_name == "Alice A."
    assert (alice.is_admin, alice.disabled, alice.has_password) == (True, False, True)
    assert alice.last_login_at is None
    sso = accounts.create_user("Bob")  # no password: signs in by single sign-on only
    assert sso.has_password is False
    assert [user.username for user in accounts.users()] == ["alice", "bob"]
    assert accounts.user("ALICE") == alice
    with pytest.raises(UserNotFound):
        accounts.user("carol")


def test_a_taken_name_is_a_conflict_whatever_its_case(accounts: Accounts) -> None:
    accounts.create_user("alice")
    with pytest.raises(Conflict, match="alice"):
        accounts.create_user(" ALICE", PASSWORD)
    assert len(accounts.users()) == 1


@pytest.mark.parametrize("name", ["", "   ", "a b", "tab\there", "nul\x00", "x" * 65, "zw\u200bj"])
def test_a_bad_user_name_is_refused_naming_the_field(accounts: Accounts, name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        accounts.create_user(name, PASSWORD)
    assert caught.value.field == "username"
    assert accounts.users() == []


@pytest.mark.parametrize("password", ["", "short", "eleven char", "y" * 1025])
def test_a_bad_password_is_refused_naming_the_field(accounts: Accounts, password: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        accounts.create_user("alice", password)
    assert caught.value.field == "password"
    assert accounts.users() == []


def test_the_shortest_password_follows_the_settings(db: Database) -> None:
    accounts = Accounts(db, AuthSettings(mode="accounts", min_password_chars=20))
    with pytest.raises(InvalidInput, match="20 characters"):
        accounts.create_user("alice", "nineteen characters")
    assert accounts.create_user("alice", "twenty characters ok").has_password


# -- logins --------------------------------------------------------------------------------------


def test_login_opens_a_browser_login(accounts: Accounts) -> None:
    accounts.create_user("alice", PASSWORD)
    before = utcnow()
    login = accounts.login(" Alice", PASSWORD, address="10.0.0.1", user_agent="pytest")
    assert login.user.username == "alice"
    assert login.cookie != login.csrf_token
    assert len(login.cookie) >= 40 and len(login.csrf_token) >= 40
    hours = accounts.settings.session_hours
    assert login.expires_at - before >= dt.timedelta(hours=hours)
    principal = accounts.by_login(login.cookie)
    assert principal is not None
    assert (principal.via, principal.owner, principal.csrf_token) == (
        "login",
        login.user.id,
        login.csrf_token,
    )
    last = accounts.user("alice").last_login_at
    assert last is not None and last >= before
    assert accounts.by_login("not-a-cookie") is None
    accounts.logout(login.cookie)
    assert accounts.by_login(login.cookie) is None
    accounts.logout("not-a-cookie")  # nothing to end: no error


def test_logins_store_only_the_cookies_hash(accounts: Accounts, db: Database) -> None:
    accounts.create_user("alice", PASSWORD)
    login = accounts.login("alice", PASSWORD, address="10.0.0.1")
    with db.read() as session:
        (stored,) = session.scalars(select(LoginRow.id)).all()
    assert stored != login.cookie and login.cookie not in stored


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(accounts: Accounts) -> None:
    accounts.create_user("alice", PASSWORD)
    with pytest.raises(NotAuthenticated) as wrong_password:
        accounts.login("alice", PASSWORD + "!", address="10.0.0.1")
    with pytest.raises(NotAuthenticated) as unknown_user:
        accounts.login("mallory", PASSWORD, address="10.0.0.1")
    with pytest.raises(NotAuthenticated) as bad_name:
        accounts.login("not a name", PASSWORD, address="10.0.0.1")
    assert str(wrong_password.value) == str(unknown_user.value) == str(bad_name.value)
    assert str(unknown_user.value) == WRONG_LOGIN


def test_a_login_that_is_not_valid_text_is_a_wrong_login(accounts: Accounts, db: Database) -> None:
    # Lone surrogates: valid in a Python str, not in UTF-8 (a library caller or a CLI reading a
    # terminal in another encoding can send them; the HTTP guard refuses them before).
    accounts.create_user("alice", PASSWORD)
    for username, password in (("alice", "\ud800" * 12), ("al\udcffice", PASSWORD)):
        with pytest.raises(NotAuthenticated, match=WRONG_LOGIN):
            accounts.login(username, password, address="10.0.0.1")
    assert _failures(db) == 2  # counted like any other failure
    assert accounts.login("alice", PASSWORD, address="10.0.0.1").user.username == "alice"


def test_a_single_sign_on_user_cannot_log_in_with_any_password(accounts: Accounts) -> None:
    accounts.create_user("bob")
    with pytest.raises(NotAuthenticated, match=WRONG_LOGIN):
        accounts.login("bob", "", address="10.0.0.1")


def test_the_account_is_locked_after_too_many_failures(db: Database) -> None:
    accounts = Accounts(db, AuthSettings(mode="accounts", max_failed_logins=3))
    accounts.create_user("alice", PASSWORD)
    for _ in range(3):
        with pytest.raises(NotAuthenticated):
            accounts.login("alice", "wrong password!", address="10.0.0.1")
    # The next attempt is refused before the password is looked at, even the right one, from
    # any address: the lock is the account's.
    for address in ("10.0.0.1", "10.0.0.2"):
        with pytest.raises(TooManyLogins) as caught:
            accounts.login("ALICE", PASSWORD, address=address)
        minutes = accounts.settings.lockout_minutes
        assert 0 < caught.value.retry_after_s <= minutes * 60 + 1
        assert "account" in str(caught.value)
    assert _failures(db) == 3  # a refused attempt is not one more failure
    # Another account from the same address is not locked.
    accounts.create_user("bob", PASSWORD)
    assert accounts.login("bob", PASSWORD, address="10.0.0.1").user.username == "bob"


def test_an_address_is_locked_after_too_many_failures_on_any_accounts(db: Database) -> None:
    accounts = Accounts(
        db, AuthSettings(mode="accounts", max_failed_logins=5, max_failed_logins_per_address=3)
    )
    accounts.create_user("alice", PASSWORD)
    for name in ("mallory", "trudy", "eve"):
        with pytest.raises(NotAuthenticated):
            accounts.login(name, PASSWORD, address="203.0.113.9")
    with pytest.raises(TooManyLogins, match="address") as caught:
        accounts.login("alice", PASSWORD, address="203.0.113.9")
    assert caught.value.retry_after_s > 0
    # alice herself, from elsewhere, is not locked out by what that address did.
    assert accounts.login("alice", PASSWORD, address="10.0.0.1").user.username == "alice"


def test_a_successful_login_clears_the_accounts_failures(db: Database) -> None:
    accounts = Accounts(db, AuthSettings(mode="accounts", max_failed_logins=2))
    accounts.create_user("alice", PASSWORD)
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            accounts.login("alice", "wrong password!", address="10.0.0.1")
        # One failure and a success, twice: had the first failure still counted, the second
        # round's login would have met two failures and been refused.
        accounts.login("alice", PASSWORD, address="10.0.0.1")
    assert _failures(db) == 0


def test_failures_count_within_the_window_only(accounts: Accounts, db: Database) -> None:
    accounts.create_user("alice", PASSWORD)
    window = dt.timedelta(minutes=accounts.settings.lockout_minutes)
    now = utcnow()
    limit = accounts.settings.max_failed_logins
    with db.write() as session:
        # Failures older than the window do not count...
        for _ in range(limit):
            session.add(LoginFailureRow(username="alice", address="10.0.0.1", at=now - 2 * window))
    assert accounts.login("alice", PASSWORD, address="10.0.0.1").user.username == "alice"
    with db.write() as session:
        # ...those inside it do, until the oldest of them leaves it: about a minute from now.
        for _ in range(limit):
            at = now - window + dt.timedelta(minutes=1)
            session.add(LoginFailureRow(username="alice", address="10.0.0.1", at=at))
    with pytest.raises(TooManyLogins) as caught:
        accounts.login("alice", PASSWORD, address="10.0.0.1")
    assert 1 <= caught.value.retry_after_s <= 62


def test_a_disabled_user_is_refused_at_once(accounts: Accounts) -> None:
    alice = accounts.create_user("alice", PASSWORD)
    login = accounts.login("alice", PASSWORD, address="10.0.0.1")
    token = accounts.create_token(alice.id, "laptop").token
    assert accounts.by_token(token) is not None

    assert accounts.set_disabled("alice", True).disabled
    assert accounts.by_login(login.cookie) is None
    assert accounts.by_token(token) is None
    with pytest.raises(NotAuthenticated, match=WRONG_LOGIN):
        accounts.login("alice", PASSWORD, address="10.0.0.1")

    assert not accounts.set_disabled("alice", False).disabled
    assert accounts.by_login(login.cookie) is None  # disabling ended the login for good
    assert accounts.by_token(token) is not None  # the token was not revoked, only refused
    assert accounts.login("alice", PASSWORD, address="10.0.0.2").user.username == "alice"


def test_a_new_password_ends_the_logins(accounts: Accounts) -> None:
    accounts.create_user("alice", PASSWORD)
    login = accounts.login("alice", PASSWORD, address="10.0.0.1")
    with pytest.raises(InvalidInput) as caught:
        accounts.set_password("alice", "short")
    assert caught.value.field == "password"
    assert accounts.by_login(login.cookie) is not None  # a refused password changes nothing
    accounts.set_password("ALICE", "a brand new passphrase")
    assert accounts.by_login(login.cookie) is None
    with pytest.raises(NotAuthenticated):
        accounts.login("alice", PASSWORD, address="10.0.0.1")
    assert accounts.login("alice", "a brand new passphrase", address="10.0.0.1").cookie
    with pytest.raises(UserNotFound):
        accounts.set_password("carol", "a brand new passphrase")


def test_an_expired_login_is_refused(accounts: Accounts, db: Database) -> None:
    accounts.create_user("alice", PASSWORD)
    login = accounts.login("alice", PASSWORD, address="10.0.0.1")
    with db.write() as session:
        session.execute(update(LoginRow).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert accounts.by_login(login.cookie) is None


def test_logins_ended_a_day_ago_are_pruned_by_the_next_login(
    accounts: Accounts, db: Database
) -> None:
    accounts.create_user("alice", PASSWORD)
    old = accounts.login("alice", PASSWORD, address="10.0.0.1")
    recent = accounts.login("alice", PASSWORD, address="10.0.0.1")
    with db.write() as session:
        session.execute(
            update(LoginRow)
            .where(LoginRow.csrf_token == old.csrf_token)
            .values(expires_at=utcnow() - dt.timedelta(days=2))
        )
        session.execute(
            update(LoginRow)
            .where(LoginRow.csrf_token == recent.csrf_token)
            .values(expires_at=utcnow() - dt.timedelta(hours=1))
        )
    accounts.login("alice", PASSWORD, address="10.0.0.1")
    with db.read() as session:
        kept = set(session.scalars(select(LoginRow.csrf_token)))
    assert old.csrf_token not in kept and recent.csrf_token in kept
    assert len(kept) == 2


def test_prune_deletes_what_expired_long_enough_ago(accounts: Accounts, db: Database) -> None:
    alice = accounts.create_user("alice", PASSWORD)
    ended, recent, live = (accounts.open_login(alice.id, address="10.0.0.1") for _ in range(3))
    old_token, new_token = (
        accounts.create_token(alice.id, "old"),
        accounts.create_token(alice.id, "recently expired"),
    )
    with pytest.raises(NotAuthenticated):
        accounts.login("alice", "wrong password", address="10.0.0.2")
    with db.write() as session:
        for login, ago in ((ended, dt.timedelta(days=2)), (recent, dt.timedelta(hours=1))):
            session.execute(
                update(LoginRow)
                .where(LoginRow.csrf_token == login.csrf_token)
                .values(expires_at=utcnow() - ago)
            )
        for token, ago in ((old_token, dt.timedelta(days=31)), (new_token, dt.timedelta(days=1))):
            session.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.id == token.info.id)
                .values(expires_at=utcnow() - ago)
            )
        session.execute(update(LoginFailureRow).values(at=utcnow() - dt.timedelta(hours=1)))
    assert accounts.prune() == {
        "expired logins": 1,
        "expired tokens": 1,
        "failed logins": 1,
        "sign-ons": 0,
    }
    with db.read() as session:
        logins = set(session.scalars(select(LoginRow.csrf_token)))
    assert logins == {recent.csrf_token, live.csrf_token}  # an ended login shows for a day
    assert [t.name for t in accounts.tokens(alice.id)] == ["recently expired"]
    assert _failures(db) == 0
    assert accounts.prune() == dict.fromkeys(
        ("expired logins", "expired tokens", "failed logins", "sign-ons"), 0
    )


def test_csrf_is_checked_for_logins_only(accounts: Accounts) -> None:
    alice = accounts.create_user("alice", PASSWORD, admin=True)
    login = accounts.login("alice", PASSWORD, address="10.0.0.1")
    principal = accounts.by_login(login.cookie)
    assert principal is not None
    assert Accounts.csrf_matches(principal, login.csrf_token)
    for sent in (None, "", login.csrf_token[:-1], login.csrf_token + "x", "é"):
        assert not Accounts.csrf_matches(principal, sent)
    by_token = accounts.by_token(accounts.create_token(alice.id, "ci").token)
    assert by_token is not None
    assert Accounts.csrf_matches(by_token, None)


def test_only_admins_pass_require_admin(accounts: Accounts) -> None:
    admin = accounts.create_user("alice", admin=True)
    user = accounts.create_user("bob")
    Accounts.require_admin(Principal(user=admin, via="token"))
    for principal in (None, Principal(user=user, via="token")):
        with pytest.raises(Forbidden):
            Accounts.require_admin(principal)
    assert accounts.set_admin("bob", True).is_admin
    Accounts.require_admin(Principal(user=accounts.user("bob"), via="login"))


# -- API tokens ----------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_stored_as_a_hash(accounts: Accounts, db: Database) -> None:
    alice = accounts.create_user("alice")
    new = accounts.create_token(alice.id, "  laptop ")
    assert new.token.startswith(TOKEN_PREFIX) and len(new.token) > 40
    assert new.info.prefix == new.token[:SHOWN_TOKEN_CHARS]
    assert (new.info.name, new.info.revoked, new.info.last_used_at) == ("laptop", False, None)
    listed = accounts.tokens(alice.id)
    assert [info.id for info in listed] == [new.info.id]
    assert new.token not in listed[0].model_dump_json()
    with db.read() as session:
        row = session.get(ApiTokenRow, new.info.id)
        assert row is not None
        assert new.token not in (row.token_hash, row.prefix)
    principal = accounts.by_token(new.token)
    assert principal is not None
    assert (principal.via, principal.owner, principal.csrf_token) == ("token", alice.id, None)
    for wrong in (
        "",
        TOKEN_PREFIX,
        new.token[:-1],
        new.token + "x",
        new.token[len(TOKEN_PREFIX) :],
    ):
        assert accounts.by_token(wrong) is None


def test_tokens_are_listed_newest_first_per_user(accounts: Accounts) -> None:
    alice = accounts.create_user("alice")
    bob = accounts.create_user("bob")
    first = accounts.create_token(alice.id, "one")
    second = accounts.create_token(alice.id, "two")
    accounts.create_token(bob.id, "bob's")
    assert [info.id for info in accounts.tokens(alice.id)] == [second.info.id, first.info.id]
    assert [info.name for info in accounts.tokens(bob.id)] == ["bob's"]


def test_a_token_records_its_last_use(accounts: Accounts) -> None:
    alice = accounts.create_user("alice")
    new = accounts.create_token(alice.id, "laptop")
    before = utcnow()
    assert accounts.by_token(new.token) is not None
    (info,) = accounts.tokens(alice.id)
    assert info.last_used_at is not None and info.last_used_at >= before


def test_a_revoked_token_is_refused_from_the_next_request(accounts: Accounts) -> None:
    alice = accounts.create_user("alice")
    bob = accounts.create_user("bob")
    new = accounts.create_token(alice.id, "laptop")
    bobs = accounts.create_token(bob.id, "bob's")
    with pytest.raises(TokenNotFound):
        accounts.revoke_token(bob.id, new.info.id)  # not his
    with pytest.raises(TokenNotFound):
        accounts.revoke_token(alice.id, str(uuid.uuid4()))
    assert accounts.by_token(new.token) is not None
    assert accounts.revoke_token(alice.id, new.info.id).revoked
    assert accounts.by_token(new.token) is None
    assert accounts.revoke_token(alice.id, new.info.id).revoked  # again: no error
    assert [info.revoked for info in accounts.tokens(alice.id)] == [True]
    assert accounts.by_token(bobs.token) is not None


def test_an_expired_token_is_refused(accounts: Accounts, db: Database) -> None:
    alice = accounts.create_user("alice")
    new = accounts.create_token(alice.id, "short-lived", expires_in_days=1)
    assert new.info.expires_at is not None
    assert dt.timedelta(hours=23) < new.info.expires_at - utcnow() <= dt.timedelta(days=1)
    assert accounts.by_token(new.token) is not None
    with db.write() as session:
        session.execute(update(ApiTokenRow).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert accounts.by_token(new.token) is None


@pytest.mark.parametrize(
    ("name", "days", "field"),
    [
        ("", None, "name"),
        ("  ", None, "name"),
        ("x" * 201, None, "name"),
        ("ok", 0, "expires_in_days"),
        ("ok", -1, "expires_in_days"),
    ],
)
def test_a_bad_token_request_is_refused(
    accounts: Accounts, name: str, days: float | None, field: str
) -> None:
    alice = accounts.create_user("alice")
    with pytest.raises(InvalidInput) as caught:
        accounts.create_token(alice.id, name, expires_in_days=days)
    assert caught.value.field == field
    assert accounts.tokens(alice.id) == []


def test_a_token_for_an_unknown_user_is_refused(accounts: Accounts) -> None:
    with pytest.raises(UserNotFound):
        accounts.create_token(str(uuid.uuid4()), "laptop")


# -- adopting a single-user data dir -------------------------------------------------------------


def _counts(db: Database) -> dict[str, dict[str | None, int]]:
    """Rows of each adopted table by owner."""
    counts: dict[str, dict[str | None, int]] = {}
    with db.read() as session:
        for name, table in (
            ("collections", CollectionRow),
            ("documents", DocumentRow),
            ("sessions", SessionRow),
            ("tasks", TaskRow),
        ):
            rows = session.execute(select(table.owner, func.count()).group_by(table.owner))
            counts[name] = {owner: int(count) for owner, count in rows.all()}
    return counts


def _add_task(db: Database, owner: str | None) -> None:
    now = utcnow()
    with db.write() as session:
        row = TaskRow.new("ingest", owner=owner, status="succeeded", runner=None, at=now)
        row.finished_at = now
        session.add(row)


@pytest.fixture
def adopting(workspace: Workspace) -> Iterator[tuple[Workspace, Database]]:
    """A workspace with rows recorded without an owner, and a second handle on its database."""
    files = sorted(HANDBOOK.glob("*.md"))
    workspace.ingest(files[:3], embed=False)
    workspace.ingest(files[3:4], collection="policies", embed=False)
    for title in ("one", "two"):
        workspace.create_session(title=title)
    db = Database.from_settings(workspace.settings, migrate=False)
    _add_task(db, None)
    yield workspace, db
    db.dispose()


def test_adopt_existing_gives_a_user_every_ownerless_row(
    adopting: tuple[Workspace, Database],
) -> None:
    workspace, db = adopting
    accounts = workspace.accounts
    alice = accounts.create_user("alice", PASSWORD)
    bob = accounts.create_user("bob")
    workspace.create_session(owner=bob.id, title="bob's")
    _add_task(db, bob.id)
    assert _counts(db) == {
        "collections": {None: 2},
        "documents": {None: 4},
        "sessions": {None: 2, bob.id: 1},
        "tasks": {None: 1, bob.id: 1},
    }

    counts = accounts.adopt_existing("Alice")

    assert counts == {"collections": 2, "documents": 4, "sessions": 2, "tasks": 1}
    assert _counts(db) == {
        "collections": {alice.id: 2},
        "documents": {alice.id: 4},
        "sessions": {alice.id: 2, bob.id: 1},
        "tasks": {alice.id: 1, bob.id: 1},
    }
    names = {c.name: c.documents for c in workspace.collections(owner=alice.id)}
    assert names == {"default": 3, "policies": 1}
    assert accounts.adopt_existing("alice") == {
        "collections": 0,
        "documents": 0,
        "sessions": 0,
        "tasks": 0,
    }
    usage = {u.user.username: (u.sessions, u.documents) for u in accounts.usage()}
    assert usage == {"alice": (2, 4), "bob": (1, 0)}


def test_adopt_existing_merges_a_collection_of_the_same_name(
    adopting: tuple[Workspace, Database],
) -> None:
    workspace, db = adopting
    files = sorted(HANDBOOK.glob("*.md"))
    alice = workspace.accounts.create_user("alice")
    workspace.ingest([files[5]], owner=alice.id, embed=False)  # her own "default"

    assert workspace.accounts.adopt_existing("alice")["collections"] == 2

    assert _counts(db)["documents"] == {alice.id: 5}
    assert _counts(db)["collections"] == {alice.id: 2}
    collections = {c.name: c.documents for c in workspace.collections(owner=alice.id)}
    assert collections == {"default": 4, "policies": 1}


def test_adopt_existing_keeps_a_collection_it_cannot_merge_beside_hers(
    adopting: tuple[Workspace, Database],
) -> None:
    workspace, db = adopting
    files = sorted(HANDBOOK.glob("*.md"))
    alice = workspace.accounts.create_user("alice")
    # Her own "default" holds a file the owner-less one has too (the same source path; a
    # collection holds a source once) and one it has not.
    workspace.ingest([files[0], files[5]], owner=alice.id, embed=False)
    assert _counts(db)["documents"] == {None: 4, alice.id: 2}

    counts = workspace.accounts.adopt_existing("alice")

    assert (counts["collections"], counts["documents"]) == (2, 4)
    assert _counts(db)["documents"] == {alice.id: 6}  # nothing lost
    collections = {c.name: c.documents for c in workspace.collections(owner=alice.id)}
    assert collections == {"default": 2, "default (adopted)": 3, "policies": 1}
    names = sorted(d.file_name for d in workspace.documents(owner=alice.id))
    assert names == sorted([f.name for f in files[:4]] + [files[0].name, files[5].name])


def test_adopt_existing_for_an_unknown_user_changes_nothing(
    adopting: tuple[Workspace, Database],
) -> None:
    workspace, db = adopting
    before = _counts(db)
    with pytest.raises(UserNotFound):
        workspace.accounts.adopt_existing("nobody")
    assert _counts(db) == before


def test_no_token_is_made_for_a_disabled_user(accounts: Accounts) -> None:
    bob = accounts.create_user("bob", PASSWORD)
    accounts.set_disabled("bob", True)
    with pytest.raises(Conflict):
        accounts.create_token(bob.id, "later")
    assert accounts.tokens(bob.id) == []
    accounts.set_disabled("bob", False)
    assert accounts.create_token(bob.id, "now").token.startswith("dct_")
