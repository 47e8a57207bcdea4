"""What citations point at, on both backends: passages of the text, original files, PDF pages
rendered with a span highlighted (checked pixel by pixel against PDFium's own character boxes).

The PDF (tests/sample_pdf.py) has a known sentence in the middle of a paragraph on page 2,
wrapped across two lines.
"""

from __future__ import annotations

import io
from contextlib import closing
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image
from sample_pdf import SENTENCE, sentence_span, write_pdf

from docchat.documents.pages import align
from docchat.documents.storage.directory import DirectoryStore
from docchat.errors import DocumentNotFound, InvalidInput, OriginalNotStored, PageNotFound
from docchat.workspace import Workspace


@pytest.fixture
def pdf_doc(workspace: Workspace, tmp_path: Path) -> str:
    workspace.ingest([write_pdf(tmp_path / "zebra.pdf")], embed=False)
    return workspace.documents()[0].id


# -- passages -----------------------------------------------------------------------------------


def test_passage_is_the_text_between_the_offsets(workspace: Workspace, pdf_doc: str) -> None:
    text = workspace.document_text(pdf_doc)
    start, end = sentence_span(text)
    passage = workspace.passage(pdf_doc, start, end, context=60)
    assert passage.text == text[start:end]
    assert " ".join(passage.text.split()) == SENTENCE
    assert (passage.page, passage.page_count, passage.file_name) == (2, 3, "zebra.pdf")
    assert passage.mime_type == "application/pdf"
    assert passage.collection == "default"
    assert passage.document_length == len(text)
    # Context: at most 60 characters each side, starting and ending at whole words.
    assert passage.before == text[passage.before_start : start]
    assert passage.after == text[end : passage.after_end]
    assert 0 < len(passage.before) <= 60 and 0 < len(passage.after) <= 60
    assert text[passage.before_start - 1].isspace()
    assert text[passage.after_end].isspace()
    assert passage.before.endswith("come first. ")


def test_passage_context_reaches_the_ends_of_the_text(workspace: Workspace, pdf_doc: str) -> None:
    text = workspace.document_text(pdf_doc)
    first = workspace.passage(pdf_doc, 0, 5, context=5_000)
    assert (first.before, first.before_start, first.page) == ("", 0, 1)
    last = workspace.passage(pdf_doc, len(text) - 3, len(text), context=0)
    assert (last.after, last.after_end, last.page) == ("", len(text), 3)


@pytest.mark.parametrize(
    ("start", "end", "context", "field"),
    [
        (5, 5, 300, "start"),  # empty
        (9, 5, 300, "start"),  # reversed
        (-1, 5, 300, "start"),
        (0, 10**9, 300, "end"),  # past the end of the text
        (0, 2**64, 300, "end"),  # past 64 bits
        (0, 5, 5_001, "context"),
        (0, 5, -1, "context"),
    ],
)
def test_bad_ranges_are_invalid_input(
    workspace: Workspace, pdf_doc: str, start: int, end: int, context: int, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        workspace.passage(pdf_doc, start, end, context=context)
    assert caught.value.field == field


def test_a_passage_is_capped(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("word " * 6_000, encoding="utf-8")
    workspace.ingest([tmp_path / "long.txt"], embed=False)
    doc = workspace.documents()[0].id
    assert len(workspace.passage(doc, 0, 20_000).text) == 20_000
    with pytest.raises(InvalidInput, match="at most 20,000"):
        workspace.passage(doc, 0, 20_001)


def test_passages_are_owner_scoped(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alice's private notes", encoding="utf-8")
    workspace.ingest([tmp_path / "a.txt"], owner="alice", embed=False)
    doc = workspace.documents(owner="alice")[0].id
    assert workspace.passage(doc, 0, 5, owner="alice").text == "alice"
    with pytest.raises(DocumentNotFound):
        workspace.passage(doc, 0, 5, owner="bob")
    with pytest.raises(DocumentNotFound):
        workspace.original_file(doc, owner="bob")
    with pytest.raises(DocumentNotFound):
        workspace.page_highlights(doc, 1, owner="bob")
    with pytest.raises(DocumentNotFound):
        workspace.passage("no-such-document", 0, 5)


def test_section_comes_from_the_chunk_holding_start(workspace: Workspace, tmp_path: Path) -> None:
    md = "# Setup\n\nInstall it first.\n\n# Usage\n\nRun the tool daily.\n"
    (tmp_path / "guide.md").write_text(md, encoding="utf-8")
    workspace.ingest([tmp_path / "guide.md"], embed=False)
    doc = workspace.documents()[0].id
    text = workspace.document_text(doc)
    start = text.index("Run the tool")
    passage = workspace.passage(doc, start, start + 12)
    assert passage.text == "Run the tool"
    assert passage.section is not None and "Usage" in passage.section
    assert passage.page is None


# -- original files -----------------------------------------------------------------------------


def test_original_file_is_the_stored_copy(
    workspace: Workspace, pdf_doc: str, tmp_path: Path
) -> None:
    original = workspace.original_file(pdf_doc)
    with closing(original.open()) as stored:
        assert stored.read() == (tmp_path / "zebra.pdf").read_bytes()
    assert (original.media_type, original.file_name, original.charset) == (
        "application/pdf",
        "zebra.pdf",
        None,
    )
    assert original.size == (tmp_path / "zebra.pdf").stat().st_size


def test_text_originals_say_their_charset(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "utf8.txt").write_text("naïve café", encoding="utf-8")
    (tmp_path / "latin.txt").write_bytes("naïve café".encode("cp1252"))
    workspace.ingest([tmp_path], embed=False)
    charsets = {d.file_name: workspace.original_file(d.id).charset for d in workspace.documents()}
    assert charsets == {"utf8.txt": "utf-8", "latin.txt": "windows-1252"}


def test_a_missing_original_is_not_found(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "gone.txt").write_text("soon gone", encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    workspace.ingest([tmp_path], embed=False)
    docs = {d.file_name: d for d in workspace.documents()}
    DirectoryStore(workspace.settings.data_dir).delete(docs["gone.txt"].sha256 or "")
    with pytest.raises(OriginalNotStored):
        workspace.original_file(docs["gone.txt"].id)
    assert docs["broken.pdf"].status == "failed"
    with pytest.raises(OriginalNotStored):
        workspace.original_file(docs["broken.pdf"].id)


# -- PDF pages ----------------------------------------------------------------------------------


def sentence_char_boxes(pdf_path: Path) -> list[tuple[float, float, float, float]]:
    """PDFium's own boxes (left, bottom, right, top) of the sentence's non-space characters on
    page 2, found by PDFium's text search, independently of docchat's mapping."""
    pdf = pdfium.PdfDocument(pdf_path)
    try:
        page = pdf[1]
        textpage = page.get_textpage()
        searcher = textpage.search("The zebra", match_case=True)
        first = searcher.get_next()
        searcher.close()
        assert first is not None
        start = first[0]
        searcher = textpage.search("at dawn.", match_case=True)
        last = searcher.get_next()
        searcher.close()
        assert last is not None
        end = last[0] + last[1]
        boxes = [
            textpage.get_charbox(i)
            for i in range(start, end)
            if not textpage.get_text_range(i, 1).isspace()
        ]
        textpage.close()
        page.close()
        return boxes
    finally:
        pdf.close()


def highlighted(png: bytes) -> np.ndarray:
    """A mask of the pixels the highlighter coloured: yellow over white or over black text."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    red, blue = rgb[..., 0], rgb[..., 2]
    return (red - blue) > 60


def test_the_sentence_is_highlighted_where_pdfium_draws_it(
    workspace: Workspace, pdf_doc: str, tmp_path: Path
) -> None:
    text = workspace.document_text(pdf_doc)
    start, end = sentence_span(text)
    scale = 1.0
    image = workspace.page_image(pdf_doc, 2, start=start, end=end, scale=scale)
    assert image.png.startswith(b"\x89PNG")
    mask = highlighted(image.png)
    assert mask.shape == (image.height, image.width)
    page_height = image.highlights.height

    boxes = sentence_char_boxes(tmp_path / "zebra.pdf")
    assert len(boxes) == len(SENTENCE.replace(" ", ""))
    # Every character of the sentence is under the highlighter...
    for left, bottom, right, top in boxes:
        cx = int((left + right) / 2 * scale)
        cy = int((page_height - (top + bottom) / 2) * scale)
        assert mask[cy - 1 : cy + 2, cx - 1 : cx + 2].any(), (left, bottom)
    # ...and nothing outside the lines the sentence is on (a few pixels of line height spare).
    x0 = min(b[0] for b in boxes) * scale - 3
    x1 = max(b[2] for b in boxes) * scale + 3
    y0 = (page_height - max(b[3] for b in boxes)) * scale - 6
    y1 = (page_height - min(b[1] for b in boxes)) * scale + 6
    ys, xs = np.nonzero(mask)
    assert len(ys) > 500
    assert ((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)).all()
    # Two lines: the end of the first, the start of the second; the rest of them is not yellow.
    assert len(image.highlights.rects) == 2
    line_before_left = boxes[0][0] * scale - 5  # the sentence starts mid-line
    first_line = (ys < (page_height - boxes[0][1]) * scale + 2) & (
        ys > (page_height - boxes[0][3]) * scale - 2
    )
    assert (xs[first_line] >= line_before_left).all()


def test_highlights_as_json_match_the_image(workspace: Workspace, pdf_doc: str) -> None:
    text = workspace.document_text(pdf_doc)
    start, end = sentence_span(text)
    found = workspace.page_highlights(pdf_doc, 2, start=start, end=end)
    assert (found.page, found.page_count, found.start, found.end) == (2, 3, start, end)
    assert (round(found.width), round(found.height)) == (595, 842)  # A4 in points
    assert len(found.rects) == 2
    first, second = found.rects
    assert first.y < second.y  # from the top
    assert all(r.width > 0 and r.height > 0 for r in found.rects)
    assert all(r.x >= 0 and r.x + r.width <= found.width for r in found.rects)
    # The same boxes, drawn at scale 2, cover the image's yellow pixels.
    mask = highlighted(workspace.page_image(pdf_doc, 2, start=start, end=end, scale=2).png)
    for r in found.rects:
        inner = mask[
            int(r.y * 2) + 2 : int((r.y + r.height) * 2) - 2,
            int(r.x * 2) + 2 : int((r.x + r.width) * 2) - 2,
        ]
        assert inner.mean() > 0.95


def test_a_span_on_another_page_highlights_nothing(workspace: Workspace, pdf_doc: str) -> None:
    text = workspace.document_text(pdf_doc)
    start, end = sentence_span(text)
    assert workspace.page_highlights(pdf_doc, 1, start=start, end=end).rects == []
    assert not highlighted(workspace.page_image(pdf_doc, 3, start=start, end=end).png).any()
    plain = workspace.page_image(pdf_doc, 2, scale=0.5)
    assert plain.highlights.rects == [] and not highlighted(plain.png).any()
    assert (plain.width, plain.height) == (298, 421)


def test_a_span_across_pages_highlights_its_part_of_each(
    workspace: Workspace, pdf_doc: str
) -> None:
    text = workspace.document_text(pdf_doc)
    start = text.index("First page text.", len(text) // 10)
    end = text.index("come first.") + len("come first.")
    assert workspace.page_highlights(pdf_doc, 1, start=start, end=end).rects
    assert workspace.page_highlights(pdf_doc, 2, start=start, end=end).rects
    assert workspace.page_highlights(pdf_doc, 3, start=start, end=end).rects == []


def test_pages_that_cannot_be_shown(workspace: Workspace, pdf_doc: str, tmp_path: Path) -> None:
    with pytest.raises(PageNotFound, match="no page 4"):
        workspace.page_image(pdf_doc, 4)
    (tmp_path / "notes.txt").write_text("plain text has no pages", encoding="utf-8")
    workspace.ingest([tmp_path / "notes.txt"], embed=False)
    txt = next(d.id for d in workspace.documents() if d.file_name == "notes.txt")
    with pytest.raises(PageNotFound, match="not one"):
        workspace.page_highlights(txt, 1)
    with pytest.raises(InvalidInput) as caught:
        workspace.page_image(pdf_doc, 1, scale=3.5)
    assert caught.value.field == "scale"
    with pytest.raises(InvalidInput, match="both start and end"):
        workspace.page_highlights(pdf_doc, 1, start=3)
    with pytest.raises(InvalidInput):
        workspace.page_highlights(pdf_doc, 0)


def test_pages_render_from_many_threads(workspace: Workspace, pdf_doc: str) -> None:
    # PDFium is not thread-safe: the shared lock must serialise it (a crash here kills the run).
    from concurrent.futures import ThreadPoolExecutor

    text = workspace.document_text(pdf_doc)
    start, end = sentence_span(text)

    def render(page: int) -> int:
        return len(workspace.page_image(pdf_doc, page, start=start, end=end, scale=0.5).png)

    with ThreadPoolExecutor(max_workers=6) as pool:
        sizes = list(pool.map(render, [1, 2, 3] * 6))
    assert sizes[:3] * 6 == sizes


# -- aligning the document's text with PDFium's characters --------------------------------------


def test_align_ignores_whitespace_and_dropped_markers() -> None:
    pdf_chars = list("Hello\r\nwor\x02ld  again")
    text = "Hello\nworld again"
    found = align(text, pdf_chars)
    assert [pdf_chars[j] for j in found if j >= 0] == list("Helloworldagain")
    assert found[text.index("w")] == 7
    assert found[text.index("l", 8)] == 11  # past the \x02 PDFium left in


def test_align_survives_differences() -> None:
    pdf_chars = list("The ﬁrst line, then more")
    text = "The first line, then more"
    found = align(text, pdf_chars)
    assert found[text.index("then")] == "".join(pdf_chars).index("then")
    assert found[0] == 0
