"""The SQLite vector matrix snapshot: a new process maps it and adds what was embedded since."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docchat.config import Settings
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace
from tests.workspace_parts import parts

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/docchat.db")


def _snapshot_rows(settings: Settings) -> int:
    folders = list((settings.data_dir / "cache" / "vectors").glob("[0-9a-f]*"))
    assert len(folders) == 1
    return len(np.load(folders[0] / "ids.npy"))


def test_a_new_process_starts_from_the_snapshot(
    sqlite_settings: Settings, minilm: MiniLMEmbedder
) -> None:
    first = Workspace(sqlite_settings, embedder=minilm)
    try:
        first.ingest([HANDBOOK / "faq-x100.md", HANDBOOK / "faq-x200.md"])
        expected = first.search("water use of the eco programme", k=5, mode="dense")
    finally:
        first.close()
    rows = _snapshot_rows(sqlite_settings)
    assert rows > 0

    second = Workspace(sqlite_settings, embedder=minilm)
    try:
        again = second.search("water use of the eco programme", k=5, mode="dense")
        # Mapped from the snapshot, not read from the rows.
        assert isinstance(parts(second).vectors._matrix.vectors, np.memmap)  # type: ignore[union-attr]
        assert [(h.chunk_id, round(h.score, 5)) for h in again] == [
            (h.chunk_id, round(h.score, 5)) for h in expected
        ]
        # Embedded after the snapshot: found all the same (appended, not lost).
        second.ingest([HANDBOOK / "faq-x300.md"])
        top = second.search("X300 softener salt error", k=1, mode="dense")
        assert top[0].file_name == "faq-x300.md"
    finally:
        second.close()

    third = Workspace(sqlite_settings, embedder=minilm)
    try:
        top = third.search("X300 softener salt error", k=1, mode="dense")
        assert top[0].file_name == "faq-x300.md"
        # Deleted since the snapshot: never returned from the mapped rows.
        third.delete_document(top[0].document_id)
        assert all(
            h.file_name != "faq-x300.md"
            for h in third.search("X300 softener salt error", k=10, mode="dense")
        )
    finally:
        third.close()
    fourth = Workspace(sqlite_settings, embedder=minilm)
    try:
        assert all(
            h.file_name != "faq-x300.md"
            for h in fourth.search("X300 softener salt error", k=10, mode="dense")
        )
    finally:
        fourth.close()


def test_a_damaged_snapshot_is_rebuilt(sqlite_settings: Settings, minilm: MiniLMEmbedder) -> None:
    ws = Workspace(sqlite_settings, embedder=minilm)
    try:
        ws.ingest([HANDBOOK / "faq-x100.md"])
        ws.search("noise", k=1, mode="dense")
    finally:
        ws.close()
    for folder in (sqlite_settings.data_dir / "cache" / "vectors").glob("[0-9a-f]*"):
        (folder / "vectors.npy").write_bytes(b"not a numpy file")
    ws = Workspace(sqlite_settings, embedder=minilm)
    try:
        assert ws.search("noise level quiet programme", k=1, mode="dense")[0].file_name == (
            "faq-x100.md"
        )
    finally:
        ws.close()
