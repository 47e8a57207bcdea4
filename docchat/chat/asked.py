"""What a question asks for, and whether a sentence can supply it: checks without a model.

A bi-encoder scores "The eco programme of the X200 ... uses 9.5 litres of water" close to "How
much water does the quick programme of the X200 use?": the topic and most words match, the thing
asked about does not.  The extractive scorer (``docchat.chat.extractive``) keeps a sentence that
fails one of these checks below its abstention floor, as it does one that misses an asked code:

* **The kind of answer.**  "At what time" needs a clock time, "in which year" a year, "how many
  people" an amount of people, "how long" / "how often" / "how much is" / "what is the price of"
  an amount (a number, a number word or a frequency; not a code's digits, not a year).  A time or
  year question about an event ("when did Anna retire?", "... was the office closed?") needs that
  event's verb too: the year of another event is not the answer.
* **A sibling instead of the thing asked.**  When the passages tell variants apart by a word
  before the same noun ("quick programme", "eco programme"), a sentence about another variant
  does not answer a question about this one.  Only words the passages themselves use as such a
  pair count, so a paraphrase ("fast programme") is not taken for a variant.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from docchat.textsearch import STOPWORDS, singular, words

Kind = Literal["clock", "year", "amount"]

# Words that end the noun phrase after "how many" / "how much": verbs, auxiliaries, prepositions.
_PHRASE_ENDS = frozenset(
    [
        "do",
        "does",
        "did",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "can",
        "could",
        "will",
        "would",
        "should",
        "must",
        "may",
        "might",
        "shall",
        "has",
        "have",
        "had",
        "of",
        "per",
        "in",
        "on",
        "at",
        "for",
        "with",
        "to",
        "from",
        "before",
        "after",
        "during",
        "within",
        "by",
        "about",
    ]
)
_NUMBER_WORDS = frozenset(
    [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "fifteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "sixty",
        "hundred",
        "thousand",
        "million",
        "once",
        "twice",
        "half",
        "quarter",
        "dozen",
        "double",
    ]
)
_FREQUENCY_WORDS = frozenset(
    [
        "every",
        "each",
        "daily",
        "weekly",
        "monthly",
        "yearly",
        "annually",
        "quarterly",
        "hourly",
        "nightly",
        "always",
        "never",
    ]
)
_ASKS_CLOCK = re.compile(r"\b(?:what|which) time (?P<aux>\w+)")
_ASKS_YEAR = re.compile(r"\b(?:what|which) year (?P<aux>\w+)")
_DO = frozenset(["do", "does", "did"])
_BE = frozenset(["is", "are", "was", "were"])
# Irregular past participles a question may end on ("... was the office built?").
_PARTICIPLES = frozenset(["built", "held", "kept", "made", "paid", "sent", "sold", "shut", "set"])
# "What is the price of ...": nouns whose value is an amount.
_ASKS_AMOUNT = re.compile(
    r"\b(?:what|which) (?:is|are|was|were) the (?:\w+ )?(?:price|cost|fee|rate|number|amount|"
    r"size|length|duration|limit|maximum|minimum|percentage|budget|capacity|level)s?\b"
)
# Verbs that stand for another ("in what year did that happen?"): no event of their own.
_PRO_VERBS = frozenset(["happen", "occur", "do", "take", "place", "be", "go", "come"])
_CLOCK = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?[ap]\.?m\b|\bnoon\b|\bmidnight\b|o'clock")
_YEAR = re.compile(r"\b(?:1[5-9]|20)\d{2}\b")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?!\w)")  # not "F11", "X200", "v2"


@dataclass(frozen=True, slots=True)
class Asked:
    """The answer a question wants: its kind, and for "how many X" / "how much X" the words of X
    (a sentence holding the amount names one of them: "unused days" for "unused vacation days")."""

    kind: Kind | None
    of: frozenset[str] = frozenset()
    #: For "at what time does X start?" / "in which year did Y retire?": the event's verb, which
    #: a sentence giving the time of another event ("backups run at 01:30") does not hold.
    event: str | None = None

    def supplied_by(self, sentence: str) -> bool:
        """Whether ``sentence`` holds an answer of this kind."""
        if self.kind is None:
            return True
        lowered = sentence.lower()
        found = words(lowered)
        if self.event is not None and not any(_same_verb(self.event, w) for w in found):
            return False
        if self.kind == "clock":
            return bool(_CLOCK.search(lowered))
        if self.kind == "year":
            return bool(_YEAR.search(lowered))
        if self.of and not self.of & {singular(w) for w in found}:
            return False
        numbers = [n for n in _NUMBER.findall(lowered) if not _YEAR.fullmatch(n)]
        return bool(numbers) or any(w in _NUMBER_WORDS or w in _FREQUENCY_WORDS for w in found)


def _event(aux: str, last: str) -> str | None:
    """The verb a time or year question ends on: "... did Anna de Vries retire" (do-support),
    "... was the office closed" (a passive's participle); None for "did that happen"."""
    if aux in _DO and last not in _PRO_VERBS:
        return last
    if aux in _BE and (last in _PARTICIPLES or (len(last) > 4 and last.endswith("ed"))):
        return last
    return None


def _same_verb(verb: str, word: str) -> bool:
    # "retire" / "retired", "closed" / "closes", "run" / "running": a shared stem, not a tagger.
    if len(verb) > 4 and verb.endswith("ed"):
        verb = verb[:-2]
    elif len(verb) > 4 and verb.endswith("e"):
        verb = verb[:-1]
    return word.startswith(verb)


def asked_for(question: str) -> Asked:
    """What kind of answer ``question`` asks for (``kind`` None: no check applies)."""
    found = words(question)
    text = " ".join(found)
    timed: tuple[tuple[Kind, re.Pattern[str]], ...] = (("clock", _ASKS_CLOCK), ("year", _ASKS_YEAR))
    for kind, pattern in timed:
        if match := pattern.search(text):
            return Asked(kind, event=_event(match.group("aux"), found[-1]))
    match = re.search(r"\bhow (many|much|long|often|frequently|far)\b", text)
    if match is None:
        return Asked("amount") if _ASKS_AMOUNT.search(text) else Asked(None)
    if match.group(1) in ("many", "much"):
        after = text[match.end() :].split()
        phrase: list[str] = []
        for word in after:
            if word in _PHRASE_ENDS:
                break
            phrase.append(word)
        # Without a tagger the phrase may run into a verb ("how many people work at"): any of
        # its words will do.
        return Asked("amount", frozenset(singular(w) for w in phrase if w not in STOPWORDS))
    return Asked("amount")


def _content_pairs(text: str) -> set[tuple[str, str]]:
    """Adjacent content-word pairs of ``text``, stemmed ("quick programme")."""
    stems = [singular(w) for w in words(text)]
    return {
        (a, b) for a, b in itertools.pairwise(stems) if a not in STOPWORDS and b not in STOPWORDS
    }


@dataclass(frozen=True, slots=True)
class Variants:
    """The variants a question names that its passages tell apart; built once per question,
    asked of each sentence (as ``Asked`` is)."""

    #: Content-word pairs the passages use.
    known: frozenset[tuple[str, str]]
    #: The question's stemmed words, and those of its pairs the passages use too.
    asked: frozenset[str]
    wanted: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, question: str, passages: Iterable[str]) -> Variants:
        known = frozenset(pair for text in passages for pair in _content_pairs(text))
        asked = frozenset(singular(w) for w in words(question))
        wanted = tuple(sorted(_content_pairs(question) & known))
        return cls(known, asked, wanted)

    def sibling_in(self, sentence: str) -> bool:
        """Whether ``sentence`` speaks of another variant of something the question names:
        "quick programme" asked, "eco programme" in the sentence, both pairs in the passages."""
        if not self.wanted:
            return False
        said = [singular(w) for w in words(sentence)]
        said_pairs = set(itertools.pairwise(said))
        for a, b in self.wanted:
            if a in said:
                continue  # "need pre-approval" still answers "need approval"
            if any(
                y == b
                and x != a
                and x not in self.asked
                and x not in STOPWORDS
                and (x, b) in self.known
                for x, y in said_pairs
            ):
                return True
        return False
