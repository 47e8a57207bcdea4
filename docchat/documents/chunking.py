"""Chunking: token-aware, overlapping windows over each unit of a parsed document.

A chunk never crosses a unit boundary, so it has exactly one page and section to cite.  Windows end
at the best boundary in their second half (paragraph > sentence > line > word) and the next window
starts up to ``overlap`` word-pieces earlier, at a sentence start if one is near, else at a word.

Each unit is tokenized once and cut along the tokenizer's own offsets.  Cuts fall between
pre-tokenized words, where WordPiece restarts, so a chunk's text re-tokenizes to exactly the pieces
counted; only a word longer than a whole window is cut inside, and then the piece is re-counted.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tokenizers import Encoding, Tokenizer

from docchat.documents.tokens import get_tokenizer
from docchat.documents.types import Chunk, ParsedDocument, TextUnit

# Boundary ranks, best last.
_NONE, _TIGHT, _WORD, _LINE, _SENTENCE, _PARAGRAPH = -1, 0, 1, 2, 3, 4
_SENTENCE_ENDS = frozenset(".!?\u2026\u3002\uff01\uff1f")  # with CJK full stops, ! and ?
_CLOSERS = frozenset("\"')]}\u2019\u201d\u00bb")  # quotes and brackets after a full stop
# The tokenizer slows down on long inputs (~600k pieces/s at 2 KB, ~250k at 50 KB), so units are
# encoded in pieces of about this many characters, split at whitespace, which changes nothing.
_SEGMENT_CHARS = 2000
# Units are encoded in batches of about this many characters, bounding memory for huge documents.
_BATCH_CHARS = 1_000_000
_SPLIT_SPACE = re.compile(r"[ \t\n]")


def chunk(
    doc: ParsedDocument,
    *,
    max_tokens: int,
    overlap: int,
    tokenizer: Tokenizer | None = None,
    limit: int | None = None,
) -> list[Chunk]:
    """Split ``doc`` into chunks of at most ``max_tokens`` word-pieces ([CLS]/[SEP] not counted).

    ``tokenizer`` defaults to the embedder's (MiniLM); pass another to count with it instead.
    With ``limit``, stop once that many chunks are cut: the first ``limit`` of them, and text
    past the batch being cut is never tokenized.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if not 0 <= overlap < max_tokens:
        raise ValueError("overlap must be at least 0 and smaller than max_tokens")
    tok = tokenizer or get_tokenizer()
    chunks: list[Chunk] = []
    for unit, tokens in _tokenized(doc, tok):
        windows = _Windows(doc.text, tokens, max_tokens, overlap, tok)
        for start, end, count in windows:
            chunks.append(
                Chunk(
                    len(chunks),
                    doc.text[start:end],
                    start,
                    end,
                    unit.page,
                    unit.section,
                    count,
                )
            )
            if limit is not None and len(chunks) >= limit:
                return chunks
    return chunks


@dataclass(slots=True)
class _Tokens:
    """One unit's word-pieces: document offsets, and whether each starts a pre-tokenized word."""

    starts: list[int]
    ends: list[int]
    word_start: list[bool]


def _tokenized(doc: ParsedDocument, tok: Tokenizer) -> Iterator[tuple[TextUnit, _Tokens]]:
    batch: list[TextUnit] = []
    size = 0
    for unit in doc.units:
        batch.append(unit)
        size += len(unit.text)
        if size >= _BATCH_CHARS:
            yield from _encode(batch, tok)
            batch, size = [], 0
    yield from _encode(batch, tok)


def _encode(units: Sequence[TextUnit], tok: Tokenizer) -> Iterator[tuple[TextUnit, _Tokens]]:
    texts: list[str] = []
    bases: list[int] = []
    owners: list[int] = []
    for index, unit in enumerate(units):
        for start, end in _segments(unit.text):
            texts.append(unit.text[start:end])
            bases.append(unit.char_start + start)
            owners.append(index)
    encodings = tok.encode_batch(texts, add_special_tokens=False) if texts else []
    current = _Tokens([], [], [])
    for i, encoding in enumerate(encodings):
        _append(current, encoding, bases[i])
        if i + 1 == len(encodings) or owners[i + 1] != owners[i]:
            if current.starts:
                yield units[owners[i]], current
            current = _Tokens([], [], [])


def _append(tokens: _Tokens, encoding: Encoding, base: int) -> None:
    offsets = encoding.offsets
    tokens.starts.extend([base + a for a, _ in offsets])
    tokens.ends.extend([base + b for _, b in offsets])
    words = encoding.word_ids
    if words:
        # Segments begin at whitespace, so their first piece always starts a word.
        tokens.word_start.append(True)
        tokens.word_start.extend(map(operator.ne, words[1:], words[:-1]))


def _segments(text: str) -> Iterator[tuple[int, int]]:
    start, n = 0, len(text)
    while n - start > _SEGMENT_CHARS:
        low, high = start + _SEGMENT_CHARS // 2, start + _SEGMENT_CHARS
        cut = text.rfind("\n", low, high)
        if cut < 0:
            cut = text.rfind(" ", low, high)
        if cut < 0:
            found = _SPLIT_SPACE.search(text, high)
            if found is None:
                break
            cut = found.start()
        yield start, cut
        start = cut
    yield start, n


class _Windows:
    """Iterates (char_start, char_end, token_count) over one unit's windows."""

    def __init__(
        self, text: str, tokens: _Tokens, max_tokens: int, overlap: int, tok: Tokenizer
    ) -> None:
        self.text = text
        self.starts, self.ends, self.word_start = tokens.starts, tokens.ends, tokens.word_start
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.tok = tok

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        n = len(self.starts)
        start, previous_cut = 0, 0
        while True:
            if n - start <= self.max_tokens:
                cut = n
                span = self._span(start, n)
                if span[2] <= self.max_tokens:
                    yield span
                    return
            else:
                cut = self._cut(start, previous_cut)
                span = self._span(start, cut)
            if span[2] > self.max_tokens:
                cut, span = self._shrink(start, cut)
            yield span
            start, previous_cut = self._next_start(start, cut), cut

    def _rank(self, i: int) -> int:
        """How good a place to cut is just before piece ``i``."""
        if not self.word_start[i]:
            return _NONE
        text = self.text
        end = self.ends[i - 1]
        gap = text[end : self.starts[i]]
        if not gap:
            return _TIGHT
        newlines = gap.count("\n")
        if newlines > 1:
            return _PARAGRAPH
        last = text[end - 1]
        if last in _CLOSERS:
            last = text[end - 2 : end - 1]
        if last in _SENTENCE_ENDS:
            return _SENTENCE
        return _LINE if newlines else _WORD

    def _cut(self, start: int, previous_cut: int) -> int:
        high = start + self.max_tokens
        low = max(start + self.max_tokens // 2, previous_cut + 1, start + 1)
        best, best_rank = high, _NONE
        for i in range(high, low - 1, -1):
            rank = self._rank(i)
            if rank > best_rank:
                best, best_rank = i, rank
                if rank == _PARAGRAPH:
                    break
        if best_rank == _NONE:
            # No word ends in the second half: take the last one anywhere, else cut inside a word.
            best = next(
                (i for i in range(low - 1, max(start, previous_cut), -1) if self.word_start[i]),
                high,
            )
        return best

    def _next_start(self, start: int, cut: int) -> int:
        if self.overlap == 0:
            return cut
        # The earliest sentence start in the overlap reads best, then the earliest line start (a
        # table row), then the earliest word.
        earliest = {_SENTENCE: cut, _LINE: cut, _TIGHT: cut}
        for i in range(cut - 1, max(cut - self.overlap, start + 1) - 1, -1):
            rank = self._rank(i)
            if rank >= _TIGHT:
                earliest[_TIGHT] = i
                if rank >= _LINE:
                    earliest[_LINE] = i
                    if rank >= _SENTENCE:
                        earliest[_SENTENCE] = i
        return next((i for i in earliest.values() if i < cut), cut)

    def _span(self, start: int, end: int) -> tuple[int, int, int]:
        a, b = self.starts[start], self.ends[end - 1]
        text = self.text
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        count = end - start
        if not (self.word_start[start] and (end == len(self.starts) or self.word_start[end])):
            # Cut inside a word: the pieces of a partial word may differ from the whole word's.
            count = len(self.tok.encode(text[a:b], add_special_tokens=False).ids)
        return a, b, count

    def _shrink(self, start: int, cut: int) -> tuple[int, tuple[int, int, int]]:
        while cut > start + 1:
            cut -= 1
            span = self._span(start, cut)
            if span[2] <= self.max_tokens:
                return cut, span
        return cut, self._span(start, cut)
