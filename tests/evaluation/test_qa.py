"""The QA file's fields for real-document sets: evidence, kind, format, paraphrased, split.
Optional, so files without them still load; checked like every other field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docchat.errors import InvalidInput
from docchat.evaluation.qa import load_qa, parse_qa

DATA = Path(__file__).parents[1] / "data"

FULL = {
    "id": "accrual",
    "question": "How much paid leave do I build up each month?",
    "type": "lexical",
    "expected": [{"document": "vacation-policy.md"}],
    "answer": ["2.08 days"],
    "evidence": "Employees accrue 2.08 days of paid leave per month of service",
    "kind": "numeric",
    "format": "markdown",
    "paraphrased": False,
    "split": "calibration",
}


def line(**changes: object) -> str:
    record = {**FULL, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not None})


def test_the_new_fields_load() -> None:
    (question,) = parse_qa(line())
    assert question.kind == "numeric"
    assert question.format == "markdown"
    assert question.paraphrased is False
    assert question.split == "calibration"
    assert question.evidence_parts == [FULL["evidence"]]
    (multi,) = parse_qa(line(evidence=["25 days per calendar year", "5 unused days"]))
    assert multi.evidence_parts == ["25 days per calendar year", "5 unused days"]
    (unanswerable,) = parse_qa(
        line(expected=[], answer=None, evidence=None, kind="unanswerable", unanswerable=True)
    )
    assert unanswerable.kind == "unanswerable" and unanswerable.evidence_parts == []


def test_files_without_them_still_load() -> None:
    questions = load_qa(DATA / "handbook-answers.jsonl")
    assert len(questions) >= 40
    assert all(q.evidence is None and q.kind is None and q.format is None for q in questions)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"evidence": "  "}, "evidence"),
        ({"evidence": []}, "evidence"),
        ({"evidence": ["ok", ""]}, "evidence"),
        ({"kind": "opinion"}, "kind"),
        ({"kind": "unanswerable"}, "kind: 'unanswerable' needs unanswerable: true"),
        ({"paraphrased": "yes"}, "paraphrased"),
        ({"format": ""}, "format"),
        (
            {"expected": [], "answer": None, "unanswerable": True},
            "evidence: an unanswerable question has no evidence",
        ),
        (
            {"expected": [], "answer": None, "evidence": None, "unanswerable": True},
            "kind: 'numeric', but the question is unanswerable",
        ),
    ],
)
def test_bad_values_name_the_field_and_line(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=f"line 2: {message}"):
        parse_qa(line(id="first") + "\n" + line(**changes))


def test_evidence_is_held_by_passages_of_an_expected_document() -> None:
    (question,) = parse_qa(line(evidence=["2.08 days  of paid LEAVE", "25 days per calendar"]))
    passage = "Employees accrue 2.08 days of paid leave per month; 25 days per calendar year."
    assert question.holds_evidence([("vacation-policy.md", passage)]) is True
    # Both parts must be found, each in some passage; the file must be an expected one.
    assert question.holds_evidence([("vacation-policy.md", passage[:40])]) is False
    assert question.holds_evidence([("expense-policy.md", passage)]) is False
    (no_evidence,) = parse_qa(line(evidence=None))
    assert no_evidence.holds_evidence([("vacation-policy.md", passage)]) is None


def test_without_them_format_and_evidence_come_from_the_expected_sources() -> None:
    (question,) = parse_qa(
        line(
            format=None,
            evidence=None,
            expected=[
                {"document": "R-FAQ.pdf", "contains": "saves the objects"},
                {"document": "*.PDF", "contains": "the  .RData file"},
            ],
        )
    )
    assert question.document_format == "pdf"  # named after the parser: pdf, html, text...
    assert question.evidence_parts == ["saves the objects", "the  .RData file"]
    faq = "save.image() saves the objects in the user's .GlobalEnv to the .RData file"
    assert question.holds_evidence([("R-FAQ.pdf", faq)]) is True
    # A contains taken as evidence counts only in its own entry's document.
    assert question.holds_evidence([("R-FAQ.txt", faq)]) is False
    (mixed,) = parse_qa(line(format=None, expected=[{"document": "a.html"}, {"document": "b.txt"}]))
    assert mixed.document_format == "mixed"
    (unknown,) = parse_qa(line(format=None, expected=[{"document": "notes"}], evidence=None))
    assert unknown.document_format is None and unknown.holds_evidence([("notes", "x")]) is None
