"""PDF text before and after paragraphs: ``python bench/pdf_reading.py FILE.pdf [FILE.pdf …]``.

For each PDF, the reader before paragraphs (PDFium's printed lines, ``get_text_bounded``, as
docchat read PDFs until issue 18) and today's (``parsers.pdf``), on the same machine in the same
process:

- broken: the share of sentences (``docchat.chat.sentences``) that end without terminal
  punctuation although another sentence of the same paragraph follows: a line break the splitter
  took for a sentence end.  Headings, bullets and table rows (structural) are not counted.
- cut: of those, the ones whose next sentence starts in lower case: prose cut mid-sentence
  (the rest are mostly code and table lines, which stay lines of their own).
- headers: running header, footer and page-number lines left out.
- pages/s: the best of five full reads (open, every page, the document built), the two
  readers taking turns, in CPU time of this process (reading is single-threaded; on a shared
  machine wall time measured the neighbours: ratios from 1.6x to 3.5x at a load of 30).

Real documents for it: ``apt-get download r-doc-pdf texlive-latex-base-doc`` and ``dpkg-deb -x``,
or any PDFs you have.
"""

from __future__ import annotations

import itertools
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pypdfium2 as pdfium

from docchat.chat.sentences import split_sentences
from docchat.config import DocumentSettings
from docchat.documents.parsers import PDF, Piece, build_document
from docchat.documents.parsers.pdf import parse_pdf
from docchat.documents.parsers.pdf_layout import read_page
from docchat.documents.parsers.pdf_paragraphs import assemble
from docchat.documents.types import ParsedDocument

_TERMINAL = re.compile(r"[.!?:;\u2026][\"'\u201d\u2019)\]]*$")


def read_before(path: Path) -> ParsedDocument:
    """The reader before paragraphs: each page's printed lines, PDFium's soft hyphens dropped."""
    pdf = pdfium.PdfDocument(path)
    try:
        pieces = []
        for i in range(len(pdf)):
            page = pdf[i]
            textpage = page.get_textpage()
            text = str(textpage.get_text_bounded()).replace("\x02", "")
            textpage.close()
            page.close()
            pieces.append(Piece(text, page=i + 1, location=f"page {i + 1}"))
        return build_document(pieces, name=path.name, mime_type=PDF.mime_type, page_count=len(pdf))
    finally:
        pdf.close()


def broken_share(doc: ParsedDocument) -> tuple[int, int, int]:
    """(sentences ending mid-paragraph without terminal punctuation, those of them whose next
    sentence starts in lower case (prose cut mid-sentence, not a code or table line),
    sentences)."""
    broken = cut = total = 0
    for unit in doc.units:
        for paragraph in unit.text.split("\n\n"):
            sentences = [s for s in split_sentences(paragraph) if not s.structural]
            total += len(sentences)
            for this, after in itertools.pairwise(sentences):
                if not _TERMINAL.search(this.text):
                    broken += 1
                    cut += after.text[:1].islower()
    return broken, cut, total


def headers_removed(path: Path) -> int:
    pdf = pdfium.PdfDocument(path)
    try:
        layouts = []
        for i in range(len(pdf)):
            page = pdf[i]
            textpage = page.get_textpage()
            layouts.append(read_page(page, textpage, trace=False))
            textpage.close()
            page.close()
    finally:
        pdf.close()
    return sum(page.removed for page in assemble(layouts))


def pages_per_second(
    readers: Sequence[Callable[[Path], object]], path: Path, pages: int, *, rounds: int = 5
) -> list[float]:
    """Each reader's best rate over ``rounds``, the readers taking turns (so a busy machine
    slows them alike)."""
    best = [float("inf")] * len(readers)
    for _ in range(rounds):
        for k, read in enumerate(readers):
            started = time.process_time()
            read(path)
            best[k] = min(best[k], time.process_time() - started)
    return [pages / seconds for seconds in best]


def main(paths: list[Path]) -> None:
    limits = DocumentSettings()
    print(
        f"{'file':28} {'pages':>5} {'broken before':>13} {'after':>7} {'cut before':>10} "
        f"{'after':>7} {'headers':>7} {'pages/s before':>14} {'after':>6}"
    )
    for path in paths:
        before, after = read_before(path), parse_pdf(path, limits)
        pages = after.page_count or 0
        b_broken, b_cut, b_total = broken_share(before)
        a_broken, a_cut, a_total = broken_share(after)
        old, new = pages_per_second([read_before, lambda p: parse_pdf(p, limits)], path, pages)
        print(
            f"{path.name[:28]:28} {pages:5} {b_broken / max(b_total, 1):13.1%} "
            f"{a_broken / max(a_total, 1):7.1%} {b_cut / max(b_total, 1):10.1%} "
            f"{a_cut / max(a_total, 1):7.1%} {headers_removed(path):7} {old:14.0f} {new:6.0f}"
        )


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
