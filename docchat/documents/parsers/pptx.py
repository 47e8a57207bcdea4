"""PowerPoint (.pptx): one unit per slide, with its title as the section and its speaker notes.

Text frames, tables and grouped shapes are read in the slide's shape order, title first; charts and
pictures carry no text we can read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pptx
from pptx.shapes.autoshape import Shape
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.slide import Slide
from pptx.table import Table

from docchat.config import DocumentSettings
from docchat.documents.parsers import PPTX, Piece, build_document, check_size
from docchat.documents.parsers.safety import check_office_zip
from docchat.documents.types import ParsedDocument
from docchat.errors import CorruptDocument, DocchatError

# Groups nest; a damaged file could nest them without end.
_MAX_GROUP_DEPTH = 20


def parse_pptx(path: Path, limits: DocumentSettings, *, name: str | None = None) -> ParsedDocument:
    """Read each slide's title, text, tables and notes as one unit."""
    name = name or path.name
    check_size(path, limits, name=name)
    check_office_zip(path, limits, name=name)
    try:
        presentation = pptx.Presentation(str(path))
        slides = list(presentation.slides)
        to_read = min(len(slides), limits.max_pages)
        pieces = [_slide(slide, n) for n, slide in enumerate(slides[:to_read], start=1)]
        title = presentation.core_properties.title
    except DocchatError:
        raise
    except Exception as exc:  # python-pptx and lxml raise many types; the user needs one message
        raise CorruptDocument(f"{name!r} is damaged or not a PowerPoint presentation") from exc
    warnings = []
    if len(slides) > to_read:
        warnings.append(f"only the first {to_read} of {len(slides)} slides were read")
    return build_document(
        pieces,
        name=name,
        mime_type=PPTX.mime_type,
        page_count=len(slides),
        title=title or None,
        warnings=warnings,
    )


def _slide(slide: Slide, number: int) -> Piece:
    title_shape = slide.shapes.title
    title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
    title_id = title_shape.shape_id if title_shape is not None else None
    parts = [title] if title else []
    parts.extend(
        text for shape in slide.shapes if shape.shape_id != title_id for text in _texts(shape, 0)
    )
    if slide.has_notes_slide:
        frame = slide.notes_slide.notes_text_frame
        notes = frame.text.strip() if frame is not None else ""
        if notes:
            parts.append(f"Notes: {notes}")
    return Piece(
        "\n\n".join(p for p in parts if p.strip()),
        page=number,
        section=title or None,
        location=f"slide {number}",
    )


def _texts(shape: BaseShape, depth: int) -> Iterator[str]:
    if isinstance(shape, GroupShape):
        if depth < _MAX_GROUP_DEPTH:
            for child in shape.shapes:
                yield from _texts(child, depth + 1)
    elif isinstance(shape, Shape) and shape.has_text_frame:
        yield shape.text_frame.text
    elif isinstance(shape, GraphicFrame) and shape.has_table:
        yield "\n".join(_table_lines(shape.table))


def _table_lines(table: Table) -> Iterator[str]:
    for row in table.rows:
        # A merged cell's spanned neighbours repeat nothing useful.
        cells = [" ".join(cell.text.split()) for cell in row.cells if not cell.is_spanned]
        if any(cells):
            yield " | ".join(cells)
