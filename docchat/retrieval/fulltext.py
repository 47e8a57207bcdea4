"""Full-text search over chunks: SQLite FTS5 with BM25, or PostgreSQL tsvector with ts_rank.

ts_rank (how many query terms occur, how often) rather than ts_rank_cd: cover density rewards terms
standing close together, which says little for an OR of keywords (MRR 0.69 vs 0.64 on the test
QA set).

Query words are OR-ed (BM25 ranks chunks holding more of them higher) after dropping stop words;
manual keywords are AND-ed on top, so every hit contains them.

FTS5 and ts_rank score every chunk an OR query matches, so a query of common words on a large
index reads tens of thousands of postings (bench/retrieval.py: p95 80 ms at 100k chunks on SQLite;
bench/scale.py: 560 ms on PostgreSQL, 7 s at 1M).  The words are therefore taken rarest first
until ``postings_budget`` occurrences are reached; the common ones left out carry the least BM25
weight (a word in 20% of chunks weighs about a sixth of a rare one; ts_rank has no such weight,
so there they would only have crowded the rare word out), and the rarest word is always kept.
Below the budget nothing changes.  SQLite counts a word's chunks exactly (FTS5's vocabulary);
PostgreSQL estimates them from the planner's statistics of the tsvector column, one catalogue read
(1 ms; an exact count through the GIN index takes 5 to 770 ms a word at 100k chunks), as good as
the last ANALYZE, which autovacuum repeats as the table grows.  On PostgreSQL the budget also
caps the chunks ranked, the owner's filter applied first: a query whose rarest word is in more
chunks than that (or whose estimates fell short) ranks the first ``postings_budget`` that match,
so its cost stays bounded whatever the table's size.
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

#: The postings budget when none is set.  A match costs PostgreSQL far more than FTS5: ts_rank
#: reads the chunk's whole tsvector from the table (about 15 µs a chunk on 2 busy cores, so
#: 30,000 would be 450 ms), where FTS5's bm25 reads the posting alone.
DEFAULT_POSTINGS_BUDGET = {"sqlite": 30_000, "postgresql": 5_000}


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
    postgres = s.get_bind().dialect.name == "postgresql"
    counts = _pg_chunk_counts(s, words) if postgres else _sqlite_chunk_counts(s, words)
    kept: set[int] = set()
    spent = 0.0
    for i in sorted(range(len(words)), key=lambda i: counts[i]):
        if kept and spent + counts[i] > budget:
            break
        kept.add(i)
        spent += counts[i]
    return [w for i, w in enumerate(words) if i in kept]


def _sqlite_chunk_counts(s: Session, words: Sequence[str]) -> list[float]:
    """How many chunks hold each word: FTS5's own vocabulary, exact."""
    stems = porter_stems(words)
    counts: dict[str, int] = dict(
        s.execute(
            text("SELECT term, doc FROM chunks_fts_vocab WHERE term IN :terms").bindparams(
                bindparam("terms", expanding=True)
            ),
            {"terms": list(set(stems))},
        ).all()
    )
    return [float(counts.get(stem, 0)) for stem in stems]


#: Each word's share of chunks as the planner's statistics have it (ANALYZE samples 30,000 rows
#: and keeps the share of the 1,000 or so commonest lexemes; a word below them holds less than
#: the least of those, counted at half of it, as the planner does), times the table's rows.  A
#: word made of several lexemes matches where they stand together: at most its rarest one's count.
#: No statistics yet (never analysed, as a new small table): every count is 0 and nothing is
#: pruned.
_PG_COUNTS = text(
    """
    SELECT w.i, min(coalesce(st.freqs[array_position(st.elems, l.lexeme)],
                             st.freqs[cardinality(st.elems) + 1] / 2) * greatest(c.reltuples, 0))
    FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS w(word, i)
    CROSS JOIN LATERAL unnest(to_tsvector('english', w.word)) AS l
    CROSS JOIN (
        SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs
        FROM pg_stats
        WHERE schemaname = current_schema() AND tablename = 'chunks' AND attname = 'text_tsv'
    ) AS st
    CROSS JOIN pg_class c
    WHERE c.oid = CAST('chunks' AS regclass)
    GROUP BY w.i
    """
)


def _pg_chunk_counts(s: Session, words: Sequence[str]) -> list[float]:
    """How many chunks hold each word, estimated from the planner's statistics (see _PG_COUNTS):
    one catalogue read, whatever the table's size."""
    found: dict[int, float] = dict(s.execute(_PG_COUNTS, {"words": list(words)}).all())
    return [float(found.get(i, 0.0) or 0.0) for i in range(1, len(words) + 1)]


def fulltext_search(
    db: Database,
    query: str,
    *,
    k: int,
    shas: Collection[str] | None = None,
    manual_keywords: Sequence[str] = (),
    postings_budget: int | None = None,
) -> list[tuple[int, float]]:
    """Up to ``k`` (chunk id, score) pairs, best first; higher scores are better.

    ``postings_budget``: see the module's docstring; ``None`` is the backend's default."""
    if shas is not None and not shas:
        return []
    postgres = db.engine.dialect.name == "postgresql"
    build = pg_tsquery_text if postgres else fts5_query
    match = build(query, mode="or", extra=manual_keywords)
    if not match:
        return []
    budget = postings_budget or DEFAULT_POSTINGS_BUDGET[db.engine.dialect.name]
    params: dict[str, object] = {"q": match, "k": k, "budget": budget}
    if postgres:
        restrict = ""
        if shas is not None:
            restrict = "AND c.sha256 IN :shas"
            params["shas"] = list(shas)
        # The owner's filter inside: only chunks it allows are counted against the cap.
        sql = text(
            f"""
            WITH matched AS MATERIALIZED (
                SELECT c.id, c.text_tsv FROM chunks c
                WHERE c.text_tsv @@ to_tsquery('english', :q) {restrict}
                LIMIT :budget
            )
            SELECT m.id, ts_rank(m.text_tsv, q) AS score
            FROM matched m, to_tsquery('english', :q) q
            ORDER BY score DESC, m.id LIMIT :k
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
        words = affordable_words(s, query, budget)
        params["q"] = build(" ".join(words), mode="or", extra=manual_keywords)
        return [(int(i), float(score)) for i, score in s.execute(sql, params)]
