"""Plain text: decoding, binary detection, and units of a few thousand characters by line range."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from docchat.config import DocumentSettings
from docchat.documents.parsers import TEXT, Piece, build_document, check_size
from docchat.documents.types import ParsedDocument
from docchat.errors import CorruptDocument

# Longest-first, so UTF-32's BOM is not mistaken for UTF-16's.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Control bytes that text files do not contain (tab, newlines, form feed and ESC are allowed).
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_SNIFF_BYTES = 8192
# Units this size give citations a useful line range; chunking splits them further.
UNIT_CHARS = 4000


def decode_text(data: bytes, *, name: str) -> str:
    """Decode by BOM, else as UTF-8, else as Windows-1252 / Latin-1; refuse binary content."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    head = data[:_SNIFF_BYTES]
    if b"\x00" in data or len(_BINARY_BYTES.findall(head)) > len(head) // 20:
        raise CorruptDocument(f"{name!r} is a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; Latin-1 decodes anything.
        return data.decode("latin-1")


def read_text(path: Path, limits: DocumentSettings, *, name: str) -> str:
    """Check the size, read and decode a text file, with line breaks normalised to ``\\n``."""
    check_size(path, limits, name=name)
    text = decode_text(path.read_bytes(), name=name)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def line_range(first: int, last: int) -> str:
    """A location label: "line 4" or "lines 4-80" (1-based, inclusive)."""
    return f"line {first}" if first == last else f"lines {first}-{last}"


def parse_text(path: Path, limits: DocumentSettings, *, name: str | None = None) -> ParsedDocument:
    """Read a text file as units of whole paragraphs, each labelled with its line range."""
    name = name or path.name
    lines = read_text(path, limits, name=name).split("\n")
    return build_document(_pieces(lines), name=name, mime_type=TEXT.mime_type)


def _pieces(lines: list[str]) -> Iterator[Piece]:
    start = 0  # index of the group's first line
    size = 0
    for i, line in enumerate(lines):
        size += len(line) + 1
        # End a unit at a paragraph break once it is big enough; at any line if it is far too big
        # (logs and hard-wrapped text may have no blank lines at all).
        if (size >= UNIT_CHARS and not line.strip()) or size >= 2 * UNIT_CHARS:
            yield _trimmed(lines, start, i + 1)
            start, size = i + 1, 0
    if start < len(lines):
        yield _trimmed(lines, start, len(lines))


def _trimmed(lines: list[str], start: int, end: int) -> Piece:
    # Blank lines at the ends would make the line range claim lines with nothing on them.
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return Piece("\n".join(lines[start:end]), location=line_range(start + 1, max(end, start + 1)))
