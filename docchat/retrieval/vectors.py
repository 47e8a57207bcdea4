"""Chunk vectors: computing the missing ones, and nearest-neighbour search.

SQLite keeps float32 bytes and searches an in-process NumPy matrix (a 100k x 384 dot product takes a
few milliseconds), reloaded only when ``index_state.vectors_version`` says the set changed.
PostgreSQL uses pgvector with an HNSW index per embedding model, over the vectors cast to
``halfvec`` (16-bit floats): at 1M chunks it is 57 % the size of a ``vector`` one and, at the
``ef_search`` docchat sets, as accurate (bench/scale.py).  Scores are still computed from the
stored float32 vectors.

Only vectors of the configured model are ever searched.  When the model changes, ``ensure_model``
drops the old vectors and every chunk is embedded again: never a silent mix of two models.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Row, delete, func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from docchat.db import Database
from docchat.documents.models import ChunkRow, ChunkTokensRow, ChunkVectorRow, IndexStateRow
from docchat.documents.registry import (
    VECTORS_VERSION,
    Registry,
    bump_vectors_version,
    chunk_has_vector,
)
from docchat.retrieval.embedders import Embedder
from docchat.retrieval.late_interaction import TokenEmbedder, TokenStore, pack_tokens

log = logging.getLogger(__name__)

EMBEDDING_MODEL = "embedding_model"
_PG_INSERT_VECTOR = text(
    "INSERT INTO chunk_vectors (chunk_id, model, embedding) "
    "VALUES (:chunk_id, :model, CAST(:embedding AS vector)) ON CONFLICT (chunk_id) DO NOTHING"
)
EmbedProgress = Callable[[int, int], None]
#: pgvector's HNSW candidate list when ``retrieval.hnsw_ef_search`` is unset (twice k if more).
DEFAULT_EF_SEARCH = 400
_HNSW_PREFIX = "ix_chunk_vectors_halfvec_"
#: The name of the ``vector`` HNSW index docchat built before (dropped by ``ensure_model``).
_OLD_HNSW_PREFIX = "ix_chunk_vectors_hnsw_"


def hnsw_index_name(model: str) -> str:
    """The name of docchat's HNSW index over ``model``'s vectors (PostgreSQL)."""
    return _HNSW_PREFIX + hashlib.sha1(model.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class _Matrix:
    """An immutable snapshot of one model's vectors (swapped whole, read without locks)."""

    model: str
    version: int
    ids: npt.NDArray[np.int64]
    sha_codes: npt.NDArray[np.int32]
    shas: list[str]
    vectors: npt.NDArray[np.float32]


def _to_pg(vector: npt.NDArray[np.float32]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def embedding_text(section: str | None, body: str) -> str:
    """What is embedded for a chunk: its section heading (context), then its text."""
    if section:
        return f"{section.rsplit(' > ', 1)[-1][:120]}\n{body}"
    return body


class VectorIndex:
    """Vectors of one database, for one embedding model at a time."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        *,
        tokens: TokenStore | None = None,
        cache_dir: Path | None = None,
        ef_search: int | None = None,
    ) -> None:
        self.db = db
        #: pgvector's HNSW candidate list for a search (None: twice k, at least 400).
        self.ef_search = ef_search
        self.registry = registry
        self._postgres = db.engine.dialect.name == "postgresql"
        #: Where the SQLite matrix is snapshotted for the next process (None: never).
        self.snapshots = (
            MatrixSnapshots(cache_dir) if cache_dir is not None and not self._postgres else None
        )
        #: Where token vectors go as chunks are embedded (None: not kept).
        self.tokens = tokens
        self._postgres = db.engine.dialect.name == "postgresql"
        self._matrix: _Matrix | None = None
        self._reload = threading.Lock()

    # -- model bookkeeping -------------------------------------------------------------------

    def ensure_model(self, name: str, dimension: int) -> bool:
        """Make ``name`` the index's model; True when it changed (old vectors dropped)."""
        wanted = {"name": name, "dimension": dimension}
        with self.db.read() as s:
            row = s.get(IndexStateRow, EMBEDDING_MODEL)
            current = row.value if row else None
        changed = False
        if current != wanted:
            with self.db.write() as s:
                row = s.get(IndexStateRow, EMBEDDING_MODEL)
                if row is None or row.value != wanted:
                    dropped = s.execute(
                        delete(ChunkVectorRow).where(ChunkVectorRow.model != name)
                    ).rowcount  # type: ignore[attr-defined]
                    s.execute(delete(ChunkTokensRow).where(ChunkTokensRow.model != name))
                    if row is None:
                        s.add(IndexStateRow(name=EMBEDDING_MODEL, value=wanted))
                    else:
                        row.value = wanted
                    bump_vectors_version(s)
                    changed = current is not None
                    if changed:
                        log.warning(
                            "embedding model changed from %s to %s: dropped %d vectors; every "
                            "chunk will be embedded again",
                            current,
                            wanted,
                            dropped,
                        )
            if changed:
                self.registry.mark_all_indexing()
        if self._postgres:
            self._ensure_hnsw(name, dimension)
        return changed

    def recorded_model(self) -> str | None:
        """The model the stored vectors belong to (None before the first embedding)."""
        with self.db.read() as s:
            row = s.get(IndexStateRow, EMBEDDING_MODEL)
        return str(row.value["name"]) if row is not None else None

    def _ensure_hnsw(self, name: str, dimension: int) -> None:
        index = hnsw_index_name(name)
        # Before the halfvec index, docchat built one over ``embedding::vector(dim)``: the search
        # no longer orders by that expression, so it only costs disk and write time.  Dropped
        # here rather than in a migration: the index is per model, and only ensure_model knows
        # the model and its dimension (a migration could drop the old one but not build the new).
        old = _OLD_HNSW_PREFIX + index.removeprefix(_HNSW_PREFIX)
        literal = name.replace("'", "''")
        ddl = (
            f"CREATE INDEX {index} ON chunk_vectors USING hnsw "
            f"((embedding::halfvec({int(dimension)})) halfvec_cosine_ops) "
            f"WHERE model = '{literal}'"
        )
        with self.db.read() as s:
            # Looked up first: CREATE INDEX IF NOT EXISTS takes a share lock on the table (writers
            # wait) before it finds the index there, and this runs before every embedding job.
            present = set(
                s.execute(
                    text("SELECT indexname FROM pg_indexes WHERE indexname IN (:new, :old)"),
                    {"new": index, "old": old},
                ).scalars()
            )
        if present == {index}:
            return
        try:
            with self.db.write() as s:
                if index not in present:
                    s.execute(text(ddl))
                if old in present:
                    s.execute(text(f"DROP INDEX IF EXISTS {old}"))
        except DBAPIError:
            # Two workers racing to create it: the loser finds it there next time.
            log.info("HNSW index %s not created now (another process is creating it)", index)

    # -- embedding ---------------------------------------------------------------------------

    def pending(self, contents: Collection[str] | None = None) -> int:
        """Chunks without a vector (of ``contents`` only, when given: sha256 values)."""
        with self.db.read() as s:
            return s.execute(
                select(func.count()).select_from(ChunkRow).where(*_lacking_vectors(contents))
            ).scalar_one()

    def embed_pending(
        self,
        embedder: Embedder,
        *,
        batch_size: int = 256,
        progress: EmbedProgress | None = None,
        stop: threading.Event | None = None,
        contents: Collection[str] | None = None,
    ) -> int:
        """Embed every chunk that has no vector yet (of ``contents`` only, when given); returns
        how many were embedded.

        Documents become ``indexed`` as their content's last vector is stored; at the end, so do
        any others whose vectors all exist (new names for known content, or left by an older run).
        """
        self.ensure_model(embedder.name, embedder.dimension)
        total = self.pending(contents)
        done = 0
        last_id = -1
        while not (stop and stop.is_set()):
            with self.db.read() as s:
                rows = s.execute(
                    select(ChunkRow.id, ChunkRow.sha256, ChunkRow.section, ChunkRow.text)
                    .where(ChunkRow.id > last_id, *_lacking_vectors(contents))
                    .order_by(ChunkRow.id)
                    .limit(batch_size)
                ).all()
            if not rows:
                break
            last_id = rows[-1].id
            texts = [embedding_text(r.section, r.text) for r in rows]
            ids = [r.id for r in rows]
            if self.tokens is not None and isinstance(embedder, TokenEmbedder):
                # The token vectors come out of the same forward pass: keeping them is free.
                vectors, packed = _embed_packing_tokens(embedder, texts)
                self.tokens.store_packed(embedder.name, ids, packed)
            else:
                vectors = embedder.embed(texts)
            self._store(embedder.name, ids, vectors)
            self.registry.mark_indexed({r.sha256 for r in rows})
            done += len(rows)
            if progress:
                progress(done, max(total, done))
        self.registry.mark_indexed()
        return done

    def _store(self, model: str, ids: list[int], vectors: npt.NDArray[np.float32]) -> None:
        encode = _to_pg if self._postgres else (lambda v: v.astype("<f4").tobytes())
        values = [
            {"chunk_id": i, "model": model, "embedding": encode(v)}
            for i, v in zip(ids, vectors, strict=True)
        ]
        with self.db.write() as s:
            # A chunk deleted meanwhile (its document replaced) would fail the foreign key.
            alive = set(s.execute(select(ChunkRow.id).where(ChunkRow.id.in_(ids))).scalars())
            rows = [v for v in values if v["chunk_id"] in alive]
            if rows and self._postgres:
                s.execute(_PG_INSERT_VECTOR, rows)
            elif rows:
                s.execute(sqlite_insert(ChunkVectorRow).on_conflict_do_nothing(), rows)
            bump_vectors_version(s)

    # -- search ------------------------------------------------------------------------------

    def search(
        self,
        query: npt.NDArray[np.float32],
        *,
        model: str,
        k: int,
        shas: Collection[str] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``k`` chunks most similar to ``query`` (cosine), optionally within contents."""
        if shas is not None and not shas:
            return []
        if self._postgres:
            return self._search_pg(query, model=model, k=k, shas=shas)
        matrix = self._current(model)
        if matrix.ids.size == 0:
            return []
        # einsum runs on one thread: a multi-threaded BLAS product stalls for milliseconds when
        # another process holds the other core, and one thread already streams memory as fast.
        scores = np.einsum("ij,j->i", matrix.vectors, query.astype(np.float32, copy=False))
        if shas is not None:
            allowed = [i for i, sha in enumerate(matrix.shas) if sha in set(shas)]
            mask = np.isin(matrix.sha_codes, np.asarray(allowed, dtype=np.int32))
            scores = np.where(mask, scores, -np.inf)
        k = min(k, int(scores.size))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(matrix.ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]

    def _search_pg(
        self,
        query: npt.NDArray[np.float32],
        *,
        model: str,
        k: int,
        shas: Collection[str] | None,
    ) -> list[tuple[int, float]]:
        dim = int(query.shape[0])
        # Ordered by the halfvec distance, the HNSW index's own expression (any other is a
        # sequential scan); scored with float32, so scores are exactly those of the stored vectors.
        order = f"v.embedding::halfvec({dim}) <=> CAST(:q AS halfvec({dim}))"
        exact = f"v.embedding::vector({dim}) <=> CAST(:q AS vector({dim}))"
        where = "v.model = :model"
        join = ""
        params: dict[str, object] = {"q": _to_pg(query), "model": model, "k": k}
        if shas is not None:
            join = "JOIN chunks c ON c.id = v.chunk_id"
            where += " AND c.sha256 = ANY(:shas)"
            params["shas"] = list(shas)
        sql = text(
            f"SELECT v.chunk_id, 1 - ({exact}) AS score FROM chunk_vectors v {join} "
            f"WHERE {where} ORDER BY {order} LIMIT :k"
        )
        with self.db.read() as s:
            # Filtered HNSW scans keep going until k rows pass the filter (pgvector >= 0.8).
            s.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
            # 400: at 1M chunks recall@10 0.98 where 100 gave 0.91 to 0.93 (bench/scale.py).
            ef_search = self.ef_search or max(DEFAULT_EF_SEARCH, k * 2)
            s.execute(text(f"SET LOCAL hnsw.ef_search = {max(k, min(ef_search, 1000))}"))
            found = [(int(i), float(score)) for i, score in s.execute(sql, params)]
        return sorted(found, key=lambda pair: -pair[1])

    def _current(self, model: str) -> _Matrix:
        with self.db.read() as s:
            row = s.get(IndexStateRow, VECTORS_VERSION)
            version = int(row.value) if row else 0
        matrix = self._matrix
        if matrix is not None and (matrix.model, matrix.version) == (model, version):
            return matrix
        with self._reload:
            matrix = self._matrix
            if matrix is not None and (matrix.model, matrix.version) == (model, version):
                return matrix
            if matrix is not None and matrix.model != model:
                matrix = None
            if matrix is None and self.snapshots is not None:
                # A new process: start from the last snapshot (mapped, not read), then add what
                # was embedded since, as an in-process reload would.
                matrix = self.snapshots.read(model)
            self._matrix = fresh = self._load(model, version, matrix)
            if self.snapshots is not None:
                self.snapshots.refresh(fresh)
            return fresh

    def _load(self, model: str, version: int, old: _Matrix | None) -> _Matrix:
        base = (
            select(ChunkVectorRow.chunk_id, ChunkRow.sha256, ChunkVectorRow.embedding)
            .join(ChunkRow, ChunkRow.id == ChunkVectorRow.chunk_id)
            .where(ChunkVectorRow.model == model)
        )
        with self.db.read() as s:
            count = s.execute(
                select(func.count())
                .select_from(ChunkVectorRow)
                .where(ChunkVectorRow.model == model)
            ).scalar_one()
            # Only additions since the snapshot: append them instead of reading everything again.
            if old is not None and old.ids.size and count >= old.ids.size:
                newer = s.execute(
                    base.where(ChunkVectorRow.chunk_id > int(old.ids[-1])).order_by(
                        ChunkVectorRow.chunk_id
                    )
                ).all()
                if old.ids.size + len(newer) == count:
                    return self._extend(old, version, newer)
            rows = s.execute(base.order_by(ChunkVectorRow.chunk_id)).all()
        return self._extend(
            _Matrix(
                model,
                version,
                np.empty(0, np.int64),
                np.empty(0, np.int32),
                [],
                np.empty((0, 0), np.float32),
            ),
            version,
            rows,
        )

    @staticmethod
    def _extend(old: _Matrix, version: int, rows: Sequence[Row[int, str, bytes]]) -> _Matrix:
        if not rows:
            return _Matrix(old.model, version, old.ids, old.sha_codes, old.shas, old.vectors)
        shas = list(old.shas)
        code_of = {sha: i for i, sha in enumerate(shas)}
        codes = np.empty(len(rows), np.int32)
        for n, row in enumerate(rows):
            code = code_of.get(row.sha256)
            if code is None:
                code = code_of[row.sha256] = len(shas)
                shas.append(row.sha256)
            codes[n] = code
        ids = np.fromiter((r.chunk_id for r in rows), np.int64, len(rows))
        vectors = np.frombuffer(b"".join(r.embedding for r in rows), dtype="<f4").reshape(
            len(rows), -1
        )
        if old.ids.size:
            vectors = np.concatenate([old.vectors, vectors])
            ids = np.concatenate([old.ids, ids])
            codes = np.concatenate([old.sha_codes, codes])
        return _Matrix(
            old.model, version, ids, codes, shas, np.ascontiguousarray(vectors, np.float32)
        )


#: Texts whose float32 token vectors are held at once while embedding (then packed to bits):
#: 64 chunks of ~160 word-pieces are 16 MB, a whole 256-chunk group would be 63 MB.
TOKEN_GROUP = 64


def _lacking_vectors(contents: Collection[str] | None) -> list[ColumnElement[bool]]:
    """The filter of chunks without a vector, of ``contents`` only when given."""
    conditions = [~chunk_has_vector()]
    if contents is not None:
        conditions.append(ChunkRow.sha256.in_(contents))
    return conditions


def _embed_packing_tokens(
    embedder: TokenEmbedder, texts: Sequence[str]
) -> tuple[npt.NDArray[np.float32], list[tuple[int, bytes]]]:
    """Pooled vectors of ``texts`` and their token vectors packed to bits, a few texts at a
    time so the float token vectors never add up."""
    vectors: list[npt.NDArray[np.float32]] = []
    packed: list[tuple[int, bytes]] = []
    for start in range(0, len(texts), TOKEN_GROUP):
        pooled, tokens = embedder.embed_with_tokens(texts[start : start + TOKEN_GROUP])
        vectors.append(pooled)
        packed.extend((len(t), pack_tokens(t)) for t in tokens)
    return np.concatenate(vectors), packed


class MatrixSnapshots:
    """The SQLite vector matrix saved as .npy files, so a new process maps it instead of reading
    ~150 MB of rows per 100k chunks (1.5 s) on its first search.

    One folder per model; a snapshot is written whole into a temporary folder and renamed, so a
    reader sees an old one or a new one.  It is a cache: a bad or missing one is rebuilt from
    the database, and rows added since it was taken are appended as in a live process.
    """

    #: Rows the snapshot may lag behind before it is written again (a process that ingests while
    #: answering would otherwise rewrite it after every batch).
    MAX_LAG = 1_000

    def __init__(self, root: Path) -> None:
        self.root = root
        self._saved: dict[str, int] = {}  # model -> rows in the snapshot this process knows of

    def refresh(self, matrix: _Matrix) -> None:
        """Save ``matrix`` unless the snapshot on disk is close enough to it."""
        saved = self._saved.get(matrix.model)
        if saved is None:
            found = self.read(matrix.model)
            saved = self._saved[matrix.model] = -1 if found is None else int(found.ids.size)
        size = int(matrix.ids.size)
        if (
            saved < 0
            or abs(size - saved) >= max(self.MAX_LAG, size // 100)
            or (
                size < saved  # deletions: never map rows that are gone
            )
        ):
            self.write(matrix)
            self._saved[matrix.model] = size

    def _folder(self, model: str) -> Path:
        return self.root / hashlib.sha256(model.encode()).hexdigest()[:16]

    def read(self, model: str) -> _Matrix | None:
        folder = self._folder(model)
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            if meta.get("model") != model:
                return None
            ids = np.load(folder / "ids.npy")
            codes = np.load(folder / "codes.npy")
            shas = json.loads((folder / "shas.json").read_text(encoding="utf-8"))
            vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        except (OSError, ValueError):
            return None
        if not (len(ids) == len(codes) == len(vectors)) or vectors.dtype != np.float32:
            return None
        return _Matrix(model, int(meta.get("version", -1)), ids, codes, shas, vectors)

    def write(self, matrix: _Matrix) -> None:
        folder = self._folder(matrix.model)
        tmp: Path | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".snapshot-"))
            np.save(tmp / "ids.npy", matrix.ids)
            np.save(tmp / "codes.npy", matrix.sha_codes)
            np.save(tmp / "vectors.npy", np.asarray(matrix.vectors, dtype=np.float32))
            (tmp / "shas.json").write_text(json.dumps(matrix.shas), encoding="utf-8")
            meta = {"model": matrix.model, "version": matrix.version}
            (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            old = folder.with_name(folder.name + f".old-{os.getpid()}")
            if folder.exists():
                folder.rename(old)
            tmp.rename(folder)
            tmp = None
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            # A full or read-only disk costs the next process its fast start, nothing else.
            log.warning("could not save the vector snapshot under %s", self.root, exc_info=True)
