"""A Workspace: one docchat deployment's database, sessions, documents, index and tasks.

The HTTP app, the CLI and the module-level functions each hold one; tests hold several.  Nothing
here is global: two workspaces on two databases never share state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from docchat.config import Settings
from docchat.db import Database
from docchat.documents.ingest import Ingestor, IngestProgress, ProgressCallback
from docchat.documents.registry import DEFAULT_COLLECTION, DocumentInfo
from docchat.leases import Lease
from docchat.retrieval.embedders import Embedder, make_embedder
from docchat.retrieval.hybrid import Hit, Retriever, SearchMode
from docchat.retrieval.rerank import RemoteReranker, make_reranker
from docchat.retrieval.vectors import EmbedProgress, VectorIndex
from docchat.sessions.store import SessionStore
from docchat.sessions.types import SourceFilters
from docchat.tasks import TaskRunner


class Workspace:
    """Everything one deployment holds, opened from ``Settings`` (migrations applied)."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings
        self.db = database or Database.from_settings(settings)
        self.sessions = SessionStore(self.db, settings)
        self.ingestor = Ingestor(self.db, settings)
        self.registry = self.ingestor.registry
        self.vectors = VectorIndex(self.db, self.registry)
        self._embedder = embedder
        self._lazy_lock = threading.RLock()
        self.retriever = Retriever(
            self.db,
            self.registry,
            self.vectors,
            settings.retrieval,
            embedder=self.embedder,
            reranker=make_reranker(settings.retrieval),
        )
        self._lease: Lease | None = None
        self._tasks: TaskRunner | None = None

    def embedder(self) -> Embedder:
        """The configured embedder, loaded on first use."""
        if self._embedder is None:
            with self._lazy_lock:
                if self._embedder is None:
                    self._embedder = make_embedder(self.settings.retrieval)
        return self._embedder

    @property
    def tasks(self) -> TaskRunner:
        """The background task runner (started on first use)."""
        if self._tasks is None:
            with self._lazy_lock:
                if self._tasks is None:
                    self._tasks = TaskRunner(self.db, self._take_lease())
        return self._tasks

    @property
    def upload_dir(self) -> Path:
        """Where this process keeps files it received until its tasks have read them.

        The folder belongs to this process's lease: it is deleted when the workspace closes, or,
        if the process dies, when the next one starts (``tasks.recover``).
        """
        return self._take_lease().spool

    def _take_lease(self) -> Lease:
        # Taken on first need, so a workspace that never receives files or runs tasks (most CLI
        # commands) leaves nothing in the data dir.
        with self._lazy_lock:
            if self._lease is None:
                self._lease = Lease(self.settings.data_dir)
            return self._lease

    # -- documents ---------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        collection: str = DEFAULT_COLLECTION,
        owner: str | None = None,
        prune: bool = False,
        progress: ProgressCallback | None = None,
        embed: bool = True,
        embed_progress: EmbedProgress | None = None,
    ) -> IngestProgress:
        """Ingest files and folders (full-text searchable at once), then embed new chunks."""
        result = self.ingestor.ingest_paths(
            paths, collection=collection, owner=owner, prune=prune, progress=progress
        )
        if embed:
            self.embed_pending(progress=embed_progress)
        return result

    def embed_pending(
        self, *, progress: EmbedProgress | None = None, stop: threading.Event | None = None
    ) -> int:
        """Compute the vectors that are missing; returns how many."""
        return self.vectors.embed_pending(
            self.embedder(),
            batch_size=max(self.settings.retrieval.embed_batch_size * 4, 64),
            progress=progress,
            stop=stop,
        )

    def mark_indexed(self) -> int:
        """Documents still ``indexing`` whose vectors all exist become ``indexed``; how many."""
        return self.registry.mark_indexed()

    def embedding_outdated(self) -> bool:
        """Whether chunks lack vectors or the vectors belong to another model than configured.

        Cheap: the embedder object is made (its name is configuration) but its model is not loaded.
        """
        recorded = self.vectors.recorded_model()
        if recorded is not None and recorded != self.embedder().name:
            return True
        return self.vectors.pending() > 0

    def documents(
        self, *, owner: str | None = None, collection: str | None = None
    ) -> list[DocumentInfo]:
        """Documents, newest first."""
        return self.registry.list(owner=owner, collection=collection)

    # -- search ------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        owner: str | None = None,
        filters: SourceFilters | None = None,
        manual_keywords: Sequence[str] = (),
        rerank: bool | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        """The best passages for ``query``."""
        return self.retriever.search(
            query,
            owner=owner,
            k=k,
            filters=filters,
            manual_keywords=manual_keywords,
            rerank=rerank,
            mode=mode,
        )

    def close(self) -> None:
        """Finish running tasks, end this process's lease (its upload folder goes with it) and
        close database connections."""
        if self._tasks is not None:
            self._tasks.shutdown()
        if self._lease is not None:
            self._lease.release()
        self.retriever.close()
        if isinstance(self.retriever.reranker, RemoteReranker):
            self.retriever.reranker.close()
        self.db.dispose()


WorkspaceFactory = Callable[[Settings], Workspace]
