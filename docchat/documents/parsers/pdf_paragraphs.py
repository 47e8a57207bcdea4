"""PDF pages as people read them: paragraphs, without running headers or page numbers.

``assemble`` takes every page's printed lines (``pdf_layout``) and decides, with the whole
document in view:

- which lines are running headers, footers and page numbers: lines near the top or bottom edge
  that repeat on several pages at about the same height once digits are made one (``# CHAPTER #.
  RESULTS``), or that carry a number counting up with the page (``56 CHAPTER 7. ...`` on page 60,
  ``7.2. SECTION 57`` on page 61);
- where a line ends a paragraph or a line of its own: a vertical gap clearly larger than the line
  pitch (unless the sentence goes on across it: a displayed URL or formula), an indented first
  line, a list bullet or number, a heading in a larger font, a short line after which the next
  word would have fitted (so the writer broke it: a heading, a table row, code, the end of a
  paragraph), table-of-contents leaders.  Other lines are joined with a space;
- whether a hyphen at a line end splits one word.  Only with evidence: the joined word occurs
  elsewhere in the document more often than the hyphenated one, or, when neither occurs, the
  joined word is a whole word of the embedder's WordPiece vocabulary.  In doubt the hyphen stays
  ("well-known"), and the halves are joined without a space either way.

Each page's text comes with the PDFium character index of every character (-1 for a space or
line break put between lines), so citations and highlights stay exact; ``char_map`` recovers that
map from a page's stored text by replaying the page's lines.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from docchat.documents.parsers.pdf_layout import Line, PageLayout

__all__ = ["PageText", "assemble", "char_map", "running_lines"]

_DIGITS = re.compile(r"\d+")
_ROMAN = re.compile(r"[ivxlcdm]+", re.IGNORECASE)
_EDGE_NUMBER = re.compile(r"^\W*(\d{1,5})\b|\b(\d{1,5})\W*$")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_HYPHEN_END = re.compile(r"([^\W\d_]+)-$")
_LOWER_START = re.compile(r"([^\W\d_]+)")
# A bullet (•, ◦, ▪, ●, ■, a dash…), "1.", "2)", "(a)", "iv." at a line start: a list item.
_LIST_ITEM = re.compile(
    r"^(?:[\u2022\u25e6\u25aa\u25ab\u25cf\u25cb\u25a0\u25a1\u2023\u2043\u2219\u00b7*\-\u2013\u2014]\s"
    r"|\(?(?:\d{1,3}|[a-z]|[ivx]{1,4})[.)]\s)",
    re.IGNORECASE,
)
_LEADERS = re.compile(r"(?:\.\s?){4,}\s*\d+$")
_CLOSERS = "\"'\u201d\u2019)]"
# Lines this close to the top or bottom of a page can be running headers or footers.
_EDGE_LINES = 2
# A line this much taller than the page's typical line is set in a larger font: a heading.
_LARGER_FONT = 1.3
_FEW_LINES = 6


@dataclass(frozen=True, slots=True)
class PageText:
    """One page's reconstructed text; ``index`` holds PDFium's index of each character of it
    (-1 for what was put between lines), empty where the lines were read without a trace."""

    text: str
    index: list[int]
    removed: int  # running header, footer and page-number lines left out


def assemble(
    pages: Sequence[PageLayout], *, vocabulary: Collection[str] = frozenset()
) -> list[PageText]:
    """Every page's paragraphs; ``vocabulary`` is the lower-case whole words that vouch for
    joining a hyphenated word the document itself does not show."""
    dropped = running_lines(pages)
    words = _hyphenation_evidence(pages, dropped)
    return [
        _page_text(page, dropped[number], words, vocabulary) for number, page in enumerate(pages)
    ]


def _hyphenation_evidence(pages: Sequence[PageLayout], dropped: Sequence[set[int]]) -> Counter[str]:
    """How often the document writes each word that a line-end hyphen may split, joined and
    hyphenated (lower case).  Only those words are counted: counting every word took a tenth of
    the parse."""
    wanted: set[str] = set()
    for page, left_out in zip(pages, dropped, strict=True):
        kept = [line for k, line in enumerate(page.lines) if k not in left_out]
        for before, after in itertools.pairwise(kept):
            head = _HYPHEN_END.search(before.text) if before.text.endswith("-") else None
            tail = _LOWER_START.match(after.text) if head else None
            if head and tail:
                wanted.add((head.group(1) + tail.group(1)).lower())
                wanted.add(f"{head.group(1)}-{tail.group(1)}".lower())
    if not wanted:
        return Counter()
    text = "\n".join(line.text for page in pages for line in page.lines)
    return Counter(word for word in (w.lower() for w in _WORD.findall(text)) if word in wanted)


def running_lines(pages: Sequence[PageLayout]) -> list[set[int]]:
    """Per page, the positions (in ``PageLayout.lines``) of its running header, footer and
    page-number lines."""
    dropped: list[set[int]] = [set() for _ in pages]
    with_text = sum(1 for page in pages if page.lines)
    if with_text < 2:
        return dropped
    enough = 2 if with_text <= 3 else 3
    by_key: dict[tuple[str, str], list[tuple[int, int, float]]] = defaultdict(list)
    by_count: dict[tuple[str, int], list[tuple[int, int, float]]] = defaultdict(list)
    for number, page in enumerate(pages):
        for position, edge, depth in _edge_lines(page):
            text = page.lines[position].text
            by_key[(edge, _shape(text))].append((number, position, depth))
            found = _EDGE_NUMBER.search(text)
            if found:
                printed = int(found.group(1) or found.group(2))
                by_count[(edge, printed - number)].append((number, position, depth))
    for found_at in [*by_key.values(), *by_count.values()]:
        for number, position, depth in found_at:
            # Pages at about the same distance from the edge (6 points: a line's wobble); a
            # chapter's "1 Introduction" on page 1 is numbered like a header but lower down.
            near = {n for n, _, d in found_at if abs(d - depth) <= 6}
            if len(near) >= enough:
                dropped[number].add(position)
    return dropped


def _edge_lines(page: PageLayout) -> list[tuple[int, str, float]]:
    """The page's top and bottom lines: (position in ``lines``, "top"/"bottom", distance from
    that edge)."""
    by_height = sorted(range(len(page.lines)), key=lambda k: -page.lines[k].top)
    top = by_height[:_EDGE_LINES]
    bottom = [k for k in by_height[-_EDGE_LINES:] if k not in top]
    return [(k, "top", page.height - page.lines[k].top) for k in top] + [
        (k, "bottom", page.lines[k].bottom) for k in bottom
    ]


def _shape(text: str) -> str:
    """A line as it repeats from page to page: numbers (and a lone roman numeral) made one."""
    text = " ".join(text.lower().split())
    if _ROMAN.fullmatch(text):
        return "#"
    return _DIGITS.sub("#", text)


@dataclass(frozen=True, slots=True)
class _Measures:
    """A page's typical line: its height, the distance between lines, where columns start and
    end."""

    height: float
    pitch: float
    left: dict[int, float]  # by column (-1: full width)
    right: dict[int, float]


def _measure(lines: Sequence[Line], width: float) -> _Measures:
    height = statistics.median(line.height for line in lines) if lines else 10.0
    pitches = [
        a.bottom - b.bottom
        for a, b in itertools.pairwise(lines)
        if (a.band, a.column) == (b.band, b.column)
        and 0.5 * height < a.bottom - b.bottom < 3 * height
    ]
    pitch = statistics.median(pitches) if pitches else 1.2 * height
    lefts: dict[int, list[float]] = defaultdict(list)
    rights: dict[int, list[float]] = defaultdict(list)
    for line in lines:
        lefts[line.column].append(round(line.left))
        rights[line.column].append(line.right)
    left = {block: float(Counter(xs).most_common(1)[0][0]) for block, xs in lefts.items()}
    right = {block: max(xs) for block, xs in rights.items()}
    if len(lines) < _FEW_LINES and list(left) == [0]:
        # Too few lines to show where they wrap: assume the right margin mirrors the left.
        right[0] = max(right[0], width - left[0])
    return _Measures(height, pitch, left, right)


def _page_text(
    page: PageLayout, dropped: set[int], words: Counter[str], vocabulary: Collection[str]
) -> PageText:
    lines = [line for k, line in enumerate(page.lines) if k not in dropped]
    traced = all(len(line.index) == len(line.text) for line in lines)
    measures = _measure(lines, page.width)
    out: list[str] = []
    index: list[int] = []
    in_item = False
    prev: Line | None = None
    continued = False
    for line in lines:
        if prev is not None:
            gap = _break(prev, line, measures, in_item, continued)
            if gap is None and prev.text.endswith("-") and _HYPHEN_END.search(prev.text):
                if _joins(prev.text, line.text, words, vocabulary):
                    out[-1] = out[-1][:-1]  # the hyphen, last of the line before
                    index.pop()
                gap = ""
            if gap is None:
                gap = " "
            continued = not gap.startswith("\n")
            if gap.startswith("\n"):
                in_item = False
            out.append(gap)
            index.extend([-1] * len(gap))
        in_item = in_item or bool(_LIST_ITEM.match(line.text))
        out.append(line.text)
        index.extend(line.index if traced else [-1] * len(line.text))
        prev = line
    text = "".join(out)
    return PageText(text, index if traced else [], len(dropped))


def _break(prev: Line, line: Line, m: _Measures, in_item: bool, continued: bool) -> str | None:
    """The line break between two lines, or None when the second continues the first
    (``continued``: ``prev`` itself continued the line before it)."""
    room = m.right[prev.column] - prev.right
    per_char = (prev.right - prev.left) / max(len(prev.text), 1)
    first_word = line.text.split(" ", 1)[0]
    # Letters differ in width: the estimate of the next word's width gets 40% to spare.
    fitted = room > 1.4 * (len(first_word) + 1) * per_char
    same_block = (prev.band, prev.column) == (line.band, line.column)
    if same_block and prev.bottom - line.bottom > m.pitch + 0.45 * m.height:
        if (
            line.text[:1].islower()
            and not _ends_sentence(prev.text)
            and (not fitted or continued)
            and prev.height <= _LARGER_FONT * m.height  # no title in a larger font
            and prev.left - m.left[prev.column] < 0.3 * m.height  # nor a centred line
        ):
            # A URL, path or formula displayed inside a sentence, with space around it ("...
            # can be found at the URL" / "https://..." / "and is mirrored daily"): the sentence
            # goes on, so the line is its own but the paragraph is not ended.  A line standing
            # alone with room left is a heading, whose paragraph may open in lower case
            # ("Locales under macOS" / "macOS supports ..."): its writer ended it.
            return "\n"
        return "\n\n"
    if _LIST_ITEM.match(line.text) or (prev.text[-1:].isdigit() and _LEADERS.search(prev.text)):
        return "\n"
    if max(prev.height, line.height) > _LARGER_FONT * m.height:  # a heading in a larger font
        return "\n"
    if fitted:
        # The next word would have fitted: the writer ended this line.
        return "\n\n" if _ends_sentence(prev.text) else "\n"
    margin = m.left[line.column]
    indented = line.left - margin > 0.8 * m.height
    # A hanging indent (a description list, a reference) follows a line that did not end a
    # sentence; a paragraph's indented first line follows one that did.
    if indented and not in_item and prev.left - margin < 0.3 * m.height:
        return "\n\n" if _ends_sentence(prev.text) else None
    return None


def _ends_sentence(text: str) -> bool:
    return text.rstrip(_CLOSERS)[-1:] in (".", "!", "?", ":", ";")


def _joins(before: str, after: str, words: Counter[str], vocabulary: Collection[str]) -> bool:
    """Whether "…word-" then "word…" is one word hyphenated at the line end."""
    head = _HYPHEN_END.search(before)
    tail = _LOWER_START.match(after)
    if head is None or tail is None or not tail.group(1)[0].islower():
        return False
    joined = (head.group(1) + tail.group(1)).lower()
    hyphenated = f"{head.group(1)}-{tail.group(1)}".lower()
    if words[joined] or words[hyphenated]:
        return words[joined] > words[hyphenated]
    return joined in vocabulary


def char_map(page: PageLayout, text: str) -> list[int] | None:
    """PDFium's index of each character of ``text``, a page's text as the parser stored it
    (-1 for whitespace), found by replaying the page's traced lines in reading order: each
    line is in the text in full, or without its last hyphen (joined with the next line), or
    not at all (a running header).  None when the text is not made of these lines (an older
    reader's text, another PDFium): the caller falls back to aligning characters."""
    wanted = [k for k, ch in enumerate(text) if not ch.isspace()]
    found = [-1] * len(text)
    at = 0
    for line in page.lines:
        letters = [(ch, i) for ch, i in zip(line.text, line.index, strict=True) if ch != " "]
        n = len(letters)
        if not _matches(text, wanted, at, letters, n):
            if not (
                letters and letters[-1][0] == "-" and _matches(text, wanted, at, letters, n - 1)
            ):
                continue
            n -= 1
        for k in range(n):
            found[wanted[at + k]] = letters[k][1]
        at += n
    return found if at == len(wanted) else None


def _matches(
    text: str, wanted: Sequence[int], at: int, letters: Sequence[tuple[str, int]], n: int
) -> bool:
    if n <= 0 or at + n > len(wanted):
        return False
    return all(text[wanted[at + k]] == letters[k][0] for k in range(n))
