"""Typed dependencies of the routes: ``Annotated`` aliases, so a route states what it needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from docchat.config import Settings
from docchat.sessions.store import SessionStore


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> SessionStore:
    """The session store the lifespan opened."""
    store: SessionStore = request.app.state.store
    return store


def get_owner() -> str | None:
    """Whose sessions this request may see: None, for docchat is single-user for now.

    Accounts will replace this one function (say, a token lookup returning the user id); every route
    already hands its result to the store, which scopes each query by it.
    """
    return None


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
OwnerDep = Annotated[str | None, Depends(get_owner)]
SessionId = Annotated[str, Path(description="The session's id.")]
