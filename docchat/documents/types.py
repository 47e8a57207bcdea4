"""What every parser returns and what chunking produces: text with exact provenance.

Offsets are character offsets into ``ParsedDocument.text``, the document's extracted text, which is
stored so a citation can highlight ``text[char_start:char_end]`` later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from docchat.config import DocumentSettings


@dataclass(frozen=True, slots=True)
class TextUnit:
    """A run of text from one place: a page, a slide, a sheet's rows, a section."""

    text: str
    char_start: int
    char_end: int
    page: int | None = None  # 1-based page (PDF) or slide (PPTX); None where pages do not exist
    section: str | None = None  # heading path, "Chapter 2 > Results"; sheet name for XLSX
    location: str | None = None  # human label: "page 3", "slide 2", "Sheet1!A2:F40"


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A parsed file: its full text and the units it is made of, in order."""

    text: str
    units: list[TextUnit]
    mime_type: str
    page_count: int | None = None
    title: str | None = None
    warnings: list[str] = field(default_factory=list)
    reader: str | None = None  # the format's reader, when it names one (``Format.reader``)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrieval unit: a window of a document's text within one page and section."""

    ordinal: int
    text: str
    char_start: int
    char_end: int
    page: int | None
    section: str | None
    token_count: int


class Parser(Protocol):
    """Turns one file into a ParsedDocument, or raises CorruptDocument / TooLarge."""

    def __call__(self, path: Path, limits: DocumentSettings) -> ParsedDocument: ...
