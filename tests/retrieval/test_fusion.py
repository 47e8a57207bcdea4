"""Rank fusion of one or several queries' candidate lists: the rules, without a database."""

from __future__ import annotations

import pytest

from docchat.retrieval.fusion import Candidates, Fused, FusionMethod, fuse


def fused(found: list[Candidates], method: FusionMethod = "relative") -> list[Fused]:
    return fuse(found, method=method, dense_weight=0.75, rrf_k=60)


def order(result: list[Fused]) -> list[int]:
    return [f.chunk_id for f in result]


def test_relative_score_weighs_the_normalised_lists() -> None:
    (a, b, c) = fused([Candidates("q", fulltext=[(1, 10.0), (2, 5.0)], dense=[(2, 0.9), (3, 0.5)])])
    assert (a.chunk_id, a.scores.fused) == (2, 0.75)  # dense best, full-text worst
    assert (b.chunk_id, b.scores.fused) == (1, 0.25)  # full-text best only
    assert (c.chunk_id, c.scores.fused) == (3, 0.0)
    assert (a.scores.fulltext, a.scores.fulltext_rank, a.scores.dense, a.scores.dense_rank) == (
        5.0,
        2,
        0.9,
        1,
    )
    assert c.scores.fulltext is None and c.scores.fulltext_rank is None


def test_one_list_alone_takes_the_whole_weight() -> None:
    only_text = fused([Candidates("q", fulltext=[(1, 3.0), (2, 1.0)])])
    assert [(f.chunk_id, f.scores.fused) for f in only_text] == [(1, 1.0), (2, 0.0)]
    only_dense = fused([Candidates("q", dense=[(5, 0.8)])])
    assert [(f.chunk_id, f.scores.fused) for f in only_dense] == [(5, 1.0)]
    assert fused([Candidates("q")]) == []
    assert fused([]) == []


def test_reciprocal_rank_fusion() -> None:
    result = fused(
        [Candidates("q", fulltext=[(1, 10.0), (2, 5.0)], dense=[(2, 0.9), (3, 0.5)])], "rrf"
    )
    assert order(result) == [2, 1, 3]
    assert result[0].scores.fused == pytest.approx(1 / 62 + 1 / 61)
    assert result[1].scores.fused == pytest.approx(1 / 61)


@pytest.mark.parametrize("method", ["relative", "rrf"])
def test_several_queries_keep_what_each_found(method: FusionMethod) -> None:
    question = Candidates("q", fulltext=[(1, 9.0), (2, 4.0)], dense=[(1, 0.9), (2, 0.4)])
    paraphrase = Candidates("p", fulltext=[(7, 2.0), (8, 1.0)], dense=[(7, 0.7), (8, 0.2)])
    result = fused([question, paraphrase], method)
    assert set(order(result)) == {1, 2, 7, 8}
    assert set(order(result)[:2]) == {1, 7}  # each query's best is at the top


@pytest.mark.parametrize("method", ["relative", "rrf"])
def test_agreement_between_queries_ranks_higher(method: FusionMethod) -> None:
    # Chunk 3 is second for both queries; chunks 1 and 2 are first for one query only.
    a = Candidates("a", fulltext=[(1, 5.0), (3, 4.0), (4, 0.0)], dense=[(1, 0.9), (3, 0.8), (4, 0)])
    b = Candidates("b", fulltext=[(2, 5.0), (3, 4.0), (5, 0.0)], dense=[(2, 0.9), (3, 0.8), (5, 0)])
    assert order(fused([a, b], method))[0] == 3


def test_relative_scores_of_several_queries_are_their_mean() -> None:
    a = Candidates("a", fulltext=[(1, 2.0), (2, 1.0)], dense=[(1, 0.9), (2, 0.1)])
    b = Candidates("b", fulltext=[(2, 2.0), (3, 1.0)], dense=[(2, 0.9), (3, 0.1)])
    scores = {f.chunk_id: f.scores for f in fused([a, b])}
    assert scores[1].fused == 0.5
    assert scores[2].fused == 0.5
    assert scores[3].fused == 0.0
    # Own scores and ranks: the best any query gave.
    assert (scores[2].fulltext, scores[2].fulltext_rank) == (2.0, 1)
    assert (scores[2].dense, scores[2].dense_rank) == (0.9, 1)
    assert all(0.0 <= s.fused <= 1.0 for s in scores.values() if s.fused is not None)


def test_ties_break_by_chunk_id() -> None:
    result = fused([Candidates("q", fulltext=[(9, 1.0), (4, 1.0), (6, 1.0)])])
    assert order(result) == [4, 6, 9]
