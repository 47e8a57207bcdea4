"""Signing in and out, who you are, your API tokens, and (for admins) the users.

With ``auth.mode`` "none" only ``/api/me`` answers (no user); the rest is 409, for there are no
users to sign in as.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from docchat.accounts import Login, NewToken, TokenInfo, Usage, User
from docchat.api.auth import (
    COOKIE_NAME,
    LOGIN_PAGE,
    LOGIN_PATH,
    OPTIONS_PATH,
    SSO_CALLBACK_PATH,
    SSO_START_PATH,
    cookie_is_secure,
    cookie_max_age,
    login_cookie,
)
from docchat.api.deps import AdminDep, PrincipalDep, SettingsDep, UserDep, WorkspaceDep
from docchat.api.schemas import error_responses
from docchat.config import AuthMode, AuthSettings
from docchat.errors import AuthError, Conflict, ProviderError

router = APIRouter(tags=["accounts"])

TokenId = Annotated[str, Path(description="The API token's id.", max_length=64)]
UserName = Annotated[str, Path(description="The user's name.", max_length=255)]


class Credentials(BaseModel):
    """A user name and password, as typed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = Field(max_length=255)
    password: str = Field(max_length=1024)


class LoginResult(BaseModel):
    """Who signed in, and the CSRF token their page sends with every change."""

    user: User
    csrf_token: str


class Me(BaseModel):
    """The server's sign-in mode and the caller (None when accounts are off)."""

    auth_mode: AuthMode
    user: User | None
    csrf_token: str | None = Field(
        None, description="Send it in `X-CSRF-Token` with every change made with the cookie."
    )


class TokenCreate(BaseModel):
    """A new API token's name and, optionally, its lifetime."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200)
    expires_in_days: float | None = Field(None, gt=0, le=3650)


class TokenList(BaseModel):
    """A user's API tokens."""

    items: list[TokenInfo]


class UserCreate(BaseModel):
    """A new local user."""

    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = Field(min_length=1, max_length=255)
    password: str = Field(max_length=1024)
    display_name: str = Field("", max_length=200)
    admin: bool = False


class UserUpdate(BaseModel):
    """What an admin changes about a user."""

    model_config = ConfigDict(extra="forbid", strict=True)

    disabled: bool | None = None
    admin: bool | None = None


class UsageList(BaseModel):
    """Every user with their counts (no content)."""

    items: list[Usage]


class SignInOptions(BaseModel):
    """How one may sign in here: the login page draws itself from this."""

    auth_mode: AuthMode
    password: bool = Field(description="The name-and-password form works.")
    sso_name: str | None = Field(None, description="'Sign in with …' this provider, if any.")
    sso_url: str | None = Field(None, description="Where that button goes.")


@router.get(OPTIONS_PATH, operation_id="sign_in_options", summary="How one may sign in")
def sign_in_options(settings: SettingsDep) -> SignInOptions:
    """Public: the sign-in mode, whether passwords work and the single sign-on button."""
    auth = settings.auth
    sso = auth.mode == "oidc"
    return SignInOptions(
        auth_mode=auth.mode,
        password=auth.mode != "none",
        sso_name=auth.oidc.name if sso else None,
        sso_url=SSO_START_PATH if sso else None,
    )


def _set_login_cookie(
    response: Response, login: Login, settings: AuthSettings, scheme: str
) -> None:
    response.set_cookie(
        COOKIE_NAME,
        login.cookie,
        max_age=cookie_max_age(login.expires_at),
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(settings, scheme),
    )


def _redirect_uri(request: Request, settings: AuthSettings) -> str:
    return settings.oidc.redirect_url or str(request.url_for("oidc_callback"))


@router.get(
    SSO_START_PATH,
    status_code=303,
    operation_id="oidc_start",
    summary="Start single sign-on (a browser redirect to the provider)",
    responses=error_responses(409, 502),
    response_class=RedirectResponse,
)
async def oidc_start(request: Request, workspace: WorkspaceDep) -> RedirectResponse:
    """303 to the provider's sign-in page, with a fresh state, nonce and PKCE challenge."""
    sso = workspace.accounts.sso()
    redirect_uri = _redirect_uri(request, workspace.settings.auth)
    url = await anyio.to_thread.run_sync(sso.start, redirect_uri)
    return RedirectResponse(url, status_code=303)


@router.get(
    SSO_CALLBACK_PATH,
    status_code=303,
    operation_id="oidc_callback",
    summary="Finish single sign-on (the provider sends the browser here)",
    responses=error_responses(409),
    response_class=RedirectResponse,
)
async def oidc_callback(
    request: Request,
    workspace: WorkspaceDep,
    state: Annotated[str, Query(max_length=200)] = "",
    code: Annotated[str, Query(max_length=4096)] = "",
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """Checks the answer (state, code, ID token), signs the user in and goes to the app; any
    failure goes back to the login page with `sso_error` saying what failed, and no cookie."""
    accounts = workspace.accounts
    sso = accounts.sso()
    address = request.client.host if request.client else "unknown"

    def finish() -> Login:
        if error is not None or not state or not code:
            # The provider's own error (access_denied ...) ends the flow too.
            if state:
                sso.forget(state)
            raise AuthError("the provider did not sign you in" + (f" ({error})" if error else ""))
        identity = sso.finish(state=state, code=code)
        user = accounts.sso_user(identity)
        return accounts.open_login(
            user.id, address=address, user_agent=request.headers.get("user-agent")
        )

    try:
        login = await anyio.to_thread.run_sync(finish)
    except (AuthError, ProviderError) as exc:
        query = urlencode({"sso_error": exc.message[:300]})
        return RedirectResponse(f"{LOGIN_PAGE}?{query}", status_code=303)
    response = RedirectResponse("/", status_code=303)
    _set_login_cookie(response, login, workspace.settings.auth, request.url.scheme)
    return response


@router.post(
    LOGIN_PATH,
    operation_id="login",
    summary="Sign in with a user name and password",
    responses=error_responses(401, 403, 409, 413, 415, 422, 429),
)
async def login(
    body: Credentials, request: Request, response: Response, workspace: WorkspaceDep
) -> LoginResult:
    """Sets the login cookie (HttpOnly, SameSite=Lax, Secure over HTTPS).  A wrong name and a
    wrong password get the same 401; too many failures for the account or address get 429."""
    settings = workspace.settings.auth
    if settings.mode == "none":
        raise Conflict("accounts are off on this server (DOCCHAT_AUTH__MODE=none)")
    address = request.client.host if request.client else "unknown"
    done = await anyio.to_thread.run_sync(
        lambda: workspace.accounts.login(
            body.username,
            body.password,
            address=address,
            user_agent=request.headers.get("user-agent"),
        )
    )
    _set_login_cookie(response, done, settings, request.url.scheme)
    return LoginResult(user=done.user, csrf_token=done.csrf_token)


@router.post(
    "/auth/logout",
    status_code=204,
    operation_id="logout",
    summary="Sign out (ends this browser login)",
    responses=error_responses(401, 403, 409),
)
def logout(request: Request, response: Response, workspace: WorkspaceDep, user: UserDep) -> None:  # noqa: ARG001  # needs a user
    """Ends the login whose cookie came with the request and clears the cookie."""
    cookie = login_cookie(request.scope)
    if cookie is not None:
        workspace.accounts.logout(cookie)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")


@router.get("/api/me", operation_id="get_me", summary="Who you are signed in as")
def me(settings: SettingsDep, principal: PrincipalDep) -> Me:
    """The sign-in mode, your user and your page's CSRF token (null with accounts off)."""
    return Me(
        auth_mode=settings.auth.mode,
        user=principal.user if principal else None,
        csrf_token=principal.csrf_token if principal else None,
    )


@router.get(
    "/api/tokens",
    operation_id="list_tokens",
    summary="List your API tokens",
    responses=error_responses(401, 409),
)
def list_tokens(workspace: WorkspaceDep, user: UserDep) -> TokenList:
    """Newest first; revoked ones are marked.  The secrets are never shown again."""
    return TokenList(items=workspace.accounts.tokens(user.owner))


@router.post(
    "/api/tokens",
    status_code=201,
    operation_id="create_token",
    summary="Create an API token (shown once)",
    responses=error_responses(401, 403, 409, 413, 415, 422),
)
def create_token(body: TokenCreate, workspace: WorkspaceDep, user: UserDep) -> NewToken:
    """Send it as `Authorization: Bearer <token>` to the REST API, the OpenAI-compatible endpoint
    (as the client's API key) and /mcp.  Store it now: only its hash is kept."""
    return workspace.accounts.create_token(
        user.owner, body.name, expires_in_days=body.expires_in_days
    )


@router.delete(
    "/api/tokens/{token_id}",
    operation_id="revoke_token",
    summary="Revoke one of your API tokens",
    responses=error_responses(401, 403, 404, 409),
)
def revoke_token(token_id: TokenId, workspace: WorkspaceDep, user: UserDep) -> TokenInfo:
    """Refused from the next request on, on every server process."""
    return workspace.accounts.revoke_token(user.owner, token_id)


@router.get(
    "/api/users",
    operation_id="list_users",
    summary="List the users and what they hold (admins)",
    responses=error_responses(401, 403, 409),
)
def list_users(workspace: WorkspaceDep, admin: AdminDep) -> UsageList:  # noqa: ARG001  # admins only
    """Each user with counts of chats, messages and documents: figures, never content."""
    return UsageList(items=workspace.accounts.usage())


@router.post(
    "/api/users",
    status_code=201,
    operation_id="create_user",
    summary="Create a local user (admins)",
    responses=error_responses(401, 403, 409, 413, 415, 422),
)
def create_user(body: UserCreate, workspace: WorkspaceDep, admin: AdminDep) -> User:  # noqa: ARG001  # admins only
    """A user who signs in with this name and password (at least `auth.min_password_chars`)."""
    return workspace.accounts.create_user(
        body.username, body.password, display_name=body.display_name, admin=body.admin
    )


@router.patch(
    "/api/users/{username}",
    operation_id="update_user",
    summary="Disable, enable, promote or demote a user (admins)",
    responses=error_responses(401, 403, 404, 409, 413, 415, 422),
)
def update_user(
    username: UserName, body: UserUpdate, workspace: WorkspaceDep, admin: AdminDep
) -> User:
    """Disabling ends the user's logins and stops their tokens at once.  An admin cannot disable
    or demote themselves (so a deployment always keeps one)."""
    accounts = workspace.accounts
    target = accounts.user(username)
    if target.id == admin.owner and (body.disabled or body.admin is False):
        raise Conflict("you cannot disable or demote yourself; ask another admin")
    if body.disabled is not None:
        target = accounts.set_disabled(username, body.disabled)
    if body.admin is not None:
        target = accounts.set_admin(username, body.admin)
    return target
