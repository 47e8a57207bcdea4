"""Tables of accounts: users, their browser logins, their API tokens and failed login attempts.

A user's id is what every other table records as ``owner`` (``docchat.owners``).  Secrets are
never stored: a password as its Argon2 hash, a login cookie and an API token as their SHA-256
(both are 256 random bits, so a fast hash is as good as a slow one and costs nothing per request).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from docchat.db import Base, BigIntKey, UTCDateTime


class UserRow(Base):
    """A person who may sign in: by password (``password_hash``), by single sign-on
    (``issuer`` + ``subject``), or both."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: Unique, compared as stored (the CLI and the login form send what the user typed).
    username: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(Text, default="")
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Single sign-on identity: the provider's issuer URL and its stable subject id.
    issuer: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_users_issuer_subject"),)


class LoginRow(Base):
    """A browser login: the cookie's hash, its CSRF token, when it ends; revoked by logout."""

    __tablename__ = "logins"

    #: SHA-256 of the cookie value, hex.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The client's address and browser when it logged in, for the user's list of logins.
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_logins_user", "user_id"),)


class ApiTokenRow(Base):
    """A named API token of a user, shown once; sent as ``Authorization: Bearer``."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    #: SHA-256 of the whole token, hex.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The token's first characters, so a user can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)


class LoginFailureRow(Base):
    """One failed login, counted per account name and per client address for the lockout.

    In the database, not in process memory, so every server process on one database counts the
    same attempts.
    """

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )


class OidcFlowRow(Base):
    """A single sign-on that went to the provider and has not come back: what the callback must
    find (``state``) and check (``nonce``, the PKCE verifier).  Used once, then deleted."""

    __tablename__ = "oidc_flows"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
