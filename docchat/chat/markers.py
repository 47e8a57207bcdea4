"""Citation markers in a stream of model output: normalised as they complete, held while partial.

The model sees passages numbered 1..N and writes markers after its sentences: ``[2]``, ``[1, 3]``,
``[1][3]``, or with the few words it relies on, ``[2: "exact few words"]``.  ``MarkerFilter`` turns
a stream of text deltas into text safe to show: each complete marker is shown as one ``[n]`` per
passage (its quote kept aside, keyed by the marker's ordinal), a malformed one is repaired, numbers
naming no passage are removed and counted, and a marker still being written is held back.  What it
shows never depends on how the stream was cut into deltas.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_MARKER_CHARS",
    "Marker",
    "MarkerCounts",
    "MarkerFilter",
    "normalise_markers",
    "without_markers",
]


#: A longer candidate is not a marker: its opening bracket is released as text.
MAX_MARKER_CHARS = 240
MAX_QUOTE_CHARS = 200
#: "[1-3]" expands to three markers; a wider range is not a citation ("[1-100]").
_MAX_RANGE = 10
# Opening bracket → its closing one: square, full-width square, lenticular (CJK models), round.
_BRACKETS = {"[": "]", "\uff3b": "\uff3d", "\u3010": "\u3011", "(": ")"}
_QUOTE_BRACKETS = {'"': '"', "\u201c": '\u201d"', "\u201e": '\u201c\u201d"', "\u00ab": "\u00bb"}
_PREFIXES = (
    "passages",
    "passage",
    "sources",
    "source",
    "documents",
    "document",
    "docs",
    "doc",
    "references",
    "reference",
    "refs",
    "ref",
)
# A marker as ``MarkerFilter`` shows it, with the space before it.
_SHOWN = re.compile(r"\s*\[\d+\]")
_DIGITS = "0123456789"
_DASHES = "-\u2013\u2014"
_SPACES = " \t"
_SPECIAL = re.compile(r"[\[\uff3b\u3010(` \t]")
_CANONICAL = re.compile(r'\[[1-9]\d{0,2}(?:: "[^"\n]*")?(?:, [1-9]\d{0,2}(?:: "[^"\n]*")?)*\]')


@dataclass(frozen=True, slots=True)
class Marker:
    """A ``[n]`` the filter showed: its ordinal among shown markers, its offsets in the text."""

    ordinal: int
    n: int
    start: int
    end: int
    quote: str | None = None


@dataclass(frozen=True, slots=True)
class MarkerCounts:
    """What a filter changed: markers repaired, and passage numbers removed as unknown."""

    repaired: int = 0
    removed_unknown: int = 0


class _More(Exception):
    """The candidate may still become a marker: wait for more text."""


class _NotMarker(Exception):
    """The candidate is not a marker: release it as text."""


@dataclass(slots=True)
class _Parsed:
    end: int
    items: list[tuple[int, str | None]]


class _Cursor:
    """Reads a marker candidate; runs out of text with ``_More`` unless the stream has ended."""

    def __init__(self, text: str, start: int, final: bool) -> None:
        self.text, self.i, self.final = text, start, final
        self.limit = start + MAX_MARKER_CHARS

    def at(self, j: int) -> str:
        if j >= self.limit:
            raise _NotMarker
        if j >= len(self.text):
            raise _NotMarker if self.final else _More
        return self.text[j]

    def peek(self) -> str:
        return self.at(self.i)

    def take(self) -> str:
        c = self.at(self.i)
        self.i += 1
        return c

    def spaces(self) -> None:
        while self.peek() in _SPACES:
            self.i += 1

    def word(self, choices: Sequence[str]) -> str | None:
        """One of ``choices`` (case-insensitive) followed by a non-letter, else None."""
        j, read = self.i, ""
        while (c := self.at(j)).isalpha():
            read += c.lower()
            if not any(w.startswith(read) for w in choices):
                return None
            j += 1
        if read not in choices:
            return None
        self.i = j
        return read


def _prefix(cur: _Cursor) -> bool:
    """Skip "Passage", "source:", "#" and the like before a number; True when there was one."""
    if cur.peek() == "#":
        cur.i += 1
        return True
    if cur.word(_PREFIXES) is None:
        return False
    if cur.peek() in ".:":
        cur.i += 1
    cur.spaces()
    if cur.peek() == "#":
        cur.i += 1
    return True


def _number(cur: _Cursor) -> int:
    digits = ""
    while cur.peek() in _DIGITS:
        digits += cur.take()
        if len(digits) > 3:
            raise _NotMarker
    if not digits:
        raise _NotMarker
    return int(digits)


def _quote(cur: _Cursor) -> str | None:
    closers = _QUOTE_BRACKETS[cur.take()]
    start = cur.i
    while (c := cur.take()) not in closers:
        if c == "\n" or cur.i - start > MAX_QUOTE_CHARS:
            raise _NotMarker
    return cur.text[start : cur.i - 1].strip() or None


def _parse_marker(text: str, start: int, final: bool) -> _Parsed | None:
    """The marker at ``text[start]``, None if there is none; raises ``_More`` if undecided."""
    cur = _Cursor(text, start, final)
    try:
        opener = cur.take()
        closer = _BRACKETS[opener]
        if opener == "[" and cur.peek() == "^":  # a footnote, "[^2]"
            cur.i += 1
        cur.spaces()
        # "(1)" numbers a list far more often than it cites: only "(Passage 1)" is a marker.
        if opener == "(" and not (cur.peek().isalpha() and _prefix(cur)):
            return None
        items: list[tuple[int, str | None]] = []
        while True:
            _prefix(cur)
            first = last = _number(cur)
            cur.spaces()
            if cur.peek() in _DASHES:
                cur.i += 1
                cur.spaces()
                _prefix(cur)
                last = _number(cur)
                cur.spaces()
                if not first < last <= first + _MAX_RANGE:
                    return None
            quote = None
            if cur.peek() == ":":
                cur.i += 1
                cur.spaces()
            if cur.peek() in _QUOTE_BRACKETS:
                quote = _quote(cur)
                cur.spaces()
            items.extend((n, quote) for n in range(first, last + 1))
            c = cur.take()
            if c == closer:
                break
            if c not in ",;&" and not (c.lower() == "a" and cur.word(["nd"])):
                return None
            cur.spaces()
        if opener == "[" and cur.i < len(text) and text[cur.i] == "(":
            return None  # "[1](https://…)" is a Markdown link
        if opener == "[" and cur.i >= len(text) and not final:
            raise _More
        return _Parsed(cur.i, items)
    except _NotMarker:
        return None


class MarkerFilter:
    """Normalises citation markers in a stream of text deltas, holding back partial ones.

    ``feed`` returns the text that can be shown now; ``finish`` the rest.  Shown markers are
    always ``[n]`` with 1 <= n <= ``passages``; quotes are in ``quotes`` (by marker ordinal).
    Repaired: spaces and missing spaces inside brackets, "Passage"/"source"/"doc"/"ref"/"#"
    prefixes, full-width and lenticular brackets (U+FF3B, U+3010), footnotes ([^1]), ranges ([1-3]),
    "and"/";"/"&" separators, a quote without its colon, repeated numbers.  "(Passage 2)" is
    repaired to [2], but a bare "(2)" is left alone: it numbers list items far more often.
    Removed: numbers naming no passage ([7] of 5, [0]); a marker left empty goes with the spaces
    before it.  Not markers: text inside code (`...`, fenced blocks; an unclosed inline code span
    ends at the line's end), Markdown links "[1](url)", anything longer than MAX_MARKER_CHARS.
    """

    def __init__(self, passages: int) -> None:
        self.passages = passages
        self.repaired = 0
        self.removed_unknown = 0
        self.markers: list[Marker] = []
        self._pending = ""
        self._shown: list[str] = []
        self._length = 0
        self._fence = 0  # length of the backtick run that opened the code we are in, 0 outside

    @property
    def text(self) -> str:
        """Everything shown so far."""
        return "".join(self._shown)

    @property
    def quotes(self) -> dict[int, str]:
        """The quote the model gave with each marker, by the marker's ordinal."""
        return {m.ordinal: m.quote for m in self.markers if m.quote}

    @property
    def counts(self) -> MarkerCounts:
        """How many markers were repaired and how many unknown numbers removed."""
        return MarkerCounts(repaired=self.repaired, removed_unknown=self.removed_unknown)

    def feed(self, delta: str) -> str:
        """The part of the text so far that is safe to show now."""
        self._pending += delta
        return self._scan(final=False)

    def finish(self) -> str:
        """The rest, at the end of the stream (a marker never completed is shown as text)."""
        return self._scan(final=True)

    def _emit(self, out: list[str], piece: str) -> None:
        out.append(piece)
        self._length += len(piece)

    def _scan(self, *, final: bool) -> str:
        """Show what can be decided now; keep the rest pending."""
        s, i = self._pending, 0
        out: list[str] = []
        while i < len(s):
            if self._fence:
                step = self._code(s, i, final, out)
            elif s[i] == "`":
                step = self._code_start(s, i, final, out)
            elif s[i] in _SPACES:
                step = self._spaces(s, i, final, out)
            elif s[i] in _BRACKETS:
                step = self._bracket(s, i, final, out)
            else:
                m = _SPECIAL.search(s, i + 1)
                step = m.start() if m else len(s)
                self._emit(out, s[i:step])
            if step is None:
                break  # wait for more text
            i = step
        self._pending = s[i:]
        shown = "".join(out)
        self._shown.append(shown)
        return shown

    # Each step shows what it read and returns where the next one starts, or None to wait.

    def _code(self, s: str, i: int, final: bool, out: list[str]) -> int | None:
        """Inside code: everything as it is, up to the closing backticks (or, for inline code,
        the end of the line: an unclosed backtick must not swallow the rest of the answer)."""
        stop = s.find("`", i) if self._fence >= 3 else _find_any(s, i, "`\n")
        if stop < 0:
            self._emit(out, s[i:])
            return len(s)
        self._emit(out, s[i:stop])
        if s[stop] == "\n":
            self._fence = 0
            self._emit(out, "\n")
            return stop + 1
        end = _run_end(s, stop, "`")
        if end == len(s) and not final:
            return None if stop == i else stop
        run = end - stop
        if run == self._fence or (self._fence >= 3 and run > self._fence):
            self._fence = 0
        self._emit(out, s[stop:end])
        return end

    def _code_start(self, s: str, i: int, final: bool, out: list[str]) -> int | None:
        end = _run_end(s, i, "`")
        if end == len(s) and not final:
            return None  # "`" or "```": not known yet
        self._fence = end - i
        self._emit(out, s[i:end])
        return end

    def _spaces(self, s: str, i: int, final: bool, out: list[str]) -> int | None:
        """Spaces, held until we know whether a marker left empty follows them."""
        end = _run_end(s, i, _SPACES)
        if end == len(s) and not final:
            return None
        if end < len(s) and s[end] in _BRACKETS:
            try:
                parsed = _parse_marker(s, end, final)
            except _More:
                return None
            if parsed is not None and not self._known(parsed):
                after = parsed.end
                if after == len(s) and not final:
                    return None
                # "A [7]." loses the space; "C [0][2]" keeps it for the [2].
                if after == len(s) or s[after] not in _BRACKETS:
                    self.removed_unknown += len(parsed.items)
                    return after
        self._emit(out, s[i:end])
        return end

    def _bracket(self, s: str, i: int, final: bool, out: list[str]) -> int | None:
        try:
            parsed = _parse_marker(s, i, final)
        except _More:
            return None
        if parsed is None:
            self._emit(out, s[i])
            return i + 1
        self._show(out, parsed, s[i : parsed.end])
        return parsed.end

    def _known(self, parsed: _Parsed) -> bool:
        return any(1 <= n <= self.passages for n, _ in parsed.items)

    def _show(self, out: list[str], parsed: _Parsed, source: str) -> None:
        seen: dict[int, str | None] = {}
        for n, quote in parsed.items:
            if not 1 <= n <= self.passages:
                self.removed_unknown += 1
            elif n not in seen or (quote and not seen[n]):
                seen[n] = quote
        if not seen:
            return
        if len(seen) < len(parsed.items) - _unknown(parsed, self.passages) or not (
            _CANONICAL.fullmatch(source)
        ):
            self.repaired += 1
        for n, quote in seen.items():
            shown = f"[{n}]"
            self.markers.append(
                Marker(len(self.markers), n, self._length, self._length + len(shown), quote)
            )
            self._emit(out, shown)


def _unknown(parsed: _Parsed, passages: int) -> int:
    return sum(1 for n, _ in parsed.items if not 1 <= n <= passages)


def _run_end(s: str, i: int, chars: str) -> int:
    while i < len(s) and s[i] in chars:
        i += 1
    return i


def _find_any(s: str, i: int, chars: str) -> int:
    found = [j for j in (s.find(c, i) for c in chars) if j >= 0]
    return min(found) if found else -1


def normalise_markers(text: str, passages: int) -> MarkerFilter:
    """A filter that has read all of ``text``: its ``text``, ``markers``, ``quotes`` and counts."""
    f = MarkerFilter(passages)
    f.feed(text)
    f.finish()
    return f


def without_markers(text: str) -> str:
    """``text`` without the ``[n]`` markers an answer shows, nor the space before each: its
    words alone."""
    return _SHOWN.sub("", text)
