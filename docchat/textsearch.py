"""Turning free text into safe full-text queries for SQLite FTS5 and PostgreSQL.

User text is never handed to FTS5's query language as is: quotes, ``NEAR``, ``-`` or a stray ``*``
would raise a syntax error or change meaning. Each word becomes a quoted term instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

_WORD = re.compile(r"\w+", re.UNICODE)


# Words so common that OR-ing them into a query matches nearly every row: costly, and no signal.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, in order."""
    return [w.lower() for w in _WORD.findall(text)]


def singular(word: str) -> str:
    """``word`` with a plural ending taken off: "days"/"day", "policies"/"policy", "résumés";
    enough to match a question's words to a passage's, not a real stemmer."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def keywords(text: str) -> list[str]:
    """The words of ``text`` without stop words (all of them if nothing else is left)."""
    found = words(text)
    kept = [w for w in found if w not in STOPWORDS]
    return kept or found


def fts5_query(text: str, *, mode: Literal["and", "or"] = "and", extra: Iterable[str] = ()) -> str:
    """An FTS5 MATCH expression for ``text`` (empty string when there is nothing to search for).

    In "or" mode stop words are dropped.  ``extra`` terms (manual keywords) are required in
    either mode.
    """
    split = keywords if mode == "or" else words
    terms = [f'"{w}"' for w in dict.fromkeys(split(text))]
    forced = [f'"{w}"' for kw in extra for w in words(kw)]
    joiner = " AND " if mode == "and" else " OR "
    parts: list[str] = []
    if terms:
        parts.append(f"({joiner.join(terms)})" if len(terms) > 1 else terms[0])
    parts.extend(forced)
    return " AND ".join(parts)


def pg_tsquery_text(
    text: str, *, mode: Literal["and", "or"] = "and", extra: Iterable[str] = ()
) -> str:
    """Text for ``to_tsquery('english', ...)`` built from plain words only (same rules as FTS5)."""
    split = keywords if mode == "or" else words
    terms = list(dict.fromkeys(split(text)))
    forced = [w for kw in extra for w in words(kw)]
    joiner = " & " if mode == "and" else " | "
    parts: list[str] = []
    if terms:
        parts.append(f"({joiner.join(terms)})")
    parts.extend(forced)
    return " & ".join(parts)
