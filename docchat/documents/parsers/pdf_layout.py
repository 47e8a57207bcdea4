"""A PDF page's printed lines in reading order, each character traced to its PDFium index.

PDFium's text page lists characters in content-stream order and marks where it saw a new line
(a generated CR LF).  That order is the writer's, not the reader's: two columns may come out
interleaved, a header last, a sidebar first.  ``read_page`` takes PDFium's lines with their boxes
and puts them in reading order: columns are found from vertical gutters (x ranges that few lines
cross, with text on both sides), a line that crosses one is split there when its text objects
leave a gap at it, else it spans the page (a title); then full-width lines cut the page into
bands, read top to bottom, each band column by column.  Pieces of one printed line (a footnote
mark, text objects out of order) are merged by their vertical overlap.

Cost: calls through ctypes into PDFium dominate (about 10 microseconds each on the 2-core
development machine), so nothing here asks for a box per character: one call reads the page's
text, then about three calls per line read its boxes (PDFium's per-text-object rectangles).
Every character is traced back through ``Line.index``: ``docchat.documents.pages`` re-runs this
(deterministic) layout at highlight time rather than storing a map per character.

The caller holds ``PDFIUM_LOCK``.
"""

from __future__ import annotations

import ctypes
import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

__all__ = ["Line", "PageLayout", "read_page", "text_units"]

# Ligatures and presentation forms a font's ToUnicode map leaves as one character: search,
# tokenizers and readers expect the letters.
_LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
    "\u0132": "IJ",
    "\u0133": "ij",
}
# Spacing accents that TeX-made PDFs draw as a glyph of their own before the letter they sit on
# ("Gr\u00a8atzer", "Halil\u02c7cevi\u00b4c"), with the combining mark each stands for.  Read as
# a letter with its accent ("Grätzer") when they are inside a word and compose into one
# character.  The circumflex and tilde accents (U+02C6, U+02DC) are left alone: TeX's PDFs print
# them for "^" and "~" ("x^y", "J.~Bartlett").
_ACCENTS = {
    "\u00a8": "\u0308",  # diaeresis
    "\u00b4": "\u0301",  # acute
    "\u02c7": "\u030c",  # caron
    "\u02d8": "\u0306",  # breve
    "\u02d9": "\u0307",  # dot above
    "\u02da": "\u030a",  # ring above
    "\u02dd": "\u030b",  # double acute
    "\u00af": "\u0304",  # macron
}
# PDFium's markers for a hyphen it saw at a line end (it then joins the two lines, with no line
# break between): here a hyphen that ends a line; whether it splits a word is decided with the
# document's words (pdf_paragraphs).
_HYPHEN_MARKS = "\x02\ufffe"
_LINE_BREAK = re.compile(r"\r\n|[\r\n]|(?<=[\x02\ufffe])")
# What a line's text does not keep as it is: whitespace other than one space, UTF-16 pairs and
# halves, ligatures, hyphen marks, and what clean_text drops (parsers.__init__; dropped here so
# the map stays exact).
_SPECIAL = re.compile(
    r"\s{2,}|[^\S ]|[\ud800-\udbff][\udc00-\udfff]"
    rf"|(?<=[^\W\d_])[{''.join(_ACCENTS)}][^\W\d_]"
    r"|[\x00-\x1f\x7f-\x9f\xad\u200b\u2060\ufeff\ufffe\uffff\ufb00-\ufb06\u0132\u0133\ud800-\udfff]"
)


@dataclass(slots=True)
class Line:
    """One printed line: its text (normalised) and, per character, PDFium's index or -1
    (``index`` is empty where the page was read with ``trace=False``)."""

    text: str
    index: list[int]
    start: int  # PDFium's indices of the line's first and (one past) last character
    end: int
    left: float
    bottom: float
    right: float
    top: float
    column: int = -1  # -1: spans the columns (or the page has one)
    band: int = 0  # reading order: full-width lines cut the page into bands

    @property
    def height(self) -> float:
        return self.top - self.bottom

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def middle_x(self) -> float:
        return (self.left + self.right) / 2


@dataclass(slots=True)
class PageLayout:
    """A page's lines in reading order, with its size in points."""

    width: float
    height: float
    lines: list[Line] = field(default_factory=list)
    columns: int = 1


def text_units(textpage: pdfium.PdfTextPage) -> str:
    """PDFium's characters of the page, one per character index (one call)."""
    count = textpage.count_chars()
    if count <= 0:
        return ""
    buffer = (ctypes.c_ushort * (count + 1))()
    pdfium_c.FPDFText_GetText(textpage.raw, 0, count, buffer)
    # UTF-16 code units, one per index; pairs are joined again when a line's text is made.
    text = bytes(buffer)[: count * 2].decode("utf-16-le", "surrogatepass")
    if len(text) != count:  # the decoder joined UTF-16 pairs: one character per unit instead
        text = "".join(map(chr, buffer[:count]))
    return text


def read_page(
    page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, *, trace: bool = True
) -> PageLayout:
    """The page's printed lines in reading order; without ``trace`` the lines keep no
    per-character index (parsing a 5,000-page file needs only the text)."""
    width, height = page.get_size()
    layout = PageLayout(width, height)
    units = text_units(textpage)
    pieces = _pdfium_lines(textpage, units)
    if not pieces:
        return layout
    gutters = _gutters(pieces)
    if gutters:
        for piece in pieces:
            piece.column = _column(piece, gutters)
        layout.columns = len(gutters) + 1
    else:
        for piece in pieces:
            piece.column = 0
    if not trace:
        for piece in pieces:
            piece.index = []
    layout.lines = _reading_order(_merge_same_line(pieces))
    return layout


def _pdfium_lines(textpage: pdfium.PdfTextPage, units: str) -> list[Line]:
    """PDFium's own lines (split at its CR LF), with the box of their text objects."""
    lines: list[Line] = []
    start = 0
    for found in [*_LINE_BREAK.finditer(units), None]:
        end = found.start() if found else len(units)
        lines.extend(_line(textpage, units, start, end))
        if found:
            start = found.end()
    return lines


def _line(textpage: pdfium.PdfTextPage, units: str, start: int, end: int) -> list[Line]:
    """The printed pieces of PDFium's line [start, end): one, or one per run of text objects
    that a wide gap separates (columns written side by side, table cells)."""
    count = pdfium_c.FPDFText_CountRects(textpage.raw, start, end - start)
    if count <= 0:  # nothing drawn: invisible or zero-size text
        return []
    rects = _rects(textpage, count)
    pieces = _cuts(textpage, rects, start, end) if count > 1 else [(start, end, rects)]
    lines: list[Line] = []
    for a, b, own in pieces:
        text, index = _normalise(units, a, b)
        if text:
            left, bottom, right, top = own[0]
            for r in own[1:]:
                left, bottom = min(left, r[0]), min(bottom, r[1])
                right, top = max(right, r[2]), max(top, r[3])
            lines.append(Line(text, index, a, b, left, bottom, right, top))
    return lines


_Rect = tuple[float, float, float, float]


# Out-parameters of FPDFText_GetRect, made once: every call holds PDFIUM_LOCK.
_LEFT, _TOP, _RIGHT, _BOTTOM = (ctypes.c_double() for _ in range(4))
_RECT_REFS = tuple(ctypes.byref(value) for value in (_LEFT, _TOP, _RIGHT, _BOTTOM))


def _rects(textpage: pdfium.PdfTextPage, count: int) -> list[_Rect]:
    """The rectangles of the last ``FPDFText_CountRects`` (left, bottom, right, top)."""
    get = pdfium_c.FPDFText_GetRect
    raw = textpage.raw
    rects = []
    for k in range(count):
        get(raw, k, *_RECT_REFS)
        rects.append((_LEFT.value, _BOTTOM.value, _RIGHT.value, _TOP.value))
    return rects


def _cuts(
    textpage: pdfium.PdfTextPage, rects: Sequence[_Rect], start: int, end: int
) -> list[tuple[int, int, list[_Rect]]]:
    """The line cut where a gap is wider than the line is high (a word space is a third of
    that): (start, end, rectangles) of each piece."""
    height = max(r[3] for r in rects) - min(r[1] for r in rects)
    ordered = sorted(rects)
    groups: list[list[_Rect]] = [[ordered[0]]]
    reach = ordered[0][2]
    for rect in ordered[1:]:
        if rect[0] - reach > height:
            groups.append([])
        groups[-1].append(rect)
        reach = max(reach, rect[2])
    if len(groups) == 1:
        return [(start, end, list(rects))]
    bounds = [start]
    for group in groups[1:]:
        first = group[0]
        y = (first[1] + first[3]) / 2
        at = pdfium_c.FPDFText_GetCharIndexAtPos(textpage.raw, first[0] + 0.3, y, 1.0, 1.0)
        if not bounds[-1] < at < end:
            return [(start, end, list(rects))]  # PDFium's order is not left to right: keep whole
        bounds.append(at)
    bounds.append(end)
    return [(a, b, g) for a, b, g in zip(bounds, bounds[1:], groups, strict=False)]


def _normalise(units: str, start: int, end: int) -> tuple[str, list[int]]:
    """A line's characters as text: ligatures spelt out, whitespace runs made one space, what
    clean_text would drop left out, UTF-16 pairs joined; each character's PDFium index.  Runs of
    plain characters are copied whole: a character at a time took a third of the parse."""
    out: list[str] = []
    index: list[int] = []
    pos = start
    for found in _SPECIAL.finditer(units, start, end):
        at = found.start()
        if at > pos:
            out.append(units[pos:at])
            index.extend(range(pos, at))
        pos = found.end()
        chars = found.group()
        if chars[0].isspace():
            letters = " "
        elif chars[0] in _HYPHEN_MARKS:
            letters = "-"
        elif chars[0] in _ACCENTS:  # "¨a": "ä" where one character is the two
            composed = unicodedata.normalize("NFC", chars[1] + _ACCENTS[chars[0]])
            if len(composed) > 1:
                composed = chars
            out.extend(composed)
            # the letter's box is where the accented letter is printed
            index.extend([at + 1] if len(composed) == 1 else [at, at + 1])
            continue
        elif len(chars) == 2:  # a UTF-16 pair
            letters = chars.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        else:  # a ligature spelt out; a control or a lone UTF-16 half dropped
            letters = _LIGATURES.get(chars, "")
        out.extend(letters)
        index.extend([at] * len(letters))
    if pos < end:
        out.append(units[pos:end])
        index.extend(range(pos, end))
    text = "".join(out)
    if "  " in text or text[:1] == " " or text[-1:] == " ":
        keep = [k for k, ch in enumerate(text) if ch != " " or (k and text[k - 1] != " ")]
        if keep and text[keep[-1]] == " ":
            keep.pop()
        text = "".join(text[k] for k in keep)
        index = [index[k] for k in keep]
    return text, index


def _gutters(lines: Sequence[Line]) -> list[tuple[float, float]]:
    """Vertical strips between columns: few lines cross them, and enough lines fill the space
    on each side, side by side, to be columns of text rather than a table or an indent."""
    left = min(line.left for line in lines)
    right = max(line.right for line in lines)
    span = right - left
    if span <= 0 or len(lines) < 8:
        return []
    size = statistics.median(line.height for line in lines)
    # Lines crossing each x, every half point or so: those that start at or before it less
    # those that end before it.
    xs = np.linspace(left, right, 401)
    starts = np.sort(np.fromiter((line.left for line in lines), float, len(lines)))
    ends = np.sort(np.fromiter((line.right for line in lines), float, len(lines)))
    crossing = np.searchsorted(starts, xs, "right") - np.searchsorted(ends, xs, "left")
    # Titles, abstracts and footers may cross a gutter; a fifth of the lines is the most seen.
    open_ = crossing <= max(1, len(lines) // 5)
    open_[:60] = open_[-60:] = False  # a gutter lies within the middle 70%
    edges = np.flatnonzero(np.diff(open_.astype(np.int8)))
    found: list[tuple[float, float]] = []
    for b, e in zip(edges[::2] + 1, edges[1::2] + 1, strict=False):
        lo, hi = float(xs[b]), float(xs[e - 1])
        if hi - lo >= 0.6 * size and _columns_beside(lines, lo, hi, left, right):
            found.append((lo, hi))
    return found


def _columns_beside(lines: Sequence[Line], lo: float, hi: float, left: float, right: float) -> bool:
    before = [line for line in lines if line.right <= lo]
    after = [line for line in lines if line.left >= hi]
    if len(before) < 4 or len(after) < 4:
        return False
    # Lines of text fill their column; table cells and labels mostly do not.
    before_full = statistics.median(line.right - line.left for line in before) >= 0.5 * (lo - left)
    after_full = statistics.median(line.right - line.left for line in after) >= 0.5 * (right - hi)
    top = min(max(line.top for line in before), max(line.top for line in after))
    bottom = max(min(line.bottom for line in before), min(line.bottom for line in after))
    return before_full and after_full and top > bottom


def _column(line: Line, gutters: Sequence[tuple[float, float]]) -> int:
    if any(line.left < lo and line.right > hi for lo, hi in gutters):
        return -1
    return sum(1 for lo, hi in gutters if line.middle_x >= (lo + hi) / 2)


def _merge_same_line(lines: list[Line]) -> list[Line]:
    """Pieces of one printed line (same column, overlapping heights, side by side) made one,
    left to right; PDFium starts a new line whenever the writer jumps back."""
    lines = sorted(lines, key=lambda line: (line.column, -line.top, line.left))
    merged: list[Line] = []
    for line in lines:
        prev = merged[-1] if merged else None
        if prev is not None and prev.column == line.column and _same_row(prev, line):
            merged[-1] = _join(prev, line) if prev.left <= line.left else _join(line, prev)
        else:
            merged.append(line)
    return merged


def _same_row(a: Line, b: Line) -> bool:
    overlap = min(a.top, b.top) - max(a.bottom, b.bottom)
    return overlap > 0.6 * min(a.height, b.height) and (a.right <= b.left or b.right <= a.left)


def _join(a: Line, b: Line) -> Line:
    return Line(
        f"{a.text} {b.text}",
        [*a.index, -1, *b.index] if a.index else [],
        min(a.start, b.start),
        max(a.end, b.end),
        min(a.left, b.left),
        min(a.bottom, b.bottom),
        max(a.right, b.right),
        max(a.top, b.top),
        a.column,
    )


def _reading_order(lines: list[Line]) -> list[Line]:
    """Bands between full-width lines, top to bottom; in a band, column by column."""
    full = sorted((line for line in lines if line.column < 0), key=lambda line: -line.top)
    for k, line in enumerate(full):
        line.band = 2 * k + 1
    for line in lines:
        if line.column >= 0:
            above = sum(1 for f in full if f.middle > line.middle)
            line.band = 2 * above
    return sorted(lines, key=lambda line: (line.band, line.column, -line.top, line.left))
