"""Reading messages back: the driver's raw values decoded exactly as SQLAlchemy's types would."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import insert, select, text

from docchat.db import UTCDateTime
from docchat.sessions.models import MessageRow
from docchat.sessions.rows import message_of, stored_json, stored_message
from docchat.sessions.store import SessionStore
from docchat.sessions.types import Message

METADATA: list[dict[str, Any] | None] = [
    None,
    {},
    {"model": "llama", "tokens": 87, "latency_ms": 1234.5, "big": 2**62, "neg": -1e-300},
    {"nested": {"list": [1, "two", None, True, False], "empty": {}}, "text": "é ✓ 😀 \\ \" '"},
]
REFERENCES: list[list[Any] | None] = [
    None,
    [],
    [{"document": "report.pdf", "page": 3, "snippet": "Revenue grew 12%"}],
    [1, "x", None, [2.5]],
]


def test_messages_read_back_as_appended(store: SessionStore) -> None:
    s = store.create()
    appended = [
        store.append(s.id, "user" if i % 2 == 0 else "assistant", f"message {i}", meta, refs)
        for i, (meta, refs) in enumerate(zip(METADATA, REFERENCES, strict=True))
    ]
    read = store.messages(s.id)
    assert read == appended
    assert store.get(s.id, include_messages=True).messages == appended
    for message in read:
        assert message.created_at.utcoffset() == dt.timedelta(0)
    # The same rows through the ORM, whose columns keep SQLAlchemy's result processors.
    with store.db.read() as session:
        rows = session.execute(select(MessageRow).order_by(MessageRow.position)).scalars()
        assert [message_of(row) for row in rows] == read


def test_rows_written_through_sqlalchemy_read_back(store: SessionStore) -> None:
    """Imports insert through SQLAlchemy's JSON type, which stores None as JSON 'null'."""
    s = store.create()
    when = dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC)
    with store.db.write() as session:
        session.execute(
            insert(MessageRow),
            [
                {
                    "session_id": s.id,
                    "position": i,
                    "role": "user",
                    "content": "imported",
                    "created_at": when,
                    "meta": meta,
                    "references": refs,
                }
                for i, (meta, refs) in enumerate(zip(METADATA, REFERENCES, strict=True))
            ],
        )
    read = store.messages(s.id)
    assert [m.metadata for m in read] == METADATA
    assert [m.references for m in read] == REFERENCES
    assert {m.created_at for m in read} == {when}


def test_times_come_back_in_utc(store: SessionStore, backend: str) -> None:
    s = store.create()
    appended = store.append(s.id, "user", "hi")
    if backend == "postgresql":
        # psycopg returns timestamptz in the connection's time zone, here not UTC.
        with store.db.engine.begin() as conn:
            name = conn.execute(text("SELECT current_database()")).scalar_one()
            conn.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Kolkata'"))
        store.db.engine.dispose()  # new connections start in the database's zone
        with store.db.engine.connect() as conn:
            assert conn.execute(text("SHOW timezone")).scalar_one() == "Asia/Kolkata"
    (read,) = store.messages(s.id)
    assert read == appended
    assert read.created_at.tzinfo == dt.UTC


def test_stored_message_behaves_like_a_validated_one() -> None:
    values: dict[str, Any] = {
        "id": 7,
        "session_id": "s",
        "position": 3,
        "role": "assistant",
        "content": "hi",
        "created_at": dt.datetime(2024, 2, 29, tzinfo=dt.UTC),
        "metadata": {"a": [1, 2]},
        "references": None,
    }
    stored, validated = stored_message(dict(values)), Message(**values)
    assert stored == validated
    assert repr(stored) == repr(validated)
    assert stored.model_fields_set == validated.model_fields_set
    assert stored.model_dump() == validated.model_dump()
    assert stored.model_dump_json() == validated.model_dump_json()
    assert pickle.loads(pickle.dumps(stored)) == validated
    with pytest.raises(ValidationError, match="frozen"):
        stored.content = "changed"  # type: ignore[misc]
    # The fields set is shared between stored messages: a copy must get its own.
    copied = stored.model_copy(update={"content": "changed"})
    assert copied.model_fields_set is not stored.model_fields_set
    assert copied.content == "changed"
    assert stored.content == "hi"
    assert stored_message(dict(values)).model_fields_set == set(Message.model_fields)


@pytest.mark.parametrize(
    "stored",
    ['{"a":1}', ' {"a": 1} ', '{"a":1}\n', "null", "[]", '"text"', "1e400"],
)
def test_stored_json_matches_json_loads(stored: str) -> None:
    assert stored_json(stored) == json.loads(stored)


@pytest.mark.parametrize("stored", ["", "{", '{"a":1} x', "\ufeff{}"])
def test_stored_json_refuses_what_json_loads_refuses(stored: str) -> None:
    with pytest.raises(ValueError) as expected:
        json.loads(stored)
    with pytest.raises(ValueError) as got:
        stored_json(stored)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2024-02-29 23:59:59.999999", dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC)),
        ("2024-02-29 23:59:59", dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.UTC)),
        ("2024-03-01T01:59:59+02:00", dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.UTC)),
        ("2024-02-29 23:59:59Z", dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.UTC)),
        ("2024-02-29", dt.datetime(2024, 2, 29, tzinfo=dt.UTC)),
    ],
)
def test_sqlite_time_parsing(stored: str, expected: dt.datetime) -> None:
    parsed = UTCDateTime.from_sqlite(stored)
    assert parsed == expected
    assert parsed.tzinfo == dt.UTC


def test_sqlite_time_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="Invalid isoformat"):
        UTCDateTime.from_sqlite("yesterday")
