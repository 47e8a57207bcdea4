"""``Accounts``: users, browser logins, API tokens and the login throttle, in the database.

Everything lives in the database, not in process memory, so every ``docchat serve`` process on
one database sees the same logins, revocations and failed attempts: revoking a token or
disabling a user takes effect at the next request, on every process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import secrets
import threading
import unicodedata
import uuid
from typing import Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docchat.accounts.models import ApiTokenRow, LoginFailureRow, LoginRow, OidcFlowRow, UserRow
from docchat.accounts.oidc import FLOW_TTL, Identity, OidcClient
from docchat.accounts.passwords import check_password, hash_password
from docchat.accounts.types import Login, NewToken, Principal, TokenInfo, Usage, User
from docchat.config import AuthSettings
from docchat.db import Database, utcnow
from docchat.documents.models import CollectionRow, DocumentRow
from docchat.documents.registry import MAX_COLLECTION_CHARS
from docchat.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    TokenNotFound,
    TooManyLogins,
    UserNotFound,
    shown_id,
)
from docchat.sessions.models import SessionRow
from docchat.tasks.models import TaskRow

#: What an API token starts with, so a leaked one is recognisable (secret scanners, logs).
TOKEN_PREFIX = "dct_"
#: Characters of a token kept in the clear to tell tokens apart: the prefix and 8 more.
SHOWN_TOKEN_CHARS = len(TOKEN_PREFIX) + 8
MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 1024
MAX_TOKEN_NAME_CHARS = 200
#: The longest lifetime a token may be given (ten years), as the API's schema says.
MAX_TOKEN_DAYS = 3650
#: A token's last use is written at most this often: a busy client costs no write per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
#: How long an expired login's row stays before the clean-up (or a new login) removes it.
LOGIN_KEPT = dt.timedelta(days=1)
#: How long an expired API token stays in its user's list (marked expired) before the clean-up
#: removes it.
TOKEN_KEPT = dt.timedelta(days=30)
#: The one answer to a failed login, whether the name or the password was wrong.
WRONG_LOGIN = "wrong user name or password"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_username(name: str) -> str:
    """A user name as stored and compared: NFKC, trimmed, lower-case; refused when empty, too
    long, or holding spaces or control characters."""
    cleaned = unicodedata.normalize("NFKC", name).strip().lower()
    if not cleaned:
        raise InvalidInput("the user name is empty", field="username")
    if len(cleaned) > MAX_USERNAME_CHARS:
        raise InvalidInput(
            f"the user name is longer than {MAX_USERNAME_CHARS} characters", field="username"
        )
    if any(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in cleaned):
        raise InvalidInput(
            "a user name may not contain spaces or control characters", field="username"
        )
    return cleaned


def _as_text(value: str) -> str:
    """``value`` with lone surrogates (valid in a str, not in UTF-8) replaced by "?"."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _adopted_name(name: str, taken: set[str]) -> str:
    """``name`` marked as adopted, numbered until no collection in ``taken`` has it, and within
    a collection name's length."""
    for number in itertools.count(1):
        suffix = " (adopted)" if number == 1 else f" (adopted {number})"
        candidate = name[: MAX_COLLECTION_CHARS - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")  # itertools.count never ends


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        is_admin=row.is_admin,
        disabled=row.disabled,
        has_password=row.password_hash is not None,
        issuer=row.issuer,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def _token_info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked_at is not None,
    )


class Accounts:
    """The users of one deployment, and how they prove who they are."""

    def __init__(self, db: Database, settings: AuthSettings) -> None:
        self._db = db
        self.settings = settings
        self._sso: OidcClient | None = None
        self._sso_lock = threading.Lock()

    def sso(self) -> OidcClient:
        """The single sign-on client (``auth.oidc``); Conflict when none is configured."""
        with self._sso_lock:
            if self._sso is None:
                oidc = self.settings.oidc
                if self.settings.mode != "oidc" or not oidc.issuer or not oidc.client_id:
                    raise Conflict("single sign-on is not configured on this server")
                self._sso = OidcClient(self._db, oidc)
            return self._sso

    def close(self) -> None:
        """Close the single sign-on client's connections, if one was made."""
        with self._sso_lock:
            if self._sso is not None:
                self._sso.close()
                self._sso = None

    # -- users ---------------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        password: str | None = None,
        *,
        display_name: str = "",
        admin: bool = False,
    ) -> User:
        """Add a user; ``password`` None makes a single-sign-on-only user.  Conflict if taken."""
        name = normalise_username(username)
        hashed = None if password is None else hash_password(self.check_password_rules(password))
        row = UserRow(
            id=str(uuid.uuid4()),
            username=name,
            display_name=display_name.strip()[:200],
            password_hash=hashed,
            is_admin=admin,
            disabled=False,
            created_at=utcnow(),
        )
        try:
            with self._db.write() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict(f"a user named {shown_id(name)!r} exists already") from None
        return _user(row)

    def check_password_rules(self, password: str) -> str:
        """``password`` if it may be used; InvalidInput naming the rule it breaks otherwise."""
        if len(password) < self.settings.min_password_chars:
            raise InvalidInput(
                f"a password needs at least {self.settings.min_password_chars} characters",
                field="password",
            )
        if len(password) > MAX_PASSWORD_CHARS:
            raise InvalidInput(
                f"a password may have at most {MAX_PASSWORD_CHARS} characters", field="password"
            )
        try:
            password.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                "the password holds a character that is not valid text", field="password"
            ) from None
        return password

    def users(self) -> list[User]:
        """Every user, by name."""
        with self._db.read() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.username)).all()
        return [_user(row) for row in rows]

    def user(self, username: str) -> User:
        """The user named ``username``; UserNotFound otherwise."""
        with self._db.read() as session:
            return _user(self._row(session, username))

    def _row(self, session: Session, username: str) -> UserRow:
        row = session.scalar(
            select(UserRow).where(UserRow.username == normalise_username(username))
        )
        if row is None:
            raise UserNotFound(username)
        return row

    def set_disabled(self, username: str, disabled: bool) -> User:
        """Disable a user (their logins end now, their tokens stop working) or enable them."""
        with self._db.write() as session:
            row = self._row(session, username)
            row.disabled = disabled
            if disabled:
                self._end_logins(session, row.id)
            return _user(row)

    def set_password(self, username: str, password: str) -> User:
        """Give a user a new password; every browser login of theirs ends."""
        hashed = hash_password(self.check_password_rules(password))
        with self._db.write() as session:
            row = self._row(session, username)
            row.password_hash = hashed
            self._end_logins(session, row.id)
            return _user(row)

    def set_admin(self, username: str, admin: bool) -> User:
        """Make a user an admin, or not."""
        with self._db.write() as session:
            row = self._row(session, username)
            row.is_admin = admin
            return _user(row)

    def _end_logins(self, session: Session, user_id: str) -> None:
        session.execute(
            update(LoginRow)
            .where(LoginRow.user_id == user_id, LoginRow.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    def usage(self) -> list[Usage]:
        """Each user's counts of chats, messages and documents (admins see these, not content)."""
        with self._db.read() as session:
            chats = dict(
                session.execute(
                    select(
                        SessionRow.owner,
                        func.count(),
                    ).group_by(SessionRow.owner)
                ).all()
            )
            messages = dict(
                session.execute(
                    select(
                        SessionRow.owner, func.coalesce(func.sum(SessionRow.message_count), 0)
                    ).group_by(SessionRow.owner)
                ).all()
            )
            documents = dict(
                session.execute(
                    select(DocumentRow.owner, func.count()).group_by(DocumentRow.owner)
                ).all()
            )
            rows = session.scalars(select(UserRow).order_by(UserRow.username)).all()
        return [
            Usage(
                user=_user(row),
                sessions=int(chats.get(row.id, 0)),
                messages=int(messages.get(row.id, 0)),
                documents=int(documents.get(row.id, 0)),
            )
            for row in rows
        ]

    def adopt_existing(self, username: str) -> dict[str, int]:
        """Give ``username`` every row recorded without an owner (a single-user data dir's chats,
        documents, collections and tasks); returns how many of each.  Nothing is deleted: a
        collection whose name the user has already is merged into theirs, or, when both hold a
        document of the same source (which a collection holds once), kept beside it under a
        free name, "NAME (adopted)"."""
        with self._db.write() as session:
            user_id = self._row(session, username).id
            counts = {"collections": 0}
            theirs = dict(
                session.execute(
                    select(CollectionRow.name, CollectionRow.id).where(
                        CollectionRow.owner == user_id
                    )
                ).all()
            )
            ownerless = session.scalars(
                select(CollectionRow).where(CollectionRow.owner.is_(None))
            ).all()
            taken = set(theirs) | {collection.name for collection in ownerless}
            for collection in ownerless:
                if collection.name in theirs:
                    if self._sources_overlap(session, collection.id, theirs[collection.name]):
                        collection.name = _adopted_name(collection.name, taken)
                        taken.add(collection.name)
                        collection.owner = user_id
                    else:
                        session.execute(
                            update(DocumentRow)
                            .where(DocumentRow.collection_id == collection.id)
                            .values(collection_id=theirs[collection.name])
                        )
                        session.delete(collection)
                else:
                    collection.owner = user_id
                counts["collections"] += 1
            for key, table in (
                ("sessions", SessionRow),
                ("documents", DocumentRow),
                ("tasks", TaskRow),
            ):
                result = session.execute(
                    update(table).where(table.owner.is_(None)).values(owner=user_id)
                )
                counts[key] = cast("CursorResult[Any]", result).rowcount
        return counts

    @staticmethod
    def _sources_overlap(session: Session, first: str, second: str) -> bool:
        """Whether two collections hold a document of the same source."""
        mine = select(DocumentRow.source).where(DocumentRow.collection_id == first)
        found = session.scalar(
            select(DocumentRow.id)
            .where(DocumentRow.collection_id == second, DocumentRow.source.in_(mine))
            .limit(1)
        )
        return found is not None

    # -- browser logins --------------------------------------------------------------------------

    def login(
        self, username: str, password: str, *, address: str, user_agent: str | None = None
    ) -> Login:
        """Check a name and password and open a browser login.

        NotAuthenticated for a wrong name or password or a disabled user (one message for all);
        TooManyLogins once the account or the address had too many failures lately.
        """
        try:
            name = normalise_username(username)
        except InvalidInput:
            # Recorded as failed all the same; a lone surrogate would not encode for the database.
            name = _as_text(username[:MAX_USERNAME_CHARS])
        address = _as_text(address[:64])
        now = utcnow()
        self._throttle(name, address, now)
        with self._db.read() as session:
            row = session.scalar(select(UserRow).where(UserRow.username == name))
        stored = None if row is None or row.disabled else row.password_hash
        password = password[:MAX_PASSWORD_CHARS]
        if _as_text(password) != password:
            # Not valid text (a lone surrogate): no password is (check_password_rules), so it
            # matches none; checked against the dummy hash, it takes as long as any other answer.
            password, stored = "", None
        ok, rehashed = check_password(password, stored)
        if not ok or row is None:
            with self._db.write() as session:
                session.add(LoginFailureRow(username=name, address=address, at=now))
                session.execute(
                    delete(LoginFailureRow).where(LoginFailureRow.at < now - self._window)
                )
            raise NotAuthenticated(WRONG_LOGIN)
        with self._db.write() as session:
            session.execute(delete(LoginFailureRow).where(LoginFailureRow.username == name))
            if rehashed is not None:
                session.execute(
                    update(UserRow).where(UserRow.id == row.id).values(password_hash=rehashed)
                )
        return self.open_login(row.id, address=address, user_agent=user_agent)

    def open_login(self, user_id: str, *, address: str, user_agent: str | None = None) -> Login:
        """A new browser login for ``user_id``, who has proved who they are."""
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = utcnow()
        expires = now + dt.timedelta(hours=self.settings.session_hours)
        with self._db.write() as session:
            row = session.get(UserRow, user_id)
            if row is None:
                raise UserNotFound(user_id)
            if row.disabled:
                raise NotAuthenticated("this account is disabled; ask an admin")
            # Ended logins are kept a day (a user's list of recent logins), then dropped here and
            # by the periodic clean-up (``prune``), which a quiet server needs.
            session.execute(delete(LoginRow).where(LoginRow.expires_at < now - LOGIN_KEPT))
            session.add(
                LoginRow(
                    id=_digest(cookie),
                    user_id=row.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                    address=address[:64],
                    user_agent=(user_agent or "")[:500] or None,
                )
            )
            row.last_login_at = now
            return Login(cookie=cookie, csrf_token=csrf, expires_at=expires, user=_user(row))

    def sso_user(self, identity: Identity) -> User:
        """The user a single sign-on identifies, by issuer and subject: created at their first
        sign-in (under a free name made from the provider's), their name and admin role kept
        up to date from the provider's claims."""
        with self._db.write() as session:
            row = session.scalar(
                select(UserRow).where(
                    UserRow.issuer == identity.issuer, UserRow.subject == identity.subject
                )
            )
            if row is None:
                row = UserRow(
                    id=str(uuid.uuid4()),
                    username=self._free_name(session, identity.username),
                    display_name=identity.display_name[:200],
                    password_hash=None,
                    is_admin=bool(identity.admin),
                    disabled=False,
                    issuer=identity.issuer,
                    subject=identity.subject,
                    created_at=utcnow(),
                )
                session.add(row)
            else:
                if identity.display_name:
                    row.display_name = identity.display_name[:200]
                if identity.admin is not None:
                    row.is_admin = identity.admin
            if row.disabled:
                raise NotAuthenticated("this account is disabled; ask an admin")
            return _user(row)

    @staticmethod
    def _free_name(session: Session, wanted: str) -> str:
        try:
            base = normalise_username(wanted)
        except InvalidInput:
            base = "user"
        base = base[: MAX_USERNAME_CHARS - 4]
        taken = set(
            session.scalars(select(UserRow.username).where(UserRow.username.startswith(base)))
        )
        if base not in taken:
            return base
        return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)

    @property
    def _window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.settings.lockout_minutes)

    def _throttle(self, name: str, address: str, now: dt.datetime) -> None:
        since = now - self._window
        with self._db.read() as session:
            for column, value, limit, whom in (
                (LoginFailureRow.username, name, self.settings.max_failed_logins, "account"),
                (
                    LoginFailureRow.address,
                    address,
                    self.settings.max_failed_logins_per_address,
                    "address",
                ),
            ):
                count, oldest = session.execute(
                    select(func.count(), func.min(LoginFailureRow.at)).where(
                        column == value, LoginFailureRow.at > since
                    )
                ).one()
                if count >= limit:
                    wait = max(1, int((oldest + self._window - now).total_seconds()) + 1)
                    raise TooManyLogins(
                        f"too many failed logins for this {whom}; try again in {wait} s",
                        retry_after_s=wait,
                    )

    def by_login(self, cookie: str) -> Principal | None:
        """Who holds this login cookie; None when it is unknown, expired, revoked or its user is
        disabled."""
        with self._db.read() as session:
            found = session.execute(
                select(LoginRow, UserRow)
                .join(UserRow, UserRow.id == LoginRow.user_id)
                .where(LoginRow.id == _digest(cookie))
            ).first()
        if found is None:
            return None
        login, user = found
        if login.revoked_at is not None or login.expires_at <= utcnow() or user.disabled:
            return None
        return Principal(user=_user(user), via="login", csrf_token=login.csrf_token)

    def logout(self, cookie: str) -> None:
        """End the login this cookie belongs to (nothing happens for an unknown one)."""
        with self._db.write() as session:
            session.execute(
                update(LoginRow)
                .where(LoginRow.id == _digest(cookie), LoginRow.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    @staticmethod
    def csrf_matches(principal: Principal, sent: str | None) -> bool:
        """Whether a request's CSRF token is its login's (always, for token-authenticated ones)."""
        if principal.via == "token":
            return True
        return (
            sent is not None
            and principal.csrf_token is not None
            and hmac.compare_digest(sent.encode(), principal.csrf_token.encode())
        )

    def prune(self) -> dict[str, int]:
        """Delete what has expired (the periodic clean-up, docchat.tasks): logins ended more
        than ``LOGIN_KEPT`` ago, API tokens expired more than ``TOKEN_KEPT`` ago, failed logins
        older than the lockout window, single sign-ons never completed within ``FLOW_TTL``.
        Returns how many rows went, by kind."""
        now = utcnow()
        deleted: dict[str, int] = {}
        with self._db.write() as session:
            for kind, statement in (
                ("expired logins", delete(LoginRow).where(LoginRow.expires_at < now - LOGIN_KEPT)),
                (
                    "expired tokens",
                    delete(ApiTokenRow).where(ApiTokenRow.expires_at < now - TOKEN_KEPT),
                ),
                (
                    "failed logins",
                    delete(LoginFailureRow).where(LoginFailureRow.at < now - self._window),
                ),
                ("sign-ons", delete(OidcFlowRow).where(OidcFlowRow.created_at < now - FLOW_TTL)),
            ):
                result = cast("CursorResult[Any]", session.execute(statement))
                deleted[kind] = result.rowcount
        return deleted

    # -- API tokens ------------------------------------------------------------------------------

    def create_token(
        self, user_id: str, name: str, *, expires_in_days: float | None = None
    ) -> NewToken:
        """A new API token for ``user_id``: the secret in ``token`` is shown this once."""
        label = name.strip()
        if not label or len(label) > MAX_TOKEN_NAME_CHARS:
            raise InvalidInput(
                f"a token needs a name of 1 to {MAX_TOKEN_NAME_CHARS} characters", field="name"
            )
        # A lifetime of 0 or less made a token that never worked, and a huge one overflowed
        # datetime; NaN fails both comparisons and is refused too.
        if expires_in_days is not None and not 0 < expires_in_days <= MAX_TOKEN_DAYS:
            raise InvalidInput(
                f"a token's lifetime is more than 0 and at most {MAX_TOKEN_DAYS} days",
                field="expires_in_days",
            )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        row = ApiTokenRow(
            id=str(uuid.uuid4()),
            user_id=user_id,
            name=label,
            token_hash=_digest(secret),
            prefix=secret[:SHOWN_TOKEN_CHARS],
            created_at=now,
            expires_at=None
            if expires_in_days is None
            else now + dt.timedelta(days=expires_in_days),
        )
        with self._db.write() as session:
            user = session.get(UserRow, user_id)
            if user is None:
                raise UserNotFound(user_id)
            if user.disabled:  # it would start working the day they are enabled again
                raise Conflict(f"user {shown_id(user.username)!r} is disabled; enable them first")
            session.add(row)
        return NewToken(token=secret, info=_token_info(row))

    def tokens(self, user_id: str) -> list[TokenInfo]:
        """A user's API tokens, newest first (revoked ones too, marked)."""
        with self._db.read() as session:
            rows = session.scalars(
                select(ApiTokenRow)
                .where(ApiTokenRow.user_id == user_id)
                .order_by(ApiTokenRow.created_at.desc())
            ).all()
        return [_token_info(row) for row in rows]

    def revoke_token(self, user_id: str, token_id: str) -> TokenInfo:
        """Revoke one of ``user_id``'s tokens; it is refused from the next request on."""
        with self._db.write() as session:
            row = session.get(ApiTokenRow, token_id)
            if row is None or row.user_id != user_id:
                raise TokenNotFound(token_id)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return _token_info(row)

    def by_token(self, token: str) -> Principal | None:
        """Who holds this API token; None when it is unknown, expired, revoked or its user is
        disabled."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = _digest(token)
        with self._db.read() as session:
            found = session.execute(
                select(ApiTokenRow, UserRow)
                .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                .where(ApiTokenRow.token_hash == digest)
            ).first()
        if found is None:
            return None
        row, user = found
        now = utcnow()
        if (
            row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= now)
            or user.disabled
        ):
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            with self._db.write() as session:
                session.execute(
                    update(ApiTokenRow).where(ApiTokenRow.id == row.id).values(last_used_at=now)
                )
        return Principal(user=_user(user), via="token")

    @staticmethod
    def require_admin(principal: Principal | None) -> None:
        """Forbidden unless ``principal`` is an admin."""
        if principal is None or not principal.user.is_admin:
            raise Forbidden("only an admin may do this")
