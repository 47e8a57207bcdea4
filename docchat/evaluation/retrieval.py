"""Retrieval evaluation: questions with known sources in, recall and MRR per search mode out.

The questions come from a QA file (``docchat.evaluation.qa``).  A hit is relevant when it matches
any of the question's expected entries on every field the entry gives.  Each question with expected
sources that is not a follow-up is searched once per mode (a follow-up's words alone are not its
query; an unanswerable question has no relevant hit); its result is the rank of the first relevant
hit.  From those ranks come recall@n (the share of questions answered within the top n) and
MRR@k, per mode, overall and per question type.  Latency is wall time per search, after one
untimed warm-up search per mode, so loading the embedder is not charged to the first question.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, Protocol, cast, get_args

from pydantic import BaseModel, Field

from docchat.errors import InvalidInput
from docchat.evaluation.qa import Expected, QARecord
from docchat.retrieval.hybrid import Hit, SearchMode

SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "fulltext", "dense")
#: A run of the evaluation: a search mode, or hybrid search reranked.
EvalRun = Literal["hybrid", "fulltext", "dense", "hybrid+rerank"]
RERANKED: EvalRun = "hybrid+rerank"
EVAL_RUNS: tuple[EvalRun, ...] = (*SEARCH_MODES, RERANKED)
#: Fixed recall cutoffs reported besides recall@k (those above k are not reported).
CUTOFFS = (1, 3, 5)
MAX_K = 200

Metric = Literal[
    "recall_at_1",
    "recall_at_3",
    "recall_at_5",
    "recall_at_k",
    "mrr_at_k",
    "evidence_recall_at_5",
    "mean_latency_ms",
]
#: The metrics in report order: the Literal's own values, so the two cannot drift apart.
METRICS: tuple[Metric, ...] = get_args(Metric)
#: Passages looked at for evidence recall.
EVIDENCE_CUTOFF = 5


def first_relevant_rank(hits: Sequence[Hit], expected: Sequence[Expected]) -> int | None:
    """The 1-based position of the first hit matching any of ``expected``; None if none does."""
    for position, hit in enumerate(hits, 1):
        if any(e.matches(hit) for e in expected):
            return position
    return None


class QuestionResult(BaseModel):
    """How one question fared in one search mode."""

    question: str
    type: str
    mode: EvalRun
    rank: int | None = Field(description="Position of the first relevant hit; None: not found.")
    evidence_found: bool | None = Field(
        None,
        description="A passage of the top 5 holds each evidence string (in an expected "
        "document); None when the question gives no evidence or k < 5.",
    )
    latency_ms: float


class Metrics(BaseModel):
    """Recall, MRR and latency over a group of questions (recall@n is None when n > k)."""

    questions: int
    recall_at_1: float | None
    recall_at_3: float | None
    recall_at_5: float | None
    recall_at_k: float
    mrr_at_k: float
    evidence_questions: int = Field(0, description="Questions with evidence, when k >= 5.")
    evidence_recall_at_5: float | None = Field(
        None, description="Of those, the share with their evidence in the top 5 passages."
    )
    mean_latency_ms: float


def summarise(
    ranks: Sequence[int | None],
    latencies_ms: Sequence[float],
    *,
    k: int,
    evidence: Sequence[bool | None] = (),
) -> Metrics:
    """The metrics of a group of questions from their first-relevant ranks, latencies and
    whether their evidence was found (None: no evidence to look for).

    A rank above ``k`` counts as not found.  An empty group scores zero everywhere.
    """
    count = len(ranks)
    looked = [found for found in evidence if found is not None]

    def recall(n: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= n) / count if count else 0.0

    cutoffs = {n: recall(n) if n <= k else None for n in CUTOFFS}
    return Metrics(
        questions=count,
        recall_at_1=cutoffs[1],
        recall_at_3=cutoffs[3],
        recall_at_5=cutoffs[5],
        recall_at_k=recall(k),
        mrr_at_k=sum(1 / r for r in ranks if r is not None and r <= k) / count if count else 0.0,
        evidence_questions=len(looked),
        evidence_recall_at_5=sum(looked) / len(looked) if looked else None,
        mean_latency_ms=sum(latencies_ms) / len(latencies_ms) if latencies_ms else 0.0,
    )


class ModeReport(BaseModel):
    """One search mode's metrics: over all questions and per question type."""

    mode: EvalRun
    overall: Metrics
    by_type: dict[str, Metrics]


class EvaluationReport(BaseModel):
    """The result of ``evaluate``: metrics per mode and each question's rank per mode."""

    k: int
    questions: int = Field(description="Questions searched.")
    skipped: int = Field(0, description="Unanswerable and follow-up questions, not searched.")
    types: list[str] = Field(description="Question types, in order of first appearance.")
    modes: list[ModeReport]
    details: list[QuestionResult]

    def metrics(self, mode: EvalRun, question_type: str | None = None) -> Metrics:
        """The metrics of ``mode``, over all questions or those of one type."""
        for report in self.modes:
            if report.mode == mode:
                return report.overall if question_type is None else report.by_type[question_type]
        raise KeyError(mode)

    def best_modes(self, metric: Metric, question_type: str | None = None) -> list[EvalRun]:
        """The modes with the best value of ``metric`` (lowest latency, else highest); ties all."""
        values = {r.mode: getattr(self.metrics(r.mode, question_type), metric) for r in self.modes}
        known = {mode: v for mode, v in values.items() if v is not None}
        if not known:
            return []
        pick = min if metric == "mean_latency_ms" else max
        best = pick(known.values())
        return [mode for mode, v in known.items() if v == best]


class Searcher(Protocol):
    """What ``evaluate`` searches with: ``Workspace.search`` and ``Retriever.search`` fit."""

    def __call__(
        self,
        query: str,
        *,
        k: int | None = ...,
        mode: SearchMode = ...,
        enable_reranking: bool = ...,
    ) -> list[Hit]:
        """The best ``k`` passages for ``query`` by ``mode``, reranked when asked."""
        ...


EvalProgress = Callable[[int, int], None]


def evaluate(
    search: Searcher,
    questions: Sequence[QARecord],
    *,
    k: int = 10,
    modes: Sequence[EvalRun] = SEARCH_MODES,
    progress: EvalProgress | None = None,
) -> EvaluationReport:
    """Search every question in every mode and score the rankings; ``progress(done, total)``.

    Unanswerable and follow-up questions are skipped (``skipped`` counts them).
    """
    if not questions:
        raise InvalidInput("there are no questions to evaluate", field="questions")
    skipped = sum(1 for q in questions if not q.retrievable)
    questions = [q for q in questions if q.retrievable]
    if not questions:
        raise InvalidInput(
            "no question has expected sources to search for (unanswerable and follow-up "
            "questions are not searched)",
            field="questions",
        )
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}", field="k")
    modes = list(dict.fromkeys(modes))
    if not modes or any(m not in EVAL_RUNS for m in modes):
        raise InvalidInput(
            "modes must be some of hybrid, fulltext, dense and hybrid+rerank", field="modes"
        )
    total = len(questions) * len(modes)
    details: list[QuestionResult] = []
    for mode in modes:
        base: SearchMode = "hybrid" if mode == RERANKED else cast("SearchMode", mode)
        # Only a reranked run passes `enable_reranking`: any searcher answers the plain modes.
        extra = {"enable_reranking": True} if mode == RERANKED else {}
        search(questions[0].question, k=k, mode=base, **extra)  # warm-up: loads models
        for q in questions:
            started = time.perf_counter()
            hits = search(q.question, k=k, mode=base, **extra)
            latency_ms = (time.perf_counter() - started) * 1000
            details.append(
                QuestionResult(
                    question=q.question,
                    type=q.type,
                    mode=mode,
                    rank=first_relevant_rank(hits[:k], q.sources),
                    evidence_found=(
                        q.holds_evidence([(h.file_name, h.text) for h in hits[:EVIDENCE_CUTOFF]])
                        if k >= EVIDENCE_CUTOFF
                        else None
                    ),
                    latency_ms=latency_ms,
                )
            )
            if progress:
                progress(len(details), total)
    types = list(dict.fromkeys(q.type for q in questions))
    return EvaluationReport(
        k=k,
        questions=len(questions),
        skipped=skipped,
        types=types,
        modes=[
            _mode_report(mode, [d for d in details if d.mode == mode], types, k) for mode in modes
        ],
        details=details,
    )


def _mode_report(
    mode: EvalRun, results: Sequence[QuestionResult], types: Iterable[str], k: int
) -> ModeReport:
    def group(selected: Sequence[QuestionResult]) -> Metrics:
        return summarise(
            [r.rank for r in selected],
            [r.latency_ms for r in selected],
            k=k,
            evidence=[r.evidence_found for r in selected],
        )

    return ModeReport(
        mode=mode,
        overall=group(results),
        by_type={t: group([r for r in results if r.type == t]) for t in types},
    )
