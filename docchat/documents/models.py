"""Tables of the document registry and its index.

Content is addressed by sha256: identical bytes under two names (or in two collections) are
parsed, stored, chunked and embedded once.  A ``DocumentRow`` is a name for content inside a
collection; a ``ContentRow`` exists only once its text is fully chunked and full-text indexed (one
transaction), so a failed parse leaves no chunks behind.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from docchat.db import Base, BigIntKey, JSONType, UTCDateTime

#: Document statuses: queued, text being parsed, searchable by full text while vectors are
#: computed, fully indexed, or failed (``error`` says why).
DOCUMENT_STATUSES = ("pending", "indexing", "indexed", "failed")


class CollectionRow(Base):
    """A named group of documents (like a folder), owned by a user."""

    __tablename__ = "collections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CollectionShareRow(Base):
    """A collection shared read-only: with one user (``user_id``), or with everyone (NULL).

    The documents of a shared collection are readable (listed, searched, cited, opened) by whom
    it is shared with; only its owner changes or deletes them.  The owner's chats are never
    shared.
    """

    __tablename__ = "collection_shares"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("collections.id", ondelete="CASCADE")
    )
    user_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_collection_shares_user", "user_id", "collection_id"),
        Index("ix_collection_shares_collection", "collection_id"),
    )


class ContentRow(Base):
    """Parsed, chunked content of one distinct file (by sha256)."""

    __tablename__ = "contents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(100))
    stored_path: Mapped[str] = mapped_column(String(300))  # relative to the data dir
    page_count: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The reader that made ``text`` (``Format.reader``); NULL: before readers were recorded.
    reader: Mapped[str | None] = mapped_column(String(40))


class DocumentRow(Base):
    """A file in a collection: its name, where it came from, and its indexing status."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(255))
    collection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("collections.id", ondelete="CASCADE")
    )
    # Identity inside the collection: the source file's absolute path, or "upload:<name>".
    source: Mapped[str] = mapped_column(String(2000))
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    page_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    indexed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ChunkRow(Base):
    """A retrieval unit of some content, with its exact place in the content's text."""

    __tablename__ = "chunks"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("contents.sha256", ondelete="CASCADE")
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    section: Mapped[str | None] = mapped_column(Text)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    token_count: Mapped[int] = mapped_column(Integer)


class ChunkVectorRow(Base):
    """A chunk's embedding under one model (SQLite: float32 bytes; PostgreSQL: pgvector)."""

    __tablename__ = "chunk_vectors"

    chunk_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200))
    # Declared as bytes for SQLite; on PostgreSQL the column is ``vector`` and is written by SQL.
    embedding: Mapped[bytes] = mapped_column(LargeBinary)


class ChunkTokensRow(Base):
    """A chunk's token vectors under one model, one sign bit per dimension (the offline
    reranker's late interaction; see docchat.retrieval.late_interaction)."""

    __tablename__ = "chunk_token_vectors"

    chunk_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200))
    count: Mapped[int] = mapped_column(Integer)  # tokens stored
    bits: Mapped[bytes] = mapped_column(LargeBinary)


class IndexStateRow(Base):
    """Small named values about the index: the embedding model in use, a change counter."""

    __tablename__ = "index_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
