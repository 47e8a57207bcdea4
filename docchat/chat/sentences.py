"""Sentences of a passage or an answer, as character spans (so citations can point at them).

Rule-based on purpose: a line break that ends a line of text, or ``.``/``!``/``?`` followed by
space and a capital, digit or opening mark, ends a sentence; common abbreviations ("e.g.", "Dr."),
decimals ("2.08") and initials do not.  Markdown headings, list bullets and table rows are their
own sentences, so a heading is never glued to the sentence under it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "cf",
        "approx",
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "no",
        "fig",
        "eq",
        "al",
        "inc",
        "ltd",
        "corp",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
    ]
)
# The end of a sentence inside a line: terminal punctuation (and closing quotes or brackets), then
# whitespace, then something that can start a sentence.
_BOUNDARY = re.compile(r"""([.!?…]+["')\]]*)\s+(?=["'(\[]?[A-Z0-9À-Ý])""")
_HEADING = re.compile(r"^\s*(#{1,6}\s|[-*+•]\s|\d{1,3}[.)]\s|\|)")


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of ``text``: ``text[start:end]``, stripped of surrounding whitespace."""

    start: int
    end: int
    text: str
    #: A heading, bullet or table row rather than running prose.
    structural: bool = False


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of ``text`` in order, with exact offsets into it."""
    found: list[Sentence] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        _split_line(text, offset, line, found)
        offset += len(line)
    return found


def _split_line(text: str, offset: int, line: str, found: list[Sentence]) -> None:
    structural = bool(_HEADING.match(line))
    start = 0
    for match in _BOUNDARY.finditer(line):
        if structural or _is_abbreviation(line, match.start(1)):
            continue
        _add(text, offset + start, offset + match.end(1), found, structural=False)
        start = match.end()
    _add(text, offset + start, offset + len(line), found, structural=structural)


def _is_abbreviation(line: str, dot: int) -> bool:
    if line[dot] != ".":
        return False
    word = re.search(r"([\w.]+)$", line[:dot])
    if word is None:
        return False
    token = word.group(1).lower().rstrip(".")
    # A single letter ("J. Smith") or a known abbreviation does not end a sentence.
    return len(token) == 1 or token in _ABBREVIATIONS


def _add(text: str, start: int, end: int, found: list[Sentence], *, structural: bool) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        found.append(Sentence(start, end, text[start:end], structural))
