"""The report's new measures on a tiny real corpus (two handbook documents, ingested into a
SQLite workspace with the offline embedder): the naive baselines answer from the passages of
docchat's own turns, fragment citations are spans that cut a sentence of their passage, and
evidence recall@5 asks whether a passage of the top 5 holds the evidence string."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from docchat.chat.sentences import split_sentences
from docchat.chat.types import Citation
from docchat.config import Settings
from docchat.evaluation.answers import evaluate_answers, is_fragment
from docchat.evaluation.baselines import TOP_SENTENCES, turn_passages
from docchat.evaluation.qa import Expected, QARecord
from docchat.evaluation.retrieval import evaluate
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"
CARRY_OVER = "Carried-over days expire on 31 March; days beyond that limit are forfeited"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, minilm: MiniLMEmbedder) -> Iterator[Workspace]:
    """vacation-policy.md and expense-policy.md, ingested."""
    root = tmp_path_factory.mktemp("tiny")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in ("vacation-policy.md", "expense-policy.md"):
        shutil.copy(HANDBOOK / name, corpus / name)
    settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root}/e.db")
    with Workspace(settings, embedder=minilm) as workspace:
        workspace.ingest([corpus])
        yield workspace


def record(question: str, document: str, **fields: object) -> QARecord:
    return QARecord.model_validate(
        {"question": question, "expected": [Expected(document=document)], **fields}
    )


QUESTIONS = [
    record(
        "When do carried-over vacation days expire?",
        "vacation-policy.md",
        answer=["31 March"],
        evidence=CARRY_OVER,
        kind="factoid",
        format="markdown",
    ),
    record(
        "Within how many days must receipts be submitted?",
        "expense-policy.md",
        answer=["30 days"],
        evidence=["Receipts must be submitted within 30 days", "through the Concur portal"],
        kind="multi-part",
        format="markdown",
    ),
    record(
        "How much is the hotel allowance outside capital cities?",
        "expense-policy.md",
        answer=["EUR 120"],
        # Not in the corpus: written to be missed.
        evidence="Hotels outside capitals are paid in full",
        kind="numeric",
        format="text",
    ),
    QARecord(
        question="What is the mileage allowance for a private car?",
        unanswerable=True,
        kind="unanswerable",
        format="markdown",
    ),
]


def test_a_span_that_cuts_a_sentence_is_a_fragment(tiny: Workspace) -> None:
    (hit,) = tiny.search("When do carried-over vacation days expire?", k=1)
    text = tiny.document_text(hit.document_id)
    whole_passage = Citation.from_hit(hit, 1)
    assert is_fragment(whole_passage, text) is False
    sentence = next(s for s in split_sentences(hit.text) if s.text.startswith("Carried-over"))
    start = hit.char_start + sentence.start
    one_sentence = whole_passage.model_copy(
        update={"span_start": start, "span_end": hit.char_start + sentence.end}
    )
    assert is_fragment(one_sentence, text) is False
    # Whitespace around a whole sentence does not make it a fragment; half a sentence does.
    padded = one_sentence.model_copy(update={"span_start": start - 1})
    assert text[start - 1] in " \n" and is_fragment(padded, text) is False
    half = one_sentence.model_copy(update={"span_end": start + len(sentence.text) // 2})
    assert is_fragment(half, text) is True
    assert is_fragment(half, None) is None
    assert is_fragment(half.model_copy(update={"char_start": None}), text) is None
    # A passage that starts inside a sentence (chunks overlap, or cut a long sentence) opens
    # with a fragment of it: citing that piece whole is still citing half a sentence.
    cut = start + len(sentence.text) // 2
    tail = one_sentence.model_copy(update={"char_start": cut, "span_start": cut})
    assert is_fragment(tail, text) is True


def test_baselines_and_new_groups_beside_docchat(tiny: Workspace, minilm: MiniLMEmbedder) -> None:
    report = evaluate_answers(
        tiny.ask, tiny.document_text, QUESTIONS, modes=["basic"], embed=minilm.embed
    )
    (run,) = report.runs
    assert (report.formats, report.kinds) == (
        ["markdown", "text"],
        ["factoid", "multi-part", "numeric", "unanswerable"],
    )
    assert run.by_format["markdown"].questions == 3 and run.by_format["text"].questions == 1
    assert run.by_kind["multi-part"].questions == 1
    # Evidence recall: the two present are found in the turn's first 5 passages, the invented
    # one is not; the unanswerable question has none to look for.
    assert [d.evidence_found for d in report.details] == [True, True, False, None]
    assert run.overall.evidence_questions == 3 and run.overall.evidence_found == 2

    by_name = {b.baseline: b for b in run.baselines}
    assert list(by_name) == ["top_passage", "top_sentences"]
    assert len(report.baseline_details) == 2 * len(QUESTIONS)
    for name, baseline in by_name.items():
        metrics = baseline.overall
        # Never abstaining: no false abstentions, and the unanswerable question is answered.
        assert metrics.false_abstentions == 0 and metrics.correct_abstentions == 0
        # Their quotes are the documents' text at the cited spans, whole sentences.
        assert metrics.references > 0
        assert metrics.fragment_citations == 0, name
        answers = [d for d in report.baseline_details if d.baseline == name]
        assert all(c.quote_matches for d in answers for c in d.references)
        # The same retrieval as docchat's turn, so the same evidence recall.
        assert [d.evidence_found for d in answers] == [d.evidence_found for d in report.details]
    sentences = [d for d in report.baseline_details if d.baseline == "top_sentences"]
    assert all(1 <= len(d.references) <= TOP_SENTENCES for d in sentences)
    # The carry-over sentence is the closest to its question: the keyword is found.
    assert sentences[0].keywords_found is True

    # The top passage baseline answers with exactly the first passage docchat's turn saw.
    first = report.details[0]
    assert first.session_id is not None
    stored = tiny.sessions.messages(first.session_id)[-1]
    passages = turn_passages(
        tiny.ask("When do carried-over vacation days expire?", mode="basic"), tiny.document_text
    )
    assert passages and stored.metadata["passages"][0]["chunk_id"] == passages[0].chunk_id
    top = next(d for d in report.baseline_details if d.baseline == "top_passage")
    assert top.answer.startswith(passages[0].text.strip())
    assert '"baselines"' in report.model_dump_json()


def test_retrieval_reports_evidence_recall_at_5(tiny: Workspace) -> None:
    answerable = [q for q in QUESTIONS if not q.unanswerable]
    report = evaluate(tiny.search, answerable, k=5, modes=["hybrid"])
    assert [d.evidence_found for d in report.details] == [True, True, False]
    overall = report.metrics("hybrid")
    assert overall.evidence_questions == 3
    assert overall.evidence_recall_at_5 == pytest.approx(2 / 3)
    # Fewer than 5 passages retrieved: not measured.
    short = evaluate(tiny.search, answerable, k=3, modes=["hybrid"])
    assert short.metrics("hybrid").evidence_recall_at_5 is None
    assert short.metrics("hybrid").evidence_questions == 0
