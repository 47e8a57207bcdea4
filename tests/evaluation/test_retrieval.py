"""Retrieval evaluation: relevance matching, the metric maths on hand-made rankings, QA parsing
(with the keys answer evaluation reads: answer keywords, unanswerable, follow-ups)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from docchat.errors import InvalidInput
from docchat.evaluation.qa import Expected, QARecord, follow_up_parents, load_qa, parse_qa
from docchat.evaluation.retrieval import evaluate, first_relevant_rank, summarise
from docchat.retrieval.hybrid import Hit, Scores, SearchMode


def hit(file_name: str, text: str = "", *, page: int | None = None, rank: int = 1) -> Hit:
    """A search hit as the retriever would return it."""
    return Hit(
        rank=rank,
        document_id=f"id-{file_name}",
        file_name=file_name,
        collection="default",
        page=page,
        section=None,
        char_start=0,
        char_end=len(text),
        text=text,
        snippet=text,
        chunk_id=rank,
        score=1.0 / rank,
        scores=Scores(),
    )


# -- relevance ----------------------------------------------------------------------------------


def test_document_matches_by_name_or_glob_ignoring_case() -> None:
    assert Expected(document="Report.PDF").matches(hit("report.pdf"))
    assert Expected(document="*.pdf").matches(hit("annual report.pdf"))
    assert Expected(document="report-202?.docx").matches(hit("REPORT-2024.docx"))
    assert not Expected(document="*.pdf").matches(hit("notes.txt"))
    assert not Expected(document="report.pdf").matches(hit("report.pdf.txt"))
    # A real name with glob characters matches itself, though as a glob it would not.
    assert Expected(document="draft[1].md").matches(hit("draft[1].md"))


def test_page_and_contains_must_all_agree() -> None:
    text = "The zebra   project\nshipped on page three."
    assert Expected(document="r.pdf", page=3).matches(hit("r.pdf", text, page=3))
    assert not Expected(document="r.pdf", page=3).matches(hit("r.pdf", text, page=2))
    assert not Expected(document="r.pdf", page=3).matches(hit("r.pdf", text, page=None))
    assert Expected(document="r.pdf", contains="ZEBRA project shipped").matches(hit("r.pdf", text))
    assert not Expected(document="r.pdf", contains="zebra shipped").matches(hit("r.pdf", text))
    both = Expected(document="r.pdf", page=3, contains="zebra")
    assert both.matches(hit("r.pdf", text, page=3))
    assert not both.matches(hit("r.pdf", "no such animal", page=3))
    assert not both.matches(hit("other.pdf", text, page=3))


def test_first_relevant_rank_takes_any_expected_entry() -> None:
    ranking = [hit("a.md", rank=1), hit("b.md", "beta", rank=2), hit("c.md", rank=3)]
    assert first_relevant_rank(ranking, [Expected(document="c.md")]) == 3
    either = [Expected(document="c.md"), Expected(document="b.md", contains="BETA")]
    assert first_relevant_rank(ranking, either) == 2
    assert first_relevant_rank(ranking, [Expected(document="z.md")]) is None
    assert first_relevant_rank([], [Expected(document="a.md")]) is None


# -- metrics ------------------------------------------------------------------------------------


def test_recall_and_mrr_of_a_hand_made_ranking() -> None:
    ranks = [1, 3, None, 2, 7]
    metrics = summarise(ranks, [10.0, 20.0, 30.0, 40.0, 50.0], k=10)
    assert metrics.questions == 5
    assert metrics.recall_at_1 == pytest.approx(1 / 5)
    assert metrics.recall_at_3 == pytest.approx(3 / 5)
    assert metrics.recall_at_5 == pytest.approx(3 / 5)
    assert metrics.recall_at_k == pytest.approx(4 / 5)
    assert metrics.mrr_at_k == pytest.approx((1 + 1 / 3 + 1 / 2 + 1 / 7) / 5)
    assert metrics.mean_latency_ms == pytest.approx(30.0)


def test_ranks_beyond_k_count_as_misses_and_cutoffs_above_k_are_none() -> None:
    at_five = summarise([1, 3, None, 2, 7], [1.0] * 5, k=5)
    assert at_five.recall_at_5 == pytest.approx(3 / 5)
    assert at_five.recall_at_k == pytest.approx(3 / 5)
    assert at_five.mrr_at_k == pytest.approx((1 + 1 / 3 + 1 / 2) / 5)
    at_two = summarise([1, 3, None, 2, 7], [1.0] * 5, k=2)
    assert at_two.recall_at_1 == pytest.approx(1 / 5)
    assert at_two.recall_at_3 is None
    assert at_two.recall_at_5 is None
    assert at_two.recall_at_k == pytest.approx(2 / 5)
    assert at_two.mrr_at_k == pytest.approx((1 + 1 / 2) / 5)


def test_an_empty_group_scores_zero() -> None:
    metrics = summarise([], [], k=10)
    assert (metrics.questions, metrics.recall_at_k, metrics.mrr_at_k) == (0, 0.0, 0.0)
    assert metrics.mean_latency_ms == 0.0


class FixedRankings:
    """A searcher that returns a prepared ranking per question and mode, and records its calls."""

    def __init__(self, rankings: dict[tuple[str, SearchMode], list[Hit]]) -> None:
        self.rankings = rankings
        self.calls: list[tuple[str, int | None, SearchMode]] = []

    def __call__(
        self, query: str, *, k: int | None = None, mode: SearchMode = "hybrid"
    ) -> list[Hit]:
        self.calls.append((query, k, mode))
        return list(self.rankings.get((query, mode), []))


def _ranking(*names: str) -> list[Hit]:
    return [hit(name, rank=i) for i, name in enumerate(names, 1)]


def test_evaluate_scores_each_mode_and_type() -> None:
    questions = [
        QARecord(question="q1", type="lexical", expected=[Expected(document="a.md")]),
        QARecord(question="q2", type="lexical", expected=[Expected(document="b.md")]),
        QARecord(question="q3", type="paraphrase", expected=[Expected(document="c.md")]),
    ]
    search = FixedRankings(
        {
            ("q1", "fulltext"): _ranking("a.md", "x.md"),
            ("q2", "fulltext"): _ranking("x.md", "y.md", "b.md"),
            ("q3", "fulltext"): _ranking("x.md"),
            ("q1", "dense"): _ranking("x.md", "a.md"),
            ("q2", "dense"): _ranking("b.md"),
            ("q3", "dense"): _ranking("c.md"),
            # more hits than asked for: only the first k count
            ("q1", "hybrid"): _ranking("x.md", "y.md", "z.md", "w.md", "a.md"),
        }
    )
    report = evaluate(search, questions, k=4, modes=["fulltext", "dense", "hybrid"])

    assert (report.k, report.questions, report.types) == (4, 3, ["lexical", "paraphrase"])
    assert [m.mode for m in report.modes] == ["fulltext", "dense", "hybrid"]
    ranks = {(d.question, d.mode): d.rank for d in report.details}
    assert ranks == {
        ("q1", "fulltext"): 1,
        ("q2", "fulltext"): 3,
        ("q3", "fulltext"): None,
        ("q1", "dense"): 2,
        ("q2", "dense"): 1,
        ("q3", "dense"): 1,
        ("q1", "hybrid"): None,
        ("q2", "hybrid"): None,
        ("q3", "hybrid"): None,
    }
    assert all(d.latency_ms >= 0 for d in report.details)

    fulltext = report.metrics("fulltext")
    assert fulltext.recall_at_1 == pytest.approx(1 / 3)
    assert fulltext.recall_at_3 == pytest.approx(2 / 3)
    assert fulltext.recall_at_5 is None  # above k
    assert fulltext.mrr_at_k == pytest.approx((1 + 1 / 3) / 3)
    dense = report.metrics("dense")
    assert dense.recall_at_1 == pytest.approx(2 / 3)
    assert dense.mrr_at_k == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert report.metrics("dense", "lexical").mrr_at_k == pytest.approx((1 / 2 + 1) / 2)
    assert report.metrics("fulltext", "lexical").mrr_at_k == pytest.approx((1 + 1 / 3) / 2)
    assert report.metrics("fulltext", "paraphrase").recall_at_k == 0.0
    assert report.metrics("hybrid").recall_at_k == 0.0

    assert report.best_modes("recall_at_1") == ["dense"]
    assert report.best_modes("recall_at_3", "lexical") == ["fulltext", "dense"]
    assert report.best_modes("recall_at_5") == []  # not measured at k = 4
    assert len(report.best_modes("mean_latency_ms")) >= 1

    # One untimed warm-up search per mode, then every question; always asking for k.
    assert len(search.calls) == 3 + 9
    assert {k for _, k, _ in search.calls} == {4}
    assert [mode for _, _, mode in search.calls[:4]] == ["fulltext"] * 4


def test_evaluate_refuses_bad_arguments() -> None:
    questions = [QARecord(question="q", expected=[Expected(document="a.md")])]
    search = FixedRankings({})
    with pytest.raises(InvalidInput, match="no questions"):
        evaluate(search, [])
    with pytest.raises(InvalidInput, match="k must be"):
        evaluate(search, questions, k=0)
    with pytest.raises(InvalidInput, match="k must be"):
        evaluate(search, questions, k=201)
    with pytest.raises(InvalidInput, match="modes"):
        evaluate(search, questions, modes=[])
    with pytest.raises(InvalidInput, match="modes"):
        evaluate(search, questions, modes=["bm25"])  # type: ignore[list-item]
    assert search.calls == []


# -- the QA file ----------------------------------------------------------------------------------


def test_parse_qa_reads_lines_with_defaults() -> None:
    text = "\n".join(
        [
            json.dumps({"question": "Who?", "expected": [{"document": "a.md"}]}),
            "",
            "   ",
            json.dumps(
                {
                    "question": " When? ",
                    "type": "multi-hop",
                    "expected": [
                        {"document": "*.pdf", "page": 3},
                        {"document": "b.md", "contains": "the year"},
                    ],
                }
            ),
        ]
    )
    first, second = parse_qa(text + "\r\n")
    assert first == QARecord(
        question="Who?", type="default", expected=[Expected(document="a.md")], line=1
    )
    assert (first.answer, first.unanswerable, first.follow_up_of, first.id) == (
        None,
        False,
        None,
        None,
    )
    assert second.line == 4
    assert second.question == "When?"
    assert second.type == "multi-hop"
    assert second.expected == [
        Expected(document="*.pdf", page=3),
        Expected(document="b.md", contains="the year"),
    ]


GOOD = json.dumps({"question": "Who?", "expected": [{"document": "a.md"}]})


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"question": "Who?", "expected": [', "line 2: not valid JSON"),
        ('["Who?"]', "line 2: expected a JSON object"),
        ('{"expected": [{"document": "a.md"}]}', "line 2: question: Field required"),
        ('{"question": "Who?"}', "line 2: expected: Field required"),
        ('{"question": "Who?", "expected": []}', "line 2: expected: List should have at least 1"),
        ('{"question": "  ", "expected": [{"document": "a.md"}]}', "line 2: question: Value error"),
        ('{"question": 7, "expected": [{"document": "a.md"}]}', "line 2: question: Input should"),
        (
            '{"question": "Who?", "expected": [{"document": "a.md", "page": "3"}]}',
            "line 2: expected.0.page: Input should be a valid integer",
        ),
        (
            '{"question": "Who?", "expected": [{"document": "a.md", "page": 0}]}',
            "line 2: expected.0.page: Input should be greater than or equal to 1",
        ),
        (
            '{"question": "Who?", "expected": [{"document": "a.md", "contains": " "}]}',
            "line 2: expected.0.contains",
        ),
        ('{"question": "Who?", "expected": [{"file": "a.md"}]}', "line 2: expected.0.document"),
        (
            '{"question": "Who?", "expected": [{"document": "a.md"}], "answers": ["x"]}',
            "line 2: answers: Extra inputs are not permitted",
        ),
        (
            '{"question": "Who?", "expected": [{"document": "a.md"}], "answer": "x"}',
            "line 2: answer: Input should be a valid list",
        ),
        (
            '{"question": "Who?", "expected": [{"document": "a.md"}], "answer": []}',
            "line 2: answer: List should have at least 1 item",
        ),
        (
            '{"question": "Who?", "expected": [{"document": "a.md"}], "answer": ["x", " "]}',
            "line 2: answer: Value error, keywords must contain some non-space characters",
        ),
        (
            '{"question": "Who?", "expected": [{"document": "a.md"}], "answer": [7]}',
            "line 2: answer.0: Input should be a valid string",
        ),
        (
            '{"question": "Who?", "unanswerable": "yes"}',
            "line 2: unanswerable: Input should be a valid boolean",
        ),
        (
            '{"question": "Who?", "unanswerable": true, "expected": [{"document": "a.md"}]}',
            "line 2: expected: an unanswerable question has no expected sources",
        ),
        (
            '{"question": "Who?", "unanswerable": true, "answer": ["x"]}',
            "line 2: answer: an unanswerable question has no answer keywords",
        ),
        (
            '{"question": "Who?", "unanswerable": false}',
            "line 2: expected: Field required (unless unanswerable is true)",
        ),
        ('{"question": "Who?", "unanswerable": true, "line": 9}', "line 2: line: Extra inputs"),
        ('{"question": "Who?", "unanswerable": true, "id": " "}', "line 2: id: Value error"),
        (
            '{"question": "Who?", "unanswerable": true, "follow_up_of": 2}',
            "line 2: follow_up_of: must name an earlier line",
        ),
        (
            '{"question": "Who?", "unanswerable": true, "follow_up_of": 3}',
            "line 2: follow_up_of: must name an earlier line",
        ),
        (
            '{"question": "Who?", "unanswerable": true, "follow_up_of": "first"}',
            "line 2: follow_up_of: no earlier question has the id 'first'",
        ),
        ('{"question": "Who?", "unanswerable": true, "follow_up_of": 0}', "line 2: follow_up_of"),
        (
            '{"question": "Who?", "unanswerable": true, "follow_up_of": true}',
            "line 2: follow_up_of",
        ),
    ],
)
def test_parse_qa_names_the_bad_line(bad_line: str, message: str) -> None:
    with pytest.raises(InvalidInput, match="^" + re.escape(message)):
        parse_qa(f"{GOOD}\n{bad_line}\n{GOOD}\n")


def test_parse_qa_refuses_a_file_without_questions() -> None:
    with pytest.raises(InvalidInput, match="no questions"):
        parse_qa("\n  \n")


def test_load_qa_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(f"{GOOD}\n{{oops\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"^qa.jsonl, line 2: not valid JSON"):
        load_qa(path)
    path.write_text("\ufeff" + GOOD + "\n", encoding="utf-8")  # a byte-order mark is fine
    assert [q.question for q in load_qa(path)] == ["Who?"]
    path.write_bytes(b'{"question": "caf\xe9"}\n')
    with pytest.raises(InvalidInput, match="not UTF-8"):
        load_qa(path)
    with pytest.raises(InvalidInput, match="cannot read QA file"):
        load_qa(tmp_path / "missing.jsonl")


def test_parse_qa_reads_answers_unanswerable_and_follow_ups() -> None:
    lines = [
        {"id": "cat", "question": "Q1", "expected": [{"document": "a.md"}], "answer": ["x y"]},
        {},  # a blank line: follow_up_of counts file lines, not questions
        {"question": "Q2", "expected": [], "unanswerable": True, "follow_up_of": "cat"},
        {"question": "Q3", "unanswerable": True, "follow_up_of": 3},
        {"question": "Q4", "expected": [{"document": "b.md"}], "follow_up_of": 1, "id": "q4"},
        {"question": "Q5", "expected": [{"document": "b.md"}], "unanswerable": False},
    ]
    text = "\n".join(json.dumps(line) if line else "" for line in lines)
    questions = parse_qa(text)
    assert [q.line for q in questions] == [1, 3, 4, 5, 6]
    assert questions[0].answer == ["x y"]
    assert questions[1].unanswerable and questions[1].sources == []
    assert [q.follow_up_of for q in questions] == [None, "cat", 3, 1, None]
    assert follow_up_parents(questions) == [None, 0, 1, 0, None]
    assert [q.retrievable for q in questions] == [True, False, False, False, True]


def test_parse_qa_refuses_a_duplicate_id_and_a_blank_line_as_parent() -> None:
    first = json.dumps({"id": "a", "question": "Q1", "unanswerable": True})
    with pytest.raises(InvalidInput, match=r"^line 3: id: 'a' is already the id of line 1$"):
        parse_qa(f"{first}\n{GOOD}\n{first}\n")
    follow = json.dumps({"question": "Q2", "unanswerable": True, "follow_up_of": 2})
    with pytest.raises(InvalidInput, match=r"^line 3: follow_up_of: line 2 holds no question$"):
        parse_qa(f"{first}\n\n{follow}\n")


def test_follow_ups_of_questions_built_in_code_name_positions() -> None:
    questions = [
        QARecord(question="a", unanswerable=True),
        QARecord(question="b", unanswerable=True, follow_up_of=1),
    ]
    assert follow_up_parents(questions) == [None, 0]
    with pytest.raises(InvalidInput, match="not an earlier question"):
        follow_up_parents([QARecord(question="a", unanswerable=True, follow_up_of=1)])


def test_evaluate_skips_unanswerable_and_follow_up_questions() -> None:
    questions = [
        QARecord(question="q1", expected=[Expected(document="a.md")], answer=["x"]),
        QARecord(question="q2", unanswerable=True),
        QARecord(question="q3", expected=[Expected(document="a.md")], follow_up_of=1),
    ]
    search = FixedRankings({("q1", "fulltext"): _ranking("a.md")})
    report = evaluate(search, questions, modes=["fulltext"])
    assert (report.questions, report.skipped) == (1, 2)
    assert [d.question for d in report.details] == ["q1"]
    assert report.metrics("fulltext").recall_at_1 == 1.0
    with pytest.raises(InvalidInput, match="no question has expected sources"):
        evaluate(search, questions[1:], modes=["fulltext"])


def test_the_calibration_and_answer_sets_load() -> None:
    root = Path(__file__).parents[2]
    for path in (
        root / "tests" / "data" / "handbook-answers.jsonl",
        root / "tests" / "data" / "handbook-qa.jsonl",
        root / "bench" / "data" / "calibration-qa.jsonl",
    ):
        assert load_qa(path)
