"""Retrieval quality on a small handbook: hybrid must beat full-text-only and dense-only.

The QA set (tests/data/handbook-qa.jsonl) mixes lexical questions (alert codes, names, addresses,
where embeddings confuse near-identical passages), paraphrases that share few words with their
answer (where BM25 fails), and mixed ones.  The numbers are printed for the README.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from corpora import Corpora

from docchat.config import Settings
from docchat.evaluation.qa import load_qa
from docchat.evaluation.retrieval import evaluate
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture
def handbook(settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora) -> Iterator[Workspace]:
    """A workspace with the test handbook ingested (a copy of the run's one)."""
    corpora.copy_into(settings, [DATA / "handbook"])
    with Workspace(settings, embedder=minilm) as workspace:
        yield workspace


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_hybrid_beats_each_retriever_alone(handbook: Workspace) -> None:
    questions = load_qa(DATA / "handbook-qa.jsonl")
    assert len(questions) >= 30
    report = evaluate(handbook.search, questions, k=10)
    hybrid, fulltext, dense = (report.metrics(m) for m in ("hybrid", "fulltext", "dense"))
    for mode in ("hybrid", "fulltext", "dense"):
        m = report.metrics(mode)
        print(f"{mode:9} R@1 {m.recall_at_1:.3f} R@5 {m.recall_at_5:.3f} MRR {m.mrr_at_k:.3f}")
    assert hybrid.mrr_at_k > fulltext.mrr_at_k
    assert hybrid.mrr_at_k > dense.mrr_at_k
    assert hybrid.recall_at_1 >= max(fulltext.recall_at_1, dense.recall_at_1)
    assert hybrid.recall_at_5 >= max(fulltext.recall_at_5, dense.recall_at_5)
    # Each single retriever fails where the other is strong: the set tests both weaknesses.
    assert (
        report.metrics("dense", "lexical").mrr_at_k < report.metrics("hybrid", "lexical").mrr_at_k
    )
    assert (
        report.metrics("fulltext", "paraphrase").mrr_at_k
        < report.metrics("hybrid", "paraphrase").mrr_at_k
    )
