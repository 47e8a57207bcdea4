"""A real PDF with a known sentence on page 2, for the tests of passages and page images.

Written by fpdf2 (a docchat dependency): three A4 pages of Helvetica, the sentence in the middle
of a paragraph on page 2, after five other sentences, so it wraps across two lines.
"""

from __future__ import annotations

import re
from pathlib import Path

from fpdf import FPDF

SENTENCE = "The zebra migration crosses the river every October at dawn."
INTRO = "Intro words on page two come first. " * 5
FILLER = "More filler text follows here. " * 12


def write_pdf(path: Path) -> Path:
    """Write the three-page PDF to ``path``; returns it."""
    pdf = FPDF(format="A4")
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 7, "First page text. " * 30)
    pdf.add_page()
    pdf.multi_cell(0, 7, INTRO + SENTENCE + " " + FILLER)
    pdf.add_page()
    pdf.multi_cell(0, 7, "Third page, nothing to see. " * 10)
    pdf.output(str(path))
    return path


def sentence_span(text: str) -> tuple[int, int]:
    """Where SENTENCE is in the extracted text (its spaces may have become line breaks)."""
    pattern = r"\s+".join(map(re.escape, SENTENCE.split()))
    found = re.search(pattern, text)
    assert found is not None
    return found.span()


# -- A laid-out PDF: two columns, a running header and footer, hyphens, ligatures ---------------

#: Words the layout PDF hyphenates at a line end, and where.  "reconstruction" is a word of the
#: embedder's vocabulary; "waterhole" is not, but occurs unbroken elsewhere in the document;
#: "well-known" is hyphenated anyway, so its hyphen must stay.
HYPHENATED = {"reconstruction": "recon", "waterhole": "water", "well-known": "well"}
#: Running header (its number counts up with the page) and footer.
HEADER = "{page} FIELD NOTES ON ZEBRAS"
FOOTER = "Page {page} of 3"
#: A sentence that starts at the bottom of page 2's left column, "water-", and ends at the top of
#: its right column, "hole…"; PDF order puts the header and footer between the halves.
CROSSING = "The herd reached the waterhole before the rangers came back with the trucks."
RECONSTRUCTION = "The old ford needed a reconstruction after the floods."
WELL_KNOWN = "Every well-known guide said that it could not be done."
_FILLER = (
    "Zebras graze the open grassland in loose family groups and move with the rains. "
    "Each animal carries a unique pattern of stripes that observers use to tell them apart. "
    "Rangers record the size of each group and the direction of its travel every morning. "
)
_LIGATURES = "The ﬁeld team measured the ﬂow of the river with an eﬃcient ﬂoat. "
_PT_WIDTH, _PT_HEIGHT = 595.28, 841.89
_COLUMNS = ((56.0, 282.0), (313.0, 539.0))
_PITCH = 13.0
_TOP = 110.0


def _wrap(pdf: FPDF, words: list[str], width: float) -> list[str]:
    """Greedy lines of at most ``width`` points; a word of HYPHENATED that does not fit is
    split at its point when the first part and a hyphen do."""
    lines: list[str] = []
    line = ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if pdf.get_string_width(candidate) <= width:
            line = candidate
            continue
        bare = word.rstrip(".,")
        head = HYPHENATED.get(bare)
        if head is not None and pdf.get_string_width(f"{line} {head}-") <= width:
            lines.append(f"{line} {head}-")
            line = word[len(head) + (1 if bare == "well-known" else 0) :]
            continue
        lines.append(line)
        line = word
    if line:
        lines.append(line)
    return lines


def _lines_with(pdf: FPDF, before: str, sentence: str, after: str, mark: str) -> list[str]:
    """``before``, ``sentence`` and ``after`` wrapped to a column, with as many words "so" before
    ``sentence`` as it takes for a line to end with ``mark`` (a hyphenated word's first part)."""
    width = _COLUMNS[0][1] - _COLUMNS[0][0]
    for extra in range(80):
        words = [*before.split(), *["so"] * extra, *sentence.split(), *after.split()]
        lines = _wrap(pdf, words, width)
        if any(line.endswith(mark) for line in lines):
            return lines
    raise AssertionError(f"no line ends with {mark!r}")  # pragma: no cover


def layout_text(pdf: FPDF) -> list[list[list[str]]]:
    """The lines of each column of each page ("" is a blank line): page 2's left column ends
    with "water-" of CROSSING, its right column begins with "hole"."""
    rows = int((780 - _TOP) / _PITCH)
    assert rows > 0
    page_one = _lines_with(pdf, _LIGATURES + _FILLER * 2, RECONSTRUCTION, _FILLER * 3, "recon-")
    crossing = _lines_with(pdf, _FILLER * 3, CROSSING, "", "water-")
    split = next(k for k, line in enumerate(crossing) if line.endswith("water-")) + 1
    left = crossing[max(0, split - rows) : split]
    right = [*crossing[split:], "", *_wrap(pdf, (_FILLER * 2).split(), _COLUMNS[0][1] - 56)]
    page_three = _lines_with(pdf, "The waterhole dried up in August. ", WELL_KNOWN, "", "well-")
    page_three += ["", *_wrap(pdf, (_FILLER * 2).split(), _COLUMNS[0][1] - 56)]
    half = (len(page_one) + 1) // 2
    return [[page_one[:half], page_one[half:]], [left, right], [page_three, []]]


def write_layout_pdf(path: Path) -> Path:
    """Write a three-page, two-column A4 PDF in Noto Sans: a running header whose number counts
    up, a footer "Page N of 3", a title, ligature characters (U+FB01…), words hyphenated at
    line ends, paragraph breaks (blank lines).  Page 1's columns are written line by line side
    by side (PDF order: left, right, left…); on pages 2 and 3 the header and footer come between
    the columns in PDF order."""
    from docchat.sessions.export_pdf import _noto_sans

    font = _noto_sans()
    assert font is not None, "Noto Sans (fontpkg-noto-sans) is a docchat dependency"
    pdf = FPDF(unit="pt", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("noto", "", str(font))
    pdf.set_font("noto", size=10)
    pages = layout_text(pdf)
    for number, columns in enumerate(pages, start=1):
        pdf.add_page()
        if number == 1:
            pdf.set_font("noto", size=16)
            pdf.text(_COLUMNS[0][0], 80, "Migration Survey")
            pdf.set_font("noto", size=10)
            # Side by side, line by line: PDF order is left, right, left, right…
            left, right = columns
            for k in range(max(len(left), len(right))):
                for column, lines in zip(_COLUMNS, (left, right), strict=True):
                    if k < len(lines):
                        pdf.text(column[0], _TOP + k * _PITCH, lines[k])
            _running(pdf, number)
            continue
        for column, lines in zip(_COLUMNS, columns, strict=True):
            for k, line in enumerate(lines):
                pdf.text(column[0], _TOP + k * _PITCH, line)
            if column == _COLUMNS[0]:  # the header and footer between the columns
                _running(pdf, number)
    pdf.output(str(path))
    return path


def _running(pdf: FPDF, number: int) -> None:
    pdf.set_font("noto", size=9)
    pdf.text(_COLUMNS[0][0], 40, HEADER.format(page=number))
    pdf.text(_PT_WIDTH / 2 - 25, 815.0, FOOTER.format(page=number))
    pdf.set_font("noto", size=10)


def layout_paragraphs() -> list[list[str]]:
    """What a reader of the layout PDF sees, page by page: its paragraphs in reading order
    (the title first), ligatures as letters, hyphenated words whole ("well-known" keeps its
    hyphen); no header, footer or page number."""
    pdf = FPDF(unit="pt", format="A4")
    from docchat.sessions.export_pdf import _noto_sans

    pdf.add_font("noto", "", str(_noto_sans()))
    pdf.set_font("noto", size=10)
    pages = []
    for number, columns in enumerate(layout_text(pdf), start=1):
        lines = [line for column in columns for line in column]
        text = "\n".join(lines).replace("\n\n", "\u2029").replace("\n", " ")
        for word, head in HYPHENATED.items():
            rest = word[len(head) :].lstrip("-")
            text = text.replace(f"{head}- {rest}", word)
        for ligature, letters in (("ﬁ", "fi"), ("ﬂ", "fl"), ("ﬃ", "ffi")):
            text = text.replace(ligature, letters)
        paragraphs = text.split("\u2029")
        pages.append(["Migration Survey", *paragraphs] if number == 1 else paragraphs)
    pdf.fonts["noto"].ttfont.close()  # fpdf2 closes the font file only when it writes a PDF
    return pages
