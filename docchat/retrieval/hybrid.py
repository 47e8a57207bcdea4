"""Hybrid retrieval in steps that chat modes compose: scope, candidates, fuse, hydrate, rerank.

A turn computes its ``scope`` once (owner and source filters → the visible documents), then for
each query takes ``candidates`` (full-text and dense lists, run in parallel), ``fuse``s the lists
of every query together (fusion.py: relative score by default, or RRF), ``hydrate``s the best
chunk ids into ``Hit``s and optionally ``rerank``s them.  ``search`` is that path for one query
and ``search_many`` for several (a question and its rewrite, the variants of 'extensive').  On the
test QA set (tests/retrieval/test_quality.py) hybrid beats both single retrievers and RRF.
Every hit names a document, page, section and the exact character span of its text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal

from sqlalchemy import select

from docchat.config import RetrievalSettings
from docchat.db import Database
from docchat.documents.models import ChunkRow
from docchat.documents.registry import Registry, VisibleDocument
from docchat.errors import InvalidInput
from docchat.options import SourceFilters
from docchat.retrieval.embedders import Embedder, Vectors
from docchat.retrieval.fulltext import fulltext_search
from docchat.retrieval.fusion import Candidates, Fused, Ranked, Scores, fuse
from docchat.retrieval.late_interaction import LateInteractionReranker, TokenEmbedder
from docchat.retrieval.passages import (
    Hit,
    Scope,
    document_passages,
    hydrate,
    neighbours,
    snippet,
    surroundings,
    widen,
)
from docchat.retrieval.rerank import Reranker
from docchat.retrieval.vectors import VectorIndex
from docchat.textsearch import keywords
from docchat.validation import check_text

# Hit, Scope, Scores and snippet are re-exported: callers import them from here.
__all__ = [
    "MAX_QUERIES",
    "MAX_QUERY_CHARS",
    "Hit",
    "Retriever",
    "Scope",
    "Scores",
    "SearchMode",
    "check_query",
    "snippet",
]

SearchMode = Literal["hybrid", "fulltext", "dense"]
MAX_QUERY_CHARS = 4000
#: Queries one ``search_many`` fuses: variants times translations of 'extensive' stay below.
MAX_QUERIES = 64
_NO_FILTERS = SourceFilters()


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
        reranker: Reranker | LateInteractionReranker | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.vectors = vectors
        self.settings = settings
        self._embedder = embedder
        self.reranker = reranker
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="docchat-fulltext")

    # -- composed ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        owner: str | None = None,
        k: int | None = None,
        filters: SourceFilters | None = None,
        manual_keywords: Sequence[str] = (),
        enable_reranking: bool | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        """The best ``k`` passages for ``query`` among the owner's documents within ``filters``."""
        check_query(query)
        return self.search_many(
            [query],
            owner=owner,
            k=k,
            filters=filters,
            manual_keywords=manual_keywords,
            enable_reranking=enable_reranking,
            mode=mode,
        )

    def search_many(
        self,
        queries: Sequence[str],
        *,
        owner: str | None = None,
        k: int | None = None,
        filters: SourceFilters | None = None,
        scope: Scope | None = None,
        manual_keywords: Sequence[str] = (),
        enable_reranking: bool | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        """The best ``k`` passages for several queries fused: what any of them finds can rank.

        ``queries[0]`` is the question: snippets centre on it and the reranker scores against
        it.  Pass a ``scope`` computed once per turn, or ``owner``/``filters`` to compute it.
        """
        _check_queries(queries)
        _check_keywords(manual_keywords)
        _check_mode(mode)
        k = self._check_k(k)
        use_rerank = self._use_rerank(enable_reranking, mode)
        if scope is not None and (owner is not None or filters is not None):
            raise InvalidInput("pass either a scope or owner/filters, not both", field="scope")
        if scope is None:
            scope = self.scope(owner=owner, filters=filters)
        if scope.empty:
            return []
        wanted = max(self.settings.candidates, k)
        # The late-interaction reranker needs the question's token vectors: the query embedding
        # computes them anyway, so they are kept from there instead of a second forward pass.
        tokens: dict[str, Vectors] | None = (
            {} if use_rerank and isinstance(self.reranker, LateInteractionReranker) else None
        )
        fused = self.fuse(
            self._candidates(queries, scope, wanted, mode, manual_keywords, tokens_out=tokens)
        )
        head = fused[: max(k, self.settings.rerank_candidates)] if use_rerank else fused[:k]
        hits = self.hydrate(head, query=queries[0], scope=scope)
        if use_rerank:
            hits = self.rerank(queries[0], hits, query_tokens=(tokens or {}).get(queries[0]))
        hits = hits[:k]
        single = len(set(queries)) == 1
        for rank, h in enumerate(hits, 1):
            h.rank = rank
            h.score = _final_score(h.scores, mode, single=single)
        return hits

    # -- steps -------------------------------------------------------------------------------

    def scope(self, *, owner: str | None = None, filters: SourceFilters | None = None) -> Scope:
        """The documents ``owner`` may search within ``filters`` (None: no restriction)."""
        f = filters or _NO_FILTERS
        if owner is None and not (f.collections or f.documents or f.file_globs):
            return Scope()
        visible = self.registry.visible(
            owner=owner,
            collections=f.collections,
            document_ids=f.documents,
            file_globs=f.file_globs,
        )
        return Scope(tuple(visible))

    def candidates(
        self,
        query: str,
        *,
        scope: Scope,
        k: int | None = None,
        mode: SearchMode = "hybrid",
        manual_keywords: Sequence[str] = (),
    ) -> Candidates:
        """One query's full-text and dense lists, each ``max(retrieval.candidates, k)`` long."""
        (found,) = self.candidates_many(
            [query], scope=scope, k=k, mode=mode, manual_keywords=manual_keywords
        )
        return found

    def candidates_many(
        self,
        queries: Sequence[str],
        *,
        scope: Scope,
        k: int | None = None,
        mode: SearchMode = "hybrid",
        manual_keywords: Sequence[str] = (),
    ) -> list[Candidates]:
        """``candidates`` for each distinct query, full-text searches running in parallel."""
        _check_queries(queries)
        _check_keywords(manual_keywords)
        _check_mode(mode)
        wanted = max(self.settings.candidates, self._check_k(k))
        return self._candidates(queries, scope, wanted, mode, manual_keywords)

    def _candidates(
        self,
        queries: Sequence[str],
        scope: Scope,
        wanted: int,
        mode: SearchMode,
        manual_keywords: Sequence[str],
        *,
        tokens_out: dict[str, Vectors] | None = None,
    ) -> list[Candidates]:
        distinct = list(dict.fromkeys(queries))
        if scope.empty:
            return [Candidates(q) for q in distinct]
        shas = scope.shas
        pending: list[Future[Ranked]] = []
        if mode in ("hybrid", "fulltext"):
            # Full text runs beside the query embedding and vector scan: SQLite, onnxruntime and
            # NumPy all release the GIL, so the two halves overlap on two cores.
            pending = [
                self._pool.submit(
                    fulltext_search,
                    self.db,
                    q,
                    k=wanted,
                    shas=shas,
                    manual_keywords=manual_keywords,
                    postings_budget=self.settings.fulltext_postings_budget,
                )
                for q in distinct
            ]
        dense: list[Ranked] = [[] for _ in distinct]
        if mode in ("hybrid", "dense"):
            embedder = self._embedder()
            if tokens_out is not None and isinstance(embedder, TokenEmbedder):
                vectors, tokens = embedder.embed_with_tokens(distinct)  # one batch for all
                tokens_out.update(zip(distinct, tokens, strict=True))
            else:
                vectors = embedder.embed(distinct)  # one batch for all queries
            dense = [
                self.vectors.search(v, model=embedder.name, k=wanted, shas=shas) for v in vectors
            ]
            if manual_keywords:
                # Manual keywords are a hard requirement: dense hits must contain them too.
                dense = [self._with_keywords(d, manual_keywords) for d in dense]
        lexical = [p.result() for p in pending] or [[] for _ in distinct]
        return [Candidates(q, f, d) for q, f, d in zip(distinct, lexical, dense, strict=True)]

    def fuse(self, found: Sequence[Candidates]) -> list[Fused]:
        """Every candidate of every query once, best first, by the configured fusion."""
        return fuse(
            found,
            method=self.settings.fusion,
            dense_weight=self.settings.dense_weight,
            rrf_k=self.settings.rrf_k,
        )

    def rerank(
        self, query: str, hits: list[Hit], *, query_tokens: Vectors | None = None
    ) -> list[Hit]:
        """``hits`` reordered by the reranker's score for ``query`` (recorded in their scores)."""
        if self.reranker is None:
            raise no_reranker()
        if not hits:
            return hits
        if isinstance(self.reranker, LateInteractionReranker):
            fused = [h.scores.fused or 0.0 for h in hits]
            scores = self.reranker.score(query, hits, fused, query_tokens=query_tokens)
        else:
            scores = self.reranker.rerank(query, [h.text for h in hits])
        for h, score in zip(hits, scores, strict=True):
            h.scores.rerank = score
            h.score = score
        return sorted(hits, key=lambda h: -(h.scores.rerank or 0.0))

    def hydrate(self, fused: Sequence[Fused], *, query: str, scope: Scope) -> list[Hit]:
        """Hits for fused chunk ids, in their order (passages.hydrate)."""
        return hydrate(self.db, fused, query=query, scope=scope)

    def widen(self, hits: Sequence[Hit], *, window: int = 1) -> list[Hit]:
        """``hits`` grown by the adjacent passages of their page and section (passages.widen)."""
        return widen(self.db, hits, window=window)

    def surroundings(self, hits: Sequence[Hit], *, window: int = 1) -> list[tuple[int, str] | None]:
        """The text around each hit on its page and section (passages.surroundings)."""
        return surroundings(self.db, hits, window=window)

    def neighbours(self, hit: Hit, *, before: int = 1, after: int = 1) -> list[Hit]:
        """The passages around ``hit`` in reading order (passages.neighbours)."""
        return neighbours(self.db, hit, before=before, after=after)

    def documents(self, scope: Scope) -> list[VisibleDocument]:
        """Every document in ``scope``, oldest first (what a full reading reads)."""
        if scope.documents is not None:
            return list(scope.documents)
        return self.registry.visible(owner=None)

    def document_passages(self, document: VisibleDocument) -> list[Hit]:
        """All of ``document``'s passages in reading order (passages.document_passages)."""
        return document_passages(self.db, document)

    def close(self) -> None:
        """Stop the full-text worker threads."""
        self._pool.shutdown(wait=True)

    # -- helpers -----------------------------------------------------------------------------

    def _check_k(self, k: int | None) -> int:
        k = k or self.settings.num_results
        if not 1 <= k <= 200:
            raise InvalidInput("num_results must be between 1 and 200", field="num_results")
        return k

    def _use_rerank(self, asked: bool | None, mode: SearchMode) -> bool:
        if asked is None:
            # The configured default applies to hybrid search, and only where there is something
            # to rerank with; a single retriever's list is reranked when asked for by name.
            return self.settings.enable_reranking and self.reranker is not None and mode == "hybrid"
        if asked and self.reranker is None:
            raise no_reranker()
        return asked

    def _with_keywords(self, found: Ranked, required: Sequence[str]) -> Ranked:
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


def check_query(query: str, field: str = "query") -> None:
    """InvalidInput unless ``query`` is non-blank storable text of at most MAX_QUERY_CHARS."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"{field} is longer than {MAX_QUERY_CHARS} characters", field=field)
    check_text(query, field)


def _check_queries(queries: Sequence[str]) -> None:
    if isinstance(queries, str) or not 1 <= len(queries) <= MAX_QUERIES:
        raise InvalidInput(f"queries must be a list of 1 to {MAX_QUERIES}", field="queries")
    for i, q in enumerate(queries):
        check_query(q, f"queries[{i}]")


def _check_keywords(manual_keywords: Sequence[str]) -> None:
    for i, keyword in enumerate(manual_keywords):
        if not isinstance(keyword, str):
            raise InvalidInput("manual_keywords must be strings", field="manual_keywords")
        check_text(keyword, f"manual_keywords[{i}]")


def _check_mode(mode: str) -> None:
    if mode not in ("hybrid", "fulltext", "dense"):
        raise InvalidInput("mode must be hybrid, fulltext or dense", field="mode")


def no_reranker(field: str = "enable_reranking") -> InvalidInput:
    """The error for reranking asked for by name where nothing can rerank."""
    return InvalidInput(
        "reranking was asked for but no reranker is configured (set "
        "DOCCHAT_RETRIEVAL__RERANK_URL, or DOCCHAT_RETRIEVAL__LATE_INTERACTION=true with the "
        "MiniLM embedder)",
        field=field,
    )


def _final_score(s: Scores, mode: SearchMode, *, single: bool) -> float:
    """Rerank, else fused; one query in a single-retriever mode keeps that retriever's own
    score (what ``search`` has always reported), but several queries' own scores do not compare."""
    if s.rerank is not None:
        return s.rerank
    if mode == "hybrid" or not single:
        return s.fused or 0.0
    return (s.fulltext if mode == "fulltext" else s.dense) or 0.0
