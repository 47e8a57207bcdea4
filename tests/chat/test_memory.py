"""Follow-ups made standalone without a model (docchat.chat.memory)."""

from __future__ import annotations

import datetime as dt
import itertools

from docchat.chat.memory import Turn, pair_turns, standalone_query
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
    rewrite = standalone_query("In what year did that happen?", turns)
    assert rewrite is not None
    assert rewrite.startswith("In what year did that happen?")
    for word in ("city", "founded", "rotterdam", "1987", "history"):
        assert word in rewrite.lower()
    assert "[1]" not in rewrite
    # Without the answer: what the extractive scorer compares sentences with.
    bare = standalone_query("In what year did that happen?", turns, with_answer=False)
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
    rewrite = standalone_query("And their deputy?", turns)
    assert rewrite is not None
    assert "searched" not in rewrite and "ceo" in rewrite.lower()


def test_a_standalone_question_is_not_rewritten() -> None:
    turns = [Turn("How long is maternity leave?", "16 weeks [1].")]
    assert standalone_query("Which app is used for multi-factor authentication?", turns) is None
    assert standalone_query("And for partners?", []) is None
