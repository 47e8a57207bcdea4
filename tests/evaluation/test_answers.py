"""Answer evaluation: keyword matching, the metric arithmetic on hand-made answers from a fake
``ask``, and one real run over the test handbook with the offline extractive answerer on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpora import Corpora

from docchat.chat.types import Answer, Citation
from docchat.config import Settings
from docchat.errors import InvalidInput, ProviderError
from docchat.evaluation.answer_report import percentile
from docchat.evaluation.answers import chat_modes, contains_keyword, evaluate_answers
from docchat.evaluation.qa import Expected, QARecord, load_qa
from docchat.options import ChatMode
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

DATA = Path(__file__).parents[1] / "data"

# -- keywords ---------------------------------------------------------------------------------


def test_keywords_match_whole_words_ignoring_case_spacing_and_markers() -> None:
    answer = "Up to 25  days\nper year [1]. Ask the Department [2] head."
    assert contains_keyword(answer, "25 days per year")
    assert contains_keyword(answer, "department head")  # the marker is not part of the words
    assert not contains_keyword(answer, "5 days")  # "25 days" is not "5 days"
    assert not contains_keyword(answer, "day")
    assert contains_keyword("Mail security@example.com [3].", "security@example.com")
    assert contains_keyword("Error F57 (pump).", "(pump)")
    assert not contains_keyword("anything", "   ")


def test_p95_is_the_nearest_rank() -> None:
    assert percentile([], 0.95) is None
    assert percentile([7.0], 0.95) == 7.0
    values = [float(v) for v in range(1, 21)]  # 1..20: the 19th of 20 is the 95th percentile
    assert percentile(values[::-1], 0.95) == 19.0
    assert percentile(values, 0.5) == 10.0


# -- the metrics on hand-made answers ---------------------------------------------------------

TEXTS = {
    "doc-a": "Leave is 25 days per year. The office is closed on Sundays.",
    "doc-b": "Receipts go through the portal within 30 days.",
}


def cite(n: int, document_id: str, quote: str, *, shift: int = 0, name: str = "") -> Citation:
    """A citation of ``quote`` in a document of TEXTS (``shift`` moves its span off the quote)."""
    start = TEXTS[document_id].index(quote) + shift
    return Citation(
        n=n,
        document_id=document_id,
        file_name=name or f"{document_id}.md",
        span_start=start,
        span_end=start + len(quote),
        quote=quote,
    )


class FakeAsk:
    """Answers prepared per question text; records every call; fails where told to."""

    def __init__(self, replies: dict[str, tuple[str, list[Citation], bool] | Exception]) -> None:
        self.replies = replies
        self.calls: list[tuple[str, str | None, ChatMode | None, str | None]] = []

    def __call__(
        self,
        question: str,
        *,
        session_id: str | None = None,
        mode: ChatMode | None = None,
        model: str | None = None,
    ) -> Answer:
        self.calls.append((question, session_id, mode, model))
        reply = self.replies[question]
        if isinstance(reply, Exception):
            raise reply
        text, references, abstained = reply
        metadata: dict[str, Any] = {
            "abstained": abstained,
            "sentences": [{"text": text, "supported": True if references else None}],
        }
        return Answer(
            answer=text,
            references=references,
            metadata=metadata,
            session_id=session_id or f"session-{len(self.calls)}",
        )


def q(question: str, type_: str = "lexical", **fields: Any) -> QARecord:
    return QARecord(question=question, type=type_, **fields)


QUESTIONS = [
    # 1: right, with one good and one shifted (wrong span) citation
    q(
        "leave?",
        expected=[Expected(document="doc-a.md")],
        answer=["25 days"],
        id="leave",
    ),
    # 2: a follow-up of 1, answered right from an unexpected document
    q(
        "and receipts?",
        "follow-up",
        expected=[Expected(document="doc-a.md")],
        answer=["30 days"],
        follow_up_of="leave",
    ),
    # 3: answerable, abstained: wrong and a false abstention
    q("closed when?", "paraphrase", expected=[Expected(document="doc-a.md")], answer=["Sundays"]),
    # 4: answerable without keywords: only abstention and citations count
    q("portal?", "paraphrase", expected=[Expected(document="*.md")]),
    # 5: unanswerable, abstained
    q("the CEO's cat?", "unanswerable", unanswerable=True),
    # 6: unanswerable, answered (with a verbatim citation: precision counts it)
    q("the X900?", "unanswerable", unanswerable=True),
    # 7: the model failed; 8: its follow-up (by line number 7) is not asked
    q("broken?", expected=[Expected(document="doc-a.md")], answer=["x"]),
    q("and then?", "follow-up", expected=[Expected(document="doc-a.md")], follow_up_of=7),
]

REPLIES: dict[str, tuple[str, list[Citation], bool] | Exception] = {
    "leave?": (
        "Leave is 25 days per year [1]. The office is closed [2].",
        [cite(1, "doc-a", "Leave is 25 days per year."), cite(2, "doc-a", "closed", shift=3)],
        False,
    ),
    "and receipts?": (
        "Within 30 days [1].",
        [cite(1, "doc-b", "within 30 days")],
        False,
    ),
    "closed when?": ("I could not find the answer; closest: Sundays.", [], True),
    "portal?": ("Through the portal [1].", [cite(1, "doc-b", "the portal")], False),
    "the CEO's cat?": ("I could not find the answer.", [], True),
    "the X900?": ("Leave is 25 days per year [1].", [cite(1, "doc-a", "25 days per year")], False),
    "broken?": ProviderError("model 'local' failed: HTTP 500", model="local"),
}


def test_metrics_of_hand_made_answers() -> None:
    ask = FakeAsk(REPLIES)
    report = evaluate_answers(
        ask, TEXTS.__getitem__, QUESTIONS, modes=["basic", "extensive"], models=["m1"]
    )
    assert (report.questions, report.answerable, report.unanswerable, report.follow_ups) == (
        8,
        6,
        2,
        2,
    )
    assert report.types == ["lexical", "follow-up", "paraphrase", "unanswerable"]
    assert [(r.mode, r.model) for r in report.runs] == [("basic", "m1"), ("extensive", "m1")]

    m = report.metrics("basic", "m1")
    # Keywords: 1 right, 2 right, 3 abstained, 7 failed (4 has none; 8 never asked, no keywords).
    assert (m.keyword_questions, m.keyword_correct) == (4, 2)
    assert m.keyword_accuracy == pytest.approx(2 / 4)
    assert (m.correct_abstentions, m.unanswerable, m.correct_abstention) == (1, 2, 0.5)
    assert (m.false_abstentions, m.answerable) == (1, 6)
    assert m.false_abstention_rate == pytest.approx(1 / 6)
    # References: 1 good + 1 shifted; 2 in an unexpected document; 4 good (glob); 6 verbatim.
    assert (m.references, m.supporting_references) == (5, 3)
    assert m.citation_precision == pytest.approx(3 / 5)
    assert m.errors == 2
    assert m.sentences_checked == 4  # the answers with references mark their sentence supported
    assert m.supported_sentence_rate == 1.0
    assert m.mean_latency_ms is not None and m.p95_latency_ms is not None

    follow_up = report.metrics("basic", "m1", "follow-up")
    assert (follow_up.questions, follow_up.keyword_questions, follow_up.errors) == (2, 1, 1)
    assert follow_up.citation_precision == 0.0
    assert report.metrics("basic", "m1", "unanswerable").keyword_accuracy is None
    assert report.metrics("basic", "m1", "lexical").citation_precision == pytest.approx(1 / 2)

    basic = [d for d in report.details if d.mode == "basic"]
    assert [d.line for d in basic] == [None] * 8  # built in code, not read from a file
    first, second = basic[0], basic[1]
    assert [c.supports for c in first.references] == [True, False]
    assert first.references[1].quote_matches is False
    assert second.references[0].expected_document is False
    assert second.session_id == first.session_id  # asked in the session of the one it follows
    assert basic[2].keywords_found is False and basic[2].abstained
    assert basic[3].keywords_found is None
    assert basic[6].error == "model 'local' failed: HTTP 500" and basic[6].latency_ms is None
    assert basic[7].error == "not asked: the question it follows failed"

    # One untimed warm-up for the model, then 7 asks per mode (the orphaned follow-up is not).
    assert len(ask.calls) == 1 + 7 * 2
    assert ask.calls[0] == ("leave?", None, "basic", "m1")
    follow_ups = [c for c in ask.calls if c[0] == "and receipts?"]
    assert all(session is not None for _, session, _, _ in follow_ups)
    assert {mode for _, _, mode, _ in ask.calls[1:]} == {"basic", "extensive"}
    assert [d.mode for d in report.details] == ["basic"] * 8 + ["extensive"] * 8


def test_every_model_is_warmed_up_once_and_reported_apart() -> None:
    ask = FakeAsk(REPLIES)
    questions = QUESTIONS[:2]
    report = evaluate_answers(ask, TEXTS.__getitem__, questions, modes=["basic"], models=["a", "b"])
    assert [(r.mode, r.model) for r in report.runs] == [("basic", "a"), ("basic", "b")]
    assert [(c[0], c[3]) for c in ask.calls] == [
        ("leave?", "a"),  # warm-up
        ("leave?", "a"),
        ("and receipts?", "a"),
        ("leave?", "b"),  # warm-up
        ("leave?", "b"),
        ("and receipts?", "b"),
    ]


def test_a_document_that_cannot_be_read_fails_its_citations() -> None:
    def gone(document_id: str) -> str:
        from docchat.errors import DocumentNotFound

        raise DocumentNotFound(document_id)

    report = evaluate_answers(FakeAsk(REPLIES), gone, QUESTIONS[:1], modes=["basic"])
    assert report.metrics("basic", "extractive").citation_precision == 0.0


def test_evaluate_answers_refuses_bad_arguments() -> None:
    ask = FakeAsk(REPLIES)
    with pytest.raises(InvalidInput, match="no questions"):
        evaluate_answers(ask, TEXTS.__getitem__, [])
    with pytest.raises(InvalidInput, match="modes"):
        evaluate_answers(ask, TEXTS.__getitem__, QUESTIONS, modes=[])
    with pytest.raises(InvalidInput, match="modes"):
        evaluate_answers(ask, TEXTS.__getitem__, QUESTIONS, modes=["hybrid"])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="model"):
        evaluate_answers(ask, TEXTS.__getitem__, QUESTIONS, models=[])
    orphan = [q("and?", expected=[Expected(document="a.md")], follow_up_of="nobody")]
    with pytest.raises(InvalidInput, match="not an earlier question"):
        evaluate_answers(ask, TEXTS.__getitem__, orphan)
    assert ask.calls == []


def test_a_failing_warm_up_stops_the_evaluation() -> None:
    ask = FakeAsk({"leave?": ProviderError("model 'local' is down", model="local")})
    with pytest.raises(ProviderError, match="down"):
        evaluate_answers(ask, TEXTS.__getitem__, QUESTIONS[:1], modes=["basic"])


# -- a real run -------------------------------------------------------------------------------


@pytest.fixture
def handbook(tmp_path: Path, minilm: MiniLMEmbedder, corpora: Corpora) -> Iterator[Workspace]:
    """The test handbook ingested into a workspace on a SQLite file (a copy of the run's one)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path}/e.db")
    corpora.copy_into(settings, [DATA / "handbook"])
    with Workspace(settings, embedder=minilm) as workspace:
        yield workspace


def test_the_handbook_answer_set_is_big_enough() -> None:
    questions = load_qa(DATA / "handbook-answers.jsonl")
    assert len(questions) >= 40
    assert sum(q.unanswerable for q in questions) >= 8
    assert sum(q.follow_up_of is not None for q in questions) >= 5
    assert all(q.answer for q in questions if not q.unanswerable)
    assert {"lexical", "paraphrase"} <= {q.type for q in questions}


def test_the_handbook_with_the_extractive_answerer(handbook: Workspace) -> None:
    questions = load_qa(DATA / "handbook-answers.jsonl")
    report = evaluate_answers(handbook.ask, handbook.document_text, questions, modes=["basic"])

    assert report.modes == ["basic"] and report.models == ["extractive"]
    assert len(report.details) == len(questions)
    assert [d.line for d in report.details] == [q.line for q in questions]
    overall = report.metrics("basic", "extractive")
    assert overall.errors == 0
    assert overall.keyword_accuracy is not None and overall.keyword_accuracy > 0.5
    assert overall.correct_abstention is not None and overall.correct_abstention > 0
    assert overall.citation_precision is not None and overall.references > 0
    assert overall.mean_latency_ms is not None and overall.p95_latency_ms is not None
    assert set(report.runs[0].by_type) == set(report.types)
    for detail in report.details:
        if detail.follow_up and detail.session_id is not None:
            parent = next(
                d for d in report.details if d.session_id == detail.session_id and not d.follow_up
            )
            assert parent.line is not None and detail.line is not None
            assert parent.line < detail.line
    # Every session holds its questions in order: a follow-up went into its parent's session.
    sessions = {d.session_id for d in report.details}
    assert len(sessions) == len(questions) - report.follow_ups


def test_chat_modes_are_the_registered_ones() -> None:
    from docchat.chat.modes import all_modes

    assert chat_modes() == ("basic", "extensive", "full_reading", "deep_reflection")
    assert chat_modes() == tuple(m.name for m in all_modes())
