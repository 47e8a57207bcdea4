"""Stored rows to the values the store returns: sessions, messages and their settings.

A 5,000-message read is dominated by per-row overhead, not by the database, so messages are read
with Core rather than the ORM, unpacked by position, each value decoded the cheapest way, and not
validated a second time (bench/sessions.py, scenario d).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Row, Select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from docchat.db import UTCDateTime
from docchat.options import ChatSettings
from docchat.sessions.models import MessageRow, SessionRow
from docchat.sessions.types import ChatSession, Message

log = logging.getLogger(__name__)

# In the order read_messages unpacks them.  The last three come as the driver returns them
# (NullType has no result processor): read_messages decodes them itself, without the wrapper calls
# SQLAlchemy's result processors make per value (3 ms of a 5,000-message read).
MESSAGE_COLUMNS = (
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


def stored_json(text: str | None) -> Any:
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


def stored_message(values: dict[str, Any]) -> Message:
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


def read_messages(s: Session, query: Select[*tuple[Any, ...]], *, postgres: bool) -> list[Message]:
    """Messages of ``query``, a select of ``MESSAGE_COLUMNS``."""
    # Core rather than ORM execution, positional unpacking, the cheapest decoding of each value,
    # no second validation.  bench/sessions.py, scenario d, in CPU time: 46 ms became 24 ms, where
    # raw sqlite3 decoding the same values into dicts takes 17 ms.
    time_of: Callable[[Any], dt.datetime]
    json_of: Callable[[Any], Any]
    if postgres:
        # psycopg decodes jsonb itself and returns timestamptz in the connection's zone.
        time_of, json_of = _aware_utc, _same
    else:
        time_of, json_of = UTCDateTime.from_sqlite, stored_json
    return [
        stored_message(
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
        for i, sid, pos, role, content, created, meta, refs in s.connection().execute(query).all()
    ]


def session_of(row: SessionRow | Row[Any], messages: list[Message] | None = None) -> ChatSession:
    """The ChatSession of a session row, with ``messages`` when given."""
    return ChatSession(
        id=row.id,
        owner=row.owner,
        title=row.title,
        created_at=row.created_at,
        updated_at=row.updated_at,
        settings=stored_settings(row.settings),
        message_count=row.message_count,
        messages=messages,
    )


def message_of(row: MessageRow | Row[Any]) -> Message:
    """The Message of an ORM message row (validated: the slow way, for single rows)."""
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


def stored_settings(raw: dict[str, Any]) -> ChatSettings:
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
