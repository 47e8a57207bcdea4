"""The parts behind a ``Workspace``'s facade, for tests that check one part on its own.

The facade keeps its parts private so that no caller couples to them (the house style: a facade
is not a bag of parts).  A test of the registry, the vector index or the retriever still needs the
very objects a workspace runs with, not copies: it asks here, the one place tests reach behind the
facade.  Each part is read when asked for, so asking for the database does not start the task
runner (which takes a lease).
"""

from __future__ import annotations

from docchat.db import Database
from docchat.documents.ingest import Ingestor
from docchat.documents.registry import Registry
from docchat.renders import RenderSlots
from docchat.retrieval.hybrid import Retriever
from docchat.retrieval.indexing import Indexer
from docchat.retrieval.vectors import VectorIndex
from docchat.tasks.jobs import JobParts
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
    def jobs(self) -> JobParts:
        """What this workspace's background jobs run with (a ``JobHandler``)."""
        return self._workspace._job_parts()

    @property
    def renders(self) -> RenderSlots:
        return self._workspace._renders


def parts(workspace: Workspace) -> Parts:
    """The parts behind ``workspace``."""
    return Parts(workspace)
