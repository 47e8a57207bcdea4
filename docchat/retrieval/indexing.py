"""Indexing: the dense index kept up to date with the chunks the documents hold.

One ``Indexer`` per workspace owns the embedder (loaded on first use), the vector index, and the
token vectors the offline reranker reads (kept as chunks are embedded, from the same forward
pass).  The background jobs (``docchat.tasks.jobs``) call it directly; the workspace builds it and
hands the same object to the retriever's parts.

Which model the stored vectors belong to is the index's version: ``outdated`` is true when chunks
lack vectors or the vectors belong to another model than the one configured, and the next
``embed_pending`` embeds them all again (``VectorIndex.ensure_model``).
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from pathlib import Path
from typing import Protocol, cast, runtime_checkable

from docchat.config import RetrievalSettings
from docchat.db import Database
from docchat.documents.registry import Registry
from docchat.retrieval.embedders import Embedder, make_embedder
from docchat.retrieval.late_interaction import LateInteractionReranker, TokenEmbedder
from docchat.retrieval.vectors import EmbedProgress, VectorIndex, embedding_text


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


class Indexer:
    """Computes the vectors chunks lack, and says whether the index matches the configured model."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        settings: RetrievalSettings,
        *,
        cache_dir: Path,
        embedder: Embedder | None = None,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._embedder = embedder
        # An embedder handed in is the caller's to close; one made here is closed by ``close``.
        self._made_embedder = False
        self._lock = threading.Lock()
        #: The offline reranker, when the embedder can hand out token vectors (None otherwise);
        #: its store receives the token vectors as chunks are embedded.
        self.late_interaction = self._late_interaction(db, embedder)
        self.vectors = VectorIndex(
            db,
            registry,
            tokens=self.late_interaction.store if self.late_interaction is not None else None,
            cache_dir=cache_dir,
            ef_search=settings.hnsw_ef_search,
        )

    def _late_interaction(
        self, db: Database, embedder: Embedder | None
    ) -> LateInteractionReranker | None:
        r = self._settings
        able = isinstance(embedder, TokenEmbedder) if embedder else r.embedder == "minilm"
        if not (r.late_interaction and able):
            return None
        return LateInteractionReranker(
            db,
            lambda: cast(TokenEmbedder, self.embedder()),
            weight=r.rerank_weight,
            text_of=embedding_text,
        )

    def embedder(self) -> Embedder:
        """The configured embedder, loaded on first use."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = make_embedder(self._settings)
                    self._made_embedder = True
        return self._embedder

    def pending(self, contents: Collection[str] | None = None) -> int:
        """How many chunks dense search cannot find yet (``embed_pending`` computes them); of
        ``contents`` (sha256 values) only, when given."""
        return self.vectors.pending(contents)

    def embed_pending(
        self,
        *,
        progress: EmbedProgress | None = None,
        stop: threading.Event | None = None,
        contents: Collection[str] | None = None,
    ) -> int:
        """Compute the vectors that are missing (of ``contents`` only, when given); returns how
        many.  ``progress`` is called after each batch; ``stop`` ends the work at the next batch
        (the next run resumes it)."""
        return self.vectors.embed_pending(
            self.embedder(),
            batch_size=max(self._settings.embed_batch_size * 4, 64),
            progress=progress,
            stop=stop,
            contents=contents,
        )

    def mark_indexed(self) -> int:
        """Documents still ``indexing`` whose vectors all exist become ``indexed``; how many."""
        return self._registry.mark_indexed()

    def outdated(self) -> bool:
        """Whether chunks lack vectors or the vectors belong to another model than configured.

        Cheap: the embedder object is made (its name is configuration) but its model is not loaded.
        """
        recorded = self.vectors.recorded_model()
        if recorded is not None and recorded != self.embedder().name:
            return True
        return self.vectors.pending() > 0

    def close(self) -> None:
        """Release the connections of an embedder made here (a remote one holds an HTTP pool)."""
        if self._made_embedder and isinstance(self._embedder, _Closable):
            self._embedder.close()
