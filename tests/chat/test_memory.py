"""Follow-ups made standalone without a model (docchat.chat.memory)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from docchat.chat.memory import Turn, looks_like_follow_up, pair_turns, standalone_query
from docchat.language.en import LEXICON as EN
from docchat.sessions.types import Message

_positions = itertools.count(1)


def _message(role: str, content: str, **extra: object) -> Message:
    n = next(_positions)
    return Message(
        id=n,
        session_id="s",
        position=n,
        role=role,  # type: ignore[arg-type]
        content=content,
        created_at=dt.datetime.now(dt.UTC),
        **extra,  # type: ignore[arg-type]
    )


def test_the_rewrite_carries_what_the_previous_turn_asked_answered_and_cited() -> None:
    turns = pair_turns(
        [
            _message("user", "In which city was the company founded?"),
            _message(
                "assistant",
                "The company was founded in 1987 in Rotterdam [1].",
                references=[{"file_name": "history.txt", "section": "Company history"}],
                metadata={"queries": ["In which city was the company founded?"]},
            ),
        ]
    )
    rewrite = standalone_query("In what year did that happen?", turns, EN)
    assert rewrite is not None
    assert rewrite.startswith("In what year did that happen?")
    for word in ("city", "founded", "rotterdam", "1987", "history"):
        assert word in rewrite.lower()
    assert "[1]" not in rewrite
    # Without the answer: what the extractive scorer compares sentences with.
    bare = standalone_query("In what year did that happen?", turns, EN, with_answer=False)
    assert bare is not None and "rotterdam" not in bare.lower() and "founded" in bare


def test_an_abstention_lends_the_rewrite_nothing_of_its_text() -> None:
    turns = pair_turns(
        [
            _message("user", "Who is the current CEO?"),
            _message(
                "assistant",
                'I could not find the answer in your documents. I searched for "CEO".',
                metadata={"abstained": True},
            ),
        ]
    )
    assert turns == [Turn("Who is the current CEO?", turns[0].answer, [], [], answered=False)]
    rewrite = standalone_query("And their deputy?", turns, EN)
    assert rewrite is not None
    assert "searched" not in rewrite and "ceo" in rewrite.lower()


def test_a_standalone_question_is_not_rewritten() -> None:
    turns = [Turn("How long is maternity leave?", "16 weeks [1].")]
    assert standalone_query("Which app is used for multi-factor authentication?", turns, EN) is None
    assert standalone_query("And for partners?", [], EN) is None


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        ("Through which portal?", True),
        ("Who founded it?", True),
        ("In what year did that happen?", True),
        ("And for the X500?", True),
        ("What about the second one?", True),
        ("In which city was the company founded?", False),
        ("How long is maternity leave?", False),
        ("Which error does the X100 show when its door is not shut properly?", False),
        ("What do new hires get on their first day?", False),
        ("Can I reuse one of my old passwords?", False),
    ],
)
def test_which_questions_lean_on_the_conversation(question: str, follow_up: bool) -> None:
    assert looks_like_follow_up(question, EN) is follow_up


def test_an_answered_turn_passes_on_its_answer_not_its_own_rewrite() -> None:
    # The previous turn was itself rewritten with an older, unrelated turn's words.
    turns = [
        Turn(
            "Through which portal?",
            "Receipts must be submitted within 30 days through the Concur portal [1].",
            ["Through which portal?", "Through which portal? x200 quick programme water"],
            ["expense-policy.md Receipts"],
        )
    ]
    rewrite = standalone_query("By when?", turns, EN)
    assert rewrite is not None
    assert "concur" in rewrite.lower() and "x200" not in rewrite.lower()
    # After an abstention, what it searched for is all there is to go on.
    turns = [
        Turn("Through which portal?", "…", ["Through which portal? expense receipts"], [], False)
    ]
    rewrite = standalone_query("By when?", turns, EN)
    assert rewrite is not None and "receipts" in rewrite


def test_an_answer_still_being_written_is_not_memory() -> None:
    # Another turn of the same session, streaming now: its text is a fragment of an answer.
    turns = pair_turns(
        [
            _message("user", "How long is CCTV footage kept?"),
            _message("assistant", "Footage is kept for", metadata={"status": "streaming"}),
            _message("user", "And who may see it?"),
            _message("assistant", "Only security staff [1]."),
        ]
    )
    assert turns == [Turn("And who may see it?", "Only security staff [1].")]
