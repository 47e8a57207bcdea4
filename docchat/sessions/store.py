"""SessionStore: create, read, append to, clear, search and delete chat sessions.

Every write is one short database transaction that commits before the method returns, so a returned
message is durable.  SQLite's write lock (``BEGIN IMMEDIATE``) or PostgreSQL's row lock on the
session serialises appenders to one session, which is what makes positions unique and gap-free.
There is no process-wide lock: on SQLite, threads queue per database for the one writer SQLite
allows anyway (``Database.writing``) and concurrent appends share a commit (``group_commit``).
Appending costs the same at message 20,000 as at message 1: one UPDATE of the session row and one
INSERT.

A chat turn's answer is written while it streams: ``begin_answer`` appends it empty, marked
streaming (``"status": "streaming"`` in its metadata, its turn in the indexed ``streaming_turn``
column), ``save_partial`` replaces its text, ``finish_answer`` stores the answer in place (same id
and position).  An answer whose process died stays streaming until ``interrupt_answers``, run by
any live process, marks it ``interrupted``; readers show both states as unfinished.
"""

from __future__ import annotations

import base64
import builtins
import datetime as dt
import json
import logging
import math
import re
import uuid
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

from pydantic import ValidationError
from sqlalchemy import (
    CursorResult,
    Row,
    Select,
    and_,
    delete,
    insert,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from docchat.config import Settings
from docchat.db import Database, UTCDateTime, sqlite_time, utcnow
from docchat.errors import Conflict, InvalidInput, SessionNotFound, TooLarge
from docchat.options import ChatSettings
from docchat.owners import scope, visible_to
from docchat.sessions.export import read_classic, to_classic, to_markdown, write_atomically
from docchat.sessions.group_commit import GroupCommit, run_append
from docchat.sessions.models import MessageRow, SessionRow
from docchat.sessions.types import ROLES, ChatSession, Message, MessageHit, SessionPage
from docchat.textsearch import fts5_query, pg_tsquery_text
from docchat.validation import check_int, check_json, check_text, may_be_unstorable

log = logging.getLogger(__name__)

ExportFormat = Literal["json", "markdown"]
#: The ``status`` in an answer's metadata while it streams (its text is what was saved so far).
STREAMING = "streaming"
#: What an answer whose process died while it streamed gets in its metadata (a reader shows it
#: as it shows a stopped one: ``partial``).
INTERRUPTED_ANSWER: dict[str, Any] = {"status": "interrupted", "partial": True}
#: Formats ``export_file`` writes: the text ones, a Word document and a PDF.
ExportFileFormat = Literal["json", "markdown", "docx", "pdf"]
# In the order SessionStore._read_messages unpacks them.  The last three come as the driver returns
# them (NullType has no result processor): _read_messages decodes them itself, without the wrapper
# calls SQLAlchemy's result processors make per value (3 ms of a 5,000-message read).
_MESSAGE_COLUMNS = (
    MessageRow.id,
    MessageRow.session_id,
    MessageRow.position,
    MessageRow.role,
    MessageRow.content,
    type_coerce(MessageRow.created_at, NullType()).label("created_at"),
    type_coerce(MessageRow.meta, NullType()).label("meta"),
    type_coerce(MessageRow.references, NullType()).label("references"),
)
# Every Message read back shares this set: pydantic only reads it (Message is frozen, and
# model_copy copies it before adding to it), and a set per message cost 6 ms of a 5,000-message
# read, most of it in garbage collection (bench/sessions.py, scenario d).
_MESSAGE_FIELDS = set(Message.model_fields)
_JSON = json.JSONDecoder()
_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_SETTINGS_KEYS = frozenset(ChatSettings.model_fields)
_SETTINGS_DEFAULTS = ChatSettings().model_dump(mode="json")


def valid_session_id(session_id: object) -> bool:
    """Whether ``session_id`` is shaped like a session id (safe as a file name, <= 64 chars)."""
    return isinstance(session_id, str) and bool(_SESSION_ID.match(session_id))


def _encode_cursor(updated_at: dt.datetime, session_id: str) -> str:
    raw = f"{updated_at.isoformat()}|{session_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, session_id = raw.split("|", 1)
        when = dt.datetime.fromisoformat(stamp)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this server handed out", field="cursor") from exc
    if when.tzinfo is None or not valid_session_id(session_id):
        raise InvalidInput("cursor is not one this server handed out", field="cursor")
    return when, session_id


def _stored_json(text: str | None) -> Any:
    """JSON text as SQLite returns it, decoded (None for SQL NULL)."""
    if text is None:
        return None
    # raw_decode skips what json.loads checks first (a str, no BOM, no surrounding whitespace),
    # which docchat's compact JSON never has: 0.75 us where json.loads takes 1.6 us, 4 ms of a
    # 5,000-message read.  Any other text goes to json.loads, which accepts or refuses it.
    try:
        value, end = _JSON.raw_decode(text)
    except ValueError:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def _stored_message(values: dict[str, Any]) -> Message:
    """A Message of the values of one stored row, in field order, without validating them again.

    Every message was validated on its way in (``append``, ``load_from_disk``).  This is what
    ``Message.model_construct`` does, without its per-field loop: about 0.5 us a message, where
    validation takes 1.6 us (a third of it copying the metadata dict) and model_construct 3 us;
    5 ms of a 5,000-message read (bench/sessions.py, scenario d).
    """
    message = object.__new__(Message)
    object.__setattr__(message, "__dict__", values)
    object.__setattr__(message, "__pydantic_fields_set__", _MESSAGE_FIELDS)
    object.__setattr__(message, "__pydantic_extra__", None)
    object.__setattr__(message, "__pydantic_private__", None)
    return message


def _aware_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def _same(value: Any) -> Any:
    return value


class SessionStore:
    """Chat sessions on one database; an application may hold several stores."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.db = database
        self.settings = settings
        self._limits = settings.sessions
        self._postgres = database.engine.dialect.name == "postgresql"
        self._group = None if self._postgres else GroupCommit(database)

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionStore:
        """Open (and migrate) the configured database."""
        return cls(Database.from_settings(settings), settings)

    # -- validation -------------------------------------------------------------------------

    def _check_json(self, value: Any, field: str, kind: type) -> Any:
        return self._encode_json(value, field, kind)[0]

    def _encode_json(self, value: Any, field: str, kind: type) -> tuple[Any, str | None]:
        """``value`` as a reader will get it back (tuples become lists...) and as stored text."""
        if value is None:
            return None, None
        if not isinstance(value, kind):
            raise InvalidInput(
                f"{field} must be a JSON {'object' if kind is dict else 'array'}", field=field
            )
        try:
            encoded = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError) as exc:
            # check_json names the part that cannot be stored (a deep value, NaN...), if any.
            check_json(value, field)
            raise InvalidInput(f"{field} is not JSON-serialisable", field=field) from exc
        if may_be_unstorable(encoded):
            check_json(value, field)
        if len(encoded.encode()) > self._limits.max_json_bytes:
            raise TooLarge(
                f"{field} is larger than {self._limits.max_json_bytes} bytes as JSON", field=field
            )
        return json.loads(encoded), encoded

    def _check_content(self, role: object, content: object) -> None:
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
        if not isinstance(content, str):
            raise InvalidInput("content must be a string", field="content")
        if len(content) > self._limits.max_content_chars:
            raise TooLarge(
                f"content is longer than {self._limits.max_content_chars} characters",
                field="content",
            )
        check_text(content, "content")

    def _check_title(self, title: object) -> str:
        if title is None:
            return ""
        if not isinstance(title, str):
            raise InvalidInput("title must be a string", field="title")
        if len(title) > self._limits.max_title_chars:
            raise TooLarge(
                f"title is longer than {self._limits.max_title_chars} characters", field="title"
            )
        return check_text(title, "title")

    @staticmethod
    def _parse_settings(settings: ChatSettings | dict[str, Any] | None) -> ChatSettings:
        if settings is None:
            return ChatSettings()
        if isinstance(settings, ChatSettings):
            return settings
        if not isinstance(settings, dict):
            raise InvalidInput("settings must be an object", field="settings")
        try:
            return ChatSettings.model_validate(settings)
        except ValueError as exc:
            raise InvalidInput(_describe_validation(exc, "settings"), field="settings") from exc

    # -- row conversion ----------------------------------------------------------------------

    @staticmethod
    def _session(row: SessionRow | Row[Any], messages: list[Message] | None = None) -> ChatSession:
        return ChatSession(
            id=row.id,
            owner=row.owner,
            title=row.title,
            created_at=row.created_at,
            updated_at=row.updated_at,
            settings=_stored_settings(row.settings),
            message_count=row.message_count,
            messages=messages,
        )

    @staticmethod
    def _message(row: MessageRow | Row[Any]) -> Message:
        return Message(
            id=row.id,
            session_id=row.session_id,
            position=row.position,
            role=row.role,
            content=row.content,
            created_at=row.created_at,
            metadata=row.meta,
            references=row.references,
        )

    def _read_messages(self, s: Session, query: Select[*tuple[Any, ...]]) -> builtins.list[Message]:
        """Messages of ``query``, a select of ``_MESSAGE_COLUMNS``."""
        # A 5,000-message read is dominated by per-row overhead, not by the database: Core rather
        # than ORM execution, positional unpacking, the cheapest decoding of each value, no second
        # validation.  bench/sessions.py, scenario d, in CPU time: 46 ms became 24 ms, where raw
        # sqlite3 decoding the same values into dicts takes 17 ms.
        time_of: Callable[[Any], dt.datetime]
        json_of: Callable[[Any], Any]
        if self._postgres:
            # psycopg decodes jsonb itself and returns timestamptz in the connection's zone.
            time_of, json_of = _aware_utc, _same
        else:
            time_of, json_of = UTCDateTime.from_sqlite, _stored_json
        return [
            _stored_message(
                {
                    "id": i,
                    "session_id": sid,
                    "position": pos,
                    "role": role,
                    "content": content,
                    "created_at": time_of(created),
                    "metadata": json_of(meta),
                    "references": json_of(refs),
                }
            )
            for i, sid, pos, role, content, created, meta, refs in s.connection()
            .execute(query)
            .all()
        ]

    def _load(
        self, s: Session, session_id: str, owner: str | None, *, lock: bool = False
    ) -> SessionRow:
        """The row, locked for the transaction when ``lock`` (PostgreSQL; SQLite's writer
        transaction already excludes other writers), so a read-modify-write loses no update."""
        if not valid_session_id(session_id):
            raise SessionNotFound(str(session_id))
        row = s.get(SessionRow, session_id, with_for_update=lock)
        if row is None or not visible_to(row.owner, owner):
            raise SessionNotFound(session_id)
        return row

    # -- sessions ----------------------------------------------------------------------------

    def create(
        self,
        *,
        owner: str | None = None,
        title: str | None = None,
        settings: ChatSettings | dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> ChatSession:
        """Create a session; ``session_id`` defaults to a new UUID."""
        session_id = session_id or str(uuid.uuid4())
        if not valid_session_id(session_id):
            raise InvalidInput(
                "session id must be 1-64 letters, digits, '-' or '_'", field="session_id"
            )
        parsed = self._parse_settings(settings)
        now = utcnow()
        row = SessionRow(
            id=session_id,
            owner=owner,
            title=self._check_title(title),
            created_at=now,
            updated_at=now,
            settings=parsed.to_json(),
            message_count=0,
            next_position=0,
        )
        try:
            with self.db.write() as s:
                s.add(row)
        except IntegrityError as exc:
            raise Conflict(f"chat session {session_id!r} already exists") from exc
        return self._session(row)

    def get(
        self, session_id: str, *, owner: str | None = None, include_messages: bool = False
    ) -> ChatSession:
        """The session, with all its messages when ``include_messages``."""
        with self.db.read() as s:
            row = self._load(s, session_id, owner)
            messages = None
            if include_messages:
                messages = self._read_messages(
                    s,
                    select(*_MESSAGE_COLUMNS)
                    .where(MessageRow.session_id == session_id)
                    .order_by(MessageRow.position),
                )
            return self._session(row, messages)

    def get_or_create(self, session_id: str, *, owner: str | None = None) -> ChatSession:
        """The session with this id, created empty if there is none (safe under races)."""
        if not valid_session_id(session_id):
            raise InvalidInput(
                "session id must be 1-64 letters, digits, '-' or '_'", field="session_id"
            )
        now = utcnow()
        values = {
            "id": session_id,
            "owner": owner,
            "title": "",
            "created_at": now,
            "updated_at": now,
            "settings": ChatSettings().to_json(),
            "message_count": 0,
            "next_position": 0,
        }
        stmt_factory = pg_insert if self._postgres else sqlite_insert
        with self.db.write() as s:
            s.execute(stmt_factory(SessionRow).values(**values).on_conflict_do_nothing())
        # Another owner's session with this id stays invisible: SessionNotFound, not a takeover.
        return self.get(session_id, owner=owner)

    def update_settings(
        self,
        session_id: str,
        settings: ChatSettings | dict[str, Any],
        *,
        owner: str | None = None,
    ) -> ChatSession:
        """Replace the keys given (``model``, ``mode``, ``options``); the others stay."""
        if isinstance(settings, ChatSettings):
            patch = settings.to_json()
        elif isinstance(settings, dict):
            unknown = set(settings) - _SETTINGS_KEYS
            if unknown:
                raise InvalidInput(
                    f"unknown settings key(s): {', '.join(sorted(map(str, unknown)))}",
                    field="settings",
                )
            # null puts a key back to its default (the schema allows null for every key).
            patch = {k: _SETTINGS_DEFAULTS[k] if v is None else v for k, v in settings.items()}
        else:
            raise InvalidInput("settings must be an object", field="settings")
        with self.db.write() as s:
            row = self._load(s, session_id, owner, lock=True)
            merged = self._parse_settings({**row.settings, **patch})
            row.settings = merged.to_json()
            row.updated_at = utcnow()
            return self._session(row)

    def rename(self, session_id: str, title: str, *, owner: str | None = None) -> ChatSession:
        """Set the session's title."""
        title = self._check_title(title)
        with self.db.write() as s:
            row = self._load(s, session_id, owner, lock=True)
            row.title = title
            row.updated_at = utcnow()
            return self._session(row)

    def clear(self, session_id: str, *, owner: str | None = None) -> int:
        """Delete every message of the session (keeping the session); returns how many."""
        with self.db.write() as s:
            row = self._load(s, session_id, owner, lock=True)
            result = s.execute(delete(MessageRow).where(MessageRow.session_id == session_id))
            deleted = cast("CursorResult[Any]", result).rowcount
            row.message_count = 0
            row.updated_at = utcnow()
            return int(deleted)

    def delete(self, session_id: str, *, owner: str | None = None) -> None:
        """Delete the session and its messages."""
        with self.db.write() as s:
            row = self._load(s, session_id, owner, lock=True)
            s.execute(delete(MessageRow).where(MessageRow.session_id == session_id))
            s.delete(row)

    def list(
        self,
        *,
        owner: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> SessionPage:
        """Sessions, most recently updated first; page with ``cursor`` (or ``offset``)."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        check_int(offset, "offset", minimum=0)
        query = select(SessionRow).where(scope(SessionRow.owner, owner))
        if cursor:
            when, last_id = _decode_cursor(cursor)
            query = query.where(
                or_(
                    SessionRow.updated_at < when,
                    and_(SessionRow.updated_at == when, SessionRow.id < last_id),
                )
            )
        query = query.order_by(SessionRow.updated_at.desc(), SessionRow.id.desc())
        query = query.offset(offset).limit(limit + 1)
        with self.db.read() as s:
            rows = list(s.execute(query).scalars())
        items = [self._session(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = _encode_cursor(last.updated_at, last.id)
        return SessionPage(items=items, next_cursor=next_cursor)

    # -- messages ----------------------------------------------------------------------------

    def append(
        self,
        session_id: str,
        role: str,
        content: str,
        metadata: dict[str, Any] | None = None,
        references: builtins.list[Any] | None = None,
        *,
        owner: str | None = None,
    ) -> Message:
        """Append a message; returns once it is committed."""
        return self._append(session_id, role, content, metadata, references, owner=owner)

    def _append(
        self,
        session_id: str,
        role: str,
        content: str,
        metadata: dict[str, Any] | None,
        references: builtins.list[Any] | None,
        *,
        owner: str | None,
        streaming_turn: str | None = None,
    ) -> Message:
        self._check_content(role, content)
        metadata, metadata_text = self._encode_json(metadata, "metadata", dict)
        references, references_text = self._encode_json(references, "references", list)
        if not valid_session_id(session_id):
            raise SessionNotFound(str(session_id))
        now = utcnow()
        params = {
            "sid": session_id,
            "owner": owner,
            "now": now if self._postgres else sqlite_time(now),
            "role": role,
            "content": content,
            "meta": metadata_text,
            "refs": references_text,
            "turn": streaming_turn,
        }
        # The hot path in plain SQL on the driver's connection: the same two statements
        # SQLAlchemy would emit, without its per-call machinery, which costs more than the
        # database work itself (bench/sessions.py).
        sql = _PG_APPEND if self._postgres else _SQLITE_APPEND
        bump = sql.bump_any if owner is None else sql.bump_owned
        if self._group is not None:
            position, message_id = self._group.append(bump, sql.insert, params)
        else:
            position, message_id = self._append_alone(session_id, bump, sql.insert, params)
        # Every value was checked above (the metadata is a fresh decoded copy): validating them
        # again cost 2.4 us of an append.
        return _stored_message(
            {
                "id": message_id,
                "session_id": session_id,
                "position": position,
                "role": role,
                "content": content,
                "created_at": now,
                "metadata": metadata,
                "references": references,
            }
        )

    def messages(
        self,
        session_id: str,
        *,
        owner: str | None = None,
        limit: int | None = None,
        before: int | None = None,
        after: int | None = None,
    ) -> builtins.list[Message]:
        """Messages in position order: the first ``limit`` after ``after``, or the last before
        ``before`` (the newest ones when only ``before`` is given)."""
        if limit is not None:
            check_int(limit, "limit", minimum=1)
        if before is not None:
            check_int(before, "before")
        if after is not None:
            check_int(after, "after")
        query = select(*_MESSAGE_COLUMNS).where(MessageRow.session_id == session_id)
        if after is not None:
            query = query.where(MessageRow.position > after)
        if before is not None:
            query = query.where(MessageRow.position < before)
        newest_first = before is not None and after is None
        query = query.order_by(MessageRow.position.desc() if newest_first else MessageRow.position)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as s:
            self._load(s, session_id, owner)
            rows = self._read_messages(s, query)
        return rows[::-1] if newest_first else rows

    # -- answers written as they stream ------------------------------------------------------

    def begin_answer(
        self,
        session_id: str,
        *,
        turn_id: str,
        metadata: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> Message:
        """Append the empty assistant message that turn ``turn_id`` (its task's id) streams into.

        Until ``finish_answer`` its metadata says ``"status": "streaming"`` and ``save_partial``
        replaces its text; if the process dies first, ``interrupt_answers`` (run by whichever
        process outlives it) keeps the text it had, marked ``interrupted``.
        """
        meta = {**(metadata or {}), "status": STREAMING, "partial": True, "turn_id": turn_id}
        return self._append(
            session_id, "assistant", "", meta, None, owner=owner, streaming_turn=turn_id
        )

    def save_partial(self, message_id: int, content: str) -> bool:
        """Replace a streaming answer's text with ``content`` (cut to the content limit); False
        when the message is no longer streaming (finished, recovered or deleted)."""
        content = content[: self._limits.max_content_chars]
        self._check_content("assistant", content)
        with self.db.write() as s:
            saved = s.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id, MessageRow.streaming_turn.is_not(None))
                .values(content=content)
            )
        return bool(cast("CursorResult[Any]", saved).rowcount)

    def finish_answer(
        self,
        message_id: int,
        content: str,
        metadata: dict[str, Any] | None = None,
        references: builtins.list[Any] | None = None,
    ) -> Message | None:
        """Store the finished answer in the message ``begin_answer`` made: same id and position,
        no longer streaming.  None when that message is gone (its session was cleared or deleted
        while the answer streamed)."""
        self._check_content("assistant", content)
        metadata = self._check_json(metadata, "metadata", dict)
        references = self._check_json(references, "references", list)
        now = utcnow()
        with self.db.write() as s:
            row = s.get(MessageRow, message_id, with_for_update=True)
            if row is None:
                return None
            row.content, row.meta, row.references = content, metadata, references
            row.streaming_turn = None
            # The session's activity is the answer's end, as when the answer was appended then.
            s.execute(
                update(SessionRow).where(SessionRow.id == row.session_id).values(updated_at=now)
            )
            return self._message(row)

    def interrupt_answers(self, unfinished: Callable[[builtins.list[str]], Collection[str]]) -> int:
        """Mark ``interrupted`` the answers still streaming whose turn is over, keeping the text
        they had: their process died mid-answer.  ``unfinished(turn_ids)`` names the turns still
        queued or running (the task runner's ``unfinished``); a live process's answer is never
        touched.  Returns how many were marked."""
        with self.db.read() as s:
            streaming = s.execute(
                select(MessageRow.id, MessageRow.streaming_turn).where(
                    MessageRow.streaming_turn.is_not(None)
                )
            ).all()
        if not streaming:
            return 0
        live = set(unfinished(sorted({turn for _, turn in streaming if turn is not None})))
        ended = [message_id for message_id, turn in streaming if turn not in live]
        if not ended:
            return 0
        count = 0
        with self.db.write() as s:
            # Read again under the write lock: a finished answer is no longer streaming.
            rows = s.scalars(
                select(MessageRow)
                .where(MessageRow.id.in_(ended), MessageRow.streaming_turn.is_not(None))
                .with_for_update()
            )
            for row in rows:
                row.meta = {**(row.meta or {}), **INTERRUPTED_ANSWER}
                row.streaming_turn = None
                count += 1
        if count:
            log.warning("%d answer(s) of stopped docchat processes marked interrupted", count)
        return count

    def search(
        self, query: str, *, owner: str | None = None, limit: int = 20
    ) -> builtins.list[MessageHit]:
        """Messages whose content matches every word of ``query``, best first."""
        if not isinstance(query, str):
            raise InvalidInput("query must be a string", field="q")
        if not 1 <= limit <= 200:
            raise InvalidInput("limit must be between 1 and 200", field="limit")
        # docchat.owners' rule, in this hand-written SQL: None sees every session.
        owned = "" if owner is None else "AND s.owner = :owner"
        params: dict[str, Any] = {"owner": owner, "limit": limit}
        if self._postgres:
            params["q"] = pg_tsquery_text(query)
            if not params["q"]:
                return []
            sql = text(
                f"""
                SELECT m.id, ts_rank(m.content_tsv, q) AS score, s.title,
                       ts_headline('english', left(m.content, 20000), q,
                                   'StartSel=[, StopSel=], MaxFragments=2, MaxWords=20')
                         AS snippet
                FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id,
                     to_tsquery('english', :q) q
                WHERE m.content_tsv @@ q {owned}
                ORDER BY score DESC, m.id DESC LIMIT :limit
                """
            )
        else:
            params["q"] = fts5_query(query)
            if not params["q"]:
                return []
            sql = text(
                f"""
                SELECT m.id, -bm25(chat_messages_fts) AS score, s.title,
                       snippet(chat_messages_fts, 0, '[', ']', '…', 20) AS snippet
                FROM chat_messages_fts
                JOIN chat_messages m ON m.id = chat_messages_fts.rowid
                JOIN chat_sessions s ON s.id = m.session_id
                WHERE chat_messages_fts MATCH :q {owned}
                ORDER BY bm25(chat_messages_fts), m.id DESC LIMIT :limit
                """
            )
        with self.db.read() as s:
            found = s.execute(sql, params).all()
            ids = [r.id for r in found]
            rows = {
                m.id: m
                for m in s.execute(select(MessageRow).where(MessageRow.id.in_(ids))).scalars()
            }
        return [
            MessageHit(
                message=self._message(rows[r.id]),
                session_title=r.title,
                snippet=r.snippet,
                score=float(r.score) if r.score is not None and math.isfinite(r.score) else 0.0,
            )
            for r in found
            if r.id in rows
        ]

    def _append_alone(
        self, session_id: str, bump: str, insert: str, params: dict[str, Any]
    ) -> tuple[int, int]:
        """One append in its own transaction (PostgreSQL, which groups commits itself)."""
        with self.db.driver_transaction() as cur:
            result = run_append(cur, bump, insert, params)
            if result is None:
                raise SessionNotFound(session_id)  # rolls back (nothing was written)
        return result

    # -- files -------------------------------------------------------------------------------

    def export(
        self, session_id: str, format: ExportFormat = "json", *, owner: str | None = None
    ) -> str:
        """The whole session as classic JSON or as a Markdown transcript."""
        if format not in ("json", "markdown"):
            raise InvalidInput("format must be 'json' or 'markdown'", field="format")
        session = self.get(session_id, owner=owner, include_messages=True)
        if format == "markdown":
            return to_markdown(session)
        return json.dumps(to_classic(session), ensure_ascii=False, indent=2)

    def export_file(
        self, session_id: str, format: ExportFileFormat = "json", *, owner: str | None = None
    ) -> bytes:
        """The whole session as a file: classic JSON or Markdown (UTF-8), a Word document
        (``docx``) or a PDF; each answer's references come with their quoted spans."""
        if format in ("json", "markdown"):
            return self.export(session_id, format, owner=owner).encode("utf-8")
        if format not in ("docx", "pdf"):
            raise InvalidInput("format must be 'json', 'markdown', 'docx' or 'pdf'", field="format")
        session = self.get(session_id, owner=owner, include_messages=True)
        # Imported here: python-docx and fpdf2 load only when someone exports to them.
        if format == "docx":
            from docchat.sessions.export_docx import to_docx

            return to_docx(session)
        from docchat.sessions.export_pdf import font_cache_dir, to_pdf

        return to_pdf(session, font_cache=font_cache_dir(self.settings.data_dir))

    def save_to_disk(
        self, session_id: str, directory: str | Path, *, owner: str | None = None
    ) -> Path:
        """Write ``<directory>/<session_id>.json`` atomically; returns its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = self.export(session_id, "json", owner=owner)
        # session ids are validated to [A-Za-z0-9_-], so this stays inside ``directory``.
        path = directory / f"{session_id}.json"
        write_atomically(path, data)
        return path

    def load_from_disk(
        self, path: str | Path, *, owner: str | None = None, replace: bool = False
    ) -> ChatSession:
        """Import a classic session file, keeping its id, timestamps and message order.

        An existing session with that id raises Conflict unless ``replace``.  A damaged file raises
        InvalidInput and changes nothing.
        """
        path = Path(path)
        doc = read_classic(path)
        session_id = doc.session_id or path.stem
        if not valid_session_id(session_id):
            raise InvalidInput(
                f"session file {path.name!r} names an invalid session id", field="path"
            )
        settings = self._parse_settings(doc.settings)
        title = self._check_title(doc.title)
        owner = owner if owner is not None else doc.owner
        rows = []
        for i, m in enumerate(doc.messages):
            try:
                self._check_content(m.role, m.content)
                metadata = self._check_json(m.metadata, "metadata", dict)
                references = self._check_json(m.references, "references", list)
            except InvalidInput as exc:
                raise InvalidInput(
                    f"session file {path.name!r}, message {i}: {exc.message}", field="path"
                ) from exc
            rows.append(
                {
                    "session_id": session_id,
                    "position": i,
                    "role": m.role,
                    "content": m.content,
                    "created_at": m.timestamp or doc.created_at,
                    "meta": metadata,
                    "references": references,
                }
            )
        with self.db.write() as s:
            existing = s.get(SessionRow, session_id)
            if existing is not None:
                if not replace or not visible_to(existing.owner, owner):
                    raise Conflict(f"chat session {session_id!r} already exists")
                s.execute(delete(MessageRow).where(MessageRow.session_id == session_id))
                s.delete(existing)
                s.flush()
            row = SessionRow(
                id=session_id,
                owner=owner,
                title=title,
                created_at=doc.created_at,
                updated_at=doc.updated_at,
                settings=settings.to_json(),
                message_count=len(rows),
                next_position=len(rows),
            )
            s.add(row)
            s.flush()
            if rows:
                s.execute(insert(MessageRow), rows)
        return self.get(session_id, owner=owner)


class _AppendSQL(NamedTuple):
    bump_any: str
    bump_owned: str
    insert: str


def _append_sql(mark: Callable[[str], str], json_cast: str) -> _AppendSQL:
    bump = (
        "UPDATE chat_sessions SET message_count = message_count + 1, "
        f"next_position = next_position + 1, updated_at = {mark('now')} "
        f"WHERE id = {mark('sid')}"
    )
    return _AppendSQL(
        bump_any=f"{bump} RETURNING next_position",
        bump_owned=f"{bump} AND owner = {mark('owner')} RETURNING next_position",
        insert=(
            "INSERT INTO chat_messages (session_id, position, role, content, created_at, metadata, "
            f'"references", streaming_turn) VALUES ({mark("sid")}, {mark("pos")}, {mark("role")}, '
            f"{mark('content')}, {mark('now')}, {mark('meta')}{json_cast}, "
            f"{mark('refs')}{json_cast}, {mark('turn')}) RETURNING id"
        ),
    )


_SQLITE_APPEND = _append_sql(lambda name: f":{name}", "")
_PG_APPEND = _append_sql(lambda name: f"%({name})s", "::jsonb")


def _stored_settings(raw: dict[str, Any]) -> ChatSettings:
    """Settings as stored, read leniently: a value an older version accepted but today's limits
    refuse (say, 100,000 keywords) falls back to its default rather than failing every read."""
    try:
        return ChatSettings.model_validate(raw)
    except ValidationError:
        kept = {}
        for key, value in raw.items():
            try:
                ChatSettings.model_validate({key: value})
            except ValidationError:
                log.warning("ignoring a stored session setting that is no longer valid: %s", key)
            else:
                kept[key] = value
        return ChatSettings.model_validate(kept)


def _describe_validation(exc: ValueError, prefix: str) -> str:
    """A readable one-line account of a pydantic validation error (no input values echoed)."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors(include_input=False, include_url=False):
            loc = ".".join(str(p) for p in (prefix, *err["loc"]))
            parts.append(f"{loc}: {err['msg']}")
        return "; ".join(parts)
    return f"{prefix} is invalid"
