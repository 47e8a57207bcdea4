"""PDF: one unit per page from the text layer, read with pypdfium2, as paragraphs.

Each page's printed lines are put in reading order (``pdf_layout``: columns, bands) and made
paragraphs with the whole document in view (``pdf_paragraphs``: running headers and page numbers
left out, wrapped lines joined, line-end hyphenation undone where the document or the embedder's
vocabulary vouches for the word).  Highlights trace the text back to PDFium's characters by
running the same layout again (``docchat.documents.pages``).  The layout costs about as much as
PDFium's own text extraction: ``bench/pdf_reading.py`` measured 404 pages/s before it and 218
after on a generated 100-page PDF, 165 and 75 on the two-column LaTeX News (CPU seconds, 2 busy
cores); the figure below is from before it, on an idle machine.

Why pypdfium2: PDFium is Chrome's PDF engine, in C++.  On a generated 50-page PDF (45 lines of text
per page) this parser reads about 1,100 pages/s, where pypdf's ``extract_text`` manages about 400
on the same machine (2 cores); PDFium also repairs damaged files the way a browser does.  It reads
no images, so a scanned PDF without an OCR text layer is refused rather than indexed as empty.

PDFium is not thread-safe, so one lock, ``PDFIUM_LOCK``, serialises every call into it (page
rendering in ``docchat.documents.pages`` takes it too)."""

from __future__ import annotations

import threading
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from docchat.config import DocumentSettings
from docchat.documents.parsers import PDF, Piece, build_document, check_size
from docchat.documents.parsers.pdf_layout import PageLayout, read_page
from docchat.documents.parsers.pdf_paragraphs import assemble
from docchat.documents.tokens import whole_words
from docchat.documents.types import ParsedDocument
from docchat.errors import CorruptDocument

#: Held around every call into PDFium, in this process.
PDFIUM_LOCK = threading.Lock()
_LOCKED_OUT = (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY)


def parse_pdf(path: Path, limits: DocumentSettings, *, name: str | None = None) -> ParsedDocument:
    """Read each page's text layer; refuse encrypted, damaged and text-less (scanned) PDFs."""
    name = name or path.name
    check_size(path, limits, name=name)
    vocabulary = whole_words()  # loaded once, outside the lock
    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            if exc.err_code in _LOCKED_OUT:
                raise CorruptDocument(f"{name!r} is encrypted (password-protected)") from None
            raise CorruptDocument(f"{name!r} is damaged or not a PDF") from None
        try:
            return _read(pdf, limits, name, vocabulary)
        except pdfium.PdfiumError:
            raise CorruptDocument(f"{name!r} is damaged: a page could not be read") from None
        finally:
            pdf.close()


def _read(
    pdf: pdfium.PdfDocument, limits: DocumentSettings, name: str, vocabulary: frozenset[str]
) -> ParsedDocument:
    page_count = len(pdf)
    to_read = min(page_count, limits.max_pages)
    layouts = [_page_layout(pdf, number) for number in range(to_read)]
    texts = assemble(layouts, vocabulary=vocabulary)
    pieces: list[Piece] = []
    blank: list[int] = []
    for number, (page, layout) in enumerate(zip(texts, layouts, strict=True), start=1):
        if page.text.strip():
            pieces.append(Piece(page.text, page=number, location=f"page {number}"))
        elif not layout.lines:  # not a page that held only a running header
            blank.append(number)
    if not pieces:
        raise CorruptDocument(
            f"{name!r} has no text layer (it looks scanned or image-only); "
            "OCR is not supported, so run it through an OCR tool first"
        )
    warnings = []
    if blank:
        warnings.append(f"no text layer on {_page_list(blank)} (scanned or image-only?)")
    if page_count > to_read:
        warnings.append(f"only the first {to_read} of {page_count} pages were read")
    return build_document(
        pieces,
        name=name,
        mime_type=PDF.mime_type,
        page_count=page_count,
        title=pdf.get_metadata_value("Title"),
        warnings=warnings,
        reader=PDF.reader,
    )


def _page_layout(pdf: pdfium.PdfDocument, index: int) -> PageLayout:
    page = pdf.get_page(index)
    try:
        textpage = page.get_textpage()
        try:
            return read_page(page, textpage, trace=False)
        finally:
            textpage.close()
    finally:
        page.close()


def _page_list(pages: list[int]) -> str:
    shown = ", ".join(map(str, pages[:10]))
    more = f" and {len(pages) - 10} more" if len(pages) > 10 else ""
    return f"page {shown}{more}" if len(pages) == 1 else f"pages {shown}{more}"
