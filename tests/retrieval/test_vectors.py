"""PostgreSQL vectors: a halfvec HNSW index per model, used by the search; float32 scores."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from corpora import Corpora
from sqlalchemy import event, text

from docchat.config import Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.retrieval.vectors import hnsw_index_name
from docchat.sessions.types import SourceFilters
from docchat.workspace import Workspace
from tests.workspace_parts import parts

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"
QUERY = "How long is CCTV footage kept?"

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@pytest.fixture
def handbook(settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora) -> Iterator[Workspace]:
    """The test handbook ingested and embedded on PostgreSQL."""
    corpora.copy_into(settings, [HANDBOOK], collection="handbook")
    with Workspace(settings, embedder=minilm) as workspace:
        yield workspace


def hnsw_indexes(workspace: Workspace) -> dict[str, str]:
    with parts(workspace).db.read() as s:
        rows = s.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename = 'chunk_vectors' AND indexdef LIKE '%USING hnsw%'"
            )
        ).all()
    return dict(rows)


def test_the_index_is_halfvec_and_the_search_uses_it(
    handbook: Workspace, minilm: MiniLMEmbedder
) -> None:
    parts(handbook).vectors.ensure_model(minilm.name, minilm.dimension)
    indexes = hnsw_indexes(handbook)
    name = hnsw_index_name(minilm.name)
    assert list(indexes) == [name]
    assert "(embedding)::halfvec(384)" in indexes[name]
    assert "halfvec_cosine_ops" in indexes[name]
    # The statement the dense search sends, planned with scans that need a sort priced out: at
    # the handbook's few hundred chunks reading them all and sorting is cheaper (a sequential
    # scan, or a bitmap scan of the model's index once the table is analysed), at 100k the
    # planner picks the HNSW index by itself.  Only an index whose expression is the ORDER BY's
    # gives the rows in order: a plan without it means the two no longer match.
    sent: list[tuple[str, object]] = []

    def record(_conn: object, _cursor: object, statement: str, params: object, *_: object) -> None:
        if "<=>" in statement:
            sent.append((statement, params))

    engine = parts(handbook).db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert handbook.search(QUERY, mode="dense")
        # Filtered: the chunks of the allowed contents joined in, the same ORDER BY.
        assert handbook.search(QUERY, mode="dense", filters=SourceFilters(collections=["handbook"]))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(sent) == 2 and "JOIN chunks" in sent[1][0]
    for statement, params in sent:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE chunk_vectors")  # as autovacuum may have, or not
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                conn.exec_driver_sql(f"SET {setting} = off")
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))  # type: ignore[arg-type]
        assert f"Index Scan using {name}" in plan, plan


def test_the_old_vector_index_is_replaced(handbook: Workspace, minilm: MiniLMEmbedder) -> None:
    # The name and definition docchat gave its HNSW index before it became halfvec.
    old = "ix_chunk_vectors_hnsw_" + hashlib.sha1(minilm.name.encode()).hexdigest()[:12]
    new = hnsw_index_name(minilm.name)
    with parts(handbook).db.write() as s:
        s.execute(text(f"DROP INDEX IF EXISTS {new}"))
        s.execute(
            text(
                f"CREATE INDEX {old} ON chunk_vectors USING hnsw "
                f"((embedding::vector(384)) vector_cosine_ops) WHERE model = '{minilm.name}'"
            )
        )
    assert list(hnsw_indexes(handbook)) == [old]
    parts(handbook).vectors.ensure_model(minilm.name, minilm.dimension)
    assert list(hnsw_indexes(handbook)) == [new]
    # Once done, nothing more to do.
    parts(handbook).vectors.ensure_model(minilm.name, minilm.dimension)
    assert list(hnsw_indexes(handbook)) == [new]


def test_scores_are_the_float32_cosine_of_the_stored_vectors(
    handbook: Workspace, minilm: MiniLMEmbedder
) -> None:
    query = minilm.embed([QUERY])[0]
    found = parts(handbook).vectors.search(query, model=minilm.name, k=20)
    assert len(found) == 20
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)
    with parts(handbook).db.read() as s:
        stored = dict(
            s.execute(
                text(
                    "SELECT chunk_id, embedding::real[] FROM chunk_vectors WHERE chunk_id = ANY(:i)"
                ),
                {"i": [i for i, _ in found]},
            ).all()
        )
    q = query.astype(np.float32)
    for chunk_id, score in found:
        v = np.asarray(stored[chunk_id], dtype=np.float32)
        exact = float(v @ q) / float(np.linalg.norm(v) * np.linalg.norm(q))
        # float32 arithmetic in pgvector; halfvec's 11-bit mantissas would be off by ~1e-4.
        assert score == pytest.approx(exact, abs=1e-6), chunk_id
