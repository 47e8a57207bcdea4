"""Typed dependencies of the routes: ``Annotated`` aliases, so a route states what it needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from docchat.config import Settings
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


def get_owner() -> str | None:
    """Whose data this request may see: None, for docchat is single-user for now.

    Accounts will replace this one function (say, a token lookup returning the user id); every route
    already hands its result to the library, which scopes each query by it.  The library reads
    None as "single-user mode: everything", so with accounts this must never return None.
    """
    return None


SettingsDep = Annotated[Settings, Depends(get_settings)]
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
OwnerDep = Annotated[str | None, Depends(get_owner)]
SessionId = Annotated[str, Path(description="The session's id.")]
DocumentId = Annotated[str, Path(description="The document's id.")]
TaskId = Annotated[str, Path(description="The task's id.")]
