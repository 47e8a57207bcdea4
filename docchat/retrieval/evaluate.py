"""Retrieval evaluation: questions with known sources in, recall and MRR per search mode out.

The QA file is JSON Lines, one question a line (the format is in README, "Evaluating retrieval").
A hit is relevant when it matches any of the question's expected entries on every field the entry
gives.  Each question is searched once per mode; its result is the rank of the first relevant hit.
From those ranks come recall@n (the share of questions answered within the top n) and MRR@k, per
mode, overall and per question type.  Latency is wall time per search, after one untimed warm-up
search per mode, so loading the embedder is not charged to the first question.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from docchat.errors import InvalidInput
from docchat.retrieval.hybrid import MAX_QUERY_CHARS, Hit, SearchMode

SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "fulltext", "dense")
#: Fixed recall cutoffs reported besides recall@k (those above k are not reported).
CUTOFFS = (1, 3, 5)
MAX_K = 200

Metric = Literal[
    "recall_at_1", "recall_at_3", "recall_at_5", "recall_at_k", "mrr_at_k", "mean_latency_ms"
]
METRICS: tuple[Metric, ...] = (
    "recall_at_1",
    "recall_at_3",
    "recall_at_5",
    "recall_at_k",
    "mrr_at_k",
    "mean_latency_ms",
)


def normalise(text: str) -> str:
    """``text`` case-folded with every run of whitespace made one space (for ``contains``)."""
    return " ".join(text.split()).casefold()


class Expected(BaseModel):
    """A passage that answers a question: which document, optionally which page and words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    document: str = Field(
        min_length=1, description="File name or shell-style glob, matched case-insensitively."
    )
    page: int | None = Field(None, ge=1, strict=True, description="1-based page or slide.")
    contains: str | None = Field(
        None, description="Words the hit's text must contain (case and whitespace ignored)."
    )

    @field_validator("contains")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must contain some non-space characters")
        return value

    def matches(self, hit: Hit) -> bool:
        """Whether ``hit`` is this passage: every field given agrees."""
        name, pattern = hit.file_name.casefold(), self.document.casefold()
        # Equality first: a real file name such as "report[1].pdf" is not a glob of itself.
        if name != pattern and not fnmatch.fnmatchcase(name, pattern):
            return False
        if self.page is not None and hit.page != self.page:
            return False
        return self.contains is None or normalise(self.contains) in normalise(hit.text)


class Question(BaseModel):
    """One line of a QA file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    type: str = Field(
        "default", min_length=1, max_length=100, description="Group for per-type metrics."
    )
    expected: list[Expected] = Field(min_length=1, description="Any one of these is relevant.")

    @field_validator("question", "type")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain some non-space characters")
        return value.strip()


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
    mode: SearchMode
    rank: int | None = Field(description="Position of the first relevant hit; None: not found.")
    latency_ms: float


class Metrics(BaseModel):
    """Recall, MRR and latency over a group of questions (recall@n is None when n > k)."""

    questions: int
    recall_at_1: float | None
    recall_at_3: float | None
    recall_at_5: float | None
    recall_at_k: float
    mrr_at_k: float
    mean_latency_ms: float


def summarise(ranks: Sequence[int | None], latencies_ms: Sequence[float], *, k: int) -> Metrics:
    """The metrics of a group of questions from their first-relevant ranks and latencies.

    A rank above ``k`` counts as not found.  An empty group scores zero everywhere.
    """
    count = len(ranks)

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
        mean_latency_ms=sum(latencies_ms) / len(latencies_ms) if latencies_ms else 0.0,
    )


class ModeReport(BaseModel):
    """One search mode's metrics: over all questions and per question type."""

    mode: SearchMode
    overall: Metrics
    by_type: dict[str, Metrics]


class EvaluationReport(BaseModel):
    """The result of ``evaluate``: metrics per mode and each question's rank per mode."""

    k: int
    questions: int
    types: list[str] = Field(description="Question types, in order of first appearance.")
    modes: list[ModeReport]
    details: list[QuestionResult]

    def metrics(self, mode: SearchMode, question_type: str | None = None) -> Metrics:
        """The metrics of ``mode``, over all questions or those of one type."""
        for report in self.modes:
            if report.mode == mode:
                return report.overall if question_type is None else report.by_type[question_type]
        raise KeyError(mode)

    def best_modes(self, metric: Metric, question_type: str | None = None) -> list[SearchMode]:
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

    def __call__(self, query: str, *, k: int | None = ..., mode: SearchMode = ...) -> list[Hit]:
        """The best ``k`` passages for ``query`` by ``mode``."""
        ...


EvalProgress = Callable[[int, int], None]


def evaluate(
    search: Searcher,
    questions: Sequence[Question],
    *,
    k: int = 10,
    modes: Sequence[SearchMode] = SEARCH_MODES,
    progress: EvalProgress | None = None,
) -> EvaluationReport:
    """Search every question in every mode and score the rankings; ``progress(done, total)``."""
    if not questions:
        raise InvalidInput("there are no questions to evaluate", field="questions")
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}", field="k")
    modes = list(dict.fromkeys(modes))
    if not modes or any(m not in SEARCH_MODES for m in modes):
        raise InvalidInput("modes must be some of hybrid, fulltext and dense", field="modes")
    total = len(questions) * len(modes)
    details: list[QuestionResult] = []
    for mode in modes:
        search(questions[0].question, k=k, mode=mode)  # warm-up: loads models, fills caches
        for q in questions:
            started = time.perf_counter()
            hits = search(q.question, k=k, mode=mode)
            latency_ms = (time.perf_counter() - started) * 1000
            details.append(
                QuestionResult(
                    question=q.question,
                    type=q.type,
                    mode=mode,
                    rank=first_relevant_rank(hits[:k], q.expected),
                    latency_ms=latency_ms,
                )
            )
            if progress:
                progress(len(details), total)
    types = list(dict.fromkeys(q.type for q in questions))
    return EvaluationReport(
        k=k,
        questions=len(questions),
        types=types,
        modes=[
            _mode_report(mode, [d for d in details if d.mode == mode], types, k) for mode in modes
        ],
        details=details,
    )


def _mode_report(
    mode: SearchMode, results: Sequence[QuestionResult], types: Iterable[str], k: int
) -> ModeReport:
    def group(selected: Sequence[QuestionResult]) -> Metrics:
        return summarise([r.rank for r in selected], [r.latency_ms for r in selected], k=k)

    return ModeReport(
        mode=mode,
        overall=group(results),
        by_type={t: group([r for r in results if r.type == t]) for t in types},
    )


# -- the QA file ------------------------------------------------------------------------------


def parse_qa(text: str) -> list[Question]:
    """The questions of a QA file's text; InvalidInput naming the line of the first bad one."""
    questions: list[Question] = []
    # Split on newlines only: str.splitlines would also split at U+2028 inside a JSON string.
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})", field="qa"
            ) from None
        if not isinstance(data, dict):
            raise InvalidInput(f"line {number}: expected a JSON object", field="qa")
        try:
            questions.append(Question.model_validate(data))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise InvalidInput(f"line {number}: {problems}", field="qa") from None
    if not questions:
        raise InvalidInput("the QA file holds no questions", field="qa")
    return questions


def load_qa(path: str | Path) -> list[Question]:
    """The questions of the QA file at ``path`` (JSON Lines, UTF-8)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(
            f"cannot read QA file {str(path)!r} ({exc.strerror or 'I/O error'})", field="qa"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput(f"QA file {str(path)!r} is not UTF-8 text", field="qa") from None
    try:
        return parse_qa(text)
    except InvalidInput as exc:
        raise InvalidInput(f"{path.name}, {exc.message}", field="qa") from None
