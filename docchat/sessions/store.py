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

The store keeps the transactions; the rest is in modules of their own: input checks (``checks``),
rows to values (``rows``), the append SQL (``append_sql``, ``group_commit``), full-text search
(``search``), files (``files``) and listing cursors (``cursor``).
"""

from __future__ import annotations

import builtins
import logging
import uuid
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docchat.config import Settings
from docchat.db import Database, sqlite_time, utcnow
from docchat.errors import Conflict, InvalidInput, SessionNotFound
from docchat.options import ChatSettings
from docchat.owners import scope, visible_to
from docchat.sessions.append_sql import PG_APPEND, SQLITE_APPEND
from docchat.sessions.checks import (
    SessionChecks,
    check_new_session_id,
    parse_settings,
    settings_patch,
    valid_session_id,
)
from docchat.sessions.cursor import decode_cursor, encode_cursor
from docchat.sessions.export import write_atomically
from docchat.sessions.files import (
    ExportFileFormat,
    ExportFormat,
    export_document,
    export_text,
    import_classic,
)
from docchat.sessions.group_commit import GroupCommit, run_append
from docchat.sessions.models import MessageRow, SessionRow
from docchat.sessions.rows import (
    MESSAGE_COLUMNS,
    message_of,
    read_messages,
    session_of,
    stored_message,
)
from docchat.sessions.search import search_messages
from docchat.sessions.types import ChatSession, Message, MessageHit, SessionPage
from docchat.validation import check_int

# ExportFormat and ExportFileFormat are the store's argument types; callers import them from here.
__all__ = [
    "INTERRUPTED_ANSWER",
    "STREAMING",
    "ExportFileFormat",
    "ExportFormat",
    "SessionStore",
]

log = logging.getLogger(__name__)

#: The ``status`` in an answer's metadata while it streams (its text is what was saved so far).
STREAMING = "streaming"
#: What an answer whose process died while it streamed gets in its metadata (a reader shows it
#: as it shows a stopped one: ``partial``).
INTERRUPTED_ANSWER: dict[str, Any] = {"status": "interrupted", "partial": True}


class SessionStore:
    """Chat sessions on one database; an application may hold several stores."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.db = database
        self.settings = settings
        self._limits = settings.sessions
        self._checks = SessionChecks(settings.sessions)
        self._postgres = database.engine.dialect.name == "postgresql"
        self._group = None if self._postgres else GroupCommit(database)

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionStore:
        """Open (and migrate) the configured database."""
        return cls(Database.from_settings(settings), settings)

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
        session_id = check_new_session_id(session_id or str(uuid.uuid4()))
        parsed = parse_settings(settings)
        now = utcnow()
        row = SessionRow(
            id=session_id,
            owner=owner,
            title=self._checks.title(title),
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
        return session_of(row)

    def get(
        self, session_id: str, *, owner: str | None = None, include_messages: bool = False
    ) -> ChatSession:
        """The session, with all its messages when ``include_messages``."""
        with self.db.read() as s:
            row = self._load(s, session_id, owner)
            messages = None
            if include_messages:
                messages = read_messages(
                    s,
                    select(*MESSAGE_COLUMNS)
                    .where(MessageRow.session_id == session_id)
                    .order_by(MessageRow.position),
                    postgres=self._postgres,
                )
            return session_of(row, messages)

    def get_or_create(self, session_id: str, *, owner: str | None = None) -> ChatSession:
        """The session with this id, created empty if there is none (safe under races)."""
        check_new_session_id(session_id)
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
        patch = settings_patch(settings)
        with self.db.write() as s:
            row = self._load(s, session_id, owner, lock=True)
            merged = parse_settings({**row.settings, **patch})
            row.settings = merged.to_json()
            row.updated_at = utcnow()
            return session_of(row)

    def rename(self, session_id: str, title: str, *, owner: str | None = None) -> ChatSession:
        """Set the session's title."""
        title = self._checks.title(title)
        with self.db.write() as s:
            row = self._load(s, session_id, owner, lock=True)
            row.title = title
            row.updated_at = utcnow()
            return session_of(row)

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
            when, last_id = decode_cursor(cursor)
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
        items = [session_of(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.updated_at, last.id)
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
        self._checks.content(role, content)
        metadata, metadata_text = self._checks.encode_json(metadata, "metadata", dict)
        references, references_text = self._checks.encode_json(references, "references", list)
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
        # The hot path in plain SQL on the driver's connection (append_sql).
        sql = PG_APPEND if self._postgres else SQLITE_APPEND
        bump = sql.bump_any if owner is None else sql.bump_owned
        if self._group is not None:
            position, message_id = self._group.append(bump, sql.insert, params)
        else:
            position, message_id = self._append_alone(session_id, bump, sql.insert, params)
        # Every value was checked above (the metadata is a fresh decoded copy): validating them
        # again cost 2.4 us of an append.
        return stored_message(
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
        query = select(*MESSAGE_COLUMNS).where(MessageRow.session_id == session_id)
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
            rows = read_messages(s, query, postgres=self._postgres)
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
        self._checks.content("assistant", content)
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
        self._checks.content("assistant", content)
        metadata = self._checks.json(metadata, "metadata", dict)
        references = self._checks.json(references, "references", list)
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
            return message_of(row)

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
        return search_messages(self.db, query, owner=owner, limit=limit, postgres=self._postgres)

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
        return export_text(self.get(session_id, owner=owner, include_messages=True), format)

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
        return export_document(session, format, self.settings.data_dir)

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
        session_id, owner = import_classic(
            self.db, self._checks, Path(path), owner=owner, replace=replace
        )
        return self.get(session_id, owner=owner)
