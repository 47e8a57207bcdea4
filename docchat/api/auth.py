"""Who is asking: the ``Authentication`` middleware, and the login cookie's attributes.

With ``auth.mode`` "none" it does nothing: one implicit user, every route open (``get_owner``
answers None).  With "accounts" every request brings a browser login cookie or an API token
(``Authorization: Bearer dct_…``, which OpenAI and MCP clients send as their API key), except
``PUBLIC_PATHS``: the health and readiness checks, the login page, its form's endpoint and the
single sign-on round trip, static files.

The middleware puts the ``Principal`` in the request's state for ``deps.get_owner``, so no
route decides on its own who may see what: every route already hands the owner to the library,
which scopes each query by it (``docchat.owners``).  A state change made with the cookie must
send the login's CSRF token in ``X-CSRF-Token`` (the page reads it from ``/api/me``); a cross-site
page cannot read it, and the cookie is ``SameSite=Lax`` besides, with ``SiteGuard`` before both.
"""

from __future__ import annotations

import datetime as dt
from http.cookies import SimpleCookie

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from docchat.accounts import Accounts, Principal
from docchat.api.errors import error_response
from docchat.api.guard import UNSAFE_METHODS
from docchat.config import AuthSettings

#: The browser login's cookie.
COOKIE_NAME = "docchat_login"
#: The header a cookie-authenticated state change carries its CSRF token in.
CSRF_HEADER = "x-csrf-token"
LOGIN_PAGE = "/login"
LOGIN_PATH = "/auth/login"
#: What the login page offers (password, single sign-on), and the single sign-on round trip.
OPTIONS_PATH = "/auth/options"
SSO_START_PATH = "/auth/oidc/start"
SSO_CALLBACK_PATH = "/auth/oidc/callback"
#: Reachable without signing in: exact paths, and prefixes (static files hold no data).
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        LOGIN_PAGE,
        LOGIN_PATH,
        OPTIONS_PATH,
        SSO_START_PATH,
        SSO_CALLBACK_PATH,
        "/favicon.ico",
    }
)
PUBLIC_PREFIXES = ("/static/",)
#: The key of the ``Principal`` (or None) in the request's state.
PRINCIPAL = "principal"


def is_public(path: str) -> bool:
    """Whether ``path`` is served to anyone, signed in or not."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def login_cookie(scope: Scope) -> str | None:
    """The login cookie's value in a request, if any."""
    raw = Headers(scope=scope).get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # http.cookies raises CookieError and others on junk
        return None
    morsel = jar.get(COOKIE_NAME)
    return morsel.value if morsel is not None and morsel.value else None


def cookie_is_secure(settings: AuthSettings, scheme: str) -> bool:
    """Whether the login cookie gets ``Secure``: as configured, or when the request was HTTPS
    (uvicorn sets the scheme from ``X-Forwarded-Proto`` when ``server.proxy_headers`` is on)."""
    if settings.secure_cookies == "always":
        return True
    return settings.secure_cookies == "auto" and scheme in ("https", "wss")


def cookie_max_age(expires_at: dt.datetime) -> int:
    """Seconds from now until ``expires_at``."""
    return max(0, int((expires_at - dt.datetime.now(dt.UTC)).total_seconds()))


class Authentication:
    """Find the ``Principal`` of each request (login cookie or API token); refuse a request that
    needs one and has none (401; a browser asking for the app is sent to the login page), and a
    cookie-authenticated state change without its CSRF token (403)."""

    def __init__(self, app: ASGIApp, *, settings: AuthSettings) -> None:
        self.app = app
        self.enabled = settings.mode != "none"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        accounts: Accounts = scope["app"].state.workspace.accounts
        path = str(scope["path"])
        headers = Headers(scope=scope)
        principal: Principal | None = None
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, credentials = authorization.strip().partition(" ")
            credentials = credentials.strip()
            if scheme.lower() == "bearer" and credentials:
                principal = await anyio.to_thread.run_sync(accounts.by_token, credentials)
            if principal is None and not is_public(path):
                await self._refuse(
                    scope,
                    receive,
                    send,
                    "the API token is unknown, expired or revoked "
                    "(send 'Authorization: Bearer <token>')",
                )
                return
        else:
            cookie = login_cookie(scope)
            if cookie is not None:
                principal = await anyio.to_thread.run_sync(accounts.by_login, cookie)
        scope.setdefault("state", {})[PRINCIPAL] = principal
        if is_public(path):
            await self.app(scope, receive, send)
            return
        if principal is None:
            if scope["method"] in ("GET", "HEAD") and path == "/":
                await RedirectResponse(LOGIN_PAGE, status_code=303)(scope, receive, send)
                return
            await self._refuse(
                scope, receive, send, "sign in first: send a login cookie or an API token"
            )
            return
        if scope["method"] in UNSAFE_METHODS and not Accounts.csrf_matches(
            principal, headers.get(CSRF_HEADER)
        ):
            response = error_response(
                403,
                "csrf_failed",
                f"a change made with the login cookie needs its CSRF token in {CSRF_HEADER} "
                "(GET /api/me gives it)",
                request=Request(scope),
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, message: str) -> None:
        response = error_response(
            401,
            "not_authenticated",
            message,
            headers={"WWW-Authenticate": 'Bearer realm="docchat"'},
            # On /v1/ with OpenAI's ``type`` too, as every other error there.
            request=Request(scope),
        )
        await response(scope, receive, send)
