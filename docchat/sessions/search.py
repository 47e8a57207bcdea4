"""Full-text search over message content: FTS5 on SQLite, a tsvector column on PostgreSQL.

Both indexes are kept by the database itself (triggers, a generated column; see the migrations),
so appending never calls into this module.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select, text

from docchat.db import Database
from docchat.errors import InvalidInput
from docchat.sessions.models import MessageRow
from docchat.sessions.rows import message_of
from docchat.sessions.types import MessageHit
from docchat.textsearch import fts5_query, pg_tsquery_text


def search_messages(
    db: Database, query: str, *, owner: str | None, limit: int, postgres: bool
) -> list[MessageHit]:
    """Messages whose content matches every word of ``query``, best first."""
    if not isinstance(query, str):
        raise InvalidInput("query must be a string", field="q")
    if not 1 <= limit <= 200:
        raise InvalidInput("limit must be between 1 and 200", field="limit")
    # docchat.owners' rule, in this hand-written SQL: None sees every session.
    owned = "" if owner is None else "AND s.owner = :owner"
    params: dict[str, Any] = {"owner": owner, "limit": limit}
    if postgres:
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
    with db.read() as s:
        found = s.execute(sql, params).all()
        ids = [r.id for r in found]
        rows = {
            m.id: m for m in s.execute(select(MessageRow).where(MessageRow.id.in_(ids))).scalars()
        }
    return [
        MessageHit(
            message=message_of(rows[r.id]),
            session_title=r.title,
            snippet=r.snippet,
            score=float(r.score) if r.score is not None and math.isfinite(r.score) else 0.0,
        )
        for r in found
        if r.id in rows
    ]
