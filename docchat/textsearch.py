"""Turning free text into safe full-text queries for SQLite FTS5 and PostgreSQL.

User text is never handed to FTS5's query language as is: quotes, ``NEAR``, ``-`` or a stray ``*``
would raise a syntax error or change meaning. Each word becomes a quoted term instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from docchat.language import en

_WORD = re.compile(r"\w+", re.UNICODE)


#: Function words dropped from full-text "or" queries: English ones, as the index itself is read
#: as English (SQLite FTS5's ``porter`` tokenizer, PostgreSQL's ``english`` configuration), in
#: whatever language a query is.  The chat checks take the question's own (``docchat.language``).
STOPWORDS = en.STOPWORDS


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, in order."""
    return [w.lower() for w in _WORD.findall(text)]


def keywords(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """The words of ``text`` without ``stopwords`` (all of them if nothing else is left)."""
    found = words(text)
    kept = [w for w in found if w not in stopwords]
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
