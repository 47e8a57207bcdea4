"""Rank fusion: the candidate lists of one or more queries merged into one scored ordering.

Each query brings two lists, full-text and dense, best first.  Two rules, chosen by
``retrieval.fusion``:

- **relative** (default): within each list, scores are min-max normalised to [0, 1]; a query's
  score for a chunk is ``dense_weight * dense + (1 - dense_weight) * fulltext`` (0 where the chunk
  is missing from a list; the whole weight goes to the one list when the other did not run or
  found nothing).  Over several queries the fused score is the mean of the queries' scores: each
  query weighs the same, a chunk several queries agree on rises, and scores stay in [0, 1].
  Unlike reciprocal rank fusion it keeps the margin: a full-text hit that matched one common word
  does not outrank a strong vector hit just by being first in its list.
- **rrf**: ``sum(1 / (rrf_k + rank))`` over every list of every query (Cormack et al., 2009).

With one query both reduce to what ``Retriever.search`` always did, to the last bit.  Pure
functions: no database, no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

FusionMethod = Literal["relative", "rrf"]
#: (chunk id, score) pairs, best first; higher scores are better.
Ranked = list[tuple[int, float]]


class Scores(BaseModel):
    """How each stage scored a hit (None: the hit was not in that stage's list).

    Over several queries, ``fulltext``/``dense`` are the best score any query gave the chunk and
    the ranks its best rank.
    """

    fulltext: float | None = None
    dense: float | None = None
    fused: float | None = None
    rerank: float | None = None
    fulltext_rank: int | None = None
    dense_rank: int | None = None


@dataclass(frozen=True, slots=True)
class Candidates:
    """One query's candidate lists; a list is empty when its retriever did not run."""

    query: str
    fulltext: Ranked = field(default_factory=list)
    dense: Ranked = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Fused:
    """A chunk after fusion: its id and how each list scored it."""

    chunk_id: int
    scores: Scores


def min_max(ranked: Ranked) -> dict[int, float]:
    """Scores scaled to [0, 1] within their list (a single or all-equal list scores 1)."""
    if not ranked:
        return {}
    values = [score for _, score in ranked]
    low, high = min(values), max(values)
    span = high - low
    return {cid: (score - low) / span if span > 0 else 1.0 for cid, score in ranked}


def fuse(
    found: Sequence[Candidates],
    *,
    method: FusionMethod,
    dense_weight: float,
    rrf_k: int,
) -> list[Fused]:
    """Every chunk of ``found``'s lists once, best fused score first (ties: lower id first)."""
    scores: dict[int, Scores] = {}
    for c in found:
        _record(scores, c)
    fused = dict.fromkeys(scores, 0.0)
    for c in found:
        if method == "rrf":
            for ranked in (c.fulltext, c.dense):
                for rank, (cid, _) in enumerate(ranked, 1):
                    fused[cid] += 1.0 / (rrf_k + rank)
        else:
            w = dense_weight if c.fulltext and c.dense else (1.0 if c.dense else 0.0)
            lex, vec = min_max(c.fulltext), min_max(c.dense)
            for cid in lex.keys() | vec.keys():
                fused[cid] += w * vec.get(cid, 0.0) + (1.0 - w) * lex.get(cid, 0.0)
    queries = max(len(found), 1)
    for cid, s in scores.items():
        s.fused = fused[cid] if method == "rrf" else fused[cid] / queries
    order = sorted(scores, key=lambda cid: (-(scores[cid].fused or 0.0), cid))
    return [Fused(cid, scores[cid]) for cid in order]


def _record(scores: dict[int, Scores], c: Candidates) -> None:
    """Keep each chunk's best own score and best rank per retriever."""
    for rank, (cid, score) in enumerate(c.fulltext, 1):
        s = scores.setdefault(cid, Scores())
        if s.fulltext is None or score > s.fulltext:
            s.fulltext = score
        if s.fulltext_rank is None or rank < s.fulltext_rank:
            s.fulltext_rank = rank
    for rank, (cid, score) in enumerate(c.dense, 1):
        s = scores.setdefault(cid, Scores())
        if s.dense is None or score > s.dense:
            s.dense = score
        if s.dense_rank is None or rank < s.dense_rank:
            s.dense_rank = rank
