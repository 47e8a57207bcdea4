"""Full-text search over chunks: SQLite FTS5 with BM25, or PostgreSQL tsvector with ts_rank.

ts_rank (how many query terms occur, how often) rather than ts_rank_cd: cover density rewards terms
standing close together, which says little for an OR of keywords (MRR 0.69 vs 0.64 on the test
QA set).

Query words are OR-ed (BM25 ranks chunks holding more of them higher) after dropping stop words;
manual keywords are AND-ed on top, so every hit contains them.

FTS5 scores every chunk an OR query matches, so a query of common words on a large index reads
tens of thousands of postings (bench/retrieval.py: p95 80 ms at 100k chunks).  On SQLite the words
are therefore taken rarest first until ``postings_budget`` occurrences are reached; the common ones
left out carry the least BM25 weight (a word in 20% of chunks weighs about a sixth of a rare one),
and the rarest word is always kept.  Below the budget nothing changes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from docchat.db import Database
from docchat.textsearch import fts5_query, keywords, pg_tsquery_text

_local = threading.local()


def porter_stems(words: Sequence[str]) -> list[str]:
    """Each word as FTS5's ``porter unicode61`` tokenizer indexes it (so vocabulary lookups match).

    An in-memory FTS5 table per thread does the stemming: the very tokenizer, not a lookalike.
    """
    conn: sqlite3.Connection | None = getattr(_local, "stemmer", None)
    if conn is None:
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        _local.stemmer = conn
    conn.execute("DELETE FROM t")
    conn.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", enumerate(words, 1))
    stems = dict(conn.execute("SELECT doc, term FROM v ORDER BY doc, offset DESC"))
    return [stems.get(i, w) for i, w in enumerate(words, 1)]


def affordable_words(s: Session, query: str, budget: int) -> list[str]:
    """The query's words, rarest first, while their chunk counts add up to at most ``budget``."""
    words = list(dict.fromkeys(keywords(query)))
    if len(words) < 2:
        return words
    stems = porter_stems(words)
    counts: dict[str, int] = dict(
        s.execute(
            text("SELECT term, doc FROM chunks_fts_vocab WHERE term IN :terms").bindparams(
                bindparam("terms", expanding=True)
            ),
            {"terms": list(set(stems))},
        ).all()
    )
    kept: set[int] = set()
    spent = 0
    for i in sorted(range(len(words)), key=lambda i: counts.get(stems[i], 0)):
        cost = counts.get(stems[i], 0)
        if kept and spent + cost > budget:
            break
        kept.add(i)
        spent += cost
    return [w for i, w in enumerate(words) if i in kept]


def fulltext_search(
    db: Database,
    query: str,
    *,
    k: int,
    shas: Collection[str] | None = None,
    manual_keywords: Sequence[str] = (),
    postings_budget: int | None = None,
) -> list[tuple[int, float]]:
    """Up to ``k`` (chunk id, score) pairs, best first; higher scores are better."""
    if shas is not None and not shas:
        return []
    postgres = db.engine.dialect.name == "postgresql"
    build = pg_tsquery_text if postgres else fts5_query
    match = build(query, mode="or", extra=manual_keywords)
    if not match:
        return []
    params: dict[str, object] = {"q": match, "k": k}
    if postgres:
        restrict = ""
        if shas is not None:
            restrict = "AND c.sha256 IN :shas"
            params["shas"] = list(shas)
        sql = text(
            f"""
            SELECT c.id, ts_rank(c.text_tsv, q) AS score
            FROM chunks c, to_tsquery('english', :q) q
            WHERE c.text_tsv @@ q {restrict}
            ORDER BY score DESC, c.id LIMIT :k
            """
        )
    else:
        # The FTS table alone: joining chunks for every match before the LIMIT costs more than
        # the ranking itself on a large index.  bm25() is lower-is-better; section matches weigh
        # half as much as body text.
        restrict = ""
        if shas is not None:
            restrict = "AND rowid IN (SELECT id FROM chunks WHERE sha256 IN :shas)"
            params["shas"] = list(shas)
        sql = text(
            f"""
            SELECT rowid, -bm25(chunks_fts, 1.0, 0.5) AS score
            FROM chunks_fts
            WHERE chunks_fts MATCH :q {restrict}
            ORDER BY bm25(chunks_fts, 1.0, 0.5), rowid LIMIT :k
            """
        )
    if shas is not None:
        sql = sql.bindparams(bindparam("shas", expanding=True))
    with db.read() as s:
        if postings_budget is not None and not postgres:
            words = affordable_words(s, query, postings_budget)
            params["q"] = fts5_query(" ".join(words), mode="or", extra=manual_keywords)
        return [(int(i), float(score)) for i, score in s.execute(sql, params)]
