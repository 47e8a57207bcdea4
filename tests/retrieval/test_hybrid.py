"""Hybrid search on SQLite and PostgreSQL: provenance, filters, keywords, owners, reranking."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpora import Corpora
from sqlalchemy import text

from docchat.config import RetrievalSettings, Settings
from docchat.errors import InvalidInput
from docchat.retrieval.embedders import MiniLMEmbedder, Vectors
from docchat.retrieval.fusion import Candidates
from docchat.retrieval.hybrid import Hit, Retriever, SearchMode, snippet
from docchat.retrieval.rerank import RemoteReranker
from docchat.sessions.types import SourceFilters
from docchat.workspace import Workspace
from tests.workspace_parts import parts

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"


@pytest.fixture
def handbook(settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora) -> Iterator[Workspace]:
    """A workspace with the test handbook ingested and embedded (a copy of the run's one)."""
    corpora.copy_into(settings, [HANDBOOK], collection="handbook")
    with Workspace(settings, embedder=minilm) as workspace:
        yield workspace


def test_hits_point_at_the_exact_passage(handbook: Workspace) -> None:
    hits = handbook.search("How much can I spend on meals on a business trip?", k=5)
    top = hits[0]
    assert top.file_name == "expense-policy.md"
    assert top.collection == "handbook"
    assert top.section == "Expense policy > Business travel"
    assert "EUR 45 per day" in top.text
    text = handbook.document_text(top.document_id, owner=None)
    assert text[top.char_start : top.char_end] == top.text
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert top.scores.dense is not None
    assert top.scores.fused is not None


def test_modes(handbook: Workspace) -> None:
    lexical = handbook.search("Alert E1047", k=3, mode="fulltext")
    assert "Alert E1047" in lexical[0].text
    assert all(h.scores.dense is None for h in lexical)
    dense = handbook.search("time off for new fathers", k=3, mode="dense")
    assert dense[0].file_name == "parental-leave.md"
    assert all(h.scores.fulltext is None for h in dense)


def test_source_filters(handbook: Workspace, tmp_path: Path) -> None:
    other = tmp_path / "other.md"
    other.write_text("# Meals\n\nMeals in the canteen cost EUR 4.50.\n")
    handbook.ingest([other], collection="canteen")
    query = "how much do meals cost"
    assert {h.collection for h in handbook.search(query, k=20)} == {"handbook", "canteen"}
    only = handbook.search(query, k=20, filters=SourceFilters(collections=["canteen"]))
    assert {h.file_name for h in only} == {"other.md"}
    globbed = handbook.search(query, k=20, filters=SourceFilters(file_globs=["expense-*"]))
    assert {h.file_name for h in globbed} == {"expense-policy.md"}
    doc_id = globbed[0].document_id
    by_id = handbook.search(query, k=20, filters=SourceFilters(documents=[doc_id]))
    assert {h.document_id for h in by_id} == {doc_id}
    assert handbook.search(query, filters=SourceFilters(collections=["nope"])) == []


def test_manual_keywords_are_required(handbook: Workspace) -> None:
    hits = handbook.search("what should I do about the alert", k=10, manual_keywords=["VACUUM"])
    assert hits
    assert all("vacuum" in h.text.lower() for h in hits)


def test_owners_see_only_their_documents(workspace: Workspace, tmp_path: Path) -> None:
    mine = tmp_path / "mine.md"
    mine.write_text("# Secret\n\nThe launch code word is heliotrope.\n")
    theirs = tmp_path / "theirs.md"
    theirs.write_text("# Plans\n\nThe launch is planned for heliotrope season.\n")
    parts(workspace).ingestor.ingest_paths([mine], owner="alice")
    parts(workspace).ingestor.ingest_paths([theirs], owner="bob")
    workspace.embed_pending()
    assert {h.file_name for h in workspace.search("heliotrope launch", owner="alice")} == {
        "mine.md"
    }
    assert {h.file_name for h in workspace.search("heliotrope launch", owner="bob")} == {
        "theirs.md"
    }
    assert {d.file_name for d in workspace.documents(owner="alice")} == {"mine.md"}


def test_fulltext_is_available_before_vectors(workspace: Workspace, tmp_path: Path) -> None:
    doc = tmp_path / "fresh.md"
    doc.write_text("# Fresh\n\nThe zeppelin hangar opens at dawn.\n")
    workspace.ingest([doc], embed=False)
    (info,) = workspace.documents()
    assert info.status == "indexing"
    assert workspace.search("zeppelin hangar")[0].file_name == "fresh.md"
    assert workspace.chunks_without_vectors() > 0
    workspace.embed_pending()
    assert workspace.chunks_without_vectors() == 0
    assert workspace.documents()[0].status == "indexed"


def test_deleted_documents_leave_the_vector_cache(workspace: Workspace, tmp_path: Path) -> None:
    a = tmp_path / "a.md"
    a.write_text("# Alpha\n\nOrchids need bright indirect light.\n")
    b = tmp_path / "b.md"
    b.write_text("# Beta\n\nCacti survive long droughts.\n")
    workspace.ingest([a, b])
    assert {h.file_name for h in workspace.search("plants", mode="dense")} == {"a.md", "b.md"}
    target = next(d for d in workspace.documents() if d.file_name == "a.md")
    workspace.delete_document(target.id, owner=None)
    assert {h.file_name for h in workspace.search("plants", mode="dense")} == {"b.md"}
    c = tmp_path / "c.md"
    c.write_text("# Gamma\n\nFerns like shade.\n")
    workspace.ingest([c])
    assert {h.file_name for h in workspace.search("plants", mode="dense")} == {"b.md", "c.md"}


def test_a_second_workspace_sees_new_vectors(
    workspace: Workspace, minilm: MiniLMEmbedder, tmp_path: Path
) -> None:
    other = Workspace(workspace.settings, embedder=minilm)
    try:
        doc = tmp_path / "x.md"
        doc.write_text("# X\n\nThe lighthouse keeper feeds the gulls.\n")
        assert other.search("lighthouse", mode="dense") == []
        workspace.ingest([doc])
        assert [h.file_name for h in other.search("lighthouse", mode="dense")] == ["x.md"]
    finally:
        other.close()


class _Renamed:
    """The real MiniLM embedder under another model name, as after a configuration change."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner = inner
        self.calls = 0

    @property
    def name(self) -> str:
        return "renamed-minilm"

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: list[str]) -> Vectors:
        self.calls += len(texts)
        return self.inner.embed(texts)


def test_changing_the_embedding_model_reembeds_everything(
    handbook: Workspace, minilm: MiniLMEmbedder
) -> None:
    assert handbook.chunks_without_vectors() == 0
    assert not handbook.embedding_outdated()
    renamed = _Renamed(minilm)
    assert parts(handbook).vectors.ensure_model(renamed.name, renamed.dimension) is True
    # The workspace is still configured for MiniLM: a restart would re-embed for it.
    assert handbook.embedding_outdated()
    assert {d.status for d in handbook.documents()} == {"indexing"}
    pending = handbook.chunks_without_vectors()
    assert pending > 0
    # Until re-embedded, dense search under the new model finds nothing (no silent mix).
    vector = minilm.embed(["holiday"])[0]
    assert parts(handbook).vectors.search(vector, model=renamed.name, k=5) == []
    parts(handbook).vectors.embed_pending(renamed)
    assert renamed.calls == pending
    assert {d.status for d in handbook.documents()} == {"indexed"}
    assert parts(handbook).vectors.search(vector, model=renamed.name, k=5)
    assert parts(handbook).vectors.search(vector, model=minilm.name, k=5) == []


def test_reranking_through_a_remote_endpoint(handbook: Workspace, server_url: str) -> None:
    with RemoteReranker(url=f"{server_url}/v1/rerank", model="minilm-cosine") as reranker:
        retriever = Retriever(
            parts(handbook).db,
            parts(handbook).registry,
            parts(handbook).vectors,
            RetrievalSettings(rerank_url=f"{server_url}/v1/rerank"),
            embedder=handbook.embedder,
            reranker=reranker,
        )
        hits = retriever.search(
            "Where do we meet when the fire alarm goes off?", k=3, enable_reranking=True
        )
    assert hits[0].file_name == "health-safety.md"
    assert all(h.scores.rerank is not None for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].score == hits[0].scores.rerank


def test_reranking_without_a_reranker_is_an_error(
    settings: Settings, minilm: MiniLMEmbedder
) -> None:
    retrieval = settings.retrieval.model_copy(update={"late_interaction": False})
    plain = Workspace(settings.model_copy(update={"retrieval": retrieval}), embedder=minilm)
    try:
        assert not plain.has_reranker  # no rerank_url, no offline reranker
        with pytest.raises(InvalidInput, match="no reranker"):
            plain.search("fire alarm", enable_reranking=True)
    finally:
        plain.close()


@pytest.mark.parametrize("query", ["", "   ", "x" * 5000], ids=["empty", "blank", "too-long"])
def test_invalid_queries(handbook: Workspace, query: str) -> None:
    with pytest.raises(InvalidInput):
        handbook.search(query)


def test_query_syntax_is_plain_text(handbook: Workspace) -> None:
    # FTS5 and tsquery operators in a query are words to look for, never syntax: each query still
    # finds the fire alarm passage by its plain words, and one of operators alone finds nothing.
    for query in ['"fire alarm', "NEAR(fire alarm)", "col:fire alarm", "fire AND OR NOT alarm"]:
        hits = handbook.search(query, mode="fulltext")
        assert hits, query
        assert "fire" in hits[0].text.lower(), (query, hits[0].text)
    assert handbook.search("* - ^", mode="fulltext") == []


def test_snippet_centres_on_the_match() -> None:
    text = "intro " * 100 + "the quokka smiles " + "outro " * 100
    cut = snippet(text, "quokka")
    assert "quokka" in cut
    assert cut.startswith("…")
    assert cut.endswith("…")
    assert len(cut) <= 302  # 300 characters and the two ellipses
    # The match sits in the first half of the cut (a quarter of the width before it), not at an end.
    assert 0 < cut.index("quokka") < len(cut) // 2


def test_codes_with_hyphens_are_found_by_their_parts(workspace: Workspace, tmp_path: Path) -> None:
    doc = tmp_path / "pumps.md"
    doc.write_text("# Pumps\n\nThe pump XT-9485 delivers 40 litres per minute.\n")
    workspace.ingest([doc], embed=False)
    for query in ("9485", "XT-9485", "xt 9485"):
        (hit,) = workspace.search(query, mode="fulltext")
        assert "XT-9485" in hit.text


def _analyze(workspace: Workspace) -> None:
    """PostgreSQL's planner statistics, which its budget reads the words' counts from, as
    autovacuum leaves them (SQLite counts exactly, always)."""
    db = parts(workspace).db
    if db.engine.dialect.name == "postgresql":
        with db.write() as s:
            s.execute(text("ANALYZE chunks"))


def test_common_words_are_pruned_only_past_the_budget(workspace: Workspace, tmp_path: Path) -> None:
    from docchat.retrieval.fulltext import affordable_words

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(30):
        (folder / f"note{i}.md").write_text(f"# Note {i}\n\nThe report mentions item {i}.\n")
    (folder / "rare.md").write_text("# Rare\n\nThe report mentions a walrus.\n")
    workspace.ingest([folder], embed=False)
    _analyze(workspace)
    with parts(workspace).db.read() as s:
        assert affordable_words(s, "report walrus", budget=1_000) == ["report", "walrus"]
        assert affordable_words(s, "reports walrus", budget=5) == ["walrus"]
        assert affordable_words(s, "reports mentions", budget=5) == ["reports"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgres_ranks_only_what_the_budget_allows(workspace: Workspace, tmp_path: Path) -> None:
    from docchat.retrieval.fulltext import fulltext_search

    # ts_rank weighs every query word alike and counts repeats: forty chunks saying "report" five
    # times outrank the one that says "walrus" once, unless the common word is left out.
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(40):
        (notes / f"note{i}.md").write_text(f"# Note {i}\n\n{'The report. ' * 5}Item {i}.\n")
    workspace.ingest([notes], embed=False)
    (tmp_path / "rare.md").write_text("# Rare\n\nA walrus was seen.\n")
    (tmp_path / "desk.md").write_text("# Desk\n\nThe report desk is open.\n")
    workspace.ingest([tmp_path / "rare.md", tmp_path / "desk.md"], embed=False)
    _analyze(workspace)
    db = parts(workspace).db
    with db.read() as s:
        walrus = s.execute(text("SELECT id FROM chunks WHERE text LIKE '%walrus%'")).scalar_one()
        desk, sha = s.execute(text("SELECT id, sha256 FROM chunks WHERE text LIKE '%desk%'")).one()
    unbounded = fulltext_search(db, "report walrus", k=3, postings_budget=10_000)
    assert walrus not in [i for i, _ in unbounded]
    # Within a budget of 5 only the rare word is searched: one chunk ranked, the right one.
    assert [i for i, _ in fulltext_search(db, "report walrus", k=3, postings_budget=5)] == [walrus]
    # A common word alone is always kept, and the budget caps the chunks ranked...
    assert len(fulltext_search(db, "report", k=50, postings_budget=10_000)) == 41
    assert len(fulltext_search(db, "report", k=50, postings_budget=5)) == 5
    # ...after the owner's filter, never before it (the notes, stored first, would fill it).
    assert [i for i, _ in fulltext_search(db, "report", k=50, shas={sha}, postings_budget=1)] == [
        desk
    ]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgres_searches_with_the_configured_ef_search(
    settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora
) -> None:
    from sqlalchemy import event

    corpora.copy_into(settings, [HANDBOOK], collection="handbook")
    said: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if "hnsw.ef_search" in statement:
            said.append(statement)

    for ef_search, expected in ((None, 400), (200, 200), (10, 50)):
        retrieval = settings.retrieval.model_copy(update={"hnsw_ef_search": ef_search})
        configured = settings.model_copy(update={"retrieval": retrieval})
        with Workspace(configured, embedder=minilm) as workspace:
            engine = parts(workspace).db.engine
            event.listen(engine, "before_cursor_execute", record)
            said.clear()
            assert workspace.search("How long is CCTV footage kept?", mode="dense")
            event.remove(engine, "before_cursor_execute", record)
        # The retriever asks the vector index for 50; never fewer candidates than that.
        assert said == [f"SET LOCAL hnsw.ef_search = {expected}"], (ef_search, said)


# -- steps: scope, candidates, fuse, hydrate; several queries at once ----------------------------


def test_search_is_its_steps_composed(handbook: Workspace) -> None:
    retriever = parts(handbook).retriever
    query = "How much can I spend on meals on a business trip?"
    scope = retriever.scope(filters=SourceFilters(collections=["handbook"]))
    found = retriever.candidates(query, scope=scope, k=5)
    assert found.query == query
    assert found.fulltext and found.dense
    assert len(found.dense) == handbook.settings.retrieval.candidates
    fused = retriever.fuse([found])
    assert {f.chunk_id for f in fused} == {cid for cid, _ in found.fulltext + found.dense}
    hits = retriever.hydrate(fused[:5], query=query, scope=scope)
    # The steps without the reranker (it is one more step, on by default).
    expected = handbook.search(
        query, k=5, filters=SourceFilters(collections=["handbook"]), enable_reranking=False
    )
    assert [h.model_dump() for h in hits] == [h.model_dump() for h in expected]
    assert [
        h.model_dump() for h in retriever.search_many([query, query], k=5, enable_reranking=False)
    ] == [h.model_dump() for h in handbook.search(query, k=5, enable_reranking=False)]


@pytest.mark.parametrize(
    ("mode", "question", "paraphrase", "needle"),
    [
        # BM25 misses a paraphrase that shares no words with its answer...
        (
            "fulltext",
            "How much time off does a new dad get?",
            "paid leave for fathers and co-parents",
            "Partners, including fathers",
        ),
        # ...and embeddings confuse near-identical alert passages.
        (
            "dense",
            "What does error code E1047 mean?",
            "autovacuum cannot keep up with dead rows",
            "Alert E1047",
        ),
        # A follow-up means nothing alone; its rewrite does, and fusion keeps both.
        (
            "hybrid",
            "And what about that second alert?",
            "What should I do about alert E1052?",
            "Alert E1052",
        ),
    ],
)
def test_a_question_fused_with_its_paraphrase_finds_what_either_finds(
    handbook: Workspace, mode: SearchMode, question: str, paraphrase: str, needle: str
) -> None:
    def search(*queries: str) -> list[Hit]:
        # Fusion itself, without the reranker that follows it by default.
        return parts(handbook).retriever.search_many(
            queries, k=5, mode=mode, enable_reranking=False
        )

    alone, rewritten, both = search(question), search(paraphrase), search(question, paraphrase)
    assert not any(needle in h.text for h in alone)
    assert any(needle in h.text for h in rewritten)
    assert any(needle in h.text for h in both)
    # What the plain question found first survives: a rewrite cannot lose it.
    if alone:
        assert alone[0].chunk_id in {h.chunk_id for h in both}
    assert [h.rank for h in both] == list(range(1, len(both) + 1))
    assert all(a.score >= b.score for a, b in itertools.pairwise(both))
    assert all(h.score == h.scores.fused for h in both)


def test_a_wrong_rewrite_cannot_lose_the_question(handbook: Workspace) -> None:
    question = "What does F57 mean on the dishwasher?"
    found = parts(handbook).retriever.search_many(
        [question, "office plants watering schedule"], k=8
    )
    assert any("Error F57" in h.text for h in found)


def test_a_scope_is_computed_once_and_kept(workspace: Workspace, tmp_path: Path) -> None:
    mine = tmp_path / "mine.md"
    mine.write_text("# Secret\n\nThe launch code word is heliotrope.\n")
    theirs = tmp_path / "theirs.md"
    theirs.write_text("# Plans\n\nThe launch is planned for heliotrope season.\n")
    parts(workspace).ingestor.ingest_paths([mine], owner="alice")
    parts(workspace).ingestor.ingest_paths([theirs], owner="bob")
    workspace.embed_pending()
    retriever = parts(workspace).retriever
    alice = retriever.scope(owner="alice")
    assert [d.file_name for d in retriever.documents(alice)] == ["mine.md"]
    assert {d.file_name for d in retriever.documents(retriever.scope())} == {"mine.md", "theirs.md"}
    hits = retriever.search_many(["heliotrope launch", "launch season"], scope=alice)
    assert {h.file_name for h in hits} == {"mine.md"}
    (found,) = retriever.candidates_many(["heliotrope season"], scope=alice)
    assert {
        h.file_name for h in retriever.hydrate(retriever.fuse([found]), query="x", scope=alice)
    } == {"mine.md"}
    nobody = retriever.scope(owner="carol")
    assert nobody.empty
    assert retriever.search_many(["heliotrope"], scope=nobody) == []
    assert retriever.candidates("heliotrope", scope=nobody) == Candidates("heliotrope")
    with pytest.raises(InvalidInput) as both:
        retriever.search_many(["heliotrope"], scope=alice, owner="bob")
    assert both.value.field == "scope"


@pytest.mark.parametrize(
    ("queries", "field"),
    [([], "queries"), (["fine", " "], "queries[1]"), (["x" * 5000], "queries[0]")],
    ids=["none", "blank", "too-long"],
)
def test_invalid_query_lists(handbook: Workspace, queries: list[str], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parts(handbook).retriever.search_many(queries)
    assert refused.value.field == field


def test_several_queries_rerank_against_the_question(handbook: Workspace, server_url: str) -> None:
    with RemoteReranker(url=f"{server_url}/v1/rerank", model="minilm-cosine") as reranker:
        retriever = Retriever(
            parts(handbook).db,
            parts(handbook).registry,
            parts(handbook).vectors,
            RetrievalSettings(rerank_url=f"{server_url}/v1/rerank"),
            embedder=handbook.embedder,
            reranker=reranker,
        )
        hits = retriever.search_many(
            ["Where do we meet when the fire alarm goes off?", "evacuation assembly point"],
            k=3,
            enable_reranking=True,
        )
    assert hits[0].file_name == "health-safety.md"
    assert [h.score for h in hits] == [h.scores.rerank for h in hits]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
