"""Answer evaluation: questions with expected answers in; keyword accuracy, abstention, citation
precision and latency per chat mode and model out.

The questions are those of a QA file (``docchat.evaluation.qa.load_qa``; the format is in
README, "Evaluating answers").  Every question is asked once per mode and model through ``ask``
(``Workspace.ask``), in file order: a question starts a new session, a follow-up is asked in the
session of the question it follows, after it.  The metrics, per mode and model, overall and per
question type:

- keyword accuracy: of the answerable questions that list ``answer`` keywords, the share whose
  answer contains every keyword; an abstention counts as wrong.
- correct abstention: the unanswerable questions whose answer abstained, n/N.
- false abstention rate: the share of answerable questions whose answer abstained.
- citation precision: of the document references of all answers, the share that support the
  answer: a non-empty quote that is exactly the document's text at the cited span, in an expected
  document when the question lists expected sources.
- latency: mean and p95 (nearest rank) of the wall time of ``ask``, after one untimed warm-up
  question per model, so loading the embedder or a model is not charged to the first question.

A question whose turn failed (``ProviderError``) is wrong, never an abstention, and its time is not
counted; its follow-ups are not asked.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from pydantic import BaseModel, Field

from docchat.chat.markers import without_markers
from docchat.chat.types import Answer, Citation
from docchat.config import EXTRACTIVE_MODEL
from docchat.errors import DocchatError, InvalidInput, ProviderError
from docchat.evaluation.qa import QARecord, follow_up_parents, normalise
from docchat.options import ChatMode, mode_names


def chat_modes() -> tuple[ChatMode, ...]:
    """The modes an evaluation asks in by default: every registered chat mode."""
    return mode_names()


class Asker(Protocol):
    """What ``evaluate_answers`` asks with: ``Workspace.ask`` fits."""

    def __call__(
        self,
        question: str,
        *,
        session_id: str | None = ...,
        mode: ChatMode | None = ...,
        model: str | None = ...,
    ) -> Answer:
        """Answer ``question`` in the session (a new one when None); both messages stored."""
        ...


#: A document's extracted text by id (``Workspace.document_text``): what spans index into.
DocumentText = Callable[[str], str]
EvalProgress = Callable[[int, int], None]


def contains_keyword(answer: str, keyword: str) -> bool:
    """Whether ``answer`` holds ``keyword`` as whole words, ignoring case, runs of whitespace and
    citation markers: "5 days" is not found in "25 days"."""
    text = normalise(without_markers(answer))
    wanted = normalise(keyword)
    if not wanted:
        return False
    pattern = re.escape(wanted)
    if re.match(r"\w", wanted):
        pattern = r"(?<!\w)" + pattern
    if re.search(r"\w$", wanted):
        pattern += r"(?!\w)"
    return re.search(pattern, text) is not None


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


class AnswerResult(BaseModel):
    """How one question fared in one mode with one model."""

    line: int | None
    id: str | None
    question: str
    type: str
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
    sentences_checked: int
    supported_sentence_rate: float | None = Field(
        description="The engine's own check: supported sentences / checked sentences."
    )
    errors: int
    mean_latency_ms: float | None
    p95_latency_ms: float | None


class RunReport(BaseModel):
    """One mode with one model: over all questions and per question type."""

    mode: ChatMode
    model: str
    overall: AnswerMetrics
    by_type: dict[str, AnswerMetrics]


class AnswerReport(BaseModel):
    """The result of ``evaluate_answers``: metrics per mode and model, and every answer."""

    questions: int
    answerable: int
    unanswerable: int
    follow_ups: int
    types: list[str] = Field(description="Question types, in order of first appearance.")
    modes: list[ChatMode]
    models: list[str]
    runs: list[RunReport]
    details: list[AnswerResult]

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
        sentences_checked=checked,
        supported_sentence_rate=_share(sum(r.sentences_supported for r in results), checked),
        errors=sum(1 for r in results if r.error is not None),
        mean_latency_ms=sum(latencies) / len(latencies) if latencies else None,
        p95_latency_ms=percentile(latencies, 0.95),
    )


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


# -- scoring one answer -------------------------------------------------------------------------


class _Texts:
    """Document texts by id, each read once per evaluation."""

    def __init__(self, read: DocumentText) -> None:
        self._read = read
        self._texts: dict[str, str | None] = {}

    def get(self, document_id: str) -> str | None:
        if document_id not in self._texts:
            try:
                self._texts[document_id] = self._read(document_id)
            except DocchatError:  # deleted since: its citations cannot be checked
                self._texts[document_id] = None
        return self._texts[document_id]


def _check_reference(citation: Citation, question: QARecord, texts: _Texts) -> ReferenceCheck:
    """Whether ``citation`` supports the answer to ``question`` (see the module docstring)."""
    quote_matches = False
    if (
        citation.quote
        and citation.quote.strip()
        and citation.document_id is not None
        and citation.span_start is not None
        and citation.span_end is not None
    ):
        text = texts.get(citation.document_id)
        quote_matches = (
            text is not None and text[citation.span_start : citation.span_end] == citation.quote
        )
    expected_document: bool | None = None
    if question.sources:
        name = citation.file_name or ""
        expected_document = any(e.matches_document(name) for e in question.sources)
    return ReferenceCheck(
        n=citation.n,
        document_id=citation.document_id,
        file_name=citation.file_name,
        quote_matches=quote_matches,
        expected_document=expected_document,
        supports=quote_matches and expected_document is not False,
    )


def _score_answer(
    question: QARecord,
    answer: Answer,
    *,
    mode: ChatMode,
    model: str,
    latency_ms: float,
    texts: _Texts,
) -> AnswerResult:
    """One answer to ``question``, scored."""
    abstained = bool(answer.metadata.get("abstained"))
    keywords = [] if question.unanswerable else (question.answer or [])
    missing = [k for k in keywords if not contains_keyword(answer.answer, k)]
    sentences = [s for s in answer.metadata.get("sentences") or [] if isinstance(s, dict)]
    checked = [s for s in sentences if s.get("supported") is not None]
    return AnswerResult(
        line=question.line,
        id=question.id,
        question=question.question,
        type=question.type,
        mode=mode,
        model=model,
        unanswerable=question.unanswerable,
        follow_up=question.follow_up_of is not None,
        answer=answer.answer,
        abstained=abstained,
        keywords_found=(not missing and not abstained) if keywords else None,
        missing_keywords=missing,
        # Web references have no document span to check; they are left out.
        references=[
            _check_reference(c, question, texts) for c in answer.references if c.kind == "document"
        ],
        sentences_checked=len(checked),
        sentences_supported=sum(1 for s in checked if s.get("supported") is True),
        latency_ms=latency_ms,
        session_id=answer.session_id,
    )


def _failed(
    question: QARecord, *, mode: ChatMode, model: str, error: str, session_id: str | None = None
) -> AnswerResult:
    return AnswerResult(
        line=question.line,
        id=question.id,
        question=question.question,
        type=question.type,
        mode=mode,
        model=model,
        unanswerable=question.unanswerable,
        follow_up=question.follow_up_of is not None,
        answer="",
        abstained=False,
        keywords_found=False if question.answer and not question.unanswerable else None,
        missing_keywords=list(question.answer or []) if not question.unanswerable else [],
        references=[],
        sentences_checked=0,
        sentences_supported=0,
        latency_ms=None,
        session_id=session_id,
        error=error,
    )


# -- the evaluation -----------------------------------------------------------------------------


def evaluate_answers(
    ask: Asker,
    document_text: DocumentText,
    questions: Sequence[QARecord],
    *,
    modes: Sequence[ChatMode] | None = None,
    models: Sequence[str] = (EXTRACTIVE_MODEL,),
    progress: EvalProgress | None = None,
) -> AnswerReport:
    """Ask every question in every mode (default: every registered one) with every model and
    score the answers; ``progress(done, total)`` after each.

    Raises ``InvalidInput`` for bad arguments, and whatever the warm-up question raises (an
    unknown model, a server that is down) before any question is scored.
    """
    if not questions:
        raise InvalidInput("there are no questions to evaluate", field="questions")
    known = chat_modes()
    modes = list(dict.fromkeys(known if modes is None else modes))
    if not modes or any(m not in known for m in modes):
        raise InvalidInput(
            f"modes must be some of {', '.join(known[:-1])} and {known[-1]}", field="modes"
        )
    models = list(dict.fromkeys(models))
    if not models:
        raise InvalidInput("name at least one model", field="models")
    parents = follow_up_parents(questions)
    texts = _Texts(document_text)
    total = len(questions) * len(modes) * len(models)
    details: list[AnswerResult] = []
    warmed: set[str] = set()
    for mode in modes:
        for model in models:
            if model not in warmed:  # loads the embedder and the model, untimed
                ask(questions[0].question, session_id=None, mode=mode, model=model)
                warmed.add(model)
            run = _ask_all(ask, questions, parents, mode=mode, model=model, texts=texts)
            for result in run:
                details.append(result)
                if progress:
                    progress(len(details), total)
    types = list(dict.fromkeys(q.type for q in questions))
    return AnswerReport(
        questions=len(questions),
        answerable=sum(1 for q in questions if not q.unanswerable),
        unanswerable=sum(1 for q in questions if q.unanswerable),
        follow_ups=sum(1 for p in parents if p is not None),
        types=types,
        modes=modes,
        models=models,
        runs=[
            _run_report(
                mode, model, [d for d in details if d.mode == mode and d.model == model], types
            )
            for mode in modes
            for model in models
        ],
        details=details,
    )


def _ask_all(
    ask: Asker,
    questions: Sequence[QARecord],
    parents: Sequence[int | None],
    *,
    mode: ChatMode,
    model: str,
    texts: _Texts,
) -> Iterable[AnswerResult]:
    """Each question's result, asked in order; a follow-up in its parent's session."""
    sessions: list[str | None] = []
    for question, parent in zip(questions, parents, strict=True):
        session_id = None if parent is None else sessions[parent]
        if parent is not None and session_id is None:
            sessions.append(None)
            yield _failed(
                question, mode=mode, model=model, error="not asked: the question it follows failed"
            )
            continue
        started = time.perf_counter()
        try:
            answer = ask(question.question, session_id=session_id, mode=mode, model=model)
        except ProviderError as exc:
            sessions.append(None)
            yield _failed(question, mode=mode, model=model, error=exc.message)
            continue
        latency_ms = (time.perf_counter() - started) * 1000
        sessions.append(answer.session_id)
        yield _score_answer(
            question, answer, mode=mode, model=model, latency_ms=latency_ms, texts=texts
        )


def _run_report(
    mode: ChatMode, model: str, results: Sequence[AnswerResult], types: Iterable[str]
) -> RunReport:
    return RunReport(
        mode=mode,
        model=model,
        overall=summarise(results),
        by_type={t: summarise([r for r in results if r.type == t]) for t in types},
    )
