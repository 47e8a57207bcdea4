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
- fragment citations: references whose span is not made of whole sentences of its passage
  (``docchat.chat.sentences``): a quote cut mid-sentence.
- evidence recall@5: of the questions that give ``evidence``, the share whose turn retrieved it:
  each evidence string is in one of the turn's first 5 passages, of an expected document.
- latency: mean and p95 (nearest rank) of the wall time of ``ask``, after one untimed warm-up
  question per model, so loading the embedder or a model is not charged to the first question.

Beside each run, the same metrics for two naive answers from the same passages
(``docchat.evaluation.baselines``), and the groups of questions also by ``format`` and ``kind``
when the file gives them.  A question whose turn failed (``ProviderError``) is wrong, never an
abstention, and its time is not counted; its follow-ups are not asked (nor answered by the
baselines, which have no passages then).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from docchat.chat.markers import without_markers
from docchat.chat.sentences import split_sentences
from docchat.chat.types import Answer, Citation
from docchat.config import EXTRACTIVE_MODEL
from docchat.errors import DocchatError, InvalidInput, ProviderError
from docchat.evaluation.answer_report import (
    AnswerReport,
    AnswerResult,
    Axis,
    BaselineReport,
    ReferenceCheck,
    RunReport,
    summarise,
)
from docchat.evaluation.baselines import (
    BASELINES,
    Baseline,
    BaselineAnswer,
    Embed,
    SentenceRanker,
    TurnPassage,
    top_passage,
    turn_passages,
)
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


#: Passages of a turn looked at for evidence recall.
EVIDENCE_PASSAGES = 5
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
        fragment=is_fragment(
            citation, None if citation.document_id is None else texts.get(citation.document_id)
        ),
    )


def is_fragment(citation: Citation, document_text: str | None) -> bool | None:
    """Whether ``citation``'s span is not a run of whole sentences: it starts or ends inside one
    of the sentences of the cited passage's paragraphs (whitespace at its ends aside).  The
    paragraphs, not the passage alone: a passage that starts inside a sentence (chunks overlap)
    begins with a fragment.  None when the document's text, the passage or the span is not known
    or does not fit."""
    start, end = citation.span_start, citation.span_end
    passage_start, passage_end = citation.char_start, citation.char_end
    if (
        document_text is None
        or start is None
        or end is None
        or passage_start is None
        or passage_end is None
        or not passage_start <= start < end <= passage_end <= len(document_text)
    ):
        return None
    span = document_text[start:end]
    if not span.strip():
        return None
    start += len(span) - len(span.lstrip())
    end -= len(span) - len(span.rstrip())
    # From the paragraph break before the passage to the one after it.
    before = document_text.rfind("\n\n", 0, passage_start)
    first = 0 if before < 0 else before + 2
    after = document_text.find("\n\n", passage_end)
    last = len(document_text) if after < 0 else after
    sentences = split_sentences(document_text[first:last])
    starts = {first + s.start for s in sentences}
    ends = {first + s.end for s in sentences}
    return start not in starts or end not in ends


def _score_answer(
    question: QARecord,
    answer: Answer,
    *,
    mode: ChatMode,
    model: str,
    latency_ms: float,
    texts: _Texts,
    passages: Sequence[TurnPassage],
) -> AnswerResult:
    """One answer to ``question``, scored; ``passages``: those its turn retrieved."""
    abstained = bool(answer.metadata.get("abstained"))
    keywords, missing = _keywords(question, answer.answer)
    sentences = [s for s in answer.metadata.get("sentences") or [] if isinstance(s, dict)]
    checked = [s for s in sentences if s.get("supported") is not None]
    return AnswerResult(
        **_asked(question, mode=mode, model=model),
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
        evidence_found=question.holds_evidence(
            [(p.file_name, p.text) for p in passages[:EVIDENCE_PASSAGES]]
        ),
        latency_ms=latency_ms,
        session_id=answer.session_id,
    )


def _asked(question: QARecord, *, mode: ChatMode, model: str) -> dict[str, Any]:
    """The fields of a result that say what was asked, and how: the same for every outcome."""
    return {
        "line": question.line,
        "id": question.id,
        "question": question.question,
        "type": question.type,
        "format": question.document_format,
        "kind": question.kind,
        "mode": mode,
        "model": model,
        "unanswerable": question.unanswerable,
        "follow_up": question.follow_up_of is not None,
    }


def _keywords(question: QARecord, text: str) -> tuple[list[str], list[str]]:
    """The keywords ``question`` expects (none when unanswerable), and those ``text`` lacks."""
    keywords = [] if question.unanswerable else (question.answer or [])
    return keywords, [k for k in keywords if not contains_keyword(text, k)]


def _score_baseline(
    question: QARecord,
    answer: BaselineAnswer,
    *,
    baseline: Baseline,
    of: AnswerResult,
    texts: _Texts,
) -> AnswerResult:
    """A baseline's answer to ``question``, scored, beside docchat's answer ``of``."""
    keywords, missing = _keywords(question, answer.text)
    return of.model_copy(
        update={
            "baseline": baseline,
            "answer": answer.text,
            "abstained": False,
            "keywords_found": not missing if keywords else None,
            "missing_keywords": missing,
            "references": [_check_reference(c, question, texts) for c in answer.references],
            "sentences_checked": 0,
            "sentences_supported": 0,
            "latency_ms": None,
        }
    )


def _failed(
    question: QARecord, *, mode: ChatMode, model: str, error: str, session_id: str | None = None
) -> AnswerResult:
    return AnswerResult(
        **_asked(question, mode=mode, model=model),
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
    embed: Embed | None = None,
    baselines: bool = True,
) -> AnswerReport:
    """Ask every question in every mode (default: every registered one) with every model and
    score the answers; ``progress(done, total)`` after each.

    With ``baselines``, the naive answers of ``docchat.evaluation.baselines`` are scored beside
    each run, from the passages of its turns: ``top_passage`` always, ``top_sentences`` when
    ``embed`` (``Embedder.embed``, the app's own) is given.

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
    answerers = _baseline_answerers(embed) if baselines else {}
    total = len(questions) * len(modes) * len(models)
    details: list[AnswerResult] = []
    baseline_details: list[AnswerResult] = []
    warmed: set[str] = set()
    for mode in modes:
        for model in models:
            if model not in warmed:  # loads the embedder and the model, untimed
                ask(questions[0].question, session_id=None, mode=mode, model=model)
                warmed.add(model)
            run = _ask_all(ask, questions, parents, mode=mode, model=model, texts=texts)
            for question, result, passages in run:
                details.append(result)
                for name, answerer in answerers.items():
                    if passages is None:  # the turn failed: no passages to answer from
                        baseline_details.append(result.model_copy(update={"baseline": name}))
                        continue
                    answer = answerer(question, passages)
                    baseline_details.append(
                        _score_baseline(question, answer, baseline=name, of=result, texts=texts)
                    )
                if progress:
                    progress(len(details), total)
    groups: dict[Axis, list[str]] = {
        "type": list(dict.fromkeys(q.type for q in questions)),
        "format": list(dict.fromkeys(f for q in questions if (f := q.document_format) is not None)),
        "kind": list(dict.fromkeys(q.kind for q in questions if q.kind is not None)),
    }
    runs = []
    for mode in modes:
        for model in models:
            mine = [d for d in details if d.mode == mode and d.model == model]
            theirs = {
                name: [
                    d
                    for d in baseline_details
                    if d.baseline == name and d.mode == mode and d.model == model
                ]
                for name in answerers
            }
            runs.append(_run_report(mode, model, mine, theirs, groups))
    return AnswerReport(
        questions=len(questions),
        answerable=sum(1 for q in questions if not q.unanswerable),
        unanswerable=sum(1 for q in questions if q.unanswerable),
        follow_ups=sum(1 for p in parents if p is not None),
        types=groups["type"],
        formats=groups["format"],
        kinds=groups["kind"],
        modes=modes,
        models=models,
        runs=runs,
        details=details,
        baseline_details=baseline_details,
    )


BaselineAnswerer = Callable[[QARecord, Sequence[TurnPassage]], BaselineAnswer]


def _baseline_answerers(embed: Embed | None) -> dict[Baseline, BaselineAnswerer]:
    answerers: dict[Baseline, BaselineAnswerer] = {
        "top_passage": lambda _question, passages: top_passage(passages)
    }
    if embed is not None:
        ranker = SentenceRanker(embed)
        answerers["top_sentences"] = lambda question, passages: ranker.answer(
            question.question, passages
        )
    return answerers


def _ask_all(
    ask: Asker,
    questions: Sequence[QARecord],
    parents: Sequence[int | None],
    *,
    mode: ChatMode,
    model: str,
    texts: _Texts,
) -> Iterable[tuple[QARecord, AnswerResult, list[TurnPassage] | None]]:
    """Each question, its result and the passages its turn retrieved (None when it failed),
    asked in order; a follow-up in its parent's session."""
    sessions: list[str | None] = []
    for question, parent in zip(questions, parents, strict=True):
        session_id = None if parent is None else sessions[parent]
        if parent is not None and session_id is None:
            sessions.append(None)
            error = "not asked: the question it follows failed"
            yield question, _failed(question, mode=mode, model=model, error=error), None
            continue
        started = time.perf_counter()
        try:
            answer = ask(question.question, session_id=session_id, mode=mode, model=model)
        except ProviderError as exc:
            sessions.append(None)
            yield question, _failed(question, mode=mode, model=model, error=exc.message), None
            continue
        latency_ms = (time.perf_counter() - started) * 1000
        sessions.append(answer.session_id)
        passages = turn_passages(answer, texts.get)
        result = _score_answer(
            question,
            answer,
            mode=mode,
            model=model,
            latency_ms=latency_ms,
            texts=texts,
            passages=passages,
        )
        yield question, result, passages


def _grouped(results: Sequence[AnswerResult], groups: dict[Axis, list[str]]) -> dict[str, object]:
    """The fields of a ``GroupedMetrics`` for ``results``."""
    return {
        "overall": summarise(results),
        "by_type": {t: summarise([r for r in results if r.type == t]) for t in groups["type"]},
        "by_format": {
            f: summarise([r for r in results if r.format == f]) for f in groups["format"]
        },
        "by_kind": {k: summarise([r for r in results if r.kind == k]) for k in groups["kind"]},
    }


def _run_report(
    mode: ChatMode,
    model: str,
    results: Sequence[AnswerResult],
    baselines: dict[Baseline, list[AnswerResult]],
    groups: dict[Axis, list[str]],
) -> RunReport:
    return RunReport.model_validate(
        {
            "mode": mode,
            "model": model,
            **_grouped(results, groups),
            "baselines": [
                BaselineReport.model_validate(
                    {
                        "baseline": name,
                        "description": BASELINES[name],
                        **_grouped(answers, groups),
                    }
                )
                for name, answers in baselines.items()
            ],
        }
    )
