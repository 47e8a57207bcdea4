"""Fixtures that build small real documents of every supported format in a temporary folder.

PDFs are written by hand (a page of Helvetica text is a few lines of PDF syntax); the Office files
by python-docx, python-pptx and openpyxl themselves.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest
from pptx.util import Inches

from docchat.config import DocumentSettings

PDF_PAGES = [
    ["Quarterly report for the northern region.", "Revenue grew in every month."],
    ["Costs were flat.", "Staffing was unchanged (see appendix)."],
    ["The zebra project shipped on page three.", "It beat its deadline by two weeks."],
    ["Risks: supply chain, currency.", "Mitigations are listed below."],
    ["Appendix: headcount by office.", "Backslash \\ and parentheses ( ) survive."],
]


def pdf_bytes(pages: Sequence[Sequence[str] | None]) -> bytes:
    """A PDF with one page per entry: lines of Helvetica text, or None for an image-only page."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog, tree = add(b""), add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    image = add(
        b"<< /Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length 4 >>\nstream\n\x00\xff\xff\x00\nendstream"
    )
    kids = []
    for lines in pages:
        if lines is None:
            content = b"q 200 0 0 200 100 400 cm /Im1 Do Q"
        else:
            shown = [b"(" + _pdf_escape(line).encode("cp1252") + b") Tj T*" for line in lines]
            content = b"\n".join([b"BT /F1 11 Tf 14 TL 72 760 Td", *shown, b"ET"])
        stream = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << "
                b"/Font << /F1 %d 0 R >> /XObject << /Im1 %d 0 R >> >> /Contents %d 0 R >>"
                % (tree, font, image, stream)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref,
    )
    return bytes(out)


def _pdf_escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


@pytest.fixture
def limits() -> DocumentSettings:
    """The default document limits."""
    return DocumentSettings()


MakePdf = Callable[[str, Sequence[Sequence[str] | None]], Path]


@pytest.fixture
def make_pdf(tmp_path: Path) -> MakePdf:
    """Write a PDF named ``name`` with the given pages (see ``pdf_bytes``) into ``tmp_path``."""

    def make(name: str, pages: Sequence[Sequence[str] | None]) -> Path:
        path = tmp_path / name
        path.write_bytes(pdf_bytes(pages))
        return path

    return make


@pytest.fixture
def pdf_file(make_pdf: MakePdf) -> Path:
    """A five-page PDF whose page N holds ``PDF_PAGES[N - 1]``; page 3 mentions a zebra."""
    return make_pdf("report.pdf", PDF_PAGES)


@pytest.fixture
def docx_file(tmp_path: Path) -> Path:
    """A Word document: Title, two levels of headings, paragraphs and a table."""
    document = docx.Document()
    document.add_paragraph("Prepared by the finance team.")
    document.add_heading("Annual Report", level=0)
    document.add_paragraph("This report covers the fiscal year.")
    document.add_heading("Introduction", level=1)
    document.add_paragraph("The year began slowly.")
    document.add_heading("Background", level=2)
    document.add_paragraph("Markets were volatile in spring.")
    document.add_heading("Results", level=1)
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate(
        [["Region", "Units", "Revenue"], ["North", "120", "4.5"], ["South", "80", "3.1"]]
    ):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("Both regions grew.")
    path = tmp_path / "annual.docx"
    document.save(str(path))
    return path


@pytest.fixture
def pptx_file(tmp_path: Path) -> Path:
    """A three-slide deck: a title slide, a slide with a table, a slide with speaker notes."""
    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[0])
    first.shapes.title.text = "Launch Plan"
    first.placeholders[1].text = "Spring release"
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Budget"
    rows = [["Item", "Cost"], ["Ads", "1200"]]
    shape = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    third = deck.slides.add_slide(deck.slide_layouts[1])
    third.shapes.title.text = "Timeline"
    third.placeholders[1].text = "Beta in May\nGeneral availability in June"
    third.notes_slide.notes_text_frame.text = "Mention the pilot customers."
    path = tmp_path / "launch.pptx"
    deck.save(str(path))
    return path


@pytest.fixture
def xlsx_file(tmp_path: Path) -> Path:
    """A workbook: "Sales" (title row, header, 120 data rows) and "Notes Sheet" (no header)."""
    workbook = openpyxl.Workbook()
    sales = workbook.active
    assert sales is not None
    sales.title = "Sales"
    sales.append(["Sales by region"])
    sales.append(["Region", "Month", "Units"])
    for i in range(120):
        sales.append([f"Region {i}", f"M{i % 12 + 1}", i * 10])
    notes = workbook.create_sheet("Notes Sheet")
    notes.append([1, 2.5, True])
    notes.append([3, None, "text"])
    path = tmp_path / "sales.xlsx"
    workbook.save(str(path))
    return path


HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Widget Guide</title>
<style>body { color: red }</style><script>var tracking = "SCRIPT-TEXT";</script></head>
<body>
<header><a href="/">Home</a> HEADER-TEXT</header>
<nav><ul><li>Menu item one</li><li>NAV-TEXT</li></ul></nav>
<main>
<h1>Widget Guide</h1>
<p>Widgets are <b>small</b> and <i>useful</i>.</p>
<h2>Install</h2>
<p>Run the installer.<br>Then restart.</p>
<table><tr><th>OS</th><th>Command</th></tr>
<tr><td>Linux</td><td>apt install widget</td></tr></table>
<h2>Configure</h2>
<pre>key = value
  indented = yes</pre>
<aside>ASIDE-TEXT</aside>
<form><label>FORM-TEXT</label></form>
</main>
<footer>FOOTER-TEXT &copy; 2024</footer>
</body></html>
"""

MARKDOWN_TEXT = """---
title: front matter
---
Intro paragraph before any heading.

# Guide

Welcome to the guide.

Setup Steps
-----------

Install it first.

```sh
# not a heading
make install
```

## Details ##

Some *details* here.

Appendix
========

The end.
"""


@pytest.fixture
def html_file(tmp_path: Path) -> Path:
    """An HTML page with header, nav, aside, form, footer and script boilerplate round its text."""
    path = tmp_path / "guide.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    return path


@pytest.fixture
def md_file(tmp_path: Path) -> Path:
    """A Markdown file with front matter, ATX and setext headings and a fenced code block."""
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN_TEXT, encoding="utf-8")
    return path


@pytest.fixture
def txt_file(tmp_path: Path) -> Path:
    """A plain text file of three paragraphs."""
    path = tmp_path / "notes.txt"
    path.write_text(
        "First paragraph, line one.\nLine two.\n\nSecond paragraph.\n\n\n\nThird paragraph.\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(params=["pdf", "docx", "pptx", "xlsx", "html", "md", "txt"])
def any_document(request: pytest.FixtureRequest) -> Path:
    """Each of the documents above in turn."""
    return Path(request.getfixturevalue(f"{request.param}_file"))


@pytest.fixture(scope="session")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str, int], Path]:
    """Build a zip named ``file_name`` whose ``member`` inflates to ``megabytes`` of zeros.

    Deflate shrinks zeros about 1000-fold: 600 MB take 600 KB on disk.
    """

    def build(file_name: str, member: str, megabytes: int) -> Path:
        path = tmp_path_factory.mktemp("bomb") / file_name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("[Content_Types].xml", "<Types/>")
            # Streamed a megabyte at a time: the zeros never exist in memory or on disk.
            with zf.open(member, "w", force_zip64=True) as f:
                block = bytes(1 << 20)
                for _ in range(megabytes):
                    f.write(block)
        return path

    return build
