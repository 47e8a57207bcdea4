"""The two statements of an append, written once per database's parameter style.

The hot path runs them as plain SQL on the driver's connection: the same two statements
SQLAlchemy would emit, without its per-call machinery, which costs more than the database work
itself (bench/sessions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class AppendSQL(NamedTuple):
    """Bump the session row (any owner's, or one owner's), then insert the message."""

    bump_any: str
    bump_owned: str
    insert: str


def _append_sql(mark: Callable[[str], str], json_cast: str) -> AppendSQL:
    bump = (
        "UPDATE chat_sessions SET message_count = message_count + 1, "
        f"next_position = next_position + 1, updated_at = {mark('now')} "
        f"WHERE id = {mark('sid')}"
    )
    return AppendSQL(
        bump_any=f"{bump} RETURNING next_position",
        bump_owned=f"{bump} AND owner = {mark('owner')} RETURNING next_position",
        insert=(
            "INSERT INTO chat_messages (session_id, position, role, content, created_at, metadata, "
            f'"references", streaming_turn) VALUES ({mark("sid")}, {mark("pos")}, {mark("role")}, '
            f"{mark('content')}, {mark('now')}, {mark('meta')}{json_cast}, "
            f"{mark('refs')}{json_cast}, {mark('turn')}) RETURNING id"
        ),
    )


#: sqlite3's named style.
SQLITE_APPEND = _append_sql(lambda name: f":{name}", "")
#: psycopg's pyformat style; JSON goes in as text and is cast to jsonb.
PG_APPEND = _append_sql(lambda name: f"%({name})s", "::jsonb")
