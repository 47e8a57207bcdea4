"""What a citation points at: a passage of a document's text, and the original file.

Citations carry offsets into a document's extracted text (``char_start``/``char_end``, and the
supporting span ``span_start``/``span_end``).  ``read_passage`` turns such offsets back into the
text with its surroundings, page and section, so a client can show the source without downloading
the whole document; ``original_file`` says where the file the text came from is kept.
"""

from __future__ import annotations

import codecs
import re
from contextlib import closing
from dataclasses import dataclass, replace

from pydantic import BaseModel, Field

from docchat.documents.parsers import PDF, format_for_mime
from docchat.documents.registry import Registry, StoredContent
from docchat.documents.storage import ContentStore, ReadableStream
from docchat.errors import InvalidInput, OriginalNotStored
from docchat.validation import check_int

#: The longest passage one call returns, in characters (a chunk is about 1,000; a span less).
MAX_PASSAGE_CHARS = 20_000
#: The most context shown on each side of a passage, in characters.
MAX_CONTEXT_CHARS = 5_000
DEFAULT_CONTEXT_CHARS = 300

_SPACE = re.compile(r"\s")
# Byte-order marks and the charsets they announce, longest first (as parsers.text reads them).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32le"),
    (codecs.BOM_UTF32_BE, "utf-32be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
)


class Passage(BaseModel):
    """A span of a document's extracted text, with the text around it and where it is."""

    document_id: str
    file_name: str
    collection: str
    mime_type: str
    page: int | None = Field(description="1-based page (PDF) or slide (PPTX) of `start`.")
    section: str | None = Field(description="Heading path or sheet name of `start`.")
    page_count: int | None
    start: int = Field(description="Offset of `text` in the document's text.")
    end: int = Field(description="Offset just past `text`.")
    text: str = Field(description="The document's text [start:end].")
    before: str = Field(description="Up to `context` characters before `start`.")
    after: str = Field(description="Up to `context` characters after `end`.")
    before_start: int = Field(description="Offset where `before` begins.")
    after_end: int = Field(description="Offset where `after` ends.")
    document_length: int = Field(description="Length of the document's text, in characters.")


@dataclass(frozen=True, slots=True)
class OriginalFile:
    """A document's original file as stored: what it is, what it was called, and how to read it
    (``open``: from the data dir or a bucket, whichever ``storage.backend`` says)."""

    document_id: str
    sha256: str
    media_type: str
    file_name: str
    size: int
    store: ContentStore
    charset: str | None = None  # text formats: how the bytes are encoded, as the parser read them

    def open(self) -> ReadableStream:
        """The file's bytes, to be read in blocks and closed; OriginalNotStored when it has
        gone since it was found."""
        try:
            return self.store.open(self.sha256)
        except FileNotFoundError:
            raise OriginalNotStored(self.document_id) from None


def check_span(start: int, end: int, length: int, *, max_chars: int | None = None) -> None:
    """Refuse offsets that do not name a non-empty span of a text ``length`` characters long."""
    check_int(start, "start", minimum=0)
    check_int(end, "end", minimum=0)
    if start >= end:
        raise InvalidInput("start must be smaller than end", field="start")
    if end > length:
        raise InvalidInput(
            f"end must be at most {length}, the length of the document's text", field="end"
        )
    if max_chars is not None and end - start > max_chars:
        raise InvalidInput(
            f"a passage may be at most {max_chars:,} characters (end - start)", field="end"
        )


def read_passage(
    registry: Registry,
    document_id: str,
    start: int,
    end: int,
    *,
    owner: str | None,
    context: int = DEFAULT_CONTEXT_CHARS,
) -> Passage:
    """The document's text [start:end], up to ``context`` characters each side, and the page
    and section of the chunk holding ``start``.

    DocumentNotFound when unknown or another owner's; InvalidInput for a bad range, or a
    document without indexed text.
    """
    check_int(context, "context", minimum=0, maximum=MAX_CONTEXT_CHARS)
    text = registry.text(document_id, owner=owner)
    stored = _stored(registry, document_id, owner)
    check_span(start, end, len(text), max_chars=MAX_PASSAGE_CHARS)
    before_start = _cut_before(text, start, context)
    after_end = _cut_after(text, end, context)
    place = registry.chunk_at(stored.sha256, start)
    info = stored.document
    return Passage(
        document_id=info.id,
        file_name=info.file_name,
        collection=info.collection,
        mime_type=stored.mime_type,
        page=place.page if place else None,
        section=place.section if place else None,
        page_count=stored.page_count,
        start=start,
        end=end,
        text=text[start:end],
        before=text[before_start:start],
        after=text[end:after_end],
        before_start=before_start,
        after_end=after_end,
        document_length=len(text),
    )


def original_file(registry: Registry, document_id: str, *, owner: str | None) -> OriginalFile:
    """Where the document's original file is kept; OriginalNotStored when it is not."""
    stored = registry.stored(document_id, owner=owner)
    if stored is None:
        raise OriginalNotStored(document_id)
    # By hash, never by a path read from the database: nothing there can point outside the store.
    store = registry.files
    size = store.size(stored.sha256)
    if size is None:
        raise OriginalNotStored(document_id)
    original = OriginalFile(
        document_id=stored.document.id,
        sha256=stored.sha256,
        media_type=stored.mime_type,
        file_name=stored.document.file_name,
        size=size,
        store=store,
    )
    fmt = format_for_mime(stored.mime_type)
    if fmt is None or fmt.binary:
        return original
    return replace(original, charset=_charset(original))


def _charset(original: OriginalFile) -> str:
    """The encoding ``parsers.text.decode_text`` reads this file in: by BOM, else UTF-8 when it
    decodes as such, else Windows-1252.  Read in blocks, so a large file costs no memory."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with closing(original.open()) as fh:
        head = fh.read(4)
        for bom, name in _BOMS:
            if head.startswith(bom):
                return name
        block = head
        try:
            while block:
                decoder.decode(block)
                block = fh.read(1 << 20)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "windows-1252"
    return "utf-8"


def is_pdf(stored: StoredContent) -> bool:
    """Whether the content was read as a PDF (and so has pages to render)."""
    return format_for_mime(stored.mime_type) is PDF


def _stored(registry: Registry, document_id: str, owner: str | None) -> StoredContent:
    stored = registry.stored(document_id, owner=owner)
    if stored is None:  # registry.text has already refused a document without content
        raise InvalidInput(f"document {document_id!r} has no indexed text")
    return stored


def _cut_before(text: str, start: int, context: int) -> int:
    """Where up to ``context`` characters before ``start`` begin, moved past a word cut in half
    (when the window holds whitespace to cut at)."""
    begin = max(0, start - context)
    if begin == 0 or _SPACE.match(text, begin - 1):
        return begin
    found = _SPACE.search(text, begin, start)
    return found.end() if found else begin


def _cut_after(text: str, end: int, context: int) -> int:
    """Where up to ``context`` characters after ``end`` end, moved back before a half word."""
    stop = min(len(text), end + context)
    if stop == len(text) or text[stop].isspace():
        return stop
    last = max((m.start() for m in _SPACE.finditer(text, end, stop)), default=None)
    return last if last is not None else stop
