"""Parsers: provenance and exact offsets for every format, and refusal of bad or hostile input."""

from __future__ import annotations

import random
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pypdf
import pytest

from docchat.config import DocumentSettings
from docchat.documents.parsers import (
    DOCX,
    FORMATS,
    PDF,
    SNIFF_BYTES,
    TEXT,
    XLSX,
    Piece,
    build_document,
    detect_format,
    format_for_mime,
    parse,
    sniff,
)
from docchat.documents.parsers.safety import check_office_zip
from docchat.documents.types import ParsedDocument, Parser
from docchat.errors import CorruptDocument, TooLarge, UnsupportedFormat

MakePdf = Callable[[str, Sequence[Sequence[str] | None]], Path]
ZipBomb = Callable[[str, str, int], Path]


NOISE = random.Random(0).randbytes(4000)  # seeded, so a failure can be reproduced


def unit_with(doc: ParsedDocument, needle: str) -> int:
    """Index of the one unit containing ``needle``."""
    found = [i for i, unit in enumerate(doc.units) if needle in unit.text]
    assert len(found) == 1, (needle, found)
    return found[0]


# --- every format -----------------------------------------------------------------------------


def test_offsets_index_exactly_into_the_text(any_document: Path, limits: DocumentSettings) -> None:
    doc = parse(any_document, limits)
    assert doc.units
    for unit in doc.units:
        assert doc.text[unit.char_start : unit.char_end] == unit.text
        assert unit.text == unit.text.strip() and unit.text
    assert "\n\n".join(unit.text for unit in doc.units) == doc.text


def test_every_parser_satisfies_the_protocol() -> None:
    parsers: list[Parser] = [fmt.load() for fmt in FORMATS]
    assert len(parsers) == len(FORMATS)


def test_parse_leaves_no_temporary_files(
    any_document: Path, limits: DocumentSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = set(any_document.parent.iterdir())
    parse(any_document, limits)
    assert list(scratch.iterdir()) == []
    assert set(any_document.parent.iterdir()) == before


def test_mime_types_name_the_formats() -> None:
    assert format_for_mime("application/pdf") is PDF
    assert format_for_mime("text/plain; charset=utf-8") is TEXT
    assert format_for_mime("application/octet-stream") is None


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_units_are_pages(pdf_file: Path, limits: DocumentSettings) -> None:
    doc = parse(pdf_file, limits)
    assert doc.mime_type == "application/pdf"
    assert doc.page_count == 5
    assert [u.page for u in doc.units] == [1, 2, 3, 4, 5]
    zebra = doc.units[unit_with(doc, "zebra")]
    assert (zebra.page, zebra.location) == (3, "page 3")
    assert (
        zebra.text
        == "The zebra project shipped on page three.\n\nIt beat its deadline by two weeks."
    )
    assert "Backslash \\ and parentheses ( ) survive." in doc.units[4].text


def test_pdf_pages_beyond_the_limit_are_skipped_with_a_warning(
    pdf_file: Path, limits: DocumentSettings
) -> None:
    doc = parse(pdf_file, limits.model_copy(update={"max_pages": 2}))
    assert [u.page for u in doc.units] == [1, 2]
    assert doc.page_count == 5
    assert doc.warnings == ["only the first 2 of 5 pages were read"]


def test_pdf_pages_without_text_are_reported(make_pdf: MakePdf, limits: DocumentSettings) -> None:
    path = make_pdf("mixed.pdf", [["Typed page."], None, ["Another typed page."]])
    doc = parse(path, limits)
    assert [u.page for u in doc.units] == [1, 3]
    assert doc.warnings == ["no text layer on page 2 (scanned or image-only?)"]


def test_image_only_pdf_is_refused(make_pdf: MakePdf, limits: DocumentSettings) -> None:
    path = make_pdf("scan.pdf", [None, None])
    with pytest.raises(CorruptDocument, match=r"^'scan.pdf' has no text layer.*OCR"):
        parse(path, limits)


def test_encrypted_pdf_is_refused(pdf_file: Path, tmp_path: Path, limits: DocumentSettings) -> None:
    writer = pypdf.PdfWriter(clone_from=pdf_file)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as f:
        writer.write(f)
    with pytest.raises(CorruptDocument, match=r"^'locked.pdf' is encrypted"):
        parse(path, limits)


@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_pdf_is_refused(
    pdf_file: Path, tmp_path: Path, limits: DocumentSettings, keep: float
) -> None:
    data = pdf_file.read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptDocument) as caught:
        parse(path, limits)
    assert caught.value.message == "'cut.pdf' is damaged or not a PDF"


def test_pdf_header_with_garbage_is_refused(tmp_path: Path, limits: DocumentSettings) -> None:
    path = tmp_path / "garbage.pdf"
    path.write_bytes(b"%PDF-1.7\n" + NOISE)
    with pytest.raises(CorruptDocument, match="damaged"):
        parse(path, limits)


def test_random_bytes_named_pdf_are_refused(tmp_path: Path, limits: DocumentSettings) -> None:
    path = tmp_path / "random.pdf"
    path.write_bytes(b"\x89\x01" + NOISE)
    with pytest.raises(CorruptDocument) as caught:
        parse(path, limits)
    assert caught.value.message == "'random.pdf' is not a valid PDF"


def test_pdf_named_txt_is_read_as_pdf(
    pdf_file: Path, tmp_path: Path, limits: DocumentSettings
) -> None:
    path = tmp_path / "really-a-pdf.txt"
    path.write_bytes(pdf_file.read_bytes())
    assert detect_format(path) is PDF
    doc = parse(path, limits)
    assert doc.mime_type == PDF.mime_type
    assert doc.units[2].page == 3
    assert doc.warnings == ["'really-a-pdf.txt' is a PDF, not a text file; it was read as a PDF"]


def test_messages_use_the_given_file_name(make_pdf: MakePdf, limits: DocumentSettings) -> None:
    path = make_pdf("upload-3f2a.bin", [None])
    with pytest.raises(CorruptDocument, match=r"^'Scan 2024.pdf' has no text layer"):
        parse(path, limits, file_name="Scan 2024.pdf")


# --- Office -----------------------------------------------------------------------------------


def test_docx_headings_form_the_section_path(docx_file: Path, limits: DocumentSettings) -> None:
    doc = parse(docx_file, limits)
    sections = [u.section for u in doc.units]
    assert sections == [
        None,
        "Annual Report",
        "Annual Report > Introduction",
        "Annual Report > Introduction > Background",
        "Annual Report > Results",
    ]
    assert doc.title == "Annual Report"
    assert all(u.page is None for u in doc.units)
    background = doc.units[unit_with(doc, "volatile")]
    assert background.text == "Background\n\nMarkets were volatile in spring."
    results = doc.units[unit_with(doc, "Region | Units | Revenue")]
    assert "Region | Units | Revenue\nNorth | 120 | 4.5\nSouth | 80 | 3.1" in results.text
    assert results.text.endswith("Both regions grew.")


def test_pptx_units_are_slides(pptx_file: Path, limits: DocumentSettings) -> None:
    doc = parse(pptx_file, limits)
    assert doc.page_count == 3
    assert [(u.page, u.location, u.section) for u in doc.units] == [
        (1, "slide 1", "Launch Plan"),
        (2, "slide 2", "Budget"),
        (3, "slide 3", "Timeline"),
    ]
    assert doc.units[0].text == "Launch Plan\n\nSpring release"
    assert "Item | Cost\nAds | 1200" in doc.units[1].text
    assert doc.units[2].text.endswith("Notes: Mention the pilot customers.")
    assert "Beta in May\nGeneral availability in June" in doc.units[2].text


def test_pptx_slides_beyond_the_limit_are_skipped(
    pptx_file: Path, limits: DocumentSettings
) -> None:
    doc = parse(pptx_file, limits.model_copy(update={"max_pages": 2}))
    assert [u.page for u in doc.units] == [1, 2]
    assert doc.warnings == ["only the first 2 of 3 slides were read"]


def test_xlsx_rows_come_in_blocks_by_sheet(xlsx_file: Path, limits: DocumentSettings) -> None:
    doc = parse(xlsx_file, limits)
    assert [(u.section, u.location) for u in doc.units] == [
        ("Sales", "Sales!A1:C51"),
        ("Sales", "Sales!A52:C101"),
        ("Sales", "Sales!A102:C122"),
        ("Notes Sheet", "'Notes Sheet'!A1:C2"),
    ]
    first = doc.units[0].text.split("\n")
    assert first[0] == "Sales by region"
    assert first[1] == "Region: Region 0 | Month: M1 | Units: 0"
    assert len(first) == 50
    # Every block repeats the header, so any chunk of it is self-describing.
    assert doc.units[2].text.split("\n")[-1] == "Region: Region 119 | Month: M12 | Units: 1190"
    assert doc.units[3].text == "1 | 2.5 | TRUE\n3 |  | text"


@pytest.mark.parametrize("stored_as", ["upload-3f2a", "ab/ab12cd"])
def test_every_format_parses_under_any_path(
    any_document: Path, tmp_path: Path, limits: DocumentSettings, stored_as: str
) -> None:
    # Uploads are spooled as upload-XXXX and originals stored by hash, without a suffix; the
    # name the user gave comes separately (openpyxl refused such a path).
    path = tmp_path / "spool" / stored_as
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(any_document.read_bytes())
    assert parse(path, limits, file_name=any_document.name) == parse(any_document, limits)


def test_xlsx_row_cap_stops_reading_with_a_warning(
    xlsx_file: Path, limits: DocumentSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docchat.documents.parsers import xlsx

    monkeypatch.setattr(xlsx, "MAX_CELLS", 30)
    doc = parse(xlsx_file, limits)
    assert doc.warnings == ["only the first 30 cells were read"]
    assert doc.units[-1].location == "Sales!A1:C10"


def test_docx_zip_bomb_is_refused(zip_bomb: ZipBomb, limits: DocumentSettings) -> None:
    path = zip_bomb("bomb.docx", "word/document.xml", 600)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(CorruptDocument, match=r"^'bomb.docx' looks like an archive bomb"):
        parse(path, limits)


def test_xlsx_zip_bomb_is_refused(zip_bomb: ZipBomb, limits: DocumentSettings) -> None:
    path = zip_bomb("bomb.xlsx", "xl/workbook.xml", 20)
    assert detect_format(path) is XLSX
    with pytest.raises(CorruptDocument, match="archive bomb: one of its parts expands 1,0"):
        parse(path, limits)


def test_bomb_without_office_parts_is_refused(zip_bomb: ZipBomb, limits: DocumentSettings) -> None:
    path = zip_bomb("plain.docx", "zeros.bin", 20)
    with pytest.raises(CorruptDocument, match="not a valid Word document"):
        parse(path, limits)


def test_office_file_unpacking_past_the_limit_is_too_large(
    docx_file: Path, limits: DocumentSettings
) -> None:
    small = limits.model_copy(update={"max_unpacked_bytes": 10_000})
    with pytest.raises(
        TooLarge, match=r"^'annual.docx' unpacks to [\d.]+ KB; the limit is 10.0 KB$"
    ):
        parse(docx_file, small)


def test_office_file_with_too_many_parts_is_refused(
    tmp_path: Path, limits: DocumentSettings
) -> None:
    path = tmp_path / "many.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xl/workbook.xml", "")
        for i in range(10_001):
            zf.writestr(f"p/{i}", "")
    with pytest.raises(CorruptDocument, match=r"^'many.xlsx' has more parts than any real Office"):
        parse(path, limits)
    with pytest.raises(CorruptDocument, match="more parts than any real Office file"):
        check_office_zip(path, limits, name=path.name)


def test_damaged_docx_is_refused(docx_file: Path, tmp_path: Path, limits: DocumentSettings) -> None:
    path = tmp_path / "damaged.docx"
    with zipfile.ZipFile(docx_file) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(
                item, data[: len(data) // 2] if item.filename == "word/document.xml" else data
            )
    with pytest.raises(CorruptDocument) as caught:
        parse(path, limits)
    assert caught.value.message == "'damaged.docx' is damaged or not a Word document"


def test_password_protected_office_file_is_refused(
    tmp_path: Path, limits: DocumentSettings
) -> None:
    path = tmp_path / "locked.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2000))
    with pytest.raises(CorruptDocument, match="password-protected or in the old binary"):
        parse(path, limits)


def test_docx_named_pdf_is_read_as_docx(
    docx_file: Path, tmp_path: Path, limits: DocumentSettings
) -> None:
    path = tmp_path / "misnamed.pdf"
    path.write_bytes(docx_file.read_bytes())
    assert detect_format(path) is DOCX
    assert parse(path, limits).units[1].section == "Annual Report"


# --- HTML, Markdown, text ---------------------------------------------------------------------


def test_html_boilerplate_is_dropped(html_file: Path, limits: DocumentSettings) -> None:
    doc = parse(html_file, limits)
    assert doc.title == "Widget Guide"
    for boilerplate in ("SCRIPT", "HEADER", "NAV", "Menu item", "ASIDE", "FORM", "FOOTER", "color"):
        assert boilerplate not in doc.text
    assert [u.section for u in doc.units] == [
        "Widget Guide",
        "Widget Guide > Install",
        "Widget Guide > Configure",
    ]
    assert doc.units[0].text == "Widget Guide\nWidgets are small and useful."
    install = doc.units[1].text
    assert "Run the installer.\nThen restart." in install
    assert "OS | Command\nLinux | apt install widget" in install
    assert doc.units[2].text == "Configure\nkey = value\nindented = yes"


def test_html_in_a_legacy_charset(tmp_path: Path, limits: DocumentSettings) -> None:
    path = tmp_path / "old.htm"
    page = '<html><head><meta charset="windows-1252"></head><body><p>Café \u2013 10 €</p>'
    path.write_bytes(page.encode("cp1252"))
    assert parse(path, limits).text == "Café \u2013 10 €"


def test_html_permalink_anchors_leave_no_mark(tmp_path: Path, limits: DocumentSettings) -> None:
    # Sphinx and MkDocs end each heading with a "¶" link; Docusaurus with a "#" one.
    path = tmp_path / "guide.html"
    path.write_text(
        "<body><h1>Guide<a class='headerlink' href='#guide' title='Permalink'>\u00b6</a></h1>"
        "<p>Intro.</p><h2>Install <a class='hash-link' href='#install'>#</a></h2>"
        "<div class='code-block-caption'><span>setup.sh</span>"
        "<a class='headerlink' href='#id1'>\u00b6</a></div><p>Run it.</p>"
        "<h2>Limits<a href='#limits'>\u00a7</a></h2><p>Ten at most.</p></body>",
        encoding="utf-8",
    )
    doc = parse(path, limits)
    assert [u.section for u in doc.units] == ["Guide", "Guide > Install", "Guide > Limits"]
    assert "\u00b6" not in doc.text and "\u00a7" not in doc.text
    assert doc.units[1].text == "Install\nsetup.sh\nRun it."


def test_deeply_nested_html_does_not_recurse(tmp_path: Path, limits: DocumentSettings) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<div>" * 5000 + "<p>bottom</p>" + "</div>" * 5000, encoding="utf-8")
    assert parse(path, limits).text == "bottom"


def test_markdown_headings_form_the_section_path(md_file: Path, limits: DocumentSettings) -> None:
    doc = parse(md_file, limits)
    assert [(u.section, u.location) for u in doc.units] == [
        (None, "lines 1-4"),
        ("Guide", "lines 6-8"),
        ("Guide > Setup Steps", "lines 10-18"),
        ("Guide > Details", "lines 20-22"),
        ("Appendix", "lines 24-27"),
    ]
    assert doc.title == "Guide"
    setup = doc.units[2].text
    assert setup.startswith("Setup Steps\n\nInstall it first.")
    assert "# not a heading" in setup
    assert doc.units[3].text == "Details\n\nSome *details* here."


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Grüße\r\nzweite Zeile".encode("utf-8-sig"), "Grüße\nzweite Zeile"),
        ("Grüße".encode("utf-16"), "Grüße"),
        ("Grüße \u2013 café".encode("cp1252"), "Grüße \u2013 café"),
        (b"caf\xe9 \x81", "café"),  # not cp1252 either: Latin-1, whose \x81 is a control character
    ],
)
def test_text_encodings(
    data: bytes, expected: str, tmp_path: Path, limits: DocumentSettings
) -> None:
    path = tmp_path / "enc.txt"
    path.write_bytes(data)
    assert parse(path, limits).text == expected


def test_text_units_carry_line_ranges(tmp_path: Path, limits: DocumentSettings) -> None:
    paragraph = "word " * 200  # 1000 characters
    path = tmp_path / "long.txt"
    path.write_text("\n\n".join([paragraph] * 10), encoding="utf-8")
    doc = parse(path, limits)
    assert [u.location for u in doc.units] == ["lines 1-7", "lines 9-15", "lines 17-19"]


def test_binary_content_named_txt_is_refused(tmp_path: Path, limits: DocumentSettings) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"abc\x00\x01\x02" * 100)
    with pytest.raises(CorruptDocument, match=r"^'data.txt' is a binary file"):
        parse(path, limits)


def test_binary_content_named_html_is_refused(tmp_path: Path, limits: DocumentSettings) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(b'<meta charset="utf-8">\x00\x01' + NOISE)
    with pytest.raises(CorruptDocument, match=r"^'page.html' is a binary file"):
        parse(path, limits)


def test_text_file_without_a_suffix_is_read_as_text(
    tmp_path: Path, limits: DocumentSettings
) -> None:
    path = tmp_path / "README"
    path.write_text("Read me first.", encoding="utf-8")
    assert parse(path, limits).mime_type == "text/plain"


# --- limits and unsupported input -------------------------------------------------------------


def test_empty_file_is_refused(tmp_path: Path, limits: DocumentSettings) -> None:
    for name in ("empty.pdf", "empty.docx", "empty.txt"):
        path = tmp_path / name
        path.touch()
        with pytest.raises(CorruptDocument) as caught:
            parse(path, limits)
        assert caught.value.message == f"{name!r} is empty"


def test_whitespace_only_file_has_no_text(tmp_path: Path, limits: DocumentSettings) -> None:
    path = tmp_path / "blank.md"
    path.write_text("\n \n\t\n", encoding="utf-8")
    with pytest.raises(CorruptDocument, match=r"^'blank.md' contains no text$"):
        parse(path, limits)


def test_file_over_the_size_limit_is_too_large(pdf_file: Path, limits: DocumentSettings) -> None:
    tiny = limits.model_copy(update={"max_file_bytes": 100})
    with pytest.raises(
        TooLarge, match=r"^'report.pdf' is [\d.]+ KB; the largest file accepted is 100 bytes$"
    ) as caught:
        parse(pdf_file, tiny)
    assert caught.value.field == "file"


def test_size_is_checked_before_reading(tmp_path: Path, limits: DocumentSettings) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(limits.max_file_bytes + 1)  # sparse: nothing is written or read
    with pytest.raises(TooLarge):
        parse(path, limits)


def test_unsupported_suffix_is_refused(tmp_path: Path, limits: DocumentSettings) -> None:
    path = tmp_path / "setup.exe"
    path.write_bytes(b"MZ\x90\x00" + NOISE[:500])
    with pytest.raises(UnsupportedFormat) as caught:
        parse(path, limits)
    assert caught.value.message == (
        "'setup.exe' is not a supported document type; supported: "
        ".docx, .htm, .html, .markdown, .md, .pdf, .pptx, .text, .txt, .xlsx"
    )


def test_a_zip_under_another_suffix_is_refused_from_its_first_bytes(
    docx_file: Path, tmp_path: Path, limits: DocumentSettings
) -> None:
    # An upload is judged on its name and first 8 KiB (sniff) before the rest is received;
    # only a zip's directory, at its end, could tell an Office file, so a .zip is not one.
    path = tmp_path / "report.zip"
    path.write_bytes(docx_file.read_bytes())
    head = path.read_bytes()[:SNIFF_BYTES]
    with pytest.raises(UnsupportedFormat, match=r"^'report\.zip' is not a supported"):
        sniff(head, name="report.zip")
    with pytest.raises(UnsupportedFormat):
        parse(path, limits)
    # Under its own suffix, or none, the directory decides, as before.
    assert sniff(head, name="report.docx") is None
    assert sniff(head, name="report") is None
    assert detect_format(path, file_name="report") is DOCX
    assert detect_format(path, file_name="report.txt") is DOCX


def test_build_document_drops_empty_pieces_and_cleans_text() -> None:
    doc = build_document(
        [Piece(" a\r\nb\x00c "), Piece("  \n "), Piece("d\n\n\n\ne", page=2, location="page 2")],
        name="x.txt",
        mime_type="text/plain",
    )
    assert doc.text == "a\nbc\n\nd\n\ne"
    assert [(u.char_start, u.char_end, u.page) for u in doc.units] == [(0, 4, None), (6, 10, 2)]
