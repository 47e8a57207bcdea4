"""The Dutch and French rules of the support check and of a model's "the documents do not say",
beside the English ones they were written after (tests/chat/test_support.py has the English)."""

from __future__ import annotations

import pytest

from docchat.chat.support import Terms
from docchat.language import NEUTRAL, Lexicon
from docchat.language.en import LEXICON as EN
from docchat.language.fr import LEXICON as FR
from docchat.language.nl import LEXICON as NL


def agrees(sentence: str, span: str, lexicon: Lexicon) -> bool:
    return Terms.of(sentence, lexicon).agrees(Terms.of(span, lexicon))


@pytest.mark.parametrize(
    ("sentence", "span", "lexicon"),
    [
        (
            "Foto's van bonnetjes worden niet geaccepteerd.",
            "Foto's van bonnetjes worden geaccepteerd als ze leesbaar zijn.",
            NL,
        ),
        ("Alcohol wordt vergoed.", "Alcohol wordt nooit vergoed.", NL),
        ("Er is geen declaratieportaal.", "Bonnetjes gaan via het declaratieportaal.", NL),
        (
            "Les photos des justificatifs ne sont pas acceptées.",
            "Les photos des justificatifs sont acceptées si elles sont lisibles.",
            FR,
        ),
        ("L'alcool est remboursé.", "L'alcool n'est jamais remboursé.", FR),
        ("Aucun justificatif n'est demandé.", "Un justificatif est demandé pour chaque repas.", FR),
    ],
)
def test_a_negation_disagrees_with_a_span_without_one(
    sentence: str, span: str, lexicon: Lexicon
) -> None:
    assert not agrees(sentence, span, lexicon)
    assert agrees(span, span, lexicon)


def test_english_rules_do_not_see_a_dutch_or_french_negation() -> None:
    # What every language got before there were lexicons: "niet" and "pas" were content words.
    assert agrees(
        "Foto's van bonnetjes worden niet geaccepteerd.",
        "Foto's van bonnetjes worden geaccepteerd als ze leesbaar zijn.",
        EN,
    )
    assert agrees(
        "Les photos ne sont pas acceptées.", "Les photos sont acceptées si elles sont lisibles.", EN
    )


@pytest.mark.parametrize(
    ("sentence", "span", "lexicon", "agree"),
    [
        (
            "Je krijgt vijfentwintig vakantiedagen.",
            "Medewerkers krijgen 25 vakantiedagen.",
            NL,
            True,
        ),
        (
            "Je krijgt 25 vakantiedagen.",
            "Medewerkers krijgen vijfentwintig vakantiedagen.",
            NL,
            True,
        ),
        ("Indienen kan binnen dertig dagen.", "Bonnetjes binnen 30 dagen indienen.", NL, True),
        ("Indienen kan binnen drie dagen.", "Bonnetjes binnen 30 dagen indienen.", NL, False),
        ("Tweeëntwintig dagen.", "22 dagen.", NL, True),
        # "een" is as often "a" as "one": a claim does not assert it.
        ("Je krijgt een bonnetje.", "Je krijgt 2 bonnetjes.", NL, True),
        ("Vingt-cinq jours de congé.", "25 jours de congé par an.", FR, True),
        ("Trente et un jours.", "31 jours.", FR, True),
        ("Dix-sept jours.", "17 jours.", FR, True),
        ("Deux jours.", "3 jours.", FR, False),
    ],
)
def test_number_words_match_digits(sentence: str, span: str, lexicon: Lexicon, agree: bool) -> None:
    assert agrees(sentence, span, lexicon) is agree


def test_bounds_in_dutch_and_french() -> None:
    assert not agrees("Meer dan 500 km.", "Minder dan 500 km.", NL)
    assert agrees("Minstens 500 km.", "Meer dan 500 km.", NL)
    assert not agrees("Plus de 500 km.", "Moins de 500 km.", FR)
    # "pas plus de 20" is a bound, not a negation; "ne ... que" is "only".
    assert agrees("Pas plus de 20 jours.", "Au plus 20 jours.", FR)
    assert agrees("Il n'y a que deux jours.", "Il y a 2 jours.", FR)


def test_stemmed_content_words_overlap() -> None:
    sentence = Terms.of("De werknemers krijgen vakantiedagen.", NL)
    assert sentence.overlap(Terms.of("Elke werknemer krijgt een vakantiedag.", NL)) == 1.0
    phrase = Terms.of("Les justificatifs sont remboursés.", FR)
    assert phrase.overlap(Terms.of("Chaque justificatif est remboursé.", FR)) == 1.0


@pytest.mark.parametrize(
    ("reply", "lexicon"),
    [
        ("De documenten vermelden dit niet.", NL),
        ("Dat staat niet in de documenten.", NL),
        ("De passages bevatten geen informatie over parkeren.", NL),
        ("Les documents ne disent pas combien de jours.", FR),
        ("Cela ne figure pas dans les documents.", FR),
        ("Les passages ne contiennent aucune information sur le parking.", FR),
        ("The documents do not say how many days.", EN),
    ],
)
def test_not_found_phrases(reply: str, lexicon: Lexicon) -> None:
    assert lexicon.not_found.search(reply)
    assert lexicon.no_source.search(reply)
    assert not NEUTRAL.not_found.search(reply)


@pytest.mark.parametrize(
    ("reply", "lexicon"),
    [
        ("De documenten beschrijven de vakantiedagen.", NL),
        ("Medewerkers krijgen geen vakantiedagen in de proeftijd.", NL),
        ("Les documents décrivent les jours de congé.", FR),
        ("L'alcool n'est jamais remboursé.", FR),
    ],
)
def test_answers_are_not_not_found_phrases(reply: str, lexicon: Lexicon) -> None:
    assert not lexicon.not_found.search(reply)


def test_the_neutral_lexicon_compares_digits_and_words_only() -> None:
    # No negation, no number words, no stemming: what holds in any language.
    assert agrees("Es gibt keine Fotos.", "Es gibt Fotos.", NEUTRAL)
    assert not agrees("Es sind 25 Tage.", "Es sind 30 Tage.", NEUTRAL)
    assert Terms.of("Die Tage", NEUTRAL).content == {"die", "tage"}
