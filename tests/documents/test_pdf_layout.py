"""PDF text as people read it: reading order, paragraphs, no running headers, hyphenation undone
only with evidence, ligatures spelt out; and highlights that still cover exactly the characters
cited (tests/sample_pdf.py draws the PDF: two columns, written side by side on page 1)."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest
from sample_pdf import CROSSING, layout_paragraphs, write_layout_pdf

from docchat.chat.sentences import split_sentences
from docchat.config import DocumentSettings
from docchat.documents.chunking import chunk
from docchat.documents.pages import HighlightRect
from docchat.documents.parsers import PDF, Piece, build_document, parse
from docchat.documents.parsers.pdf_layout import Line, PageLayout
from docchat.documents.parsers.pdf_paragraphs import assemble, running_lines
from docchat.workspace import Workspace
from tests.workspace_parts import parts


@pytest.fixture
def layout_pdf(tmp_path: Path) -> Path:
    return write_layout_pdf(tmp_path / "survey.pdf")


def test_pages_read_as_paragraphs_in_reading_order(layout_pdf: Path) -> None:
    doc = parse(layout_pdf, DocumentSettings())
    assert [unit.page for unit in doc.units] == [1, 2, 3]
    # Every page exactly as written: columns in order, wrapped lines joined with a space,
    # paragraphs apart, "recon-struction" (a vocabulary word) and "water-hole" (unbroken on
    # page 3) joined, "well-known" keeping its hyphen, "ﬁ" as "fi"; no header, no footer.
    for unit, paragraphs in zip(doc.units, layout_paragraphs(), strict=True):
        assert unit.text == "\n\n".join(paragraphs)
    assert "waterhole before the rangers" in doc.text
    assert "reconstruction" in doc.text and "well-known" in doc.text
    assert "field team" in doc.text and not any("\ufb00" <= ch <= "\ufb06" for ch in doc.text)
    assert "FIELD NOTES" not in doc.text and "Page 2 of 3" not in doc.text


def _page(*lines: tuple[str, float]) -> PageLayout:
    """A page 600 points high with these lines, each this far from the top."""
    layout = PageLayout(400.0, 600.0)
    for text, depth in lines:
        layout.lines.append(Line(text, [], 0, 0, 50.0, 590.0 - depth, 350.0, 600.0 - depth))
    return layout


def test_a_line_displayed_inside_a_sentence_does_not_end_its_paragraph() -> None:
    # R's FAQ sets a URL off with space above and below, inside a sentence, ending the line
    # before it early; the sentence goes on after it.  A gap after a finished sentence still
    # ends the paragraph, and so does one after a heading whose paragraph opens in lower case.
    def row(text: str, depth: float, right: float = 350.0) -> Line:
        return Line(text, [], 0, 0, 50.0, 590.0 - depth, right, 600.0 - depth)

    page = PageLayout(400.0, 600.0)
    page.lines += [
        row("R is a system for statistical computation and graphics, made of a", 20),
        row("language and a run-time environment with graphics, a debugger and", 34),
        row("access to system functions. The CRAN main site in Austria", 48),
        row("can be found at the URL", 62, right=170.0),
        row("https://cran.r-project.org/", 90),
        row("and is mirrored daily to many sites around the world. Please use the", 118),
        row("site closest to you to reduce the load on the main site.", 132),
        row("Binaries are built for several operating systems and for several", 160),
        row("versions of each; they are updated with every release of the system", 174),
        row("and announced on the mailing list of the project.", 188),
        row("Locales under macOS", 216, right=180.0),
        row("macOS supports locales in its own particular way, but the graphical", 244),
        row("front end tries to make them easier to use for everyone who runs", 258),
        row("the system on that platform.", 272),
    ]
    (text,) = (t.text for t in assemble([page]))
    paragraphs = text.split("\n\n")
    assert len(paragraphs) == 4, paragraphs
    assert "found at the URL\nhttps://cran.r-project.org/\nand is mirrored daily" in paragraphs[0]
    assert paragraphs[1].startswith("Binaries are built")
    assert paragraphs[2] == "Locales under macOS"
    assert paragraphs[3].startswith("macOS supports locales")
    sentences = [s.text for s in split_sentences(text)]
    assert (
        "The CRAN main site in Austria can be found at the URL\nhttps://cran.r-project.org/\n"
        "and is mirrored daily to many sites around the world." in sentences
    )


def test_a_heading_numbered_like_its_page_is_not_a_running_header() -> None:
    # Printed pages 1 to 4; from page 2 a header at the top counts with the page.  Page 1
    # opens chapter 1, whose heading "1 Introduction" (lower down) is numbered like page 1.
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]
    pages = [_page(("1 Introduction", 120), ("Zebras graze.", 160), ("They walk.", 500))]
    pages += [
        _page((f"Chapter 1: Introduction {n}", 30), (words[n], 60), (words[n + 4], 500))
        for n in range(2, 5)
    ]
    assert running_lines(pages) == [set(), {0}, {0}, {0}]


def _chars_under(
    pdf_path: Path, page: int, rects: list[HighlightRect]
) -> tuple[set[int], pdfium.PdfTextPage]:
    """PDFium's indices of the page's visible characters whose centre lies under a rect."""
    pdf = pdfium.PdfDocument(pdf_path)
    textpage = pdf[page - 1].get_textpage()
    height = pdf[page - 1].get_size()[1]
    under = set()
    for i in range(textpage.count_chars()):
        if textpage.get_text_range(i, 1).isspace():
            continue
        left, bottom, right, top = textpage.get_charbox(i)
        if right - left <= 0:
            continue
        x, y = (left + right) / 2, height - (top + bottom) / 2
        if any(r.x <= x <= r.x + r.width and r.y <= y <= r.y + r.height for r in rects):
            under.add(i)
    return under, textpage


def _found(textpage: pdfium.PdfTextPage, phrase: str) -> set[int]:
    """Indices of the non-space characters of ``phrase`` where PDFium's own search finds it."""
    searcher = textpage.search(phrase, match_case=True)
    hit = searcher.get_next()
    searcher.close()
    assert hit is not None, phrase
    start, count = hit
    return {i for i in range(start, start + count) if not textpage.get_text_range(i, 1).isspace()}


def test_highlight_covers_exactly_the_cited_characters(
    workspace: Workspace, layout_pdf: Path
) -> None:
    workspace.ingest([layout_pdf], embed=False)
    doc = workspace.documents()[0].id
    text = workspace.document_text(doc)
    start = text.index(CROSSING)
    end = start + len(CROSSING)
    # The sentence crosses from the left column's last line, "…the water-", to the right
    # column's top, "hole before…"; in PDF order the header and footer lie in between.
    found = workspace.page_highlights(doc, 2, start=start, end=end)
    under, textpage = _chars_under(layout_pdf, 2, found.rects)
    expected = (
        _found(textpage, "The herd reached the water")
        | _found(textpage, "hole before the rangers came back with the")
        | _found(textpage, "trucks.")
    )
    assert under == expected
    assert len(found.rects) == 3  # one per printed line


def test_a_span_inside_one_column_of_a_side_by_side_page(
    workspace: Workspace, layout_pdf: Path
) -> None:
    workspace.ingest([layout_pdf], embed=False)
    doc = workspace.documents()[0].id
    text = workspace.document_text(doc)
    # Page 1's columns were written line by line across the page, so PDFium joins each left
    # line with its right neighbour; the cited words are the left column's only.
    phrase = "The old ford needed a reconstruction after the floods."
    start = text.index(phrase)
    found = workspace.page_highlights(doc, 1, start=start, end=start + len(phrase))
    under, textpage = _chars_under(layout_pdf, 1, found.rects)
    searcher = textpage.search("The old ford needed a recon", match_case=True)
    assert searcher.get_next() is not None
    searcher.close()
    expected = _found(textpage, "The old ford needed a recon") | _found(
        textpage, "struction after the floods."
    )
    assert under == expected


# -- text read before paragraphs: highlighted by alignment, read again on the next ingest ------


def _as_the_older_reader_read_it(workspace: Workspace, document_id: str, pdf_path: Path) -> None:
    """Put what the reader before paragraphs made in place of the document's content: PDFium's
    printed lines, running headers and all, with no reader recorded."""
    pdf = pdfium.PdfDocument(pdf_path)
    pieces = [
        Piece(
            pdf[i].get_textpage().get_text_bounded().replace("\x02", ""),
            page=i + 1,
            location=f"page {i + 1}",
        )
        for i in range(len(pdf))
    ]
    parsed = build_document(
        pieces, name=pdf_path.name, mime_type=PDF.mime_type, page_count=len(pdf)
    )
    assert parsed.reader is None
    info = workspace.document(document_id)
    assert info.sha256 is not None
    parts(workspace).registry.replace_content(
        document_id,
        sha256=info.sha256,
        parsed=parsed,
        chunks=chunk(parsed, max_tokens=200, overlap=40),
    )


def test_a_pdf_the_older_reader_read_is_highlighted_and_read_again(
    workspace: Workspace, layout_pdf: Path
) -> None:
    workspace.ingest([layout_pdf], embed=False)
    doc = workspace.documents()[0].id
    current = workspace.document_text(doc)
    _as_the_older_reader_read_it(workspace, doc, layout_pdf)
    older = workspace.document_text(doc)
    assert "FIELD NOTES" in older and older != current

    # Its lines do not replay against this text: characters are aligned instead.
    phrase = "The herd reached the"
    start = older.index(phrase)
    found = workspace.page_highlights(doc, 2, start=start, end=start + len(phrase))
    under, textpage = _chars_under(layout_pdf, 2, found.rects)
    assert under == _found(textpage, phrase)

    again = workspace.ingest([layout_pdf], embed=False)
    assert (again.updated, again.unchanged, again.failures) == (1, 0, [])
    assert workspace.document_text(doc) == current
    assert workspace.document(doc).status == "indexing"  # its new chunks wait for vectors
    # Read by today's reader, it is left alone from now on.
    third = workspace.ingest([layout_pdf], embed=False)
    assert (third.updated, third.unchanged) == (0, 1)


# -- accents TeX prints as glyphs of their own ---------------------------------------------------


def test_an_accent_printed_before_its_letter_is_read_as_the_accented_letter(
    workspace: Workspace, tmp_path: Path
) -> None:
    # TeX-made PDFs draw "ä" as U+00A8 then "a" (pdfium reads "Wirtschaftsuniversit" U+00A8 "at"):
    # a reader, a search for "Wirtschaftsuniversität" and a quote want the letter.  U+02C6 and
    # U+02DC stand for "^" and "~" in those PDFs, and a lone accent is no letter's.
    from fpdf import FPDF

    from docchat.sessions.export_pdf import _noto_sans

    pdf = FPDF(unit="pt", format="A4")
    pdf.add_font("noto", "", str(_noto_sans()))
    pdf.set_font("noto", size=11)
    pdf.add_page()
    lines = [
        "The CRAN main site at WU (Wirtschaftsuniversit\u00a8at Wien) in Austria.",
        "Written by George Gr\u00a8atzer and Halil\u02c7cevi\u00b4c with Rowland J.\u02dcBartlett.",
        "Raise x to a power with x\u02c6y; the key \u00a8 alone is no letter's accent.",
    ]
    for k, line in enumerate(lines):
        pdf.text(56, 100 + 16 * k, line)
    path = tmp_path / "accents.pdf"
    pdf.output(str(path))

    text = parse(path, DocumentSettings()).text
    assert "Wirtschaftsuniversität Wien" in text
    assert "Grätzer and Halilčević with Rowland J.\u02dcBartlett." in text
    assert "x\u02c6y" in text and "the key \u00a8 alone" in text

    workspace.ingest([path], embed=False)
    doc = workspace.documents()[0].id
    stored = workspace.document_text(doc)
    start = stored.index("Wirtschaftsuniversität")
    found = workspace.page_highlights(
        doc, 1, start=start, end=start + len("Wirtschaftsuniversität")
    )
    under, textpage = _chars_under(path, 1, found.rects)
    # Every letter of the word and nothing else: the accent's own glyph, drawn beside the "a"
    # here, is left out (TeX draws it above the letter, whose box the highlight covers).
    word = _found(textpage, "Wirtschaftsuniversit\u00a8at")
    accent = sorted(word)[len("Wirtschaftsuniversit")]
    assert textpage.get_text_range(accent, 1) == "\u00a8"
    assert under == word - {accent}
