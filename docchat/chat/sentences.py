"""Sentences of a passage or an answer, as character spans (so citations can point at them).

Two layers.  Lines first (``blocks``): a blank line always ends a sentence; a markdown heading, a
list item (with the lines it wraps onto), a table row, a shell prompt line, a numbered section
heading ("2.1 What is R?") and a short bare heading line above prose are units of their own
(``structural``); every other line is running prose, and a single line break inside prose is a hard
wrap, not the end of a sentence (plain text and PDF text are wrapped at a fixed width).  Lines with
no letter or digit (table borders, rules) are dropped.

Then each prose block goes, line breaks read as spaces, to a sentence segmenter that knows
abbreviations, decimals, URLs and file names in the languages docchat is used in.  The library
is chosen on ``tests/data/sentences/`` (real documents in English, Dutch and French, labelled by
hand) by ``bench/sentences.py``; see there for the numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import sentencex

#: The rules the prose segmenter applies.  Documents carry no language tag; the English rules
#: also end Dutch and French sentences well (the measured set holds both).
LANGUAGE = "en"

_ITEM = re.compile(r"[-*+\u2022\u2023\u25e6\u25aa]\s+\S|\d{1,3}[.)]\s+\S|\(\w{1,3}\)\s+\S")
# One line each: a markdown heading, a shell prompt, a markdown link definition.
_LINE_UNIT = re.compile(r"#{1,6}\s|[$%]\s|\[[^\]]+\]:\s+\S")
# "2.1 What is R?" is a heading; a numbered line as long as a wrapped line ("8.4.  In the event of
# termination under ...", a French heading over three lines) goes on like a list item.
_SECTION = re.compile(r"\d{1,3}(?:\.\d{1,3})+\.?\s+\S")
_WRAPPED_LINE = 60
_TABLE_DELIMITER = re.compile(r"\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*")
_SETEXT = re.compile(r"\s*(?:={3,}|-{3,})\s*")
_CLOSERS = r"""["'\u201d\u2019\u00bb)\]]*\s*$"""
_ENDS_SENTENCE = re.compile(r"[.!?:\u2026]" + _CLOSERS)
_ENDS_PHRASE = re.compile(r"[.!?:;,\u2026]" + _CLOSERS)
_OPENS = re.compile(r"""["'(\[\u201c\u2018\u00ab]?[A-Z0-9\u00c0-\u00de]""")
_BARE_HEADING_WORDS = 8
_BREAK = re.compile("[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")  # what str.splitlines splits at
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of ``text``: ``text[start:end]``, stripped of surrounding whitespace."""

    start: int
    end: int
    text: str
    #: A heading, list item, table row or command line rather than running prose.
    structural: bool = False


@dataclass(frozen=True, slots=True)
class Block:
    """Lines of ``text`` that belong together: one structural unit, or a paragraph of prose."""

    start: int
    end: int
    structural: bool

    def read(self, text: str) -> str:
        """The block's text with its line breaks read as spaces (offsets unchanged)."""
        return _BREAK.sub(" ", text[self.start : self.end])


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of ``text`` in order, with exact offsets into it."""
    found: list[Sentence] = []
    for block in blocks(text):
        if block.structural:
            _add(text, block.start, block.end, found, structural=True)
            continue
        for start, end in prose_spans(block.read(text)):
            _add(text, block.start + start, block.start + end, found, structural=False)
    return found


def prose_spans(prose: str) -> list[tuple[int, int]]:
    """Sentence spans of one paragraph of prose (no line breaks in it)."""
    boundaries = sentencex.get_sentence_boundaries(LANGUAGE, prose)
    return mended(prose, [(b["start_index"], b["end_index"]) for b in boundaries])


def mended(prose: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` with the cuts that cannot end a sentence undone: a cut with no space at it
    (segmenters cut URLs, "https://www." + "R-project.org", and paths, "run ." + "/tools"), and a
    cut before a lowercase letter (abbreviations the English rules do not know: "bijv. een",
    "p. ex. une"; in English, Dutch and French a sentence starts with a capital, a digit or a
    mark)."""
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        first = start
        while first < end and prose[first].isspace():
            first += 1
        if joined and (
            (joined[-1][1] == start and start > 0 and not prose[start - 1].isspace())
            or (first < end and prose[first].islower())
        ):
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


@dataclass(slots=True)
class _Line:
    start: int
    end: int
    indent: int
    body: str  # stripped


def blocks(text: str) -> list[Block]:
    """The paragraphs and structural units of ``text``, in order."""
    lines: list[_Line] = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        body = raw.strip()
        lines.append(_Line(offset, offset + len(raw), len(raw) - len(raw.lstrip()), body))
        offset += len(raw)
    width = max((line.indent + len(line.body) for line in lines), default=0)
    found: list[Block] = []
    current: list[_Line] = []  # the open prose paragraph or list item
    item = False  # ``current`` is a list item, which absorbs the lines it wraps onto
    table = False  # the line before was a table row

    def close(*, structural: bool = False) -> None:
        nonlocal current, item
        if current:
            found.append(Block(current[0].start, current[-1].end, structural or item))
        current, item = [], False

    for n, line in enumerate(lines):
        body = line.body
        if not _LETTER_OR_DIGIT.search(body):
            # A setext underline makes the one line above it a heading; other rules just end.
            close(structural=len(current) == 1 and not item and bool(_SETEXT.fullmatch(body)))
            table = table and bool(body)  # a blank line ends a table, a delimiter row does not
            continue
        table = _is_table_row(lines, n, after_row=table)
        if _LINE_UNIT.match(body) or table or _is_section_heading(body):
            close()
            found.append(Block(line.start, line.end, True))
            continue
        if _ITEM.match(body) or _SECTION.match(body):
            close()
            current, item = [line], True
            continue
        if item and not (
            line.indent > current[0].indent
            or not (_ENDS_SENTENCE.search(current[-1].body) or _heads(current, line, width))
        ):
            close()
        if not item and _is_bare_heading(lines, n, current, width):
            close()
            found.append(Block(line.start, line.end, True))
            continue
        current.append(line)
    close()
    return found


def _heads(item: list[_Line], following: _Line, width: int) -> bool:
    """Whether a one-line item is a numbered heading above prose rather than an item wrapping
    onto ``following``: "6. Encodings" above "Text files do not contain ..."."""
    return len(item) == 1 and _heading_above(item[0], following.body, width)


def _is_section_heading(body: str) -> bool:
    return len(body) < _WRAPPED_LINE and bool(_SECTION.match(body))


def _is_table_row(lines: list[_Line], n: int, *, after_row: bool) -> bool:
    body = lines[n].body
    if body.startswith("|"):
        return True
    if "|" not in body:
        return False
    # A row of a table without outer pipes: next to its delimiter row or another row.
    around = [lines[i].body for i in (n - 1, n + 1) if 0 <= i < len(lines)]
    return after_row or any(_TABLE_DELIMITER.fullmatch(b) for b in around)


def _is_bare_heading(lines: list[_Line], n: int, paragraph: list[_Line], width: int) -> bool:
    """A short line without end punctuation that opens a paragraph and is followed by one
    ("2 R Basics" above "2.1 What is R?" in PDF text): a heading, not a wrapped line."""
    if paragraph and not _ENDS_SENTENCE.search(paragraph[-1].body):
        return False
    following = lines[n + 1].body if n + 1 < len(lines) else ""
    return _heading_above(lines[n], following, width)


def _heading_above(line: _Line, following: str, width: int) -> bool:
    """Whether ``line`` reads as a heading over the line ``following``: a few words without end
    punctuation, the next line opening a sentence, and a break before the line was full.  A
    wrapped line breaks because the next word did not fit in ``width``; this one broke before
    it would."""
    body = line.body
    if len(body.split()) > _BARE_HEADING_WORDS or _ENDS_PHRASE.search(body):
        return False
    if not _OPENS.match(following):
        return False
    return line.indent + len(body) + 1 + len(following.split()[0]) <= width


def _add(text: str, start: int, end: int, found: list[Sentence], *, structural: bool) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        start += len(piece) - len(piece.lstrip())
        found.append(Sentence(start, start + len(stripped), stripped, structural))


def whole_sentences(region: str, start: int, end: int, *, reach: int = 600) -> tuple[int, int]:
    """``region[start:end]`` (a passage inside the text around it) grown to whole sentences: a
    passage cut by the chunker inside a sentence starts (or ends) where that sentence does, as
    far as ``region`` holds it and at most ``reach`` characters further (a table or a listing
    may read as one long "sentence")."""
    first = region.rfind("\n\n", 0, start)
    first = 0 if first < 0 else first + 2
    last = region.find("\n\n", end)
    last = len(region) if last < 0 else last
    new_start, new_end = start, end
    for s in split_sentences(region[first:last]):
        a, b = first + s.start, first + s.end
        if a < start < b and start - a <= reach:
            new_start = a
        if a < end < b and b - end <= reach:
            new_end = b
    return new_start, new_end
