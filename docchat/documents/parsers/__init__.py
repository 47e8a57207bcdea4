"""Parsers: every supported file format in, one ``ParsedDocument`` out.

``parse`` checks the size, works out the format from the file's content as well as its name (a PDF
named ``.txt`` is read as a PDF; random bytes named ``.pdf`` are refused), and calls the format's
parser.  Parser modules are imported on first use, so importing this package does not pull in
pdfium, lxml or openpyxl.  Parsers build their result with ``build_document`` from ``Piece``s and
never compute offsets themselves.
"""

from __future__ import annotations

import importlib
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple, Protocol, cast

from docchat.config import DocumentSettings
from docchat.documents.parsers.safety import check_zip_directory
from docchat.documents.sizes import format_size
from docchat.documents.types import ParsedDocument, TextUnit
from docchat.errors import CorruptDocument, TooLarge, UnsupportedFormat

__all__ = [
    "DOCX",
    "FORMATS",
    "HTML",
    "MARKDOWN",
    "PDF",
    "PPTX",
    "SUPPORTED_SUFFIXES",
    "TEXT",
    "XLSX",
    "Format",
    "NamedParser",
    "Piece",
    "build_document",
    "check_size",
    "clean_text",
    "detect_format",
    "format_for_mime",
    "parse",
    "sniff",
]


class NamedParser(Protocol):
    """A ``Parser`` that also accepts the name to use in error messages (the upload's name)."""

    def __call__(
        self, path: Path, limits: DocumentSettings, *, name: str | None = None
    ) -> ParsedDocument: ...


@dataclass(frozen=True, slots=True)
class Format:
    """One supported file format and where its parser lives."""

    label: str  # for messages: "'x.pdf' is not a valid PDF"
    mime_type: str
    suffixes: tuple[str, ...]
    parser: str  # "module:function" under this package, imported on first use
    binary: bool  # a binary format is recognised by its content; a text format by its suffix
    # Names how the parser makes text, where that changed: content read otherwise (an older
    # reader's, recorded as None) is read again when its file is ingested again.
    reader: str | None = None

    def outdated(self, reader: str | None) -> bool:
        """Whether text made by ``reader`` is not what this format's parser makes today."""
        return self.reader is not None and reader != self.reader

    def load(self) -> NamedParser:
        """Import and return this format's parser."""
        module, _, func = self.parser.partition(":")
        return cast(NamedParser, getattr(importlib.import_module(f"{__name__}.{module}"), func))


#: Version 1: pages as paragraphs in reading order, without running headers (issue 18).
PDF = Format(
    "PDF", "application/pdf", (".pdf",), "pdf:parse_pdf", binary=True, reader="pdf-paragraphs-3"
)
DOCX = Format(
    "Word document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    (".docx",),
    "docx:parse_docx",
    binary=True,
)
PPTX = Format(
    "PowerPoint presentation",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    (".pptx",),
    "pptx:parse_pptx",
    binary=True,
)
XLSX = Format(
    "Excel workbook",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    (".xlsx",),
    "xlsx:parse_xlsx",
    binary=True,
)
HTML = Format("HTML page", "text/html", (".html", ".htm"), "html:parse_html", binary=False)
MARKDOWN = Format(
    "Markdown file", "text/markdown", (".md", ".markdown"), "markdown:parse_markdown", binary=False
)
TEXT = Format("text file", "text/plain", (".txt", ".text"), "text:parse_text", binary=False)

FORMATS = (PDF, DOCX, PPTX, XLSX, HTML, MARKDOWN, TEXT)
_BY_SUFFIX = {suffix: fmt for fmt in FORMATS for suffix in fmt.suffixes}
_BY_MIME = {fmt.mime_type: fmt for fmt in FORMATS}
SUPPORTED_SUFFIXES = tuple(sorted(_BY_SUFFIX))

# The part each Office format cannot do without; its presence identifies the format.
_OFFICE_MAIN_PARTS = {
    "word/document.xml": DOCX,
    "ppt/presentation.xml": PPTX,
    "xl/workbook.xml": XLSX,
}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Bytes of a file's beginning that ``sniff`` reads.
SNIFF_BYTES = 8192


def format_for_mime(mime_type: str) -> Format | None:
    """The format with this MIME type (parameters such as ``; charset=`` are ignored)."""
    return _BY_MIME.get(mime_type.split(";", 1)[0].strip().lower())


def parse(path: Path, limits: DocumentSettings, *, file_name: str | None = None) -> ParsedDocument:
    """Parse one file; ``file_name`` is the name to show the user (an upload's original name).

    Raises TooLarge, UnsupportedFormat or CorruptDocument with a message written for that user.
    """
    name = file_name or path.name
    check_size(path, limits, name=name)
    fmt = detect_format(path, file_name=name)
    doc = fmt.load()(path, limits, name=name)
    claimed = _BY_SUFFIX.get(Path(name).suffix.lower())
    if claimed is not None and claimed is not fmt:
        note = f"{name!r} is a {fmt.label}, not a {claimed.label}; it was read as a {fmt.label}"
        doc = replace(doc, warnings=[note, *doc.warnings])
    return doc


def check_size(path: Path, limits: DocumentSettings, *, name: str) -> None:
    """Refuse a file over ``limits.max_file_bytes`` (TooLarge), or an empty one, unread."""
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise TooLarge(
            f"{name!r} is {format_size(size)}; "
            f"the largest file accepted is {format_size(limits.max_file_bytes)}",
            field="file",
        )
    if size == 0:
        raise CorruptDocument(f"{name!r} is empty", field="file")


def detect_format(path: Path, *, file_name: str | None = None) -> Format:
    """The file's format, from its content where that is conclusive, else from its suffix."""
    name = file_name or path.name
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    fmt = sniff(head, name=name)
    if fmt is not None:
        return fmt
    office = _office_format(path, name)
    if office is not None:
        return office
    return _by_name(head, name)


def sniff(head: bytes, *, name: str) -> Format | None:
    """The format of a file named ``name`` that begins with ``head`` (its first ``SNIFF_BYTES``,
    or all of it), or None for a zip under a supported suffix or none: only its directory, at
    the end, can tell whether it is an Office file.

    Raises what ``detect_format`` would for the whole file (UnsupportedFormat, CorruptDocument),
    so an upload can be refused before the rest of it is received.  A PDF is recognised under
    any name; a zip under another suffix (.zip, .jar, .odt) is refused here, not spooled to find
    out.
    """
    claimed = _BY_SUFFIX.get(Path(name).suffix.lower())
    # PDF readers accept up to 1 KiB of junk before the header, so we do too.
    if b"%PDF-" in head[:1024]:
        return PDF
    if head.startswith(_OLE_MAGIC):
        message = (
            f"{name!r} is password-protected or in the old binary Office format "
            "(.doc, .xls, .ppt); save it as .docx, .xlsx or .pptx without a password"
        )
        # Password-protected .docx/.xlsx/.pptx files are OLE containers too, not zips.
        if claimed in (DOCX, PPTX, XLSX):
            raise CorruptDocument(message, field="file")
        raise UnsupportedFormat(message, field="file")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")) and (
        claimed is not None or not Path(name).suffix
    ):
        return None
    return _by_name(head, name)


def _by_name(head: bytes, name: str) -> Format:
    """The format the name claims, once the content has shown nothing conclusive."""
    claimed = _BY_SUFFIX.get(Path(name).suffix.lower())
    if claimed is None:
        if not Path(name).suffix and _looks_like_text(head):
            return TEXT
        raise UnsupportedFormat(
            f"{name!r} is not a supported document type; supported: "
            + ", ".join(SUPPORTED_SUFFIXES),
            field="file",
        )
    if claimed.binary:
        raise CorruptDocument(f"{name!r} is not a valid {claimed.label}", field="file")
    return claimed


def _office_format(path: Path, name: str) -> Format | None:
    check_zip_directory(path, name=name)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    for part, fmt in _OFFICE_MAIN_PARTS.items():
        if part in names:
            return fmt
    return None


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return True
    return b"\x00" not in head and not re.search(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f]", head)


class Piece(NamedTuple):
    """A parser's raw unit of text, before offsets are known."""

    text: str
    page: int | None = None
    section: str | None = None
    location: str | None = None


# C0/C1 controls other than tab and newline, soft hyphens, zero-width spaces and stray BOMs: they
# carry no text, split words so search misses them, and upset tokenizers and browsers.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u200b\u2060\ufeff\ufffe\uffff]")
_LINE_BREAK = re.compile(r"\r\n?|[\v\f\u2028\u2029\x85]")
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_UNIT_SEPARATOR = "\n\n"


def clean_text(text: str) -> str:
    """Normalise line breaks, drop control characters and surplus blank lines, strip the ends."""
    text = _LINE_BREAK.sub("\n", text)
    text = _CONTROL.sub("", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def build_document(
    pieces: Iterable[Piece],
    *,
    name: str,
    mime_type: str,
    page_count: int | None = None,
    title: str | None = None,
    warnings: Iterable[str] = (),
    reader: str | None = None,
) -> ParsedDocument:
    """Join the pieces' cleaned texts with blank lines and record each unit's exact offsets.

    Empty pieces are dropped; a document with no text at all raises CorruptDocument.
    """
    units: list[TextUnit] = []
    parts: list[str] = []
    pos = 0
    for piece in pieces:
        text = clean_text(piece.text)
        if not text:
            continue
        if parts:
            parts.append(_UNIT_SEPARATOR)
            pos += len(_UNIT_SEPARATOR)
        units.append(
            TextUnit(text, pos, pos + len(text), piece.page, piece.section, piece.location)
        )
        parts.append(text)
        pos += len(text)
    if not units:
        raise CorruptDocument(f"{name!r} contains no text", field="file")
    title = clean_text(title) if title else None
    return ParsedDocument(
        "".join(parts), units, mime_type, page_count, title or None, list(warnings), reader
    )
