"""Retrieval evaluation: questions with known sources in, recall and MRR per search mode out.

The QA file is JSON Lines, one question a line (the format is in README, "Evaluating retrieval").
A line may also carry what answer evaluation (``docchat.chat.evaluate``) needs: expected answer
keywords, ``unanswerable``, ``follow_up_of``; the file format and its validation live here, once.
A hit is relevant when it matches any of the question's expected entries on every field the entry
gives.  Each question with expected sources that is not a follow-up is searched once per mode (a
follow-up's words alone are not its query; an unanswerable question has no relevant hit); its
result is the rank of the first relevant hit.  From those ranks come recall@n (the share of
questions answered within the top n) and MRR@k, per mode, overall and per question type.  Latency
is wall time per search, after one untimed warm-up search per mode, so loading the embedder is not
charged to the first question.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Literal, Protocol, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from docchat.errors import InvalidInput
from docchat.retrieval.hybrid import MAX_QUERY_CHARS, Hit, SearchMode

SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "fulltext", "dense")
#: A run of the evaluation: a search mode, or hybrid search reranked.
EvalRun = Literal["hybrid", "fulltext", "dense", "hybrid+rerank"]
RERANKED: EvalRun = "hybrid+rerank"
EVAL_RUNS: tuple[EvalRun, ...] = (*SEARCH_MODES, RERANKED)
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

    def matches_document(self, file_name: str) -> bool:
        """Whether ``file_name`` is this entry's document (equal, or matching its glob)."""
        name, pattern = file_name.casefold(), self.document.casefold()
        # Equality first: a real file name such as "report[1].pdf" is not a glob of itself.
        return name == pattern or fnmatch.fnmatchcase(name, pattern)

    def matches(self, hit: Hit) -> bool:
        """Whether ``hit`` is this passage: every field given agrees."""
        if not self.matches_document(hit.file_name):
            return False
        if self.page is not None and hit.page != self.page:
            return False
        return self.contains is None or normalise(self.contains) in normalise(hit.text)


#: An expected answer keyword or phrase.
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=500)]
#: What ``follow_up_of`` names: a 1-based line of the QA file, or a question's ``id``.
QuestionRef = (
    Annotated[int, Field(strict=True, ge=1)]
    | Annotated[str, StringConstraints(min_length=1, max_length=100)]
)


class Question(BaseModel):
    """One line of a QA file.

    Answerable questions (the default) need ``expected`` sources and may give ``answer`` keywords;
    an ``unanswerable`` one has neither.  ``line`` is set by ``parse_qa``, never read from a line.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(
        None, min_length=1, max_length=100, description="A name for other lines' follow_up_of."
    )
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    type: str = Field(
        "default", min_length=1, max_length=100, description="Group for per-type metrics."
    )
    expected: list[Expected] | None = Field(
        None, description="Any one of these is relevant; required unless unanswerable."
    )
    answer: list[Keyword] | None = Field(
        None,
        min_length=1,
        description="Words or phrases a correct answer contains, every one of them.",
    )
    unanswerable: bool = Field(
        False, strict=True, description="The documents do not answer it: the answer should abstain."
    )
    follow_up_of: QuestionRef | None = Field(
        None, description="The line (1-based) or id of the question it follows in one session."
    )
    line: int | None = Field(None, description="Its line in the QA file (set by parse_qa).")

    @field_validator("question", "type", "id")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must contain some non-space characters")
        return value.strip()

    @field_validator("answer")
    @classmethod
    def _no_blank_keyword(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not k.strip() for k in value):
            raise ValueError("keywords must contain some non-space characters")
        return value

    @model_validator(mode="after")
    def _answerable_or_not(self) -> Question:
        # Raised with the key in the message: parse_qa prints a model-level error as it is.
        if self.unanswerable:
            if self.expected:
                raise ValueError("expected: an unanswerable question has no expected sources")
            if self.answer is not None:
                raise ValueError("answer: an unanswerable question has no answer keywords")
        elif self.expected is None:
            raise ValueError("expected: Field required (unless unanswerable is true)")
        elif not self.expected:
            raise ValueError(
                "expected: List should have at least 1 item (unless unanswerable is true)"
            )
        return self

    @property
    def sources(self) -> list[Expected]:
        """The expected sources (none for an unanswerable question)."""
        return self.expected or []

    @property
    def retrievable(self) -> bool:
        """Whether retrieval evaluation scores it: it has sources and is not a follow-up."""
        return bool(self.expected) and self.follow_up_of is None


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
        self, query: str, *, k: int | None = ..., mode: SearchMode = ..., rerank: bool = ...
    ) -> list[Hit]:
        """The best ``k`` passages for ``query`` by ``mode``, reranked when asked."""
        ...


EvalProgress = Callable[[int, int], None]


def evaluate(
    search: Searcher,
    questions: Sequence[Question],
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
        # Only a reranked run passes `rerank`: any searcher answers the plain modes.
        extra = {"rerank": True} if mode == RERANKED else {}
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
        return summarise([r.rank for r in selected], [r.latency_ms for r in selected], k=k)

    return ModeReport(
        mode=mode,
        overall=group(results),
        by_type={t: group([r for r in results if r.type == t]) for t in types},
    )


# -- the QA file ------------------------------------------------------------------------------


def parse_qa(text: str) -> list[Question]:
    """The questions of a QA file's text, each with its ``line``; InvalidInput naming the line of
    the first bad one (a follow-up must name an earlier question)."""
    questions: list[Question] = []
    by_line: dict[int, Question] = {}
    by_id: dict[str, Question] = {}
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
        if "line" in data:  # the file's own numbering, not a key
            raise InvalidInput(f"line {number}: line: Extra inputs are not permitted", field="qa")
        try:
            question = Question.model_validate(data).model_copy(update={"line": number})
        except ValidationError as exc:
            raise InvalidInput(f"line {number}: {_problems(exc)}", field="qa") from None
        problem = _reference_problem(question, by_line, by_id)
        if problem:
            raise InvalidInput(f"line {number}: {problem}", field="qa")
        questions.append(question)
        by_line[number] = question
        if question.id is not None:
            by_id[question.id] = question
    if not questions:
        raise InvalidInput("the QA file holds no questions", field="qa")
    return questions


def _problems(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in e["loc"])
        if where:
            parts.append(f"{where}: {e['msg']}")
        else:  # a check across keys: its message starts with the key
            parts.append(e["msg"].removeprefix("Value error, "))
    return "; ".join(parts)


def _reference_problem(
    question: Question, by_line: dict[int, Question], by_id: dict[str, Question]
) -> str | None:
    """What is wrong with ``question``'s id or follow_up_of, given the questions before it."""
    if question.id is not None and question.id in by_id:
        return f"id: {question.id!r} is already the id of line {by_id[question.id].line}"
    ref = question.follow_up_of
    if isinstance(ref, int) and ref not in by_line:
        if question.line is not None and ref >= question.line:
            return "follow_up_of: must name an earlier line (the question is asked after it)"
        return f"follow_up_of: line {ref} holds no question"
    if isinstance(ref, str) and ref not in by_id:
        return f"follow_up_of: no earlier question has the id {ref!r}"
    return None


def follow_up_parents(questions: Sequence[Question]) -> list[int | None]:
    """For each question, the index in ``questions`` of the question it follows, or None.

    ``follow_up_of`` names a ``line`` (or, for questions built in code without lines, a 1-based
    position) or an ``id``; the question it names must come earlier.
    """
    by_line = {q.line if q.line is not None else i: i for i, q in enumerate(questions, 1)}
    by_id = {q.id: i for i, q in enumerate(questions, 1) if q.id is not None}
    parents: list[int | None] = []
    for index, q in enumerate(questions, 1):
        ref = q.follow_up_of
        if ref is None:
            parents.append(None)
            continue
        parent = by_line.get(ref) if isinstance(ref, int) else by_id.get(ref)
        if parent is None or parent >= index:
            raise InvalidInput(
                f"question {index} follows {ref!r}, which is not an earlier question",
                field="questions",
            )
        parents.append(parent - 1)
    return parents


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
