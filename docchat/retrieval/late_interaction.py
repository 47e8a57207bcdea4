"""The offline reranker: late interaction over MiniLM's own token vectors, no new weights.

A passage's score for a query is the mean, over the query's word-pieces, of each one's best cosine
to any of the passage's word-pieces (ColBERT's MaxSim, with the embedder docchat already ships).
Unlike the pooled vector it sees that "stride of a slice" meets "*step* is zero" word by word.

Encoding 30 candidates at query time costs ~0.5-1 s on 2 cores, so the token vectors are kept
from ingestion, where the same forward pass already computes them: one sign bit per dimension
(48 bytes a token, ~7.7 KB for a 160-token chunk).  The query's tokens stay float32; a stored sign
vector scaled to unit length stands in for the passage token.  On bench/data/pyref-qa.jsonl (the
Python language reference, 38 questions) 1-bit scoring ranks as full precision does within one
question (MRR@10 0.733 vs 0.752 blended); see bench/ranking.py.

Chunks embedded before token vectors were kept are encoded when first reranked and stored then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from docchat.db import Database
from docchat.documents.models import ChunkRow, ChunkTokensRow

Vectors = npt.NDArray[np.float32]

__all__ = [
    "LateInteractionReranker",
    "TokenEmbedder",
    "TokenStore",
    "maxsim",
    "maxsim_many",
    "maxsim_packed",
    "pack_tokens",
    "unpack_tokens",
]


@runtime_checkable
class TokenEmbedder(Protocol):
    """An embedder that also hands out each text's token vectors (MiniLMEmbedder does)."""

    name: str
    dimension: int

    def embed_with_tokens(self, texts: Sequence[str]) -> tuple[Vectors, list[Vectors]]:
        """Pooled unit vectors, and per text a (tokens, dimension) matrix of unit rows."""
        ...


class Candidate(Protocol):
    """What the reranker needs of a retrieved passage (``Hit`` fits)."""

    chunk_id: int
    text: str
    section: str | None


def pack_tokens(tokens: Vectors) -> bytes:
    """One sign bit per dimension and token, row after row."""
    return np.packbits(tokens > 0, axis=1).tobytes()


def unpack_tokens(bits: bytes, count: int, dimension: int) -> Vectors:
    """``pack_tokens`` undone as unit rows of ±1/√dimension."""
    if count == 0:
        return np.zeros((0, dimension), dtype=np.float32)
    packed = np.frombuffer(bits, dtype=np.uint8).reshape(count, -1)
    signs = np.unpackbits(packed, axis=1, count=dimension).astype(np.float32)
    return (signs * 2.0 - 1.0) * np.float32(1.0 / np.sqrt(dimension))


def maxsim(query: Vectors, passage: Vectors) -> float:
    """Mean over query tokens of the best cosine to a passage token."""
    if len(query) == 0 or len(passage) == 0:
        return 0.0
    return float((query @ passage.T).max(axis=1).mean())


def maxsim_many(query: Vectors, passages: Sequence[Vectors]) -> npt.NDArray[np.float64]:
    """``maxsim`` of each passage, in one matrix product (small products each pay BLAS's
    start-up; 30 of them cost more than the one)."""
    scores = np.zeros(len(passages), dtype=np.float64)
    present = [i for i, p in enumerate(passages) if len(p)]
    if len(query) == 0 or not present:
        return scores
    stacked = np.concatenate([passages[i] for i in present])
    best = query @ stacked.T  # (query tokens, all passage tokens)
    starts = np.cumsum([0] + [len(passages[i]) for i in present[:-1]])
    per_passage = np.maximum.reduceat(best, starts, axis=1)  # (query tokens, passages)
    scores[present] = per_passage.mean(axis=0)
    return scores


def maxsim_packed(
    query: Vectors, passages: Sequence[tuple[int, bytes]], dimension: int
) -> npt.NDArray[np.float64]:
    """``maxsim`` of each packed passage against float ``query`` tokens, without building ±1
    matrices: with bits b in {0, 1}, q · (2b - 1)/√d = (2 q·b - Σq)/√d, and max commutes with
    that increasing map.  One unpack of all passages, one product."""
    scores = np.zeros(len(passages), dtype=np.float64)
    present = [i for i, (count, _) in enumerate(passages) if count]
    if len(query) == 0 or not present:
        return scores
    counts = [passages[i][0] for i in present]
    packed = np.frombuffer(b"".join(passages[i][1] for i in present), dtype=np.uint8)
    bits = np.unpackbits(packed.reshape(sum(counts), -1), axis=1, count=dimension)
    best = query @ bits.T.astype(np.float32)  # (query tokens, all passage tokens)
    starts = np.cumsum([0, *counts[:-1]])
    per_passage = np.maximum.reduceat(best, starts, axis=1)
    shift = query.sum(axis=1, keepdims=True)
    scores[present] = ((2.0 * per_passage - shift) / np.sqrt(dimension)).mean(axis=0)
    return scores


class TokenStore:
    """Stored token vectors, per chunk and embedding model."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._postgres = db.engine.dialect.name == "postgresql"

    def store(self, model: str, ids: Sequence[int], tokens: Sequence[Vectors]) -> None:
        """Keep ``tokens[i]`` for chunk ``ids[i]`` (a chunk deleted meanwhile is skipped)."""
        self.store_packed(model, ids, [(len(t), pack_tokens(t)) for t in tokens])

    def store_packed(
        self, model: str, ids: Sequence[int], packed: Sequence[tuple[int, bytes]]
    ) -> None:
        """Keep (token count, ``pack_tokens`` bits) ``packed[i]`` for chunk ``ids[i]``."""
        if not ids:
            return
        values = [
            {"chunk_id": i, "model": model, "count": count, "bits": bits}
            for i, (count, bits) in zip(ids, packed, strict=True)
        ]
        with self.db.write() as s:
            alive = set(s.execute(select(ChunkRow.id).where(ChunkRow.id.in_(ids))).scalars())
            rows = [v for v in values if v["chunk_id"] in alive]
            if not rows:
                return
            insert = pg_insert if self._postgres else sqlite_insert
            s.execute(insert(ChunkTokensRow).on_conflict_do_nothing(), rows)

    def load(self, model: str, ids: Sequence[int]) -> dict[int, tuple[int, bytes]]:
        """The stored (token count, packed bits) of those chunks that have them under ``model``."""
        if not ids:
            return {}
        with self.db.read() as s:
            rows = s.execute(
                select(ChunkTokensRow.chunk_id, ChunkTokensRow.count, ChunkTokensRow.bits).where(
                    ChunkTokensRow.chunk_id.in_(list(ids)), ChunkTokensRow.model == model
                )
            ).all()
        # (Row.count is a tuple method, hence unpacking.)
        return {cid: (count, bits) for cid, count, bits in rows}


class LateInteractionReranker:
    """Reranks passages by MaxSim over stored 1-bit token vectors, blended with the fused score.

    ``weight`` is the reranker's share of the final score; both parts are min-max scaled over the
    candidates first, so neither scale dominates.
    """

    name = "late-interaction"

    def __init__(
        self,
        db: Database,
        embedder: Callable[[], TokenEmbedder],
        *,
        weight: float = 0.75,
        text_of: Callable[[str | None, str], str] | None = None,
    ) -> None:
        self.store = TokenStore(db)
        self._embedder = embedder
        self.weight = weight
        self._text_of = text_of or (lambda _section, body: body)

    def score(
        self,
        query: str,
        candidates: Sequence[Candidate],
        fused: Sequence[float],
        *,
        query_tokens: Vectors | None = None,
    ) -> list[float]:
        """The blended score of each candidate, in their order (``query_tokens``: the query's
        token vectors when the caller has them already)."""
        if not candidates:
            return []
        embedder = self._embedder()
        if query_tokens is None:
            _, (query_tokens,) = embedder.embed_with_tokens([query])
        ids = [c.chunk_id for c in candidates]
        stored = self.store.load(embedder.name, ids)
        missing = [c for c in candidates if c.chunk_id not in stored]
        if missing:
            # Embedded before token vectors were kept: encode them once, and keep them.
            _, tokens = embedder.embed_with_tokens(
                [self._text_of(c.section, c.text) for c in missing]
            )
            fresh = [(len(t), pack_tokens(t)) for t in tokens]
            missing_ids = [c.chunk_id for c in missing]
            stored.update(zip(missing_ids, fresh, strict=True))
            self.store.store_packed(embedder.name, missing_ids, fresh)
        late = maxsim_packed(query_tokens, [stored[i] for i in ids], embedder.dimension)
        blended = self.weight * _scaled(late) + (1 - self.weight) * _scaled(np.asarray(fused))
        return [float(x) for x in blended]


def _scaled(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        # No spread (one candidate, or ties): all equally the best, not all the worst.
        return np.ones_like(values)
    return (values - low) / (high - low)
