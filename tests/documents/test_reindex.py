"""Re-indexing: a stored original parsed again with the current settings, its chunks replaced and
embedded again, for every document that shares the content."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from docchat.config import Settings
from docchat.documents.models import ChunkRow, ChunkTokensRow, ChunkVectorRow, ContentRow
from docchat.documents.storage.directory import DirectoryStore
from docchat.errors import Conflict, DocumentNotFound
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace
from tests.workspace_parts import parts

from .conftest import MakePdf

Reopen = Callable[[Settings], Workspace]

#: One section of about 450 word-pieces: three chunks at the default 200, many more at 32.
ORCHARD = "# Orchard\n\n" + " ".join(
    f"Row {n} of the orchard holds pear trees that are pruned in February and picked in "
    f"September by the volunteers of team {n % 4}."
    for n in range(1, 21)
)


def _with_documents(ws: Workspace, **changes: object) -> Settings:
    """A copy of the workspace's settings with these ``documents`` fields changed."""
    documents = ws.settings.documents.model_copy(update=changes)
    return ws.settings.model_copy(update={"documents": documents})


@pytest.fixture
def reopen(minilm: MiniLMEmbedder) -> Iterator[Reopen]:
    """Factory: another workspace on the same database and data dir, with other settings."""
    opened: list[Workspace] = []

    def open_(settings: Settings) -> Workspace:
        ws = Workspace(settings, embedder=minilm)
        opened.append(ws)
        return ws

    yield open_
    for ws in opened:
        ws.close()


def _index_counts(ws: Workspace) -> dict[str, int]:
    with parts(ws).db.read() as s:
        chunks = s.execute(select(func.count()).select_from(ChunkRow)).scalar_one()
        vectors = s.execute(select(func.count()).select_from(ChunkVectorRow)).scalar_one()
        tokens = s.execute(select(func.count()).select_from(ChunkTokensRow)).scalar_one()
        without = s.execute(
            select(func.count())
            .select_from(ChunkRow)
            .outerjoin(ChunkVectorRow, ChunkVectorRow.chunk_id == ChunkRow.id)
            .where(ChunkVectorRow.chunk_id.is_(None))
        ).scalar_one()
        expected = s.execute(select(func.sum(ContentRow.chunk_count))).scalar_one()
    return {
        "chunks": chunks,
        "vectors": vectors,
        "token_vectors": tokens,
        "without_vector": without,
        "expected": expected,
    }


def test_reindex_with_a_new_chunk_size(
    workspace: Workspace, reopen: Reopen, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "orchard.md").write_text(ORCHARD)
    (tmp_path / "b" / "orchard-copy.md").write_text(ORCHARD)  # same bytes: shared content
    workspace.ingest([tmp_path / "a", tmp_path / "b"])
    first, second = workspace.documents()
    before = first.chunk_count
    assert before is not None and before == second.chunk_count
    assert _index_counts(workspace)["vectors"] == before
    query = "when are the pear trees pruned"
    assert workspace.search(query, mode="dense", k=1)  # this workspace now holds the old vectors

    smaller = reopen(_with_documents(workspace, chunk_tokens=32, chunk_overlap=8))
    task = smaller.reindex(first.id)
    assert (task.kind, task.status) == ("reindex", "queued")
    done = smaller.wait_for_task(task.id)
    assert done.status == "succeeded", done.errors
    assert sorted(done.result["documents"]) == sorted([first.id, second.id])
    assert done.result["chunks"] > before
    assert done.result["embedded"] == done.result["chunks"]

    for doc in smaller.documents():
        assert doc.chunk_count == done.result["chunks"]
        assert doc.status == "indexed" and doc.indexed_at is not None
    counts = _index_counts(smaller)
    # The old chunks' vectors and token vectors went with them (ON DELETE CASCADE), and every new
    # chunk has its own.
    assert counts["chunks"] == counts["expected"] == done.result["chunks"]
    assert counts["without_vector"] == 0
    assert counts["vectors"] == counts["chunks"]
    assert counts["token_vectors"] == counts["chunks"]  # late interaction is on by default
    for ws in (smaller, workspace):  # the first one's cached vectors are stale: reloaded
        for mode in ("hybrid", "dense", "fulltext"):
            hits = ws.search(query, mode=mode, k=3)
            assert hits and hits[0].document_id in (first.id, second.id), mode
            assert len(hits[0].text.split()) < 40, mode  # a new, small chunk


def test_a_failed_document_whose_original_is_stored_can_be_reindexed(
    workspace: Workspace, reopen: Reopen, docx_file: Path, tmp_path: Path
) -> None:
    strict = reopen(_with_documents(workspace, max_unpacked_bytes=1_000))
    result = strict.ingest([docx_file])
    assert len(result.failures) == 1
    (failed,) = strict.documents()
    assert failed.status == "failed" and failed.sha256 and failed.chunk_count is None
    with pytest.raises(Conflict, match="not kept, because it failed before it was stored"):
        strict.reindex(failed.id)  # the bytes were never kept

    # The same bytes under another name, with the default limits: the original is stored now.
    copy = tmp_path / "copy" / "handbook.docx"
    copy.parent.mkdir()
    shutil.copy(docx_file, copy)
    workspace.ingest([copy])
    assert {d.id: d.chunk_count for d in workspace.documents()}[failed.id] is None

    done = workspace.wait_for_task(workspace.reindex(failed.id).id)
    assert done.status == "succeeded", done.errors
    docs = {d.id: d for d in workspace.documents()}
    assert docs[failed.id].status == "indexed" and docs[failed.id].error is None
    assert docs[failed.id].chunk_count == done.result["chunks"] > 0
    assert docs[failed.id].mime_type is not None


def test_a_parse_that_fails_now_changes_nothing(
    workspace: Workspace, reopen: Reopen, tmp_path: Path
) -> None:
    (tmp_path / "orchard.md").write_text(ORCHARD)
    workspace.ingest([tmp_path / "orchard.md"])
    (before,) = workspace.documents()
    tiny = reopen(_with_documents(workspace, max_file_bytes=100))
    done = tiny.wait_for_task(tiny.reindex(before.id).id)
    assert done.status == "failed"
    assert "limit" in done.errors[0]["message"]
    (after,) = workspace.documents()
    assert (after.status, after.chunk_count) == ("indexed", before.chunk_count)
    assert _index_counts(workspace)["without_vector"] == 0


def _damage_docx(source: Path, target: Path) -> None:
    """Write ``source`` to ``target`` with its text part cut in half: a damaged Word file."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(
                item, data[: len(data) // 2] if item.filename == "word/document.xml" else data
            )


def test_a_failed_document_is_retried_and_records_each_outcome(
    workspace: Workspace, reopen: Reopen, docx_file: Path, tmp_path: Path
) -> None:
    strict = reopen(_with_documents(workspace, max_unpacked_bytes=1_000))
    strict.ingest([docx_file])
    (failed,) = strict.documents()
    assert failed.status == "failed" and failed.error and "limit is 1.0 KB" in failed.error
    copy = tmp_path / "copy" / "handbook.docx"  # the same bytes, now stored, under the defaults
    copy.parent.mkdir()
    shutil.copy(docx_file, copy)
    workspace.ingest([copy])
    shared = next(d for d in workspace.documents() if d.id != failed.id)
    stored = DirectoryStore(workspace.settings.data_dir).path(shared.sha256 or "")
    good = stored.read_bytes()

    # Still broken, for another reason now: its stored original was damaged.
    _damage_docx(docx_file, stored)
    done = workspace.wait_for_task(workspace.reindex(failed.id).id)
    reason = "'annual.docx' is damaged or not a Word document"
    assert done.status == "failed"
    assert done.errors == [{"message": reason, "code": "corrupt_document"}]
    again = workspace.document(failed.id)
    assert (again.status, again.error, again.chunk_count) == ("failed", reason, None)
    assert again.updated_at > failed.updated_at
    kept = ("source", "file_name", "collection", "sha256", "size", "created_at")
    assert again.model_dump(include=set(kept)) == failed.model_dump(include=set(kept))
    # The document sharing the bytes is indexed and keeps its chunks and vectors.
    assert workspace.document(shared.id) == shared
    counts = _index_counts(workspace)
    assert counts["chunks"] == counts["expected"] == shared.chunk_count
    assert counts["without_vector"] == 0

    # Fixed: the stored original is whole again.
    stored.write_bytes(good)
    done = workspace.wait_for_task(workspace.reindex(failed.id).id)
    assert done.status == "succeeded", done.errors
    assert sorted(done.result["documents"]) == sorted([failed.id, shared.id])
    fixed = workspace.document(failed.id)
    assert (fixed.status, fixed.error) == ("indexed", None)
    assert fixed.chunk_count == done.result["chunks"] == shared.chunk_count
    assert fixed.mime_type == shared.mime_type and fixed.indexed_at is not None
    hits = workspace.search("fiscal year report", mode="fulltext", k=5)
    assert failed.id in {hit.document_id for hit in hits}


def test_an_indexed_document_whose_original_no_longer_parses_keeps_its_chunks(
    workspace: Workspace, pdf_file: Path
) -> None:
    workspace.ingest([pdf_file])
    (before,) = workspace.documents()
    stored = DirectoryStore(workspace.settings.data_dir).path(before.sha256 or "")
    good = stored.read_bytes()
    stored.write_bytes(good[:200])  # damaged on disk: cut off

    done = workspace.wait_for_task(workspace.reindex(before.id).id)
    assert done.status == "failed"
    assert done.errors == [
        {"message": "'report.pdf' is damaged or not a PDF", "code": "corrupt_document"}
    ]
    # The task records why; the document stays as it was, searchable with its old chunks.
    assert workspace.document(before.id) == before
    counts = _index_counts(workspace)
    assert counts["chunks"] == counts["expected"] == before.chunk_count
    assert counts["without_vector"] == 0
    hits = workspace.search("zebra project", mode="fulltext", k=1)
    assert (hits[0].document_id, hits[0].page) == (before.id, 3)

    stored.write_bytes(good)
    done = workspace.wait_for_task(workspace.reindex(before.id).id)
    assert done.status == "succeeded", done.errors
    after = workspace.document(before.id)
    assert (after.status, after.error, after.page_count) == ("indexed", None, 5)
    assert after.chunk_count == done.result["chunks"] == before.chunk_count


def test_a_corrupt_file_that_failed_is_retried_by_adding_it_again(
    workspace: Workspace, make_pdf: MakePdf, tmp_path: Path
) -> None:
    whole = make_pdf("whole.pdf", [["The zebra project shipped on time."]]).read_bytes()
    path = tmp_path / "memo.pdf"
    path.write_bytes(whole[:200])
    workspace.ingest([path])
    (failed,) = workspace.documents()
    assert (failed.status, failed.error) == ("failed", "'memo.pdf' is damaged or not a PDF")
    # Its bytes were never kept, so there is nothing to re-index: the document is unchanged.
    with pytest.raises(
        Conflict, match=r"^'memo\.pdf' cannot be re-indexed: its original file was not kept"
    ):
        workspace.reindex(failed.id)
    assert workspace.document(failed.id) == failed

    path.write_bytes(whole)
    result = workspace.ingest([path])
    assert (result.updated, result.failures) == (1, [])
    fixed = workspace.document(failed.id)
    assert (fixed.status, fixed.error, fixed.page_count) == ("indexed", None, 1)
    assert fixed.chunk_count == 1


def test_unknown_and_other_owners_documents_are_not_found(
    workspace: Workspace, tmp_path: Path
) -> None:
    with pytest.raises(DocumentNotFound):
        workspace.reindex("no-such-id")
    with pytest.raises(DocumentNotFound):
        workspace.reindex("00000000-0000-0000-0000-000000000000")
    (tmp_path / "orchard.md").write_text(ORCHARD)
    workspace.ingest([tmp_path / "orchard.md"], owner="alice")
    (doc,) = workspace.documents(owner="alice")
    with pytest.raises(DocumentNotFound):
        workspace.reindex(doc.id, owner="bob")
    assert workspace.tasks() == []
