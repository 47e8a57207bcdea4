"""What the document registry hands out: documents, collections, stored content, chunk places.

Plain values (pydantic models, so the API serialises them as they are); ``DocumentView`` is what an
HTTP client may see of a document, ``DocumentInfo`` adds its source for the library.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from docchat.documents.models import DocumentRow


class DocumentView(BaseModel):
    """A document as a client of the HTTP API sees it: its display name, never a server path."""

    id: str
    collection: str
    collection_id: str = Field(
        description="The collection's id: two users' collections may share a name, and a "
        "collection shared with you may be named as one of yours."
    )
    file_name: str
    size: int
    sha256: str | None
    mime_type: str | None
    status: str
    error: str | None
    page_count: int | None
    chunk_count: int | None = Field(
        description="Passages its content is cut into; null while it has none (failed)."
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    indexed_at: dt.datetime | None


class DocumentInfo(DocumentView):
    """A document as the library shows it: with its source (a path on this machine, or
    ``upload:<name>``)."""

    source: str

    def view(self) -> DocumentView:
        """What an API client may see of it (no source)."""
        return DocumentView.model_validate(self.model_dump(exclude={"source"}))


class Collection(BaseModel):
    """A named group of documents."""

    id: str
    name: str
    documents: int = Field(description="How many documents it holds.")
    owned: bool = Field(
        True, description="Yours; false: another user's, shared with you read-only."
    )
    shared: bool = Field(False, description="Shared with other users (read-only).")


class VisibleDocument(BaseModel):
    """Enough about a document to name it in a search hit."""

    id: str
    file_name: str
    collection: str
    sha256: str


class StoredContent(BaseModel):
    """Where a document's content is kept: its format, pages and the hash its file is stored by."""

    document: DocumentInfo
    sha256: str
    mime_type: str
    page_count: int | None
    text_length: int


class Reindexed(BaseModel):
    """Content parsed again: the documents that use it (now ``indexing``) and its new chunks."""

    sha256: str
    document_ids: list[str]
    chunk_count: int
    page_count: int | None


class ReplacedDocument(BaseModel):
    """A document an upload of the same name replaces: it keeps its id, its content changes."""

    document_id: str
    file_name: str


class ChunkPlace(BaseModel):
    """The page and section of a chunk, and where it sits in the document's text."""

    page: int | None
    section: str | None
    char_start: int
    char_end: int


def document_info(row: DocumentRow, collection: str, chunk_count: int | None) -> DocumentInfo:
    return DocumentInfo(
        id=row.id,
        collection=collection,
        collection_id=row.collection_id,
        file_name=row.file_name,
        source=row.source,
        size=row.size,
        sha256=row.sha256,
        mime_type=row.mime_type,
        status=row.status,
        error=row.error,
        page_count=row.page_count,
        # A failed document may share a hash with content another document indexed: it has none.
        chunk_count=None if row.status == "failed" else chunk_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        indexed_at=row.indexed_at,
    )
