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


def test_the_rewrite_is_a_question_a_person_would_write() -> None:
    # A keyword mash of the previous answer ("... many sequential ... require typically 50 e g
    # 7200 rpm") was searched for and shown to the user; the subject of the question is enough.
    turns = pair_turns(
        [
            _message("user", "How much disk space does the mail archive service need?"),
            _message(
                "assistant",
                "Many sequential writes require typically 50 GB, e.g. on 7200 rpm disks [1].",
                references=[{"file_name": "archive.txt", "section": "Disk"}],
            ),
        ]
    )
    assert standalone_query("And how much memory does it need?", turns, EN) == (
        "How much memory does the mail archive service need?"
    )
    assert standalone_query("What about its backups?", turns, EN) == (
        "What about the mail archive service's backups?"
    )
    # An "it" that stands for what follows is left alone: the previous question comes first.
    assert standalone_query("How long does it take to restore?", turns, EN) == (
        "How much disk space does the mail archive service need? How long does it take to restore?"
    )


def test_without_a_subject_to_put_in_the_previous_question_comes_first() -> None:
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
    assert standalone_query("In what year did that happen?", turns, EN) == (
        "In which city was the company founded? In what year did that happen?"
    )
    # A previous follow-up is read as its own rewrite: the conversation's subject carries on.
    turns = [
        Turn(
            "Who founded it?",
            "Anna de Vries founded it [1].",
            ["Who founded it?", "Who founded the company?"],
        )
    ]
    assert standalone_query("And when did she retire?", turns, EN) == (
        "Who founded the company? And when did she retire?"
    )


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


def test_a_rewrite_of_old_keywords_is_not_passed_on() -> None:
    # Sessions from before kept a bag of words as the rewrite: not a question, so not reused.
    turns = [
        Turn(
            "Through which portal?",
            "Receipts must be submitted within 30 days through the Concur portal [1].",
            ["Through which portal?", "Through which portal? x200 quick programme water"],
            ["expense-policy.md Receipts"],
        )
    ]
    assert standalone_query("By when?", turns, EN) == "Through which portal? By when?"


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
