"""Whether chunks have vectors, and the version number that changes when the set of vectors does.

Readers cache vectors (``retrieval.vectors``) and compare ``VECTORS_VERSION`` to know when to
reload; every write that adds or removes vectors bumps it in its own transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Exists, select
from sqlalchemy.orm import Session

from docchat.documents.models import ChunkRow, ChunkVectorRow, IndexStateRow

#: index_state key counting changes to the set of vectors (readers cache vectors by it).
VECTORS_VERSION = "vectors_version"


def bump_vectors_version(s: Session) -> None:
    """Record that vectors were added or removed, inside the caller's transaction."""
    row = s.get(IndexStateRow, VECTORS_VERSION)
    if row is None:
        s.add(IndexStateRow(name=VECTORS_VERSION, value=1))
    else:
        row.value = int(row.value) + 1


def chunk_has_vector() -> Exists:
    """SQL: the enclosing query's chunk (``ChunkRow``) has a vector."""
    return select(ChunkVectorRow.chunk_id).where(ChunkVectorRow.chunk_id == ChunkRow.id).exists()


def fully_embedded(sha256: Any) -> ColumnElement[bool]:
    """SQL: every chunk of content ``sha256`` (a value or a column) has a vector."""
    return ~select(ChunkRow.id).where(ChunkRow.sha256 == sha256, ~chunk_has_vector()).exists()
