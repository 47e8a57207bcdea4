"""Passages with provenance: a search's scope, and chunk rows turned into cited ``Hit``s.

Retrieval works on chunk ids; what a turn shows and cites is a ``Hit``: the document (id, file
name, collection) the passage is cited from, its page, section and exact character span.  Several
documents may share one content (the same file uploaded twice): a passage is cited from the oldest
visible one, so the same question names the same file every time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from pydantic import BaseModel, Field
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from docchat.db import Database
from docchat.documents.models import ChunkRow, CollectionRow, DocumentRow
from docchat.documents.registry import VisibleDocument
from docchat.errors import InvalidInput
from docchat.retrieval.fusion import Fused, Scores
from docchat.textsearch import keywords

MAX_NEIGHBOURS = 50
_SNIPPET_CHARS = 300


class Hit(BaseModel):
    """A passage found by search, with exact provenance."""

    rank: int
    document_id: str
    file_name: str
    collection: str
    page: int | None = Field(description="1-based page (PDF) or slide (PPTX).")
    section: str | None
    char_start: int = Field(description="Offset of the passage in the document's text.")
    char_end: int
    text: str
    snippet: str
    chunk_id: int
    score: float = Field(description="The final ordering score (rerank, else fused, else own).")
    scores: Scores


@dataclass(frozen=True, eq=False)
class Scope:
    """The documents a turn may draw from, computed once per turn by ``Retriever.scope``.

    ``documents`` None: every searchable document (no owner, no filter); otherwise the visible
    documents, oldest first.
    """

    documents: tuple[VisibleDocument, ...] | None = None

    @cached_property
    def by_sha(self) -> dict[str, VisibleDocument] | None:
        """The document each content's passages are cited from; None when unrestricted."""
        if self.documents is None:
            return None
        found: dict[str, VisibleDocument] = {}
        for d in self.documents:
            found.setdefault(d.sha256, d)
        return found

    @property
    def shas(self) -> set[str] | None:
        """The contents in scope; None when unrestricted."""
        return None if self.by_sha is None else set(self.by_sha)

    @property
    def empty(self) -> bool:
        """True when nothing is visible: every search in this scope finds nothing."""
        return self.documents is not None and not self.documents


def snippet(text: str, query: str, width: int = _SNIPPET_CHARS) -> str:
    """About ``width`` characters of ``text`` around the first query word found in it."""
    if len(text) <= width:
        return text
    lowered = text.lower()
    positions = [
        m.start()
        for w in keywords(query)
        if (m := re.search(rf"\b{re.escape(w)}", lowered)) is not None
    ]
    start = max(0, min(positions) - width // 4) if positions else 0
    start = min(start, len(text) - width)
    if start > 0:
        space = text.find(" ", start, start + 30)
        start = space + 1 if space != -1 else start
    end = start + width
    return ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def hydrate(db: Database, fused: Sequence[Fused], *, query: str, scope: Scope) -> list[Hit]:
    """Hits for fused chunk ids, in their order; chunks gone or out of ``scope`` are skipped.

    ``query`` places the snippets.  Ranks follow the order; the score is the fused one.
    """
    if not fused:
        return []
    ids = [f.chunk_id for f in fused]
    with db.read() as s:
        chunks = {
            c.id: c for c in s.execute(select(ChunkRow).where(ChunkRow.id.in_(ids))).scalars()
        }
        by_sha = scope.by_sha
        if by_sha is None:
            by_sha = _oldest_documents(s, {c.sha256 for c in chunks.values()})
    hits: list[Hit] = []
    for f in fused:
        c = chunks.get(f.chunk_id)
        doc = by_sha.get(c.sha256) if c is not None else None
        if c is None or doc is None:
            continue  # deleted or hidden since the candidate lists were made
        score = f.scores.fused or 0.0
        hits.append(_hit(c, doc, f.scores, query=query, rank=len(hits) + 1, score=score))
    return hits


def neighbours(db: Database, hit: Hit, *, before: int = 1, after: int = 1) -> list[Hit]:
    """The passages around ``hit`` in its document, in reading order, ``hit``'s own included.

    The others carry no scores (score 0); ranks number the reading order.
    """
    for name, value in (("before", before), ("after", after)):
        if not isinstance(value, int) or not 0 <= value <= MAX_NEIGHBOURS:
            raise InvalidInput(f"{name} must be between 0 and {MAX_NEIGHBOURS}", field=name)
    with db.read() as s:
        centre = s.execute(
            select(ChunkRow.sha256, ChunkRow.ordinal).where(ChunkRow.id == hit.chunk_id)
        ).one_or_none()
        if centre is None:
            return []  # its document was deleted since
        sha, ordinal = centre
        rows = s.execute(
            select(ChunkRow)
            .where(
                ChunkRow.sha256 == sha, ChunkRow.ordinal.between(ordinal - before, ordinal + after)
            )
            .order_by(ChunkRow.ordinal)
        ).scalars()
        doc = VisibleDocument(
            id=hit.document_id, file_name=hit.file_name, collection=hit.collection, sha256=sha
        )
        return [
            _hit(c, doc, hit.scores.model_copy(), query="", rank=rank, score=hit.score)
            if c.id == hit.chunk_id
            else _hit(c, doc, Scores(), query="", rank=rank, score=0.0)
            for rank, c in enumerate(rows, 1)
        ]


def document_passages(db: Database, document: VisibleDocument) -> list[Hit]:
    """All of ``document``'s passages in reading order; ranks number them, scores are empty."""
    with db.read() as s:
        rows = s.execute(
            select(ChunkRow).where(ChunkRow.sha256 == document.sha256).order_by(ChunkRow.ordinal)
        ).scalars()
        return [
            _hit(c, document, Scores(), query="", rank=rank, score=0.0)
            for rank, c in enumerate(rows, 1)
        ]


def _oldest_documents(s: Session, shas: set[str]) -> dict[str, VisibleDocument]:
    """The oldest searchable document of each content (an unrestricted scope's names)."""
    rows = s.execute(
        select(DocumentRow.id, DocumentRow.file_name, CollectionRow.name, DocumentRow.sha256)
        .join(CollectionRow, CollectionRow.id == DocumentRow.collection_id)
        .where(
            DocumentRow.sha256.in_(list(shas)),
            DocumentRow.status.in_(("indexing", "indexed")),
        )
        .order_by(DocumentRow.created_at, DocumentRow.id)
    ).all()
    found: dict[str, VisibleDocument] = {}
    for i, f, c, sha in rows:
        if sha is not None:
            found.setdefault(sha, VisibleDocument(id=i, file_name=f, collection=c, sha256=sha))
    return found


def _hit(
    c: ChunkRow, doc: VisibleDocument, scores: Scores, *, query: str, rank: int, score: float
) -> Hit:
    return Hit(
        rank=rank,
        document_id=doc.id,
        file_name=doc.file_name,
        collection=doc.collection,
        page=c.page,
        section=c.section,
        char_start=c.char_start,
        char_end=c.char_end,
        text=c.text,
        snippet=snippet(c.text, query),
        chunk_id=c.id,
        score=score,
        scores=scores,
    )


def widen(db: Database, hits: Sequence[Hit], *, window: int = 1) -> list[Hit]:
    """``hits`` each grown by up to ``window`` adjacent passages of the same page and section,
    so an answer sees the whole paragraph around what matched.

    A widened hit keeps its identity (chunk id, scores, rank); its ``char_start``/``char_end``
    and ``text`` span the merged passages, still an exact slice of the document's text, so
    citation offsets into it stay exact.  A hit already inside an earlier one's widened span is
    dropped (the earlier one holds its text).
    """
    if not 0 <= window <= MAX_NEIGHBOURS:
        raise InvalidInput(f"window must be between 0 and {MAX_NEIGHBOURS}", field="window")
    if window == 0 or not hits:
        return list(hits)
    out: list[Hit] = []
    covered: dict[str, list[tuple[int, int]]] = {}  # document id -> spans already given
    for hit, region in zip(hits, surroundings(db, hits, window=window), strict=True):
        if region is None:  # deleted since the search
            continue
        start, text = region
        spans = covered.setdefault(hit.document_id, [])
        if any(a <= hit.char_start and hit.char_end <= b for a, b in spans):
            continue
        spans.append((start, start + len(text)))
        out.append(
            hit.model_copy(
                update={"char_start": start, "char_end": start + len(text), "text": text}
            )
        )
    return out


def surroundings(
    db: Database, hits: Sequence[Hit], *, window: int = 1
) -> list[tuple[int, str] | None]:
    """For each hit, the document text of it and up to ``window`` adjacent passages on each side
    of the same page and section, as (offset in the document's text, text); None for a hit whose
    passage is gone.  Chunks overlap, so the text is contiguous: an exact slice of the
    document's text, as far as the passages reach without a gap."""
    if not hits:
        return []
    with db.read() as s:
        centres = {
            r.id: (r.sha256, r.ordinal)
            for r in s.execute(
                select(ChunkRow.id, ChunkRow.sha256, ChunkRow.ordinal).where(
                    ChunkRow.id.in_([h.chunk_id for h in hits])
                )
            )
        }
        # One query for every hit's neighbours: this runs on each chat turn.
        around: dict[tuple[str, int], ChunkRow] = {}
        if centres:
            near = [
                and_(
                    ChunkRow.sha256 == sha,
                    ChunkRow.ordinal.between(ordinal - window, ordinal + window),
                )
                for sha, ordinal in set(centres.values())
            ]
            for row in s.execute(select(ChunkRow).where(or_(*near))).scalars():
                around[(row.sha256, row.ordinal)] = row
    found: list[tuple[int, str] | None] = []
    for hit in hits:
        centre = centres.get(hit.chunk_id)
        if centre is None:
            found.append(None)
            continue
        sha, ordinal = centre
        start, end, text = hit.char_start, hit.char_end, hit.text
        for step in (-1, 1):
            for n in range(1, window + 1):
                c = around.get((sha, ordinal + step * n))
                if c is None or c.page != hit.page or c.section != hit.section:
                    break
                if step < 0 and c.char_end >= start and c.char_start < start:
                    text = c.text[: start - c.char_start] + text
                    start = c.char_start
                elif step > 0 and c.char_start <= end < c.char_end:
                    text = text + c.text[end - c.char_start :]
                    end = c.char_end
                else:
                    break  # not contiguous: a gap the chunks do not hold
        found.append((start, text))
    return found
