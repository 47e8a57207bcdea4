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
