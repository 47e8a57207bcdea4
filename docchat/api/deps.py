"""Typed dependencies of the routes: ``Annotated`` aliases, so a route states what it needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from docchat.accounts import Accounts, Principal
from docchat.api.auth import PRINCIPAL
from docchat.config import Settings
from docchat.errors import Conflict, NotAuthenticated
from docchat.sessions.store import SessionStore
from docchat.workspace import Workspace


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_workspace(request: Request) -> Workspace:
    """The workspace the lifespan opened."""
    workspace: Workspace = request.app.state.workspace
    return workspace


def get_store(request: Request) -> SessionStore:
    """The workspace's session store."""
    return get_workspace(request).sessions


def get_principal(request: Request) -> Principal | None:
    """Who is asking (``api/auth.py`` found them), or None with ``auth.mode`` "none"."""
    principal: Principal | None = request.scope.get("state", {}).get(PRINCIPAL)
    return principal


def get_owner(request: Request) -> str | None:
    """Whose data this request may see: the signed-in user's id, or None (single-user mode).

    Every route hands this to the library, which scopes each query by it (``docchat.owners``).
    With accounts on it is never None: the library reads None as "everything".
    """
    if get_settings(request).auth.mode == "none":
        return None
    principal = get_principal(request)
    if principal is None:  # Authentication lets no such request through; a second wall
        raise NotAuthenticated("sign in first: send a login cookie or an API token")
    return principal.owner


def get_user(request: Request) -> Principal:
    """The signed-in user, for routes that exist only with accounts (tokens, users)."""
    if get_settings(request).auth.mode == "none":
        raise Conflict(
            "accounts are off on this server (DOCCHAT_AUTH__MODE=none): there are no users"
        )
    principal = get_principal(request)
    if principal is None:
        raise NotAuthenticated("sign in first: send a login cookie or an API token")
    return principal


def get_admin(request: Request) -> Principal:
    """The signed-in user, who must be an admin (403 otherwise)."""
    principal = get_user(request)
    Accounts.require_admin(principal)
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
OwnerDep = Annotated[str | None, Depends(get_owner)]
PrincipalDep = Annotated[Principal | None, Depends(get_principal)]
UserDep = Annotated[Principal, Depends(get_user)]
AdminDep = Annotated[Principal, Depends(get_admin)]
SessionId = Annotated[str, Path(description="The session's id.")]
DocumentId = Annotated[str, Path(description="The document's id.")]
TaskId = Annotated[str, Path(description="The task's id.")]
