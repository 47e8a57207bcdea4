"""The shared test corpora (tests/corpora.py): a copy holds what ingestion stored, and what one
test writes to its copy no other copy sees."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpora import _SEARCH_ONLY, Corpora
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from docchat.config import RetrievalSettings, Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

RETENTION = Path(__file__).parent / "data" / "handbook" / "data-retention.md"


@pytest.fixture
def second(
    settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    """Settings for a second new database and data dir of the backend under test."""
    url = make_url(settings.effective_database_url.get_secret_value())
    if url.get_backend_name() == "sqlite":
        yield Settings(data_dir=tmp_path / "second", database_url=f"sqlite:///{tmp_path}/second.db")
        return
    admin = create_engine(request.getfixturevalue("pg_admin_url"), isolation_level="AUTOCOMMIT")
    name = f"docchat_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        database_url = url.set(database=name).render_as_string(hide_password=False)
        yield Settings(data_dir=tmp_path / "second", database_url=database_url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_copy_is_the_corpus_and_its_own(
    settings: Settings, second: Settings, minilm: MiniLMEmbedder, corpora: Corpora
) -> None:
    corpora.copy_into(settings, [RETENTION], collection="policies")
    corpora.copy_into(second, [RETENTION], collection="policies")
    with Workspace(settings, embedder=minilm) as first:
        (document,) = first.documents()
        assert (document.file_name, document.collection) == ("data-retention.md", "policies")
        assert first.chunks_without_vectors() == 0  # embedded, not only parsed
        (hit, *_) = first.search("How long is CCTV footage kept?", k=3)
        assert "28 days" in hit.text and hit.scores.dense is not None
        assert (settings.data_dir / "files").is_dir()  # the original file came along
        first.delete_document(document.id)
        assert first.documents() == []
    with Workspace(second, embedder=minilm) as other:
        assert [d.id for d in other.documents()] == [document.id]


def test_without_paths_a_copy_is_migrated_and_empty(settings: Settings, corpora: Corpora) -> None:
    corpora.copy_into(settings, [])
    with Workspace(settings) as workspace:
        assert workspace.documents() == []
        assert workspace.sessions.list().items == []


def test_a_search_setting_shares_the_corpus(
    settings: Settings, second: Settings, minilm: MiniLMEmbedder, corpora: Corpora
) -> None:
    # A reranker weight is read by searches only: the same ingested corpus serves both settings.
    corpora.copy_into(settings, [RETENTION])
    weighted = second.retrieval.model_copy(update={"rerank_weight": 1.0})
    corpora.copy_into(second.model_copy(update={"retrieval": weighted}), [RETENTION])
    with Workspace(settings, embedder=minilm) as first, Workspace(second, embedder=minilm) as other:
        assert [d.id for d in other.documents()] == [d.id for d in first.documents()]
    assert set(RetrievalSettings.model_fields) >= _SEARCH_ONLY
