"""PDF pages as PNG images with a cited span highlighted, and the highlight boxes themselves.

Citations index the document's extracted text; PDFium boxes index its own characters of one page.
A page's part of the text is found from its chunks (a chunk never crosses a page).  The parser
made that part from the page's printed lines (``parsers.pdf_layout``, ``parsers.pdf_paragraphs``:
reading order, paragraphs, running headers left out, hyphenation undone), so the page's lines are
laid out again, deterministically, and replayed against the stored text (``char_map``): each
character gets PDFium's index, with no map stored per character.  Laying out one page again costs
about what reading its characters did.  Text stored by the reader before paragraphs (or under
another PDFium) does not replay; then ``difflib`` aligns the characters on everything but
whitespace and controls, as before.  The boxes are PDFium's, per run of the span's characters, so
a header between two halves of a span stays unmarked.

PDFium is not thread-safe: every call into it holds ``PDFIUM_LOCK`` (shared with the parser), and
only those calls do; the database reads, the drawing and the PNG encoding run outside it.  Nothing
is cached between calls: a page image is drawn from the stored original each time (a PNG of a
page is cheap next to a process's memory, and a cache on disk would be one more store to share
between machines).  PDFium reads a local file: ``ContentStore.local_path``.

Memory: the page is copied once out of PDFium's bitmap into an RGB image, and the highlight is
blended over the region it covers only.  Converting the whole page to RGBA and compositing a
page-sized overlay took three more page-sized buffers (64 MB each at ``MAX_PIXELS``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field

from docchat.documents.parsers.pdf import PDFIUM_LOCK
from docchat.documents.parsers.pdf_layout import read_page, text_units
from docchat.documents.parsers.pdf_paragraphs import char_map
from docchat.documents.registry import Registry
from docchat.documents.sources import check_span, is_pdf
from docchat.errors import CorruptDocument, InvalidInput, OriginalNotStored, PageNotFound
from docchat.validation import INT64_MAX, check_int

MIN_SCALE = 0.5
MAX_SCALE = 3.0
DEFAULT_SCALE = 1.5
#: Images are rendered at most this many pixels by default (a 4,000 by 4,000 page; the setting is
#: ``renders.max_page_pixels``): a poster-sized page is drawn at a smaller scale than asked instead
#: of taking gigabytes.
MAX_PIXELS = 16_000_000
#: Translucent yellow, like a highlighter pen: the text under it stays readable.
HIGHLIGHT_RGBA = (255, 204, 0, 110)

# Characters the alignment ignores: whitespace, and what cleaning drops or PDFium invents
# (controls, its \x02 soft-hyphen marker, zero-width and BOM characters, UTF-16 halves).
_IGNORED = frozenset("\xad\u200b\u2060\ufeff\ufffe\uffff")
# Points are converted through PDFium at 100 device units per point, so they keep two decimals.
_POINT_GRID = 100


class HighlightRect(BaseModel):
    """A box over highlighted text, in points from the top-left corner of the page as shown."""

    x: float
    y: float
    width: float
    height: float


class PageHighlights(BaseModel):
    """Where a span of the document's text lies on one page of its PDF."""

    document_id: str
    page: int = Field(description="1-based page number.")
    page_count: int
    width: float = Field(description="Page width in points (1/72 inch), as displayed.")
    height: float = Field(description="Page height in points, as displayed.")
    start: int | None = Field(description="The span asked for, in the document's text.")
    end: int | None
    rects: list[HighlightRect] = Field(
        description="Boxes over the span's characters on this page (empty when none are on it), "
        "in points from the page's top-left corner; multiply by image width / `width` to draw "
        "them on a rendered image."
    )


@dataclass(frozen=True, slots=True)
class PageImage:
    """A rendered page: PNG bytes, their size in pixels, the scale it was drawn at (pixels per
    point; less than asked for a page over the pixel cap) and the highlights drawn on it."""

    png: bytes
    width: int
    height: int
    scale: float
    highlights: PageHighlights


@dataclass(frozen=True, slots=True)
class _Target:
    path: Path
    page: int
    page_count: int
    page_text: str  # the page's part of the document's text
    span: tuple[int, int] | None  # the span to highlight, relative to page_text


def page_highlights(
    registry: Registry,
    document_id: str,
    page: int,
    *,
    start: int | None = None,
    end: int | None = None,
    owner: str | None = None,
) -> PageHighlights:
    """Where [start, end) of the document's text lies on PDF page ``page``.

    DocumentNotFound when unknown or another owner's; PageNotFound when it is not a PDF or has
    no such page; InvalidInput for a bad range.
    """
    target = _target(registry, document_id, page, start, end, owner)
    with PDFIUM_LOCK:
        pdf = _open(target.path, document_id)
        try:
            highlights, _ = _read_page(pdf, target, document_id, start, end, scale=None)
        finally:
            pdf.close()
    return highlights


def page_image(
    registry: Registry,
    document_id: str,
    page: int,
    *,
    start: int | None = None,
    end: int | None = None,
    scale: float = DEFAULT_SCALE,
    owner: str | None = None,
    max_pixels: int = MAX_PIXELS,
) -> PageImage:
    """PDF page ``page`` as a PNG, ``scale`` pixels per point (0.5 to 3; less for a page of
    more than ``max_pixels`` at that scale), with [start, end) of the document's text highlighted.

    Errors as ``page_highlights``.
    """
    if not MIN_SCALE <= scale <= MAX_SCALE or not math.isfinite(scale):
        raise InvalidInput(f"scale must be between {MIN_SCALE} and {MAX_SCALE}", field="scale")
    target = _target(registry, document_id, page, start, end, owner)
    with PDFIUM_LOCK:
        pdf = _open(target.path, document_id)
        try:
            highlights, rendered = _read_page(
                pdf, target, document_id, start, end, scale=scale, max_pixels=max_pixels
            )
        finally:
            pdf.close()
    assert rendered is not None
    image, pixel_rects, drawn_at = rendered
    _highlight(image, pixel_rects)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    width, height = image.size
    image.close()
    return PageImage(out.getvalue(), width, height, drawn_at, highlights)


def _highlight(image: Image.Image, rects: Sequence[tuple[int, int, int, int]]) -> None:
    """Blend the highlighter over ``rects`` of an RGB image, in place.  Only the region they
    cover is copied: a page-sized overlay would double the image's memory."""
    if not rects:
        return
    left = max(0, min(r[0] for r in rects))
    top = max(0, min(r[1] for r in rects))
    right = min(image.width, max(max(r[0], r[2] - 1) for r in rects) + 1)
    bottom = min(image.height, max(max(r[1], r[3] - 1) for r in rects) + 1)
    if left >= right or top >= bottom:
        return
    region = image.crop((left, top, right, bottom)).convert("RGBA")
    overlay = Image.new("RGBA", region.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for x0, y0, x1, y1 in rects:
        box = (x0 - left, y0 - top, max(x0, x1 - 1) - left, max(y0, y1 - 1) - top)
        draw.rectangle(box, fill=HIGHLIGHT_RGBA)
    image.paste(Image.alpha_composite(region, overlay).convert("RGB"), (left, top))


def align(text: str, chars: Sequence[str]) -> list[int]:
    """For each character of ``text``, the index of the same character in ``chars``, or -1.

    Whitespace and controls are left out on both sides, so differences in spacing, line breaks
    and dropped markers do not matter; the rest is matched in order.
    """
    text_at = [i for i, ch in enumerate(text) if _significant(ch)]
    chars_at = [j for j, ch in enumerate(chars) if _significant(ch)]
    a = "".join(text[i] for i in text_at)
    b = "".join(chars[j] for j in chars_at)
    if a == b:  # the usual case: the text came from these very characters
        blocks: Sequence[tuple[int, int, int]] = [(0, 0, len(a))]
    else:
        blocks = SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    found = [-1] * len(text)
    for ai, bi, size in blocks:
        for k in range(size):
            found[text_at[ai + k]] = chars_at[bi + k]
    return found


def _significant(ch: str) -> bool:
    code = ord(ch)
    return not (ch.isspace() or code < 32 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF) and (
        ch not in _IGNORED
    )


def _target(
    registry: Registry,
    document_id: str,
    page: int,
    start: int | None,
    end: int | None,
    owner: str | None,
) -> _Target:
    """Check the request against the database and find the page's part of the text."""
    check_int(page, "page", minimum=1, maximum=INT64_MAX)
    stored = registry.stored(document_id, owner=owner)
    if stored is None or not is_pdf(stored):
        raise PageNotFound(
            document_id,
            page,
            reason="only the pages of an indexed PDF can be shown; this document is not one",
        )
    page_count = stored.page_count or 0
    if page > page_count:
        raise PageNotFound(document_id, page)
    if (start is None) != (end is None):
        raise InvalidInput("give both start and end, or neither", field="start")
    span: tuple[int, int] | None = None
    page_span = registry.page_span(stored.sha256, page)
    page_text = ""
    if start is not None and end is not None:
        check_span(start, end, stored.text_length)
        if page_span is not None:
            text = registry.text(document_id, owner=owner)
            page_text = text[page_span[0] : page_span[1]]
            lo, hi = max(start, page_span[0]), min(end, page_span[1])
            if lo < hi:
                span = (lo - page_span[0], hi - page_span[0])
    try:
        # A local file for PDFium (an s3 store downloads it once); outside PDFIUM_LOCK.
        path = registry.files.local_path(stored.sha256)
    except FileNotFoundError:
        raise OriginalNotStored(document_id) from None
    return _Target(path, page, page_count, page_text, span)


def _open(path: Path, document_id: str) -> pdfium.PdfDocument:
    """Open the stored PDF (the caller holds PDFIUM_LOCK)."""
    try:
        return pdfium.PdfDocument(path)
    except (pdfium.PdfiumError, OSError):
        raise CorruptDocument(
            f"the stored PDF of document {document_id!r} cannot be opened", field="document_id"
        ) from None


#: A page drawn: the RGB image, the highlight boxes in its pixels, the scale it was drawn at.
Rendered = tuple[Image.Image, list[tuple[int, int, int, int]], float]


def _read_page(
    pdf: pdfium.PdfDocument,
    target: _Target,
    document_id: str,
    start: int | None,
    end: int | None,
    *,
    scale: float | None,
    max_pixels: int = MAX_PIXELS,
) -> tuple[PageHighlights, Rendered | None]:
    """The page's size and highlight boxes, and, when ``scale`` is given, its image (at most
    ``max_pixels``) and the boxes in pixels.  The caller holds PDFIUM_LOCK; everything opened
    here is closed here."""
    if target.page > len(pdf):
        raise PageNotFound(document_id, target.page)
    page = pdf[target.page - 1]
    textpage = None
    bitmap = None
    try:
        width, height = page.get_size()
        boxes: list[tuple[float, float, float, float]] = []
        if target.span is not None:
            textpage = page.get_textpage()
            boxes = _boxes(page, textpage, target.page_text, target.span)
        to_points = pdfium.PdfPosConv(
            page, (0, 0, round(width * _POINT_GRID), round(height * _POINT_GRID), 0)
        )
        rects = [
            HighlightRect(x=x0 / _POINT_GRID, y=y0 / _POINT_GRID, width=w, height=h)
            for x0, y0, x1, y1 in (_device_box(to_points, box) for box in boxes)
            for w, h in [((x1 - x0) / _POINT_GRID, (y1 - y0) / _POINT_GRID)]
        ]
        highlights = PageHighlights(
            document_id=document_id,
            page=target.page,
            page_count=target.page_count,
            width=round(width, 2),
            height=round(height, 2),
            start=start,
            end=end,
            rects=rects,
        )
        if scale is None:
            return highlights, None
        scale = min(scale, math.sqrt(max_pixels / max(width * height, 1.0)))
        # Three bytes a pixel, which PIL copies (it keeps RGB in four) rather than sharing the
        # buffer: the image outlives the bitmap, closed below.
        bitmap = page.render(scale=scale, force_bitmap_format=pdfium_c.FPDFBitmap_BGR)
        to_pixels = bitmap.get_posconv(page)
        pixel_rects = [_device_box(to_pixels, box) for box in boxes]
        image = bitmap.to_pil()
        return highlights, (image, pixel_rects, scale)
    except pdfium.PdfiumError:
        raise CorruptDocument(
            f"page {target.page} of document {document_id!r} cannot be rendered",
            field="page",
        ) from None
    finally:
        if bitmap is not None:
            bitmap.close()
        if textpage is not None:
            textpage.close()
        page.close()


def _boxes(
    page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, page_text: str, span: tuple[int, int]
) -> list[tuple[float, float, float, float]]:
    """PDF-space boxes (left, bottom, right, top) over the characters of ``span``, one per line
    (or text object) as PDFium merges them."""
    chars = text_units(textpage)
    found = char_map(read_page(page, textpage), page_text)
    if found is None:  # text read before paragraphs (or by another PDFium): align characters
        found = align(page_text, chars)
    matched = sorted({j for j in found[span[0] : span[1]] if j >= 0})
    boxes: list[tuple[float, float, float, float]] = []
    for first, last in _runs(matched, chars):
        count = textpage.count_rects(first, last - first + 1)
        boxes.extend(textpage.get_rect(i) for i in range(count))
    return boxes


def _runs(indices: Sequence[int], chars: str) -> list[tuple[int, int]]:
    """Runs of PDFium indices (first, last), a run going on over what no one reads (spaces, line
    breaks) but stopping at characters left out of the span: a running header between two
    columns, the rest of a line the span does not reach."""
    runs: list[tuple[int, int]] = []
    for j in indices:
        if runs and all(not _significant(ch) for ch in chars[runs[-1][1] + 1 : j]):
            runs[-1] = (runs[-1][0], j)
        else:
            runs.append((j, j))
    return runs


def _device_box(
    conv: pdfium.PdfPosConv, box: tuple[float, float, float, float]
) -> tuple[int, int, int, int]:
    """A PDF-space box in device units, top-left origin, whatever the page's rotation."""
    left, bottom, right, top = box
    xa, ya = conv.to_bitmap(left, top)
    xb, yb = conv.to_bitmap(right, bottom)
    return min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)
