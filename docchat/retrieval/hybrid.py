"""Hybrid retrieval: full-text and vector candidates fused, then optionally reranked.

Fusion is "relative score" by default: each list's scores are min-max normalised to [0, 1] and
combined as ``dense_weight * dense + (1 - dense_weight) * fulltext`` (a chunk missing from a list
scores 0 there).  Unlike reciprocal rank fusion (also available), it keeps the margin: a full-text
hit that matched one common word does not outrank a strong vector hit just by being first in its
list.  On the test QA set (tests/retrieval/test_quality.py) it beats both single retrievers and RRF.
Every hit names a document, page, section and the exact character span of its text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select

from docchat.config import RetrievalSettings
from docchat.db import Database
from docchat.documents.models import ChunkRow, CollectionRow, DocumentRow
from docchat.documents.registry import Registry, VisibleDocument
from docchat.errors import InvalidInput
from docchat.retrieval.embedders import Embedder, embed_query
from docchat.retrieval.fulltext import fulltext_search
from docchat.retrieval.rerank import Reranker
from docchat.retrieval.vectors import VectorIndex
from docchat.sessions.types import SourceFilters
from docchat.textsearch import keywords
from docchat.validation import check_text

SearchMode = Literal["hybrid", "fulltext", "dense"]
MAX_QUERY_CHARS = 4000
_SNIPPET_CHARS = 300


class Scores(BaseModel):
    """How each stage scored a hit (None: the hit was not in that stage's list)."""

    fulltext: float | None = None
    dense: float | None = None
    fused: float | None = None
    rerank: float | None = None
    fulltext_rank: int | None = None
    dense_rank: int | None = None


class Hit(BaseModel):
    """A passage found by search, with exact provenance."""

    rank: int
    document_id: str
    file_name: str
    collection: str
    page: int | None = Field(description="1-based page (PDF) or slide (PPTX).")
    section: str | None
    char_start: int = Field(description="Offset of the passage in the document's text.")
    char_end: int
    text: str
    snippet: str
    chunk_id: int
    score: float = Field(description="The final ordering score (rerank, else fused, else own).")
    scores: Scores


def snippet(text: str, query: str, width: int = _SNIPPET_CHARS) -> str:
    """About ``width`` characters of ``text`` around the first query word found in it."""
    if len(text) <= width:
        return text
    lowered = text.lower()
    positions = [
        m.start()
        for w in keywords(query)
        if (m := re.search(rf"\b{re.escape(w)}", lowered)) is not None
    ]
    start = max(0, min(positions) - width // 4) if positions else 0
    start = min(start, len(text) - width)
    if start > 0:
        space = text.find(" ", start, start + 30)
        start = space + 1 if space != -1 else start
    end = start + width
    return ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def _min_max(ranked: list[tuple[int, float]]) -> dict[int, float]:
    """Scores scaled to [0, 1] within their list (a single or all-equal list scores 1)."""
    if not ranked:
        return {}
    values = [score for _, score in ranked]
    low, high = min(values), max(values)
    span = high - low
    return {cid: (score - low) / span if span > 0 else 1.0 for cid, score in ranked}


class Retriever:
    """Search over one database's documents."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        vectors: VectorIndex,
        settings: RetrievalSettings,
        *,
        embedder: Callable[[], Embedder],
        reranker: Reranker | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.vectors = vectors
        self.settings = settings
        self._embedder = embedder
        self.reranker = reranker
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="docchat-fulltext")

    def search(
        self,
        query: str,
        *,
        owner: str | None = None,
        k: int | None = None,
        filters: SourceFilters | None = None,
        manual_keywords: Sequence[str] = (),
        rerank: bool | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        """The best ``k`` passages for ``query`` among the owner's documents within ``filters``."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("query must be a non-empty string", field="query")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidInput(f"query is longer than {MAX_QUERY_CHARS} characters", field="query")
        check_text(query, "query")
        for i, keyword in enumerate(manual_keywords):
            if not isinstance(keyword, str):
                raise InvalidInput("manual_keywords must be strings", field="manual_keywords")
            check_text(keyword, f"manual_keywords[{i}]")
        if mode not in ("hybrid", "fulltext", "dense"):
            raise InvalidInput("mode must be hybrid, fulltext or dense", field="mode")
        k = k or self.settings.num_results
        if not 1 <= k <= 200:
            raise InvalidInput("num_results must be between 1 and 200", field="num_results")
        use_rerank = self.settings.enable_reranking if rerank is None else rerank
        if use_rerank and self.reranker is None:
            raise InvalidInput(
                "reranking was asked for but no reranker is configured "
                "(set DOCCHAT_RETRIEVAL__RERANK_URL)",
                field="enable_reranking",
            )
        visible: list[VisibleDocument] | None = None
        shas: set[str] | None = None
        restricted = owner is not None or (
            filters is not None
            and bool(filters.collections or filters.documents or filters.file_globs)
        )
        if restricted:
            f = filters or SourceFilters()
            visible = self.registry.visible(
                owner=owner,
                collections=f.collections,
                document_ids=f.documents,
                file_globs=f.file_globs,
            )
            shas = {d.sha256 for d in visible}
            if not shas:
                return []
        wanted = max(self.settings.candidates, k)
        lexical: list[tuple[int, float]] = []
        dense: list[tuple[int, float]] = []
        pending: Future[list[tuple[int, float]]] | None = None
        if mode in ("hybrid", "fulltext"):
            # Full text runs beside the query embedding and vector scan: SQLite, onnxruntime and
            # NumPy all release the GIL, so the two halves overlap on two cores.
            pending = self._pool.submit(
                fulltext_search,
                self.db,
                query,
                k=wanted,
                shas=shas,
                manual_keywords=manual_keywords,
                postings_budget=self.settings.fulltext_postings_budget,
            )
        if mode in ("hybrid", "dense"):
            embedder = self._embedder()
            dense = self.vectors.search(
                embed_query(embedder, query), model=embedder.name, k=wanted, shas=shas
            )
            if manual_keywords:
                # Manual keywords are a hard requirement: dense hits must contain them too.
                dense = self._with_keywords(dense, manual_keywords)
        if pending is not None:
            lexical = pending.result()
        scores: dict[int, Scores] = {}
        for rank, (chunk_id, score) in enumerate(lexical, 1):
            entry = scores.setdefault(chunk_id, Scores())
            entry.fulltext, entry.fulltext_rank = score, rank
        for rank, (chunk_id, score) in enumerate(dense, 1):
            entry = scores.setdefault(chunk_id, Scores())
            entry.dense, entry.dense_rank = score, rank
        self._fuse(scores, lexical, dense)
        order = sorted(scores, key=lambda cid: (-(scores[cid].fused or 0.0), cid))
        head = order[: max(k * 3, 20)] if use_rerank else order[:k]
        hits = self._hits(head, scores, query, visible)
        if use_rerank and hits and self.reranker is not None:
            rerank_scores = self.reranker.rerank(query, [h.text for h in hits])
            for h, score in zip(hits, rerank_scores, strict=True):
                h.scores.rerank = score
            hits.sort(key=lambda h: -(h.scores.rerank or 0.0))
        hits = hits[:k]
        for rank, h in enumerate(hits, 1):
            h.rank = rank
            h.score = (
                h.scores.rerank
                if h.scores.rerank is not None
                else h.scores.fused
                if mode == "hybrid"
                else h.scores.fulltext
                if mode == "fulltext"
                else h.scores.dense
            ) or 0.0
        return hits

    def close(self) -> None:
        """Stop the full-text worker threads."""
        self._pool.shutdown(wait=True)

    def _fuse(
        self,
        scores: dict[int, Scores],
        lexical: list[tuple[int, float]],
        dense: list[tuple[int, float]],
    ) -> None:
        if self.settings.fusion == "rrf":
            for s in scores.values():
                s.fused = sum(
                    1.0 / (self.settings.rrf_k + r)
                    for r in (s.fulltext_rank, s.dense_rank)
                    if r is not None
                )
            return
        w = self.settings.dense_weight if lexical and dense else (1.0 if dense else 0.0)
        lex, vec = _min_max(lexical), _min_max(dense)
        for cid, s in scores.items():
            s.fused = w * vec.get(cid, 0.0) + (1.0 - w) * lex.get(cid, 0.0)

    def _with_keywords(
        self, found: list[tuple[int, float]], required: Sequence[str]
    ) -> list[tuple[int, float]]:
        terms = [w for kw in required for w in keywords(kw)]
        if not terms or not found:
            return found
        with self.db.read() as s:
            texts = dict(
                s.execute(
                    select(ChunkRow.id, ChunkRow.text).where(
                        ChunkRow.id.in_([cid for cid, _ in found])
                    )
                ).all()
            )
        patterns = [re.compile(rf"\b{re.escape(t)}", re.IGNORECASE) for t in terms]
        return [
            (cid, score)
            for cid, score in found
            if all(p.search(texts.get(cid, "")) for p in patterns)
        ]

    def _hits(
        self,
        chunk_ids: list[int],
        scores: dict[int, Scores],
        query: str,
        visible: list[VisibleDocument] | None,
    ) -> list[Hit]:
        if not chunk_ids:
            return []
        with self.db.read() as s:
            chunks = {
                c.id: c
                for c in s.execute(select(ChunkRow).where(ChunkRow.id.in_(chunk_ids))).scalars()
            }
            shas = {c.sha256 for c in chunks.values()}
            if visible is None:
                rows = s.execute(
                    select(
                        DocumentRow.id,
                        DocumentRow.file_name,
                        CollectionRow.name,
                        DocumentRow.sha256,
                    )
                    .join(CollectionRow, CollectionRow.id == DocumentRow.collection_id)
                    .where(
                        DocumentRow.sha256.in_(list(shas)),
                        DocumentRow.status.in_(("indexing", "indexed")),
                    )
                    .order_by(DocumentRow.created_at, DocumentRow.id)
                ).all()
                visible = [
                    VisibleDocument(id=i, file_name=f, collection=c, sha256=sha)
                    for i, f, c, sha in rows
                ]
        by_sha: dict[str, VisibleDocument] = {}
        for d in visible:
            by_sha.setdefault(d.sha256, d)
        hits = []
        for cid in chunk_ids:
            c = chunks.get(cid)
            doc = by_sha.get(c.sha256) if c is not None else None
            if c is None or doc is None:
                continue  # deleted or hidden since the candidate lists were made
            hits.append(
                Hit(
                    rank=0,
                    document_id=doc.id,
                    file_name=doc.file_name,
                    collection=doc.collection,
                    page=c.page,
                    section=c.section,
                    char_start=c.char_start,
                    char_end=c.char_end,
                    text=c.text,
                    snippet=snippet(c.text, query),
                    chunk_id=c.id,
                    score=0.0,
                    scores=scores[cid],
                )
            )
        return hits
