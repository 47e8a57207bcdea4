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

The cue words are the question's language's (``Lexicon.answer_kinds``); a language without them
gets no kind check, and the variant check with its stop words and stemmer (none: every word).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from docchat.language import AnswerKinds, Lexicon
from docchat.textsearch import words

Kind = Literal["clock", "year", "amount"]

#: Where a phrase ends: a word on either side of these is no modifier of the other.
_PHRASE_BREAK = re.compile(r"[,;:!?()\[\]{}\"\u201c\u201d]|\.(?:\s|$)")
# Language-neutral: a year and an amount in digits.
_YEAR = re.compile(r"\b(?:1[5-9]|20)\d{2}\b")
# Not "F11", "X200", "v2"; a unit may follow without a space ("30pt", "92MB", "8GB").
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?:[a-zA-Z]{1,3})?(?!\w)")


@dataclass(frozen=True, slots=True)
class Asked:
    """The answer a question wants: its kind, and for "how many X" / "how much X" the words of X
    (a sentence holding the amount names one of them: "unused days" for "unused vacation days")."""

    kind: Kind | None
    of: frozenset[str] = frozenset()
    #: For "at what time does X start?" / "in which year did Y retire?": the event's verb, which
    #: a sentence giving the time of another event ("backups run at 01:30") does not hold.
    event: str | None = None
    #: The question's lexicon (its cues read the sentence too); None with no kind.  Not part of
    #: what is asked: two questions asking for the same are equal whatever their language.
    lexicon: Lexicon | None = field(default=None, compare=False)

    def supplied_by(self, sentence: str) -> bool:
        """Whether ``sentence`` holds an answer of this kind."""
        if self.kind is None or self.lexicon is None or self.lexicon.answer_kinds is None:
            return True
        cues = self.lexicon.answer_kinds
        lowered = sentence.lower()
        found = words(lowered)
        if self.event is not None and not any(_same_verb(self.event, w) for w in found):
            return False
        if self.kind == "clock":
            return bool(cues.clock.search(lowered))
        if self.kind == "year":
            return bool(_YEAR.search(lowered))
        if self.of and not self.of & {self.lexicon.singular(w) for w in found}:
            return False
        numbers = [n for n in _NUMBER.findall(lowered) if not _YEAR.fullmatch(n)]
        return bool(numbers) or any(w in cues.amount_words for w in found)


def _event(cues: AnswerKinds, aux: str, last: str) -> str | None:
    """The verb a time or year question ends on: "... did Anna de Vries retire" (do-support),
    "... was the office closed" (a passive's participle); None for "did that happen"."""
    if aux in cues.do and last not in cues.pro_verbs:
        return last
    if aux in cues.be and (last in cues.participles or (len(last) > 4 and last.endswith("ed"))):
        return last
    return None


def _same_verb(verb: str, word: str) -> bool:
    # "retire" / "retired", "closed" / "closes", "run" / "running": a shared stem, not a tagger.
    if len(verb) > 4 and verb.endswith("ed"):
        verb = verb[:-2]
    elif len(verb) > 4 and verb.endswith("e"):
        verb = verb[:-1]
    return word.startswith(verb)


def asked_for(question: str, lexicon: Lexicon) -> Asked:
    """What kind of answer ``question`` asks for (``kind`` None: no check applies)."""
    cues = lexicon.answer_kinds
    if cues is None:
        return Asked(None)
    found = words(question)
    text = " ".join(found)
    timed: tuple[tuple[Kind, re.Pattern[str]], ...] = (
        ("clock", cues.asks_clock),
        ("year", cues.asks_year),
    )
    for kind, pattern in timed:
        if match := pattern.search(text):
            return Asked(kind, event=_event(cues, match.group("aux"), found[-1]), lexicon=lexicon)
    match = cues.asks_how.search(text)
    if match is None:
        return Asked("amount", lexicon=lexicon) if cues.asks_amount.search(text) else Asked(None)
    if match.group(1) in cues.takes_phrase:
        after = text[match.end() :].split()
        phrase: list[str] = []
        for word in after:
            if word in cues.phrase_ends:
                break
            phrase.append(word)
        # Without a tagger the phrase may run into a verb ("how many people work at"): any of
        # its words will do.
        of = frozenset(lexicon.singular(w) for w in phrase if w not in lexicon.stopwords)
        return Asked("amount", of, lexicon=lexicon)
    return Asked("amount", lexicon=lexicon)


def _content_pairs(text: str, lexicon: Lexicon) -> set[tuple[str, str]]:
    """Adjacent content-word pairs of ``text`` within a phrase, stemmed ("quick programme"; not
    "for example, pages": punctuation parts them)."""
    stop = lexicon.stopwords
    return {
        (lexicon.singular(a), lexicon.singular(b))
        for phrase in _PHRASE_BREAK.split(text)
        for a, b in itertools.pairwise(words(phrase))
        if a not in stop and b not in stop  # before stemming: "this" is not "thi"
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
    lexicon: Lexicon

    @classmethod
    def of(cls, question: str, passages: Iterable[str], lexicon: Lexicon) -> Variants:
        known = frozenset(pair for text in passages for pair in _content_pairs(text, lexicon))
        asked = frozenset(lexicon.singular(w) for w in words(question))
        wanted = tuple(sorted(_content_pairs(question, lexicon) & known))
        return cls(known, asked, wanted, lexicon)

    def sibling_in(self, sentence: str) -> bool:
        """Whether ``sentence`` speaks of another variant of something the question names:
        "quick programme" asked, "eco programme" in the sentence, both pairs in the passages."""
        if not self.wanted:
            return False
        said = [self.lexicon.singular(w) for w in words(sentence)]
        said_pairs = _content_pairs(sentence, self.lexicon)
        for a, b in self.wanted:
            if a in said:
                continue  # "need pre-approval" still answers "need approval"
            if any(
                y == b and x != a and x not in self.asked and (x, b) in self.known
                for x, y in said_pairs
            ):
                return True
        return False
