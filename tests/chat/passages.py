"""Passages of the test handbook and of the real documents in tests/data/real as retrieval
returns them, without a database.

Each handbook file is parsed and chunked exactly as ingestion does (default chunk settings), so a
``Hit`` built here has the same text and offsets as one from ``Workspace.search``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from docchat.config import DocumentSettings
from docchat.documents.chunking import chunk
from docchat.documents.parsers import parse
from docchat.documents.types import Chunk, ParsedDocument
from docchat.retrieval.hybrid import Hit, Scores

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"
#: Small real documents (tests/data/real/SOURCES.md), found by file name as handbook files are.
REAL = HANDBOOK.parent / "real"


def _path(file_name: str) -> Path:
    return HANDBOOK / file_name if (HANDBOOK / file_name).exists() else REAL / file_name


@cache
def _parsed(file_name: str) -> tuple[ParsedDocument, tuple[Chunk, ...]]:
    settings = DocumentSettings()
    doc = parse(_path(file_name), settings)
    return doc, tuple(chunk(doc, max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap))


def document_text(file_name: str) -> str:
    """The extracted text of a handbook (or real) file, which a hit's offsets index into."""
    return _parsed(file_name)[0].text


def passage(file_name: str, containing: str, *, rank: int = 1) -> Hit:
    """The first chunk of ``file_name`` whose text contains ``containing``, as a search hit."""
    _, chunks = _parsed(file_name)
    found = next(c for c in chunks if containing in c.text)
    return Hit(
        rank=rank,
        document_id=file_name,
        file_name=file_name,
        collection=_path(file_name).parent.name,
        page=found.page,
        section=found.section,
        char_start=found.char_start,
        char_end=found.char_end,
        text=found.text,
        snippet=found.text[:300],
        chunk_id=found.ordinal,
        score=1.0 / rank,
        scores=Scores(),
    )


def passages(*wanted: tuple[str, str]) -> list[Hit]:
    """Hits for (file name, text it contains) pairs, ranked in the order given."""
    return [passage(name, text, rank=i) for i, (name, text) in enumerate(wanted, 1)]
