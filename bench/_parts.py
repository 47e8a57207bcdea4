"""The parts behind a ``Workspace``'s facade, for benchmarks that time one part on its own.

The same accessors as ``tests/workspace_parts.py`` (a benchmark runs as a script, with ``bench/``
on its path, not the repository root): the facade keeps its parts private, and the benchmarks
that fill an index in bulk or time one stage reach behind it here, in one place.
"""

from __future__ import annotations

from docchat.db import Database
from docchat.documents.ingest import Ingestor
from docchat.documents.registry import Registry
from docchat.renders import RenderSlots
from docchat.retrieval.hybrid import Retriever
from docchat.retrieval.indexing import Indexer
from docchat.retrieval.vectors import VectorIndex
from docchat.tasks.runner import TaskRunner
from docchat.workspace import Workspace


class Parts:
    """The parts of one workspace, each read from it when asked for."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    @property
    def db(self) -> Database:
        return self._workspace._db

    @property
    def registry(self) -> Registry:
        return self._workspace._registry

    @property
    def ingestor(self) -> Ingestor:
        return self._workspace._ingestor

    @property
    def index(self) -> Indexer:
        return self._workspace._index

    @property
    def vectors(self) -> VectorIndex:
        return self._workspace._index.vectors

    @property
    def retriever(self) -> Retriever:
        return self._workspace._retriever

    @property
    def runner(self) -> TaskRunner:
        """The task runner, started (with its lease) on first use."""
        return self._workspace._runner

    @property
    def renders(self) -> RenderSlots:
        return self._workspace._renders


def parts(workspace: Workspace) -> Parts:
    """The parts behind ``workspace``."""
    return Parts(workspace)
