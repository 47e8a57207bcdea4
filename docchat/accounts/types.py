"""What the accounts store hands out: a user, a token's description, who is asking."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field


class User(BaseModel):
    """A user as callers see it (never the password hash)."""

    id: str
    username: str
    display_name: str
    is_admin: bool
    disabled: bool
    #: Signs in by password (local account) and/or by single sign-on (``issuer``).
    has_password: bool
    issuer: str | None = None
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class TokenInfo(BaseModel):
    """An API token as its owner sees it after creation: never the secret again."""

    id: str
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked: bool


class NewToken(BaseModel):
    """A token just created: ``token`` is shown this once and stored only as a hash."""

    token: str
    info: TokenInfo


class Usage(BaseModel):
    """What a user holds, for admins: counts, never content."""

    user: User
    sessions: int
    messages: int
    documents: int


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from, and by what: a browser login (with its CSRF token) or a token."""

    user: User
    via: Literal["login", "token"]
    #: The login's CSRF token (browser logins only): state changes must send it back.
    csrf_token: str | None = None

    @property
    def owner(self) -> str:
        """The id that scopes this user's rows (``docchat.owners``)."""
        return self.user.id


@dataclass(frozen=True, slots=True)
class Login:
    """A browser login just opened: the cookie's value (shown to the browser only)."""

    cookie: str
    csrf_token: str
    expires_at: dt.datetime
    user: User
