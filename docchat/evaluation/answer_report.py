"""What an answer evaluation reports: each answer's checks, the metrics of a group of answers,
and those grouped per run (mode and model), per question type, format and kind, with the
baselines beside (``docchat.evaluation.answers`` fills them in; its docstring defines the
metrics)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from docchat.evaluation.baselines import Baseline
from docchat.options import ChatMode


class ReferenceCheck(BaseModel):
    """One document reference of an answer and whether it supports the answer."""

    n: int
    document_id: str | None
    file_name: str | None
    quote_matches: bool = Field(
        description="Its quote is non-empty and is the document's text at its span."
    )
    expected_document: bool | None = Field(
        description="It cites an expected document; None when the question lists none."
    )
    supports: bool = Field(description="quote_matches, and expected_document is not False.")
    fragment: bool | None = Field(
        None,
        description="Its span is not a run of whole sentences of its passage; None when the "
        "passage or span is not known.",
    )


class AnswerResult(BaseModel):
    """How one question fared in one mode with one model."""

    line: int | None
    id: str | None
    question: str
    type: str
    format: str | None = None
    kind: str | None = None
    baseline: Baseline | None = Field(None, description="Which baseline answered; None: docchat.")
    mode: ChatMode
    model: str
    unanswerable: bool
    follow_up: bool
    answer: str
    abstained: bool
    keywords_found: bool | None = Field(
        description="Every keyword is in the answer (False when it abstained); None: no keywords."
    )
    missing_keywords: list[str]
    references: list[ReferenceCheck]
    sentences_checked: int = Field(description="Answer sentences the engine checked.")
    sentences_supported: int = Field(description="Of those, the ones it found supported.")
    evidence_found: bool | None = Field(
        None,
        description="The turn's first 5 passages hold each evidence string; None: no evidence "
        "given, or no turn.",
    )
    latency_ms: float | None = Field(description="Wall time of ask; None when it failed.")
    session_id: str | None
    error: str | None = Field(None, description="Why there is no answer.")


class AnswerMetrics(BaseModel):
    """The metrics of a group of answers (a value is None when its group is empty)."""

    questions: int
    answerable: int
    unanswerable: int
    keyword_questions: int = Field(description="Answerable questions with answer keywords.")
    keyword_correct: int
    keyword_accuracy: float | None
    correct_abstentions: int = Field(description="Unanswerable questions that abstained.")
    correct_abstention: float | None
    false_abstentions: int = Field(description="Answerable questions that abstained.")
    false_abstention_rate: float | None
    references: int = Field(description="Document references of all answers.")
    supporting_references: int
    citation_precision: float | None
    fragment_citations: int = Field(
        description="References whose span is not whole sentences of its passage."
    )
    sentences_checked: int
    supported_sentence_rate: float | None = Field(
        description="The engine's own check: supported sentences / checked sentences."
    )
    evidence_questions: int = Field(description="Questions with evidence whose turn ran.")
    evidence_found: int
    evidence_recall_at_5: float | None
    errors: int
    mean_latency_ms: float | None
    p95_latency_ms: float | None


#: How questions are grouped besides all together: by their ``type``, ``format`` or ``kind``.
Axis = Literal["type", "format", "kind"]


class GroupedMetrics(BaseModel):
    """Metrics over all questions, and per type, format and kind (those the file gives)."""

    overall: AnswerMetrics
    by_type: dict[str, AnswerMetrics]
    by_format: dict[str, AnswerMetrics] = Field(default_factory=dict)
    by_kind: dict[str, AnswerMetrics] = Field(default_factory=dict)

    def group(self, axis: Axis | None = None, value: str | None = None) -> AnswerMetrics:
        """The metrics of all questions (no ``axis``) or of those with ``axis`` equal to
        ``value``."""
        if axis is None or value is None:
            return self.overall
        return {"type": self.by_type, "format": self.by_format, "kind": self.by_kind}[axis][value]


class BaselineReport(GroupedMetrics):
    """A naive answerer on the passages of one run's turns."""

    baseline: Baseline
    description: str


class RunReport(GroupedMetrics):
    """One mode with one model, and the baselines on the passages its turns retrieved."""

    mode: ChatMode
    model: str
    baselines: list[BaselineReport] = Field(default_factory=list)


class AnswerReport(BaseModel):
    """The result of ``evaluate_answers``: metrics per mode and model, and every answer."""

    questions: int
    answerable: int
    unanswerable: int
    follow_ups: int
    types: list[str] = Field(description="Question types, in order of first appearance.")
    formats: list[str] = Field(default_factory=list, description="Formats the questions give.")
    kinds: list[str] = Field(default_factory=list, description="Kinds the questions give.")
    modes: list[ChatMode]
    models: list[str]
    runs: list[RunReport]
    details: list[AnswerResult]
    baseline_details: list[AnswerResult] = Field(
        default_factory=list, description="The baselines' answers, per run and question."
    )

    def metrics(
        self, mode: ChatMode, model: str, question_type: str | None = None
    ) -> AnswerMetrics:
        """The metrics of ``mode`` with ``model``, over all questions or those of one type."""
        for run in self.runs:
            if run.mode == mode and run.model == model:
                return run.overall if question_type is None else run.by_type[question_type]
        raise KeyError((mode, model))


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in (0, 1]) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def summarise(results: Sequence[AnswerResult]) -> AnswerMetrics:
    """The metrics of a group of answers."""
    answerable = [r for r in results if not r.unanswerable]
    unanswerable = [r for r in results if r.unanswerable]
    with_keywords = [r for r in answerable if r.keywords_found is not None]
    keyword_correct = sum(1 for r in with_keywords if r.keywords_found)
    abstained_right = sum(1 for r in unanswerable if r.abstained)
    abstained_wrong = sum(1 for r in answerable if r.abstained)
    references = [c for r in results for c in r.references]
    supporting = sum(1 for c in references if c.supports)
    checked = sum(r.sentences_checked for r in results)
    evidence = [r.evidence_found for r in results if r.evidence_found is not None]
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    return AnswerMetrics(
        questions=len(results),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        keyword_questions=len(with_keywords),
        keyword_correct=keyword_correct,
        keyword_accuracy=_share(keyword_correct, len(with_keywords)),
        correct_abstentions=abstained_right,
        correct_abstention=_share(abstained_right, len(unanswerable)),
        false_abstentions=abstained_wrong,
        false_abstention_rate=_share(abstained_wrong, len(answerable)),
        references=len(references),
        supporting_references=supporting,
        citation_precision=_share(supporting, len(references)),
        fragment_citations=sum(1 for c in references if c.fragment),
        sentences_checked=checked,
        supported_sentence_rate=_share(sum(r.sentences_supported for r in results), checked),
        evidence_questions=len(evidence),
        evidence_found=sum(evidence),
        evidence_recall_at_5=_share(sum(evidence), len(evidence)),
        errors=sum(1 for r in results if r.error is not None),
        mean_latency_ms=sum(latencies) / len(latencies) if latencies else None,
        p95_latency_ms=percentile(latencies, 0.95),
    )


def _share(count: int, total: int) -> float | None:
    return count / total if total else None
