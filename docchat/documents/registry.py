"""The document registry: collections, documents, their content and chunks, in the database.

Writes here are short transactions; parsing happens before them.  Content no document refers to any
more is removed with its chunks, vectors and stored file, so re-indexing never leaves duplicates.
What it returns is in ``documents.views``, whether chunks have vectors in
``documents.vector_state``, and a document's identity is one ``DocumentIdentity``.
"""

from __future__ import annotations

import builtins
import datetime as dt
import fnmatch
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from docchat.db import Database, utcnow
from docchat.documents.identity import DocumentIdentity
from docchat.documents.models import (
    ChunkRow,
    CollectionRow,
    CollectionShareRow,
    ContentRow,
    DocumentRow,
)
from docchat.documents.parsers import format_for_mime
from docchat.documents.storage import ContentStore
from docchat.documents.types import Chunk, ParsedDocument
from docchat.documents.vector_state import (
    VECTORS_VERSION,
    bump_vectors_version,
    chunk_has_vector,
    fully_embedded,
)
from docchat.documents.views import (
    ChunkPlace,
    Collection,
    DocumentInfo,
    DocumentView,
    Reindexed,
    ReplacedDocument,
    StoredContent,
    VisibleDocument,
    document_info,
)
from docchat.errors import CollectionNotFound, DocumentNotFound, Forbidden, InvalidInput
from docchat.owners import owned_by, scope, visible_to
from docchat.validation import check_name, plausible_id

# The registry's own names, and the types and helpers it used to define, which callers still
# import from here (they moved to views, vector_state and identity).
__all__ = [
    "DEFAULT_COLLECTION",
    "MAX_COLLECTION_CHARS",
    "VECTORS_VERSION",
    "ChunkPlace",
    "Collection",
    "DocumentIdentity",
    "DocumentInfo",
    "DocumentView",
    "Registry",
    "Reindexed",
    "ReplacedDocument",
    "StoredContent",
    "VisibleDocument",
    "bump_vectors_version",
    "check_collection_name",
    "chunk_has_vector",
]

DEFAULT_COLLECTION = "default"
#: Longest collection name.
MAX_COLLECTION_CHARS = 200


def check_collection_name(name: str) -> str:
    """A collection name by the rule file names follow too (``validation.check_name``): NFC,
    trimmed; InvalidInput when empty, over 200 characters or holding invisible characters."""
    if not isinstance(name, str):
        raise InvalidInput("collection name must not be empty", field="collection")
    return check_name(name, "collection", max_chars=MAX_COLLECTION_CHARS)


def shared_with(owner: str | None) -> Any:
    """SQL: ids of the collections shared with ``owner`` (with them by name, or with everyone)."""
    return select(CollectionShareRow.collection_id).where(
        or_(CollectionShareRow.user_id == owner, CollectionShareRow.user_id.is_(None))
    )


def readable_by(owner: str | None) -> ColumnElement[bool]:
    """SQL: the documents ``owner`` may read: their own (every one with None), and those in
    collections shared with them.  Changing a document needs ``scope`` (owner only)."""
    if owner is None:
        return true()
    return or_(DocumentRow.owner == owner, DocumentRow.collection_id.in_(shared_with(owner)))


class Registry:
    """Collections, documents, contents and chunks of one database."""

    def __init__(self, db: Database, files: ContentStore) -> None:
        self.db = db
        self.files = files
        self._postgres = db.engine.dialect.name == "postgresql"

    # -- collections -------------------------------------------------------------------------

    def collection_id(self, name: str, *, owner: str | None, create: bool = True) -> str | None:
        """The id of the collection ``name`` that ``owner``'s documents go into, created when
        missing and ``create``.

        For writing: the collection recorded under ``owner`` (``owned_by``), so with None the
        owner-less one, never a user's collection of the same name (``docchat.owners``).
        """
        name = check_collection_name(name)
        query = select(CollectionRow.id).where(
            CollectionRow.name == name, owned_by(CollectionRow.owner, owner)
        )
        with self.db.read() as s:
            found = s.execute(query).scalar()
        if found is not None or not create:
            return found
        values = {"id": str(uuid.uuid4()), "owner": owner, "name": name, "created_at": utcnow()}
        stmt = (pg_insert if self._postgres else sqlite_insert)(CollectionRow).values(**values)
        with self.db.write() as s:
            s.execute(stmt.on_conflict_do_nothing())
            return s.execute(query).scalar_one()

    def collections(self, *, owner: str | None) -> list[Collection]:
        """The collections ``owner`` may see (all with None): their own and those shared with
        them, by name, with document counts."""
        mine = scope(CollectionRow.owner, owner)
        query = (
            select(
                CollectionRow.id,
                CollectionRow.name,
                CollectionRow.owner,
                func.count(DocumentRow.id),
            )
            .outerjoin(DocumentRow, DocumentRow.collection_id == CollectionRow.id)
            .where(or_(mine, CollectionRow.id.in_(shared_with(owner))))
            .group_by(CollectionRow.id, CollectionRow.name, CollectionRow.owner)
            .order_by(CollectionRow.name, CollectionRow.id)
        )
        with self.db.read() as s:
            rows = s.execute(query).all()
            shared = set(
                s.scalars(
                    select(CollectionShareRow.collection_id).where(
                        CollectionShareRow.collection_id.in_([row[0] for row in rows])
                    )
                )
            )
        return [
            Collection(
                id=i,
                name=n,
                documents=c,
                owned=visible_to(o, owner),
                shared=i in shared,
            )
            for i, n, o, c in rows
        ]

    def share(
        self, name: str, *, owner: str, user_ids: Sequence[str], everyone: bool
    ) -> list[str | None]:
        """Share ``owner``'s collection ``name`` read-only with exactly these users (and
        everyone when ``everyone``), replacing its earlier shares; returns them (None:
        everyone).  CollectionNotFound when ``owner`` has no such collection."""
        collection_id = self.collection_id(name, owner=owner, create=False)
        if collection_id is None:
            raise CollectionNotFound(name)
        targets: list[str | None] = [*sorted(set(user_ids) - {owner})]
        if everyone:
            targets.append(None)
        now = utcnow()
        with self.db.write() as s:
            s.execute(
                delete(CollectionShareRow).where(CollectionShareRow.collection_id == collection_id)
            )
            for user_id in targets:
                s.add(
                    CollectionShareRow(collection_id=collection_id, user_id=user_id, created_at=now)
                )
        return targets

    def shares(self, name: str, *, owner: str) -> list[str | None]:
        """Whom ``owner``'s collection ``name`` is shared with (None: everyone)."""
        collection_id = self.collection_id(name, owner=owner, create=False)
        if collection_id is None:
            raise CollectionNotFound(name)
        with self.db.read() as s:
            found = s.scalars(
                select(CollectionShareRow.user_id).where(
                    CollectionShareRow.collection_id == collection_id
                )
            ).all()
        return sorted(found, key=lambda user: (user is None, user or ""))

    # -- documents ---------------------------------------------------------------------------

    def find(self, collection_id: str, source: str) -> DocumentRow | None:
        """The document with this source in the collection, if any."""
        with self.db.read() as s:
            return s.execute(
                select(DocumentRow).where(
                    DocumentRow.collection_id == collection_id, DocumentRow.source == source
                )
            ).scalar()

    def has_content(self, sha256: str) -> bool:
        """Whether this content is already parsed and indexed."""
        with self.db.read() as s:
            return s.get(ContentRow, sha256) is not None

    def vectors_lent(self, sha256: str, *, owner: str | None, besides: str) -> int:
        """How many chunks of content ``sha256`` have vectors, when no document of ``owner``'s
        but ``besides`` holds it (0 when one does): the vectors other owners' documents made.

        Content is stored once for everyone who holds the same bytes, so an ingest of known
        content embeds nothing.  Reported as such, that would tell a user someone else holds
        their file: an ingest counts these as if it had embedded them (``IngestProgress``).
        """
        with self.db.read() as s:
            mine = select(DocumentRow.id).where(
                DocumentRow.sha256 == sha256,
                owned_by(DocumentRow.owner, owner),
                DocumentRow.id != besides,
            )
            if s.execute(select(mine.exists())).scalar_one():
                return 0
            return s.execute(
                select(func.count())
                .select_from(ChunkRow)
                .where(ChunkRow.sha256 == sha256, chunk_has_vector())
            ).scalar_one()

    def outdated_content(self, sha256: str) -> bool:
        """Whether this content's text was made by an older reader than its format's today
        (``Format.reader``), so that ingesting its file again should read it again."""
        with self.db.read() as s:
            row = s.execute(
                select(ContentRow.mime_type, ContentRow.reader).where(ContentRow.sha256 == sha256)
            ).first()
        if row is None:
            return False
        fmt = format_for_mime(row.mime_type)
        return fmt is not None and fmt.outdated(row.reader)

    def save_indexed(
        self,
        document: DocumentIdentity,
        *,
        sha256: str,
        size: int,
        parsed: ParsedDocument | None,
        chunks: Sequence[Chunk],
        stored_path: str,
    ) -> DocumentRow:
        """Record an indexed document; ``parsed`` is None when the content is already known.

        Content and chunks go in with the document row in one transaction; content an earlier
        version of the document used goes when nothing else uses it.  The document is ``indexed``
        at once when its content is known and every chunk of it already has a vector.
        """
        now = utcnow()
        with self.db.write() as s:
            content = s.get(ContentRow, sha256)
            embedded = (
                content is not None and s.execute(select(fully_embedded(sha256))).scalar_one()
            )
            if content is None:
                if parsed is None:
                    raise RuntimeError("content vanished between check and write; retry")
                content = ContentRow(
                    sha256=sha256,
                    size=size,
                    mime_type=parsed.mime_type,
                    stored_path=stored_path,
                    page_count=parsed.page_count,
                    title=parsed.title,
                    text=parsed.text,
                    chunk_count=len(chunks),
                    created_at=now,
                    reader=parsed.reader,
                )
                s.add(content)
                s.flush()
                _insert_chunks(s, sha256, chunks)
            row, replaced_sha = self._upsert_document(
                s,
                document,
                now=now,
                sha256=sha256,
                size=size,
                mime_type=content.mime_type,
                status="indexed" if embedded else "indexing",
                error=None,
                page_count=content.page_count,
                indexed_at=now if embedded else None,
            )
            garbage = self._collect_garbage(s, [replaced_sha] if replaced_sha else [])
        self._delete_files(garbage)
        return row

    def store_indexed(
        self,
        *,
        collection_id: str,
        owner: str | None,
        source: str,
        file_name: str,
        sha256: str,
        size: int,
        parsed: ParsedDocument | None,
        chunks: Sequence[Chunk],
        stored_path: str,
    ) -> DocumentRow:
        """``save_indexed`` with the identity spelled out (bench/_setup.py still calls this)."""
        return self.save_indexed(
            DocumentIdentity(
                collection_id=collection_id, owner=owner, source=source, file_name=file_name
            ),
            sha256=sha256,
            size=size,
            parsed=parsed,
            chunks=chunks,
            stored_path=stored_path,
        )

    def replace_content(
        self,
        document_id: str,
        *,
        sha256: str,
        parsed: ParsedDocument,
        chunks: Sequence[Chunk],
    ) -> Reindexed:
        """Put freshly parsed content in place of content ``sha256``: its text, pages, title and
        chunks, in one transaction, and mark every document using it ``indexing`` (its vectors
        are to be computed again).

        The old chunks' vectors and token vectors go with them (ON DELETE CASCADE).  The
        document ``document_id`` may have had no content (it failed to parse before).
        DocumentNotFound when it was deleted, or changed content, while this was parsed.
        """
        now = utcnow()
        with self.db.write() as s:
            row = s.get(DocumentRow, document_id)
            if row is None or row.sha256 != sha256:
                raise DocumentNotFound(document_id)
            content = s.get(ContentRow, sha256)
            if content is None:
                content = ContentRow(
                    sha256=sha256,
                    size=row.size,
                    stored_path=self.files.location(sha256),
                    created_at=now,
                )
                s.add(content)
            else:
                s.execute(delete(ChunkRow).where(ChunkRow.sha256 == sha256))
            content.mime_type = parsed.mime_type
            content.page_count = parsed.page_count
            content.title = parsed.title
            content.text = parsed.text
            content.chunk_count = len(chunks)
            content.reader = parsed.reader
            s.flush()
            _insert_chunks(s, sha256, chunks)
            ids = list(
                s.execute(
                    update(DocumentRow)
                    .where(DocumentRow.sha256 == sha256)
                    .values(
                        status="indexing",
                        error=None,
                        mime_type=parsed.mime_type,
                        page_count=parsed.page_count,
                        indexed_at=None,
                        updated_at=now,
                    )
                    .returning(DocumentRow.id)
                ).scalars()
            )
            bump_vectors_version(s)  # vectors went with the old chunks
        return Reindexed(
            sha256=sha256,
            document_ids=ids,
            chunk_count=len(chunks),
            page_count=parsed.page_count,
        )

    def save_failed(
        self, document: DocumentIdentity, *, sha256: str | None, size: int, error: str
    ) -> DocumentRow:
        """Record a document that could not be indexed, with the reason; no chunks remain."""
        now = utcnow()
        with self.db.write() as s:
            row, replaced_sha = self._upsert_document(
                s,
                document,
                now=now,
                sha256=sha256,
                size=size,
                mime_type=None,
                status="failed",
                error=error,
                page_count=None,
                indexed_at=None,
            )
            garbage = self._collect_garbage(s, [replaced_sha] if replaced_sha else [])
        self._delete_files(garbage)
        return row

    def record_failure(self, document_id: str, *, sha256: str, error: str) -> None:
        """Record why another try at a failed document failed (a re-index): its ``error``
        becomes this one.

        Only a document still ``failed`` with content ``sha256`` changes, and nothing of it but
        its reason and ``updated_at``: one that is indexed keeps its chunks (the task reports the
        failure), and one deleted or changed meanwhile is left as it is.
        """
        with self.db.write() as s:
            s.execute(
                update(DocumentRow)
                .where(
                    DocumentRow.id == document_id,
                    DocumentRow.sha256 == sha256,
                    DocumentRow.status == "failed",
                )
                .values(error=error, updated_at=utcnow())
            )

    def _upsert_document(
        self, s: Session, document: DocumentIdentity, *, now: dt.datetime, **values: Any
    ) -> tuple[DocumentRow, str | None]:
        row = s.execute(
            select(DocumentRow).where(
                DocumentRow.collection_id == document.collection_id,
                DocumentRow.source == document.source,
            )
        ).scalar()
        # The owner and shown name are set on every write, as they were when passed as values.
        values |= {"owner": document.owner, "file_name": document.file_name}
        replaced = None
        if row is None:
            row = DocumentRow(
                id=str(uuid.uuid4()),
                collection_id=document.collection_id,
                source=document.source,
                created_at=now,
                updated_at=now,
                **values,
            )
            s.add(row)
        else:
            if row.sha256 and row.sha256 != values["sha256"]:
                replaced = row.sha256
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = now
        s.flush()
        return row, replaced

    def _collect_garbage(self, s: Session, shas: Iterable[str | None]) -> list[str]:
        """Delete contents no document refers to; returns their hashes (files go after commit)."""
        gone = []
        for sha in {x for x in shas if x}:
            still_used = s.execute(
                select(func.count()).select_from(DocumentRow).where(DocumentRow.sha256 == sha)
            ).scalar_one()
            if still_used == 0 and s.get(ContentRow, sha) is not None:
                s.execute(delete(ContentRow).where(ContentRow.sha256 == sha))
                gone.append(sha)
        if gone:
            bump_vectors_version(s)
        return gone

    def _delete_files(self, shas: Iterable[str]) -> None:
        for sha in shas:
            self.files.delete(sha)

    def delete(self, document_id: str, *, owner: str | None) -> None:
        """Delete a document; its content goes too when no other document shares it."""
        with self.db.write() as s:
            row = s.get(DocumentRow, document_id) if plausible_id(document_id) else None
            if row is None or not visible_to(row.owner, owner):
                raise DocumentNotFound(str(document_id))
            sha = row.sha256
            s.delete(row)
            s.flush()
            garbage = self._collect_garbage(s, [sha])
        self._delete_files(garbage)

    def delete_sources(self, collection_id: str, sources: Iterable[str]) -> int:
        """Delete the collection's documents with these sources (pruning); returns how many."""
        removed = 0
        with self.db.write() as s:
            shas: list[str | None] = []
            for source in sources:
                row = s.execute(
                    select(DocumentRow).where(
                        DocumentRow.collection_id == collection_id, DocumentRow.source == source
                    )
                ).scalar()
                if row is not None:
                    shas.append(row.sha256)
                    s.delete(row)
                    removed += 1
            s.flush()
            garbage = self._collect_garbage(s, shas)
        self._delete_files(garbage)
        return removed

    def sources(self, collection_id: str) -> list[str]:
        """Every document source in the collection."""
        with self.db.read() as s:
            return list(
                s.execute(
                    select(DocumentRow.source).where(DocumentRow.collection_id == collection_id)
                ).scalars()
            )

    def named(self, collection_id: str, sources: Sequence[str]) -> list[ReplacedDocument]:
        """The documents of the collection with these sources, in the order given."""
        if not sources:
            return []
        query = select(DocumentRow.source, DocumentRow.id, DocumentRow.file_name).where(
            DocumentRow.collection_id == collection_id, DocumentRow.source.in_(list(sources))
        )
        with self.db.read() as s:
            found = {src: (i, name) for src, i, name in s.execute(query)}
        return [
            ReplacedDocument(document_id=found[src][0], file_name=found[src][1])
            for src in dict.fromkeys(sources)
            if src in found
        ]

    def usage(self, owner: str | None) -> tuple[int, int]:
        """Documents recorded under exactly ``owner`` (``owned_by``), failed ones too, and the
        bytes of their files: what the per-owner quotas count."""
        query = select(func.count(DocumentRow.id), func.coalesce(func.sum(DocumentRow.size), 0))
        with self.db.read() as s:
            count, size = s.execute(query.where(owned_by(DocumentRow.owner, owner))).one()
        return int(count), int(size)

    def get(self, document_id: str, *, owner: str | None, writable: bool = False) -> DocumentInfo:
        """One document ``owner`` may read (theirs, or in a collection shared with them);
        DocumentNotFound when unknown or another owner's and not shared.  ``writable``: for
        changing it, so only the owner's; Forbidden for a document shared read-only."""
        if not plausible_id(document_id):
            raise DocumentNotFound(str(document_id))
        found = self.list(owner=owner, document_ids=[document_id])
        if not found:
            raise DocumentNotFound(str(document_id))
        if writable and not self.list(owner=owner, document_ids=[document_id], writable=True):
            raise Forbidden(
                "this document is shared with you read-only; only its owner may change it"
            )
        return found[0]

    def text(self, document_id: str, *, owner: str | None) -> str:
        """The document's extracted text, which hits' ``char_start:char_end`` index into."""
        info = self.get(document_id, owner=owner)
        with self.db.read() as s:
            content = s.get(ContentRow, info.sha256) if info.sha256 else None
        if content is None:
            raise InvalidInput(f"document {document_id!r} has no indexed text ({info.status})")
        return content.text

    def stored(self, document_id: str, *, owner: str | None) -> StoredContent | None:
        """The document's stored content, or None when it has none (failed, or not yet indexed);
        DocumentNotFound when unknown or another owner's."""
        info = self.get(document_id, owner=owner)
        if not info.sha256:
            return None
        query = select(
            ContentRow.mime_type, ContentRow.page_count, func.length(ContentRow.text)
        ).where(ContentRow.sha256 == info.sha256)
        with self.db.read() as s:
            row = s.execute(query).first()
        if row is None:
            return None
        mime_type, page_count, length = row
        return StoredContent(
            document=info,
            sha256=info.sha256,
            mime_type=mime_type,
            page_count=page_count,
            text_length=length,
        )

    def chunk_at(self, sha256: str, offset: int) -> ChunkPlace | None:
        """The chunk of content ``sha256`` holding text offset ``offset``: the last one starting at
        or before it (chunks overlap; between two units, the one before), else the first."""
        columns = (ChunkRow.page, ChunkRow.section, ChunkRow.char_start, ChunkRow.char_end)
        before = (
            select(*columns)
            .where(ChunkRow.sha256 == sha256, ChunkRow.char_start <= offset)
            .order_by(ChunkRow.char_start.desc(), ChunkRow.ordinal.desc())
            .limit(1)
        )
        first = (
            select(*columns).where(ChunkRow.sha256 == sha256).order_by(ChunkRow.ordinal).limit(1)
        )
        with self.db.read() as s:
            row = s.execute(before).first() or s.execute(first).first()
        if row is None:
            return None
        page, section, start, end = row
        return ChunkPlace(page=page, section=section, char_start=start, char_end=end)

    def page_span(self, sha256: str, page: int) -> tuple[int, int] | None:
        """Where page ``page`` of content ``sha256`` lies in its text (its chunks' extent), or
        None when no chunk is on it (a blank page)."""
        query = select(func.min(ChunkRow.char_start), func.max(ChunkRow.char_end)).where(
            ChunkRow.sha256 == sha256, ChunkRow.page == page
        )
        with self.db.read() as s:
            start, end = s.execute(query).one()
        return None if start is None else (int(start), int(end))

    def list(
        self,
        *,
        owner: str | None,
        collection: str | None = None,
        document_ids: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        writable: bool = False,
    ) -> list[DocumentInfo]:
        """Documents ``owner`` may read (``writable``: may change), newest first, optionally of
        one collection."""
        query = (
            select(DocumentRow, CollectionRow.name, ContentRow.chunk_count)
            .join(CollectionRow, CollectionRow.id == DocumentRow.collection_id)
            .outerjoin(ContentRow, ContentRow.sha256 == DocumentRow.sha256)
            .where(scope(DocumentRow.owner, owner) if writable else readable_by(owner))
            .order_by(DocumentRow.created_at.desc(), DocumentRow.id)
            .offset(offset)
        )
        if collection is not None:
            query = query.where(CollectionRow.name == collection)
        if document_ids is not None:
            query = query.where(DocumentRow.id.in_(list(document_ids)))
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as s:
            return [document_info(row, name, chunks) for row, name, chunks in s.execute(query)]

    def visible(
        self,
        *,
        owner: str | None,
        collections: Sequence[str] = (),
        document_ids: Sequence[str] = (),
        file_globs: Sequence[str] = (),
    ) -> builtins.list[VisibleDocument]:
        """Searchable documents (not failed) within the filters, oldest first."""
        query = (
            select(DocumentRow.id, DocumentRow.file_name, CollectionRow.name, DocumentRow.sha256)
            .join(CollectionRow, CollectionRow.id == DocumentRow.collection_id)
            .where(DocumentRow.status.in_(("indexing", "indexed")), readable_by(owner))
            .order_by(DocumentRow.created_at, DocumentRow.id)
        )
        if collections:
            query = query.where(CollectionRow.name.in_(list(collections)))
        if document_ids:
            query = query.where(DocumentRow.id.in_(list(document_ids)))
        with self.db.read() as s:
            rows = s.execute(query).all()
        globs = [g.lower() for g in file_globs]
        return [
            VisibleDocument(id=i, file_name=f, collection=c, sha256=sha)
            for i, f, c, sha in rows
            if sha and (not globs or any(fnmatch.fnmatchcase(f.lower(), g) for g in globs))
        ]

    def mark_indexed(self, shas: Iterable[str] | None = None) -> int:
        """Documents still ``indexing`` whose content has a vector for every chunk become
        ``indexed``: those of contents ``shas``, or all; returns how many.

        Never one whose content lacks a vector (``docchat ingest --no-embed`` leaves documents
        searchable by full text only, and ``indexing``, until their vectors exist).
        """
        query = update(DocumentRow).where(
            DocumentRow.status == "indexing",
            DocumentRow.sha256.is_not(None),
            fully_embedded(DocumentRow.sha256),
        )
        if shas is not None:
            shas = list(shas)
            if not shas:
                return 0
            query = query.where(DocumentRow.sha256.in_(shas))
        with self.db.write() as s:
            result = s.execute(query.values(status="indexed", indexed_at=utcnow()))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def mark_all_indexing(self) -> None:
        """Every indexed document goes back to ``indexing`` (its vectors are being redone)."""
        with self.db.write() as s:
            s.execute(
                update(DocumentRow)
                .where(DocumentRow.status == "indexed")
                .values(status="indexing", indexed_at=None)
            )


def _insert_chunks(s: Session, sha256: str, chunks: Sequence[Chunk]) -> None:
    """Insert content ``sha256``'s chunks (the caller's transaction)."""
    if not chunks:
        return
    s.execute(
        insert(ChunkRow),
        [
            {
                "sha256": sha256,
                "ordinal": c.ordinal,
                "text": c.text,
                "page": c.page,
                "section": c.section,
                "char_start": c.char_start,
                "char_end": c.char_end,
                "token_count": c.token_count,
            }
            for c in chunks
        ],
    )
