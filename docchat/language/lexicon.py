"""What the language-dependent checks need of a language, in one value per language.

The checks themselves (``docchat.chat.asked``, ``support``, ``citations``, ``generate``,
``memory`` and full-text queries in ``docchat.textsearch``) are written once; each reads its words
from the question's ``Lexicon``.  ``NEUTRAL`` is the lexicon of a question in a language with no
rules: no stop words, no stemming, no negation or number words, no phrases.  What is left of each
check then is what holds in any language (digits, codes, shared words, similarity).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "NEUTRAL",
    "AnswerExtent",
    "AnswerKinds",
    "Lexicon",
    "never",
    "unchanged",
    "word_list",
]


def word_list(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``."""
    return frozenset(text.split())


def unchanged(word: str) -> str:
    """The stemmer of a language without one."""
    return word


#: A pattern that matches nothing: a phrase list a language has no entries in.
never = re.compile(r"(?!)")


@dataclass(frozen=True, slots=True)
class AnswerKinds:
    """The cue words ``docchat.chat.asked`` reads a question's wanted kind of answer from
    ("at what time" → a clock time, "how many people" → an amount of people)."""

    #: "at what time <aux>" / "in which year <aux>" (a group named ``aux``).
    asks_clock: re.Pattern[str]
    asks_year: re.Pattern[str]
    #: "how many|much|long|often ..." (group 1: the word after "how").
    asks_how: re.Pattern[str]
    #: The words of group 1 of ``asks_how`` that take a noun phrase ("how many people").
    takes_phrase: frozenset[str]
    #: "what is the price of ...": nouns whose value is an amount.
    asks_amount: re.Pattern[str]
    #: Words that end the noun phrase after "how many": verbs, auxiliaries, prepositions.
    phrase_ends: frozenset[str]
    #: Words that state an amount without digits ("twice", "dozen") or a frequency ("weekly").
    amount_words: frozenset[str]
    #: Auxiliaries of do-support and of the passive, for the event a time question asks about.
    do: frozenset[str]
    be: frozenset[str]
    #: Irregular past participles a question may end on ("... was the office built?").
    participles: frozenset[str]
    #: Verbs that stand for another ("in what year did that happen?").
    pro_verbs: frozenset[str]
    #: A clock time in a sentence.
    clock: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class AnswerExtent:
    """The cue words ``docchat.chat.extent`` reads how much text a question asks for from: a
    procedure ("how do I"), a list ("which kinds of"), several things ("what are the"), a reason
    ("why"), a count ("which two"), a second question joined to the first (", and how often")."""

    #: Patterns over the question's lower-cased words joined by single spaces.
    procedure: re.Pattern[str]
    listing: re.Pattern[str]
    plural: re.Pattern[str]
    reason: re.Pattern[str]
    #: Count words and the words before them that make them a count of what is asked
    #: ("which two", "the four things"; not "version 2").
    counts: Mapping[str, int]
    count_after: frozenset[str]
    #: Where the question's text splits into two questions (over its own text).
    second_question: re.Pattern[str]
    #: Words asking about every document in turn ("each of the services", "which documents"),
    #: over the question's own text: ``full_reading`` answers from each document apart.
    each_document: re.Pattern[str]


# eq=False: a lexicon is one object per language, hashed by identity (the checks cache patterns
# built from it), and its mappings could not be hashed anyway.
@dataclass(frozen=True, slots=True, eq=False)
class Lexicon:
    """One language's words and rules; ``code`` is what the answer's metadata names."""

    code: str
    #: Function words: dropped from full-text "or" queries and from content words.
    stopwords: frozenset[str] = frozenset()
    #: Further words a support check ignores: they carry no claim ("according", "document").
    filler: frozenset[str] = frozenset()
    #: Words that negate a clause ("not", "never"), and those that may answer a negation from
    #: the other side ("excluded", "unless").
    negations: frozenset[str] = frozenset()
    negating: frozenset[str] = frozenset()
    #: A negation written as part of a word ("isn't").
    contracted_negation: re.Pattern[str] = never
    #: Negation words that are no negation here ("no more than 20" is "at most 20").
    not_negation: re.Pattern[str] = never
    #: Words that begin a new clause (a negation's scope ends there), as a regex alternation.
    clause_words: str = ""
    #: Number words and their values, counted in both a claim and its span.
    number_words: Mapping[str, int] = field(default_factory=dict)
    #: Number words counted only where a span states them ("one", "first": as often a pronoun
    #: or an ordinal in a claim).
    span_number_words: Mapping[str, int] = field(default_factory=dict)
    #: Number words a claim does not assert, though a span's count ("one" as a pronoun).
    pronoun_numbers: frozenset[str] = frozenset()
    #: Tens and units written as two words ("twenty-one"): group 1 the tens, group 2 the units.
    compound_number: re.Pattern[str] = never
    #: Bounds on a number, as regex alternations: "over|more than", "under|at most".
    above: str = ""
    below: str = ""
    #: Light stemmers: ``stem`` for support checks, ``singular`` for matching question words.
    stem: Callable[[str], str] = unchanged
    singular: Callable[[str], str] = unchanged
    #: A model's "the documents do not say" (its answer, with no citation, is an abstention).
    not_found: re.Pattern[str] = never
    #: Sentences about the search, not the documents (nothing to cite): abstentions, courtesies.
    no_source: re.Pattern[str] = never
    #: Words that point back at an earlier turn ("it", "those"), and a follow-up's openers.
    back_references: frozenset[str] = frozenset()
    follow_up_openers: re.Pattern[str] = never
    #: The answer-kind cues; None where the language has none (no kind check).
    answer_kinds: AnswerKinds | None = None
    #: The answer-extent cues; None where the language has none (one sentence and what scores
    #: close to it, whatever is asked).
    answer_extent: AnswerExtent | None = None


NEUTRAL = Lexicon(code="neutral")
