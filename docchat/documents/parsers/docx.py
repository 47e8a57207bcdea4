"""Word (.docx): one unit per section; Title and Heading 1..9 paragraphs build the section path.

Paragraphs and tables are read in document order; a table row becomes one " | "-joined line.
Headers, footers, footnotes and text boxes are not read.  Word documents have no fixed pages, so
``page`` is None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import docx
from docx.styles.style import ParagraphStyle
from docx.table import Table
from docx.text.paragraph import Paragraph

from docchat.config import DocumentSettings
from docchat.documents.parsers import DOCX, Piece, build_document, check_size
from docchat.documents.parsers.safety import check_office_zip
from docchat.documents.types import ParsedDocument
from docchat.errors import CorruptDocument, DocchatError

_HEADING_STYLE = re.compile(r"heading ([1-9])")
# Style inheritance can loop in a damaged file; real chains are two or three deep.
_MAX_STYLE_DEPTH = 10


def parse_docx(path: Path, limits: DocumentSettings, *, name: str | None = None) -> ParsedDocument:
    """Read a Word document's paragraphs and tables, section by section."""
    name = name or path.name
    check_size(path, limits, name=name)
    check_office_zip(path, limits, name=name)
    try:
        document = docx.Document(str(path))
        pieces = list(_sections(document.iter_inner_content()))
        title = document.core_properties.title
    except DocchatError:
        raise
    except Exception as exc:  # python-docx and lxml raise many types; the user needs one message
        raise CorruptDocument(f"{name!r} is damaged or not a Word document") from exc
    if not title:
        title = next((p.section for p in pieces if p.section), None)
    return build_document(pieces, name=name, mime_type=DOCX.mime_type, title=title)


def _sections(blocks: Iterator[Paragraph | Table]) -> Iterator[Piece]:
    headings: list[tuple[int, str]] = []  # (level, text) of the open headings; Title is level 0
    lines: list[str] = []  # paragraphs, and tables as one block each
    levels: dict[str, int | None] = {}  # by style id: computing a level walks the style chain
    for block in blocks:
        if isinstance(block, Table):
            lines.append("\n".join(_table_lines(block)))
            continue
        text = block.text.strip()
        style = block.style
        key = style.style_id if style is not None else ""
        if key not in levels:
            levels[key] = _heading_level(style)
        level = levels[key]
        if level is None or not text:
            if text:
                lines.append(text)
            continue
        yield _piece(lines, headings)
        while headings and headings[-1][0] >= level:
            headings.pop()
        headings.append((level, " ".join(text.split())))
        lines = [text]
    yield _piece(lines, headings)


def _piece(lines: list[str], headings: list[tuple[int, str]]) -> Piece:
    return Piece("\n\n".join(lines), section=" > ".join(t for _, t in headings) or None)


def _heading_level(style: ParagraphStyle | None) -> int | None:
    for _ in range(_MAX_STYLE_DEPTH):
        if style is None:
            return None
        # python-docx reports built-in styles by their English UI name whatever Word's language.
        style_name = (style.name or "").strip().lower()
        if style_name == "title":
            return 0
        if m := _HEADING_STYLE.fullmatch(style_name):
            return int(m.group(1))
        style = style.base_style
    return None


def _table_lines(table: Table) -> Iterator[str]:
    for row in table.rows:
        cells = []
        previous = None
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans; read it once.
            if previous is not None and cell._tc is previous._tc:
                continue
            previous = cell
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            yield " | ".join(cells)
