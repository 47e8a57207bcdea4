"""Signing in over HTTP, against a real server with ``auth.mode`` "accounts": who gets in, the
login cookie's attributes (behind a proxy too), CSRF, API tokens, the throttle, admin routes.

The store's rules run on both backends in tests/accounts/test_store.py; these check the HTTP face,
so they run on SQLite only.  Every response of these servers is checked for a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from corpora import Corpora
from sqlalchemy import select

from docchat.accounts import Accounts, User
from docchat.accounts.models import LoginRow
from docchat.api.auth import COOKIE_NAME
from docchat.config import Settings
from docchat.db import Database

from .conftest import StartServer, with_limits

pytestmark = pytest.mark.one_backend

ExpectError = Callable[..., dict[str, Any]]
Serve = Callable[..., httpx.Client]

PASSWORD = "correct horse battery"
ADMIN_PASSWORD = "admin horse battery"

#: A sample of the routes that need a user, one or two of each family.
PROTECTED = [
    ("GET", "/api/sessions"),
    ("POST", "/api/sessions"),
    ("GET", "/api/documents"),
    ("GET", "/api/collections"),
    ("GET", "/api/tasks"),
    ("POST", "/api/search"),
    ("GET", "/api/me"),
    ("GET", "/api/tokens"),
    ("GET", "/api/users"),
    ("POST", "/auth/logout"),
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/mcp"),
    ("GET", "/openapi.json"),
]


def _no_traceback(response: httpx.Response) -> None:
    response.read()
    assert "Traceback" not in response.text, response.text
    assert 'File "' not in response.text, response.text


def _watched(client: httpx.Client) -> httpx.Client:
    client.event_hooks = {"request": [], "response": [_no_traceback]}
    return client


@pytest.fixture
def auth_settings(api_settings: Settings) -> Settings:
    """The API test settings with accounts on."""
    return with_limits(api_settings, auth={"mode": "accounts"})


@pytest.fixture
def db(auth_settings: Settings, corpora: Corpora) -> Iterator[Database]:
    """The servers' database (a fresh, migrated one), opened beside them."""
    corpora.copy_into(auth_settings, [])
    database = Database.from_settings(auth_settings, migrate=False)
    yield database
    database.dispose()


@pytest.fixture
def accounts(auth_settings: Settings, db: Database) -> Accounts:
    """The accounts of that database."""
    return Accounts(db, auth_settings.auth)


@pytest.fixture
def users(accounts: Accounts) -> dict[str, User]:
    """An admin, root, and a user, alice."""
    return {
        "root": accounts.create_user("root", ADMIN_PASSWORD, admin=True),
        "alice": accounts.create_user("alice", PASSWORD),
    }


@pytest.fixture
def serve(auth_settings: Settings, users: dict[str, User], start_server: StartServer) -> Serve:
    """Factory: ``serve(auth={...}, server={...})`` starts a server with accounts on and those
    settings changed, on the database ``users`` are in; returns a client of it."""
    assert users

    def start(**changes: dict[str, Any]) -> httpx.Client:
        return _watched(start_server(with_limits(auth_settings, **changes)))

    return start


@pytest.fixture
def server(serve: Serve) -> httpx.Client:
    """A client of a server with accounts on (signed in as nobody)."""
    return serve()


@pytest.fixture
def other(server: httpx.Client) -> Iterator[httpx.Client]:
    """A second client of the same server, with a cookie jar of its own."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield _watched(client)


def login(client: httpx.Client, username: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in; returns the login's CSRF token."""
    response = client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["username"] == username.strip().lower()
    assert "password_hash" not in response.text
    csrf: str = body["csrf_token"]
    return csrf


def cookie_attributes(response: httpx.Response) -> tuple[str, set[str]]:
    """The login cookie's value and its attributes (lower case, ``name=value`` for valued ones)
    in a response's Set-Cookie."""
    (header,) = [
        h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE_NAME}=")
    ]
    first, *rest = (part.strip() for part in header.split(";"))
    return first.partition("=")[2], {part.lower() for part in rest}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- who gets in ---------------------------------------------------------------------------------


def test_a_request_without_credentials_is_refused(
    server: httpx.Client, expect_error: ExpectError
) -> None:
    def refused(response: httpx.Response, path: str) -> None:
        if path.startswith("/v1/"):  # OpenAI's fields as well, as on every error there
            assert response.status_code == 401, path
            error = response.json()["error"]
            assert (error["code"], error["type"]) == ("not_authenticated", "invalid_request_error")
        else:
            error = expect_error(response, 401, "not_authenticated")
        assert "sign in" in error["message"] or "token" in error["message"], path
        assert response.headers["www-authenticate"].startswith("Bearer"), path

    for method, path in PROTECTED:
        refused(server.request(method, path, json={}), path)
        for wrong in ("Bearer dct_not-a-token", "Bearer", "Basic YWxpY2U6cHc=", "dct_bare"):
            again = server.request(method, path, json={}, headers={"Authorization": wrong})
            refused(again, path)


def test_openai_clients_send_a_token_as_their_api_key(server: httpx.Client) -> None:
    csrf = login(server, "alice")
    created = server.post("/api/tokens", json={"name": "sdk"}, headers={"X-CSRF-Token": csrf})
    base_url = f"{server.base_url}/v1"
    stranger = openai.OpenAI(base_url=base_url, api_key="dct_unknown", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()
    sdk = openai.OpenAI(base_url=base_url, api_key=created.json()["token"], max_retries=0)
    assert [model.id for model in sdk.models.list()]


def test_the_login_page_health_and_static_files_stay_open(server: httpx.Client) -> None:
    assert server.get("/healthz").json() == {"status": "ok"}
    assert server.get("/readyz").json() == {"status": "ready"}
    page = server.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert server.get("/static/app.css").status_code == 200
    # A wrong token does not close what is open to everyone.
    assert server.get("/healthz", headers=bearer("dct_revoked")).status_code == 200
    assert server.get("/readyz", headers=bearer("dct_revoked")).status_code == 200
    for method in ("GET", "HEAD"):
        front = server.request(method, "/", follow_redirects=False)
        assert front.status_code == 303
        assert front.headers["location"] == "/login"


def test_login_sets_an_httponly_samesite_cookie(server: httpx.Client) -> None:
    response = server.post("/auth/login", json={"username": " Alice", "password": PASSWORD})
    assert response.status_code == 200, response.text
    value, attributes = cookie_attributes(response)
    assert value and value == server.cookies[COOKIE_NAME]
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # plain HTTP: a Secure cookie would never come back
    max_age = next(a for a in attributes if a.startswith("max-age="))
    assert int(max_age.partition("=")[2]) > 160 * 3600  # the default week, less a little
    me = server.get("/api/me").json()
    assert me["auth_mode"] == "accounts"
    assert me["user"]["username"] == "alice"
    assert me["csrf_token"] == response.json()["csrf_token"]


def test_the_cookie_is_secure_when_configured_so(serve: Serve) -> None:
    client = serve(auth={"mode": "accounts", "secure_cookies": "always"})
    response = client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert "secure" in cookie_attributes(response)[1]


def test_the_cookie_is_secure_behind_a_trusted_https_proxy(serve: Serve, db: Database) -> None:
    # uvicorn takes the scheme and the client's address from X-Forwarded-* only when docchat's
    # server_options pass server.proxy_headers on (the test server is configured by them).
    behind_proxy = serve(server={"proxy_headers": True})
    untrusted_proxy = serve(server={"proxy_headers": True, "forwarded_allow_ips": "10.9.9.9"})
    no_proxy = serve()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    body = {"username": "alice", "password": PASSWORD}

    response = behind_proxy.post("/auth/login", json=body, headers=forwarded)
    assert "secure" in cookie_attributes(response)[1]
    for client in (untrusted_proxy, no_proxy):
        response = client.post("/auth/login", json=body, headers=forwarded)
        assert "secure" not in cookie_attributes(response)[1]
    # The login throttle counts the address the proxy vouches for, and only then.
    with db.read() as session:  # the servers' own record of the three logins
        addresses = sorted(session.scalars(select(LoginRow.address)).all(), key=str)
    assert addresses == ["127.0.0.1", "127.0.0.1", "203.0.113.7"]


def test_a_wrong_name_and_a_wrong_password_get_one_answer(
    server: httpx.Client, expect_error: ExpectError
) -> None:
    wrong_password = server.post("/auth/login", json={"username": "alice", "password": "nope"})
    unknown_user = server.post("/auth/login", json={"username": "nobody", "password": PASSWORD})
    first = expect_error(wrong_password, 401, "not_authenticated")
    second = expect_error(unknown_user, 401, "not_authenticated")
    assert first == second
    assert COOKIE_NAME not in server.cookies


def test_a_malformed_login_is_refused_clearly(
    server: httpx.Client, expect_error: ExpectError
) -> None:
    bodies: list[Any] = [
        {"username": "alice"},
        {"username": "alice", "password": PASSWORD, "admin": True},
        {"username": 1, "password": PASSWORD},
        {"username": "a" * 256, "password": PASSWORD},
        {"username": "alice", "password": "p" * 1025},
        [],
    ]
    for body in bodies:
        expect_error(server.post("/auth/login", json=body), 422)
    not_json = server.post(
        "/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    expect_error(not_json, 422)
    assert COOKIE_NAME not in server.cookies


def test_the_sixth_failed_login_is_refused_with_retry_after(
    server: httpx.Client, expect_error: ExpectError
) -> None:
    for _ in range(5):
        expect_error(
            server.post("/auth/login", json={"username": "alice", "password": "wrong one"}), 401
        )
    response = server.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    error = expect_error(response, 429, "too_many_login_attempts")
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60 + 1
    assert f"{retry_after} s" in error["message"]
    assert COOKIE_NAME not in server.cookies


# -- CSRF and tokens -----------------------------------------------------------------------------


def test_a_cookie_change_needs_the_csrf_token(
    server: httpx.Client, expect_error: ExpectError
) -> None:
    csrf = login(server, "alice")
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": csrf[:-1] + "x"}):
        refused = server.post("/api/sessions", json={"title": "t"}, headers=headers)
        assert "X-CSRF-Token".lower() in expect_error(refused, 403, "csrf_failed")["message"]
    assert server.get("/api/sessions").json()["items"] == []  # nothing was made
    made = server.post("/api/sessions", json={"title": "t"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    assert [s["id"] for s in server.get("/api/sessions").json()["items"]] == [made.json()["id"]]


def test_a_token_works_without_csrf_until_revoked(
    server: httpx.Client, other: httpx.Client, expect_error: ExpectError
) -> None:
    csrf = login(server, "alice")
    created = server.post("/api/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    token_id = created.json()["info"]["id"]
    assert token.startswith("dct_")
    listed = server.get("/api/tokens").json()["items"]
    assert [item["id"] for item in listed] == [token_id]
    assert token not in server.get("/api/tokens").text

    made = other.post("/api/sessions", json={"title": "by token"}, headers=bearer(token))
    assert made.status_code == 201, made.text
    me = other.get("/api/me", headers=bearer(token)).json()
    assert (me["user"]["username"], me["csrf_token"]) == ("alice", None)

    expect_error(
        server.delete(f"/api/tokens/{token_id}x", headers={"X-CSRF-Token": csrf}),
        404,
        "token_not_found",
    )
    revoked = server.delete(f"/api/tokens/{token_id}", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    expect_error(other.get("/api/sessions", headers=bearer(token)), 401, "not_authenticated")


def test_another_users_data_and_tokens_are_out_of_reach(
    server: httpx.Client, other: httpx.Client, expect_error: ExpectError
) -> None:
    alice_csrf = login(server, "alice")
    root_csrf = login(other, "root", ADMIN_PASSWORD)
    made = server.post(
        "/api/sessions", json={"title": "hers"}, headers={"X-CSRF-Token": alice_csrf}
    )
    token_id = server.post(
        "/api/tokens", json={"name": "hers"}, headers={"X-CSRF-Token": alice_csrf}
    ).json()["info"]["id"]
    session_id = made.json()["id"]
    assert other.get("/api/sessions").json()["items"] == []
    expect_error(other.get(f"/api/sessions/{session_id}"), 404)
    expect_error(
        other.delete(f"/api/tokens/{token_id}", headers={"X-CSRF-Token": root_csrf}),
        404,
        "token_not_found",
    )
    assert other.get("/api/tokens").json()["items"] == []


def test_a_disabled_users_cookie_and_token_are_refused_at_once(
    server: httpx.Client, other: httpx.Client, expect_error: ExpectError
) -> None:
    alice_csrf = login(server, "alice")
    token = server.post(
        "/api/tokens", json={"name": "t"}, headers={"X-CSRF-Token": alice_csrf}
    ).json()["token"]
    root_csrf = login(other, "root", ADMIN_PASSWORD)
    disabled = other.patch(
        "/api/users/alice", json={"disabled": True}, headers={"X-CSRF-Token": root_csrf}
    )
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    expect_error(server.get("/api/sessions"), 401, "not_authenticated")
    expect_error(server.get("/api/sessions", headers=bearer(token)), 401, "not_authenticated")
    again = server.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    expect_error(again, 401, "not_authenticated")


def test_logout_ends_the_login(
    server: httpx.Client, other: httpx.Client, expect_error: ExpectError
) -> None:
    csrf = login(server, "alice")
    cookie = server.cookies[COOKIE_NAME]
    expect_error(server.post("/auth/logout"), 403, "csrf_failed")  # a change like any other
    response = server.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    value, attributes = cookie_attributes(response)
    assert value in ("", '""') and "max-age=0" in attributes
    other.cookies.set(COOKIE_NAME, cookie)
    expect_error(other.get("/api/sessions"), 401, "not_authenticated")


# -- admins --------------------------------------------------------------------------------------


def test_admin_routes_are_for_admins(
    server: httpx.Client, other: httpx.Client, expect_error: ExpectError
) -> None:
    alice_csrf = login(server, "alice")
    root_csrf = login(other, "root", ADMIN_PASSWORD)
    headers = {"X-CSRF-Token": alice_csrf}
    expect_error(server.get("/api/users"), 403, "forbidden")
    new_user = {"username": "bob", "password": PASSWORD}
    expect_error(server.post("/api/users", json=new_user, headers=headers), 403, "forbidden")
    expect_error(
        server.patch("/api/users/alice", json={"admin": True}, headers=headers), 403, "forbidden"
    )

    listed = other.get("/api/users")
    assert listed.status_code == 200
    assert {item["user"]["username"] for item in listed.json()["items"]} == {"alice", "root"}
    assert "password_hash" not in listed.text and "$argon2" not in listed.text
    headers = {"X-CSRF-Token": root_csrf}
    created = other.post("/api/users", json=new_user, headers=headers)
    assert created.status_code == 201, created.text
    expect_error(other.post("/api/users", json=new_user, headers=headers), 409, "conflict")
    short = {"username": "carol", "password": "short"}
    assert (
        expect_error(other.post("/api/users", json=short, headers=headers), 422)["field"]
        == "password"
    )
    expect_error(
        other.patch("/api/users/nobody", json={"disabled": True}, headers=headers),
        404,
        "user_not_found",
    )


def test_an_admin_cannot_disable_or_demote_himself(
    server: httpx.Client, expect_error: ExpectError
) -> None:
    csrf = login(server, "root", ADMIN_PASSWORD)
    for change in ({"disabled": True}, {"admin": False}):
        refused = server.patch("/api/users/ROOT", json=change, headers={"X-CSRF-Token": csrf})
        expect_error(refused, 409, "conflict")
    me = server.get("/api/me").json()["user"]
    assert (me["is_admin"], me["disabled"]) == (True, False)


# -- accounts off --------------------------------------------------------------------------------


def test_with_accounts_off_there_is_no_one_to_be(
    client: httpx.Client, expect_error: ExpectError
) -> None:
    _watched(client)
    assert client.get("/api/me").json() == {
        "auth_mode": "none",
        "user": None,
        "csrf_token": None,
    }
    expect_error(client.get("/api/tokens"), 409, "conflict")
    expect_error(client.post("/api/tokens", json={"name": "x"}), 409, "conflict")
    expect_error(client.get("/api/users"), 409, "conflict")
    login_attempt = client.post("/auth/login", json={"username": "a", "password": PASSWORD})
    expect_error(login_attempt, 409, "conflict")
    assert client.get("/api/sessions").status_code == 200
    assert client.get("/", follow_redirects=False).status_code == 200
