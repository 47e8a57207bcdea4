"""How much text a question asks for, read from the English lexicon's cues."""

from __future__ import annotations

import pytest

from docchat.chat.extent import LIST_RUN, PLURAL_RUN, PROCEDURE_RUN, REASON_RUN, Extent, extent_of
from docchat.language import NEUTRAL
from docchat.language.en import LEXICON as EN
from docchat.language.fr import LEXICON as FR


@pytest.mark.parametrize(
    ("question", "run"),
    [
        ("Which encoding did Excel:mac 2004/8 apparently expect for .csv files?", 0),
        ("How do I report a genuine bug in the core LaTeX software?", PROCEDURE_RUN),
        ("What steps does installing R from source take?", PROCEDURE_RUN),
        ("What are the four things every LaTeX class file must contain?", 3),
        ("Which three things does the D-Bus bus daemon do?", 2),
        ("Which kinds of type should low priority numbers be used for?", LIST_RUN),
        ("What are the default and the maximum weight of a glob element?", PLURAL_RUN),
        ("Why does R give a negative result for -2^2?", REASON_RUN),
        # A compound is not a count; a version number is not either.
        ("Which two-word label is forbidden in the version banner of a home-made class?", 0),
        ("What changed in LaTeX version 2 of the class?", 0),
    ],
)
def test_the_run_an_answer_takes_follows_what_is_asked(question: str, run: int) -> None:
    assert extent_of(question, EN).run == run


def test_a_second_question_joined_to_the_first_is_a_part_of_its_own() -> None:
    assert extent_of("Where is CRAN's main site, and how often is it mirrored?", EN).parts == (
        "Where is CRAN's main site",
        "how often is it mirrored",
    )
    assert extent_of(
        "Which directory holds temporary files that survive a reboot; may they be deleted?", EN
    ).parts == (
        "Which directory holds temporary files that survive a reboot",
        "may they be deleted",
    )
    # Two nouns joined by "and" are one question.
    assert (
        extent_of("Under which licences are the library and its tools distributed?", EN).parts == ()
    )


def test_a_language_without_extent_cues_gets_one_sentence() -> None:
    assert extent_of("How do I report a bug, and why?", NEUTRAL) == Extent()
    assert extent_of("Comment signaler un bogue, et pourquoi ?", FR) == Extent()
