"""Whether a passage's span supports a sentence, in words: content words, numbers, bounds and
negation; and where a quoted phrase is in a passage, typos and all.

No NLP dependency: the words of the answer's language (its ``Lexicon``: stop words, a light
stemmer, number words, negations, bounds) and regular expressions.  In a language without rules
only digits, codes and shared words are compared.  These are the word-level half of the check;
``citations`` adds MiniLM similarity and the thresholds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from difflib import SequenceMatcher

from docchat.language import Lexicon

__all__ = ["QUOTE_MIN_RATIO", "Terms", "locate_quote"]

# Typo'd quotes of 4-8 words (a wrong, missing or doubled letter, dropped punctuation, "EUR45")
# score 0.97-0.98 against their place in the handbook passages, exact ones 1.00; the best window
# of an unrelated handbook passage scores 0.13-0.56 (tests/chat/test_support.py).
#: A quote is found in a passage when its best window matches at least this well (difflib ratio).
QUOTE_MIN_RATIO = 0.8


@functools.cache
def _bound(lexicon: Lexicon) -> re.Pattern[str] | None:
    """A bound on a number: "over 500" and "under 500" disagree, "over" and "more than" do not."""
    if not lexicon.above or not lexicon.below:
        return None
    return re.compile(
        rf"\b(?:(?P<above>{lexicon.above})|(?P<below>{lexicon.below}))\s+"
        r"(?:[^\W\d_]{1,4}\s+)?(?P<n>\d+(?:[.,]\d+)*|[a-z]+)"
    )


@functools.cache
def _clause(lexicon: Lexicon) -> re.Pattern[str]:
    """Clauses, for the scope of a negation."""
    words = rf"|\b(?:{lexicon.clause_words})\b" if lexicon.clause_words else ""
    return re.compile(r"[,;:.!?()]" + words)


_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+\d[\w]*|\d+[^\W\d_]+|[^\W\d_]+", re.UNICODE)
_ORDINAL = re.compile(r"(\d+)(?:st|nd|rd|th)")


def _number_token(token: str, lexicon: Lexicon, *, span: bool = False) -> str | None:
    """A number's canonical spelling ("1,000" → "1000", "2.50" → "2.5", "six" → "6"); a code
    ("e1047") as it is; None for other words.  ``span``: also the words only a span counts."""
    if not any(c.isdigit() for c in token):
        if token in lexicon.number_words and token not in lexicon.pronoun_numbers:
            return _str_number(lexicon.number_words[token])
        if span and token in lexicon.span_number_words:
            return _str_number(lexicon.span_number_words[token])
        return None
    if (m := _ORDINAL.fullmatch(token)) is not None:
        token = m.group(1)
    if not token[0].isdigit() or not token[-1].isdigit():
        return token  # a code: "e1047", "x100", "3h"
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", token):
        token = token.replace(",", "")
    try:
        return _str_number(Decimal(token.replace(",", ".")))
    except InvalidOperation:
        return token


def _str_number(value: Decimal | int) -> str:
    text = format(Decimal(value).normalize(), "f")
    return text


def _tokens(text: str, lexicon: Lexicon) -> list[str]:
    numbers = lexicon.number_words
    lowered = lexicon.compound_number.sub(
        lambda m: (
            str(numbers[m.group(1)] + numbers[m.group(2)])
            if numbers.get(m.group(2), 10) < 10
            else m.group(0)
        ),
        text.lower(),
    )
    return _TOKEN.findall(lowered)


@dataclass(frozen=True, slots=True)
class Terms:
    """What the check compares: content-word stems, numbers and codes, bounds, negation."""

    content: frozenset[str]
    numbers: frozenset[str]  # what a sentence asserts
    mentions: frozenset[str]  # what a span states (also "one", "first", "once")
    # The content words of each clause that negates: "not"/"never"/"n't" ("negated"), or also
    # "except"/"unless"/"excluded" ("negating").
    negated: tuple[frozenset[str], ...] = ()
    negating: tuple[frozenset[str], ...] = ()
    bounds: frozenset[tuple[str, str]] = frozenset()  # ("500", "above")

    @classmethod
    def of(cls, text: str, lexicon: Lexicon) -> Terms:
        """The terms of ``text``, read with ``lexicon``'s words."""
        tokens = _tokens(text, lexicon)
        lowered = lexicon.not_negation.sub(" ", text.lower())
        negated: list[frozenset[str]] = []
        negating: list[frozenset[str]] = []
        for clause in _clause(lexicon).split(lowered):
            words = _TOKEN.findall(clause)
            strict = bool(lexicon.contracted_negation.search(clause)) or any(
                t in lexicon.negations for t in words
            )
            if strict:
                negated.append(_content(words, lexicon))
            if strict or any(t in lexicon.negating for t in words):
                negating.append(_content(words, lexicon))
        bound = _bound(lexicon)
        bounds = {
            (number, "above" if m["above"] else "below")
            for m in (bound.finditer(lowered) if bound is not None else ())
            if (number := _number_token(m["n"], lexicon, span=True)) is not None
        }
        return cls(
            _content(tokens, lexicon),
            frozenset(n for t in tokens if (n := _number_token(t, lexicon)) is not None),
            frozenset(n for t in tokens if (n := _number_token(t, lexicon, span=True)) is not None),
            tuple(negated),
            tuple(negating),
            frozenset(bounds),
        )

    @classmethod
    def union(cls, parts: Sequence[Terms]) -> Terms:
        """The terms of several spans read together."""
        return cls(
            frozenset().union(*(p.content for p in parts)),
            frozenset().union(*(p.numbers for p in parts)),
            frozenset().union(*(p.mentions for p in parts)),
            tuple(c for p in parts for c in p.negated),
            tuple(c for p in parts for c in p.negating),
            frozenset().union(*(p.bounds for p in parts)),
        )

    def overlap(self, span: Terms) -> float:
        """Share of these content words found in ``span``."""
        return len(self.content & span.content) / len(self.content) if self.content else 0.0

    def agrees(self, span: Terms) -> bool:
        """Every number and code of the sentence is in the span, no bound is reversed, and
        neither side negates what the other states without negating it too.

        "14 days" is not supported by "30 days", nor "over 500 km" by "under 500 kilometres", nor
        "Photos are not accepted" by "Photos are accepted if legible".  "Alcohol is not
        reimbursed" may be supported by "alcohol excluded" (a negating word on the other side),
        and a "do not use the lifts" clause does not count against a claim about fire drills
        (a negation counts only in a clause that shares a word with the other side).
        """
        if not self.numbers <= span.mentions:
            return False
        for number, side in self.bounds:
            stated = {s for n, s in span.bounds if n == number}
            if stated and side not in stated:
                return False  # "over 500" against "under 500"
        return _negation_matches(self, span) and _negation_matches(span, self)


def _negation_matches(one: Terms, other: Terms) -> bool:
    """Each negation of ``one`` about ``other``'s words is matched by a negating clause there
    about those same words: "Wine is not an emulator" does not back "it is not a native Linux
    program", though both name Wine."""
    for clause in one.negated:
        shared = clause & other.content
        if shared and not any(negating & shared for negating in other.negating):
            return False
    return True


def _content(tokens: Sequence[str], lexicon: Lexicon) -> frozenset[str]:
    return frozenset(
        _number_token(t, lexicon) or lexicon.stem(t)
        for t in tokens
        if t not in lexicon.stopwords
        and t not in lexicon.filler
        and t not in lexicon.negations
        and (len(t) > 1 or t.isdigit())
    )


def _normalised(text: str) -> tuple[str, list[int]]:
    """Lower-cased letters and digits with single spaces between words, and each one's offset."""
    chars: list[str] = []
    offsets: list[int] = []
    for i, c in enumerate(text):
        if c.isalnum():
            chars.append(c.lower())
            offsets.append(i)
        elif chars and chars[-1] != " ":
            chars.append(" ")
            offsets.append(i)
    if chars and chars[-1] == " ":
        chars.pop()
        offsets.pop()
    return "".join(chars), offsets


def locate_quote(
    quote: str, passage: str, *, min_ratio: float = QUOTE_MIN_RATIO
) -> tuple[int, int] | None:
    """Where ``quote`` is in ``passage`` (offsets into it), tolerating case, spacing, punctuation
    and small typos; None when no window of the passage matches it at ``min_ratio``."""
    want, _ = _normalised(quote)
    have, offsets = _normalised(passage)
    if not want or not have:
        return None
    found = have.find(want)
    if found >= 0:
        return offsets[found], offsets[found + len(want) - 1] + 1
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", have)]
    size = len(want.split())
    best, best_ratio = (0, 0), 0.0
    matcher = SequenceMatcher(autojunk=False)
    matcher.set_seq2(want)
    for i in range(len(words)):
        for length in range(max(1, size - 2), size + 3):
            j = i + length - 1
            if j >= len(words):
                break
            matcher.set_seq1(have[words[i][0] : words[j][1]])
            if matcher.real_quick_ratio() <= best_ratio or matcher.quick_ratio() <= best_ratio:
                continue
            ratio = matcher.ratio()
            if ratio > best_ratio:
                best, best_ratio = (words[i][0], words[j][1]), ratio
    if best_ratio < min_ratio:
        return None
    return offsets[best[0]], offsets[best[1] - 1] + 1
