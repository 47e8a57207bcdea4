"""What a question asks for, and whether a sentence supplies it (docchat.chat.asked)."""

from __future__ import annotations

import pytest

from docchat.chat.asked import Asked, Variants, asked_for
from docchat.chat.extractive import extract
from docchat.language.en import LEXICON as EN
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.retrieval.hybrid import Hit, Scores
from tests.chat.passages import passages


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("At what time do the nightly backups run?", Asked("clock", event="run")),
        ("In which year did Anna de Vries retire?", Asked("year", event="retire")),
        ("In which year was the company founded?", Asked("year", event="founded")),
        # A verb standing for another: no event to look for.
        ("In what year did that happen?", Asked("year")),
        ("What is the maximum price of a flight?", Asked("amount")),
        ("What is the password policy?", Asked(None)),
        (
            "How many unused vacation days can I take into next year?",
            Asked("amount", frozenset({"unused", "vacation", "day"})),
        ),
        (
            "How many people work at the Gdansk office?",
            Asked("amount", frozenset({"people", "work"})),
        ),
        ("How much is the internet allowance?", Asked("amount")),
        ("How often are fire drills held?", Asked("amount")),
        ("Which app is used for multi-factor authentication?", Asked(None)),
        ("When do carried-over vacation days expire?", Asked(None)),
        # Values written in digits, named two words after "the" or without "is the".
        ("What is the default time limit for a single test?", Asked("amount")),
        ("Which TCP port does the request server listen on?", Asked("amount")),
        ("Which R version introduced the native pipe operator?", Asked("amount")),
        # A plural noun without "is the" asks for kinds, not a value.
        ("What levels of support are there?", Asked(None)),
    ],
)
def test_the_kind_of_answer_a_question_asks_for(question: str, expected: Asked) -> None:
    assert asked_for(question, EN) == expected


@pytest.mark.parametrize(
    ("asked", "sentence", "supplied"),
    [
        (Asked("clock", lexicon=EN), "Nightly base backups run at 01:30.", True),
        (Asked("clock", lexicon=EN), "Fire drills take place twice a year.", False),
        (Asked("year", lexicon=EN), "The company was founded in 1987 in Rotterdam.", True),
        (Asked("year", lexicon=EN), "The first workshop employed six people.", False),
        (
            Asked("amount", frozenset({"day"}), lexicon=EN),
            "Up to 5 unused days may be carried over.",
            True,
        ),
        (
            Asked("amount", frozenset({"day"}), lexicon=EN),
            "Partners receive 6 weeks of paid leave.",
            False,
        ),
        (
            Asked("amount", frozenset({"people"}), lexicon=EN),
            "In 2015 the company opened an office in Gdansk.",
            False,
        ),
        (
            Asked("amount", frozenset({"people"}), lexicon=EN),
            "The first workshop employed six people.",
            True,
        ),
        (Asked("amount", lexicon=EN), "Fire drills take place twice a year.", True),
        (Asked("amount", lexicon=EN), "The company pays EUR 30 per month.", True),
        # A code's digits are not an amount, nor is a year.
        (
            Asked("amount", frozenset({"water"}), lexicon=EN),
            "Error F11 on the X200 means the water tap is closed.",
            False,
        ),
        (Asked("amount", lexicon=EN), "The office opened in 2015.", False),
        # A unit written against its number is still an amount.
        (Asked("amount", lexicon=EN), "If specified without a value then 30pt are assumed.", True),
        (Asked("amount", lexicon=EN), "The size went from 92MB to 66MB.", True),
        (Asked(None), "Anything at all.", True),
        # The time or year of another event does not answer.
        (
            Asked("clock", event="start", lexicon=EN),
            "Backups run at 01:30, restore tests on Sunday.",
            False,
        ),
        (Asked("clock", event="run", lexicon=EN), "Nightly base backups run at 01:30.", True),
        (Asked("year", event="retire", lexicon=EN), "Anna de Vries founded it in 1987.", False),
        (Asked("year", event="retire", lexicon=EN), "She retired in 2011.", True),
        (Asked("year", event="closed", lexicon=EN), "The office in Gdansk opened in 2015.", False),
        (Asked("year", event="founded", lexicon=EN), "The company was founded in 1987.", True),
    ],
)
def test_a_sentence_supplies_the_asked_kind(asked: Asked, sentence: str, supplied: bool) -> None:
    assert asked.supplied_by(sentence) is supplied


def test_a_sentence_about_another_variant_does_not_answer() -> None:
    passages = [
        "The eco programme of the X200 takes 3 hours and uses 9.5 litres of water. "
        "The quick programme finishes in 30 minutes.",
        "Taxi rides over EUR 80 need pre-approval. Hotels need approval too.",
    ]
    asked = "How much water does the quick programme of the X200 use?"
    variants = Variants.of(asked, passages, EN)
    assert variants.sibling_in("The eco programme of the X200 uses 9.5 litres.")
    assert not variants.sibling_in("The quick programme finishes in 30 minutes.")
    # The passages never say "fast programme": a paraphrase, not a variant.
    fast = "How long does the fast programme take?"
    assert not Variants.of(fast, passages, EN).sibling_in(
        "The quick programme finishes in 30 minutes."
    )
    # Punctuation parts a pair, and a stop word stays one when stemmed ("this" is no "thi"):
    # "for example, pages" and "this MIME type" name no variants (real documents' wording).
    policy = [
        "Manual pages should be compressed. For example, pages under /usr/share/man/fr "
        "should use either UTF-8 or ISO-8859-1.",
        "The shared MIME database lists globs. A file matching one is given this MIME type.",
    ]
    assert not Variants.of("Which encodings may French manual pages use?", policy, EN).sibling_in(
        "For example, pages under /usr/share/man/fr should use either UTF-8 or ISO-8859-1."
    )
    assert not Variants.of("What is a glob in shared MIME info?", policy, EN).sibling_in(
        "A file matching one is given this MIME type."
    )
    # The sentence still holds the asked word: "need pre-approval" answers "need approval".
    taxi = "Do taxi rides need approval beforehand?"
    assert not Variants.of(taxi, passages, EN).sibling_in(
        "Taxi rides over EUR 80 need pre-approval."
    )


def test_the_scorer_abstains_when_no_sentence_holds_the_asked_count(
    minilm: MiniLMEmbedder,
) -> None:
    hits = passages(("history.txt", "Gdansk"))
    found = extract("How many people work at the Gdansk office?", hits, minilm, lexicon=EN)
    assert found.abstained
    # The same passage answers a question whose answer it holds.
    found = extract("How many people did the first workshop employ?", hits, minilm, lexicon=EN)
    assert not found.abstained
    assert "six people" in found.extracts[0].sentence.text


def test_the_sentence_after_a_code_carries_the_answer(minilm: MiniLMEmbedder) -> None:
    hits = passages(("error-codes.md", "E1057"))
    found = extract(
        "How far should shared_buffers be raised for alert E1057?", hits, minilm, lexicon=EN
    )
    assert not found.abstained
    answer = " ".join(e.sentence.text for e in found.extracts)
    assert "quarter of memory" in answer


def test_a_heading_number_supplies_no_amount(minilm: MiniLMEmbedder) -> None:
    # "12.1. Manual pages" names a section, not a size: the heading's number made the sentence
    # under it fit "what is the maximum size ...?", and it was answered instead of abstained.
    text = "If no manual page is available, this is considered as a bug and should be reported."

    def hit(section: str) -> Hit:
        return Hit(
            rank=1, document_id="d", file_name="policy.html", collection="default", page=None,
            section=section, char_start=0, char_end=len(text), text=text, snippet=text,
            chunk_id=1, score=1.0, scores=Scores(dense=0.7),
        )  # fmt: skip

    question = "What is the maximum size of a manual page?"
    # A floor below the sentence's own score (0.44), so only the check can refuse it.
    floor = 0.3
    found = extract(question, [hit("12.1. Manual pages")], minilm, lexicon=EN, abstain_below=floor)
    assert found.abstained
    # The same passage under a heading that does state an amount is not refused by the check.
    stated = extract(question, [hit("Pages of 100 lines")], minilm, lexicon=EN, abstain_below=floor)
    assert not stated.abstained and stated.best_score > floor
