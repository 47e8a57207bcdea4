"""A question's language (docchat.language.detect): the classifier when it is sure, the lexicons'
function words when it is not, the passages' language when the question has none."""

from __future__ import annotations

import pytest

from docchat.language import NEUTRAL, detect, language_of, lexicon_for


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("How many vacation days do I get in my first year?", "en"),
        ("Hoeveel vakantiedagen krijg ik in mijn eerste jaar?", "nl"),
        ("Combien de jours de congé ai-je la première année ?", "fr"),
        ("Wie viele Urlaubstage bekomme ich im ersten Jahr?", "de"),
        # Short and unsure for the classifier; the function words place them.
        ("What does error code E1047 mean?", "en"),
        ("Can I do my job from my house?", "en"),
        # Nothing to place: codes and names.
        ("E1055 alert", None),
        ("Error F17", None),
        ("", None),
        ("42 / 7", None),
    ],
)
def test_the_language_of_a_question(text: str, code: str | None) -> None:
    assert detect(text) == code


def test_a_question_placed_nowhere_takes_the_language_of_its_passages() -> None:
    passages = ["Alert E1055 is raised when the replica lags more than 30 seconds behind."]
    found = language_of("E1055 alert", passages)
    assert (found.code, found.checks, found.source) == ("en", "en", "passages")
    nowhere = language_of("E1055 alert", ["E1055 X200 F17"])
    assert (nowhere.code, nowhere.lexicon, nowhere.source) == (None, NEUTRAL, "none")


def test_a_language_without_rules_gets_the_neutral_checks() -> None:
    german = language_of("Wie viele Urlaubstage bekomme ich im ersten Jahr?")
    assert german.metadata() == {"language": "de", "language_checks": "neutral"}
    assert lexicon_for("de") is NEUTRAL
    assert lexicon_for(None) is NEUTRAL
    assert lexicon_for("nl").code == "nl"
