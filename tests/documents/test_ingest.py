"""Ingestion into the registry and index: provenance, incremental re-runs, bad input, dedup."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from docchat.documents.ingest import MAX_NAME_CHARS, UPLOAD_PREFIX, display_name
from docchat.documents.models import ChunkRow, ChunkVectorRow, ContentRow, DocumentRow
from docchat.errors import InvalidInput
from docchat.workspace import Workspace
from tests.workspace_parts import parts

from .conftest import MakePdf


def _counts(ws: Workspace) -> dict[str, int]:
    with parts(ws).db.read() as s:
        return {
            "documents": s.execute(select(func.count()).select_from(DocumentRow)).scalar_one(),
            "contents": s.execute(select(func.count()).select_from(ContentRow)).scalar_one(),
            "chunks": s.execute(select(func.count()).select_from(ChunkRow)).scalar_one(),
            "vectors": s.execute(select(func.count()).select_from(ChunkVectorRow)).scalar_one(),
            "expected_chunks": s.execute(
                select(func.coalesce(func.sum(ContentRow.chunk_count), 0))
            ).scalar_one(),
        }


@pytest.fixture
def folder(tmp_path: Path, make_pdf: MakePdf, docx_file: Path, html_file: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    pdf = make_pdf(
        "report.pdf",
        [
            ["Quarterly report", "Revenue overview for the first quarter."],
            ["Costs rose because of the new warehouse in Leipzig."],
            ["The board approved a dividend of 1.20 euro per share."],
        ],
    )
    shutil.move(pdf, root / "report.pdf")
    shutil.copy(docx_file, root / "sub" / "handbook.docx")
    shutil.copy(html_file, root / "page.html")
    (root / "notes.md").write_text("# Notes\n\nThe kettle in room 4 is broken.\n")
    (root / ".hidden.md").write_text("# Hidden\n\nnot ingested\n")
    (root / "ignored.bin").write_bytes(b"\x00\x01 not a supported suffix")
    return root


def test_folder_ingest_keeps_page_provenance(workspace: Workspace, folder: Path) -> None:
    result = workspace.ingest([folder])
    assert result.failures == []
    assert (result.added, result.files_total) == (4, 4)
    names = {d.file_name: d for d in workspace.documents()}
    assert set(names) == {"report.pdf", "handbook.docx", "page.html", "notes.md"}
    assert all(d.status == "indexed" for d in names.values())
    assert names["report.pdf"].page_count == 3
    hits = workspace.search("dividend per share", k=3, mode="fulltext")
    assert hits[0].file_name == "report.pdf"
    assert hits[0].page == 3
    hits = workspace.search("warehouse Leipzig", k=3)
    assert (hits[0].file_name, hits[0].page) == ("report.pdf", 2)
    counts = _counts(workspace)
    assert counts["chunks"] == counts["expected_chunks"] == counts["vectors"]


def test_three_reruns_with_change_and_delete_leave_no_duplicates(
    workspace: Workspace, folder: Path
) -> None:
    workspace.ingest([folder])
    first = _counts(workspace)
    ids = {d.file_name: d.id for d in workspace.documents()}

    again = workspace.ingest([folder])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert _counts(workspace) == first

    (folder / "notes.md").write_text("# Notes\n\nThe kettle was repaired on Monday.\n")
    (folder / "page.html").unlink()
    third = workspace.ingest([folder], prune=True)
    assert (third.added, third.updated, third.unchanged, third.removed) == (0, 1, 2, 1)
    counts = _counts(workspace)
    assert counts["documents"] == 3
    assert counts["chunks"] == counts["expected_chunks"] == counts["vectors"]
    # Updated in place: same document id, new text searchable, old text gone.
    assert {d.file_name: d.id for d in workspace.documents()}["notes.md"] == ids["notes.md"]
    assert workspace.search("kettle repaired", k=1, mode="fulltext")[0].file_name == "notes.md"
    assert workspace.search("broken kettle room", mode="fulltext", manual_keywords=["broken"]) == []

    fourth = workspace.ingest([folder], prune=True)
    assert (fourth.added, fourth.updated, fourth.removed) == (0, 0, 0)
    assert _counts(workspace) == counts


def test_identical_content_is_stored_and_embedded_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    a = tmp_path / "a" / "contract.md"
    b = tmp_path / "b" / "contract-copy.md"
    for p in (a, b):
        p.parent.mkdir()
        p.write_text("# Contract\n\nThe notice period is three months.\n")
    workspace.ingest([a, b])
    counts = _counts(workspace)
    assert (counts["documents"], counts["contents"]) == (2, 1)
    assert counts["vectors"] == counts["chunks"]
    files = list((workspace.settings.data_dir / "files").rglob("*"))
    assert len([f for f in files if f.is_file()]) == 1
    first, second = workspace.documents()
    workspace.delete_document(first.id, owner=None)
    assert _counts(workspace)["contents"] == 1, "still used by the other document"
    workspace.delete_document(second.id, owner=None)
    counts = _counts(workspace)
    assert (counts["contents"], counts["chunks"], counts["vectors"]) == (0, 0, 0)
    assert not [f for f in (workspace.settings.data_dir / "files").rglob("*") if f.is_file()]


def test_bad_files_fail_alone_and_leave_nothing(
    workspace: Workspace,
    tmp_path: Path,
    zip_bomb: Callable[[str, str, int], Path],
    make_pdf: MakePdf,
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "good.md").write_text("# Good\n\nThis file is fine.\n")
    (bad / "random.pdf").write_bytes(bytes(range(256)) * 40)
    (bad / "empty.txt").write_bytes(b"")
    (bad / "truncated.pdf").write_bytes(
        make_pdf("t.pdf", [["A page that will be cut off"]]).read_bytes()[:200]
    )
    shutil.copy(zip_bomb("bomb.docx", "word/document.xml", 600), bad / "bomb.docx")
    shutil.copy(zip_bomb("bomb.xlsx", "xl/workbook.xml", 600), bad / "bomb.xlsx")
    (bad / "image-only.pdf").write_bytes(make_pdf("i.pdf", [None]).read_bytes())
    unsupported = tmp_path / "tool.exe"
    unsupported.write_bytes(b"MZ\x90\x00" + bytes(100))
    result = workspace.ingest([bad, unsupported, tmp_path / "missing.md"])
    reasons = {f.name: f.reason for f in result.failures}
    assert result.added == 1
    assert set(reasons) == {
        "random.pdf",
        "empty.txt",
        "truncated.pdf",
        "bomb.docx",
        "bomb.xlsx",
        "image-only.pdf",
        "tool.exe",
        str(tmp_path / "missing.md"),
    }
    assert all(reason and "Traceback" not in reason for reason in reasons.values())
    assert "no text layer" in reasons["image-only.pdf"]
    docs = {d.file_name: d for d in workspace.documents()}
    assert docs["good.md"].status == "indexed"
    assert {d.status for n, d in docs.items() if n != "good.md"} == {"failed"}
    assert all(d.error for n, d in docs.items() if n != "good.md")
    counts = _counts(workspace)
    assert counts["contents"] == 1, "failed files leave no content or chunks behind"
    assert counts["chunks"] == counts["expected_chunks"]


def test_oversize_file_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    limits = workspace.settings.documents.model_copy(update={"max_file_bytes": 100})
    parts(workspace).ingestor.limits = limits
    big = tmp_path / "big.txt"
    big.write_text("word " * 100)
    result = workspace.ingest([big])
    assert [f.name for f in result.failures] == ["big.txt"]
    assert "limit" in result.failures[0].reason
    assert _counts(workspace)["chunks"] == 0


def test_changed_file_that_turns_corrupt_drops_old_chunks(
    workspace: Workspace, tmp_path: Path
) -> None:
    doc = tmp_path / "memo.pdf"
    doc.write_bytes(b"%PDF-1.4 not really")
    ok = tmp_path / "memo.md"
    ok.write_text("# Memo\n\nLunch is at noon.\n")
    workspace.ingest([ok])
    assert _counts(workspace)["chunks"] > 0
    ok.write_bytes(b"\x00\x00\x00binary now")
    result = workspace.ingest([ok])
    assert [f.name for f in result.failures] == ["memo.md"]
    counts = _counts(workspace)
    assert (counts["documents"], counts["contents"], counts["chunks"]) == (1, 0, 0)


def test_upload_names_are_sanitised(workspace: Workspace, tmp_path: Path) -> None:
    upload = tmp_path / "incoming.tmp"
    upload.write_text("# Upload\n\nUploaded text about penguins.\n")
    result = parts(workspace).ingestor.ingest_upload(upload, file_name="../../etc/passwd.md")
    assert result.failures == []
    (doc,) = workspace.documents()
    assert doc.file_name == "etc/passwd.md"
    assert doc.source == "upload:etc/passwd.md"
    stored = [p for p in (workspace.settings.data_dir / "files").rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert stored[0].resolve().is_relative_to(workspace.settings.data_dir.resolve())
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "etc").exists()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "etc/passwd"),
        ("C:\\x\\y.txt", "x/y.txt"),
        ("C:\\Users\\me\\report.pdf", "Users/me/report.pdf"),
        ("/abs/p.txt", "abs/p.txt"),
        ("\\\\server\\share\\q.txt", "server/share/q.txt"),
        ("folder/./sub//../file.txt", "folder/sub/file.txt"),
        ("report.txt", "report.txt"),
        ("2023/report.txt", "2023/report.txt"),
        (" spaced / name.txt ", "spaced/name.txt"),
        ("..", "upload"),
        ("../..//./", "upload"),
        ("", "upload"),
        ("Annual\u00a0Report.pdf", "Annual Report.pdf"),
        ("Cafe\u0301/re\u0301sume\u0301.txt", "Caf\u00e9/r\u00e9sum\u00e9.txt"),
    ],
)
def test_display_name(raw: str, expected: str) -> None:
    name = display_name(raw)
    assert name == expected
    assert display_name(name) == name, "sanitising twice changes nothing"


@pytest.mark.parametrize("raw", ["a\x00b\nc.txt", ".\x00./secret.txt", "pol\u200bicy.md"])
def test_display_name_refuses_what_cannot_be_seen(raw: str) -> None:
    # Stripped, these became another name: "pol\u200bicy.md" silently replaced "policy.md".
    with pytest.raises(InvalidInput, match="invisible or control characters"):
        display_name(raw)


def test_long_display_names_are_cut_without_merging() -> None:
    prefix = "folder/" + "x" * 600
    first, second = display_name(prefix + "-2023.pdf"), display_name(prefix + "-2024.pdf")
    assert first != second
    for name in (first, second):
        assert len(name) == MAX_NAME_CHARS
        assert name.startswith("folder/xxx") and name.endswith(".pdf")
        assert display_name(name) == name
    assert display_name(prefix + "-2023.pdf") == first, "the same long name, the same cut"
    assert display_name("y" * MAX_NAME_CHARS) == "y" * MAX_NAME_CHARS
    # The cut name fits the registry's columns, with the source's prefix.
    columns = DocumentRow.__table__.c
    assert columns.file_name.type.length >= MAX_NAME_CHARS
    assert len(UPLOAD_PREFIX) + MAX_NAME_CHARS <= columns.source.type.length


def _upload(workspace: Workspace, tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / "incoming.tmp"
    path.write_text(text)
    result = parts(workspace).ingestor.ingest_upload(path, file_name=name)
    assert result.failures == [] and result.added == 1, result


def test_uploads_in_folders_keep_their_path(workspace: Workspace, tmp_path: Path) -> None:
    _upload(workspace, tmp_path, "2023/report.txt", "Revenue in 2023 was flat.\n")
    _upload(workspace, tmp_path, "2024/report.txt", "Revenue in 2024 doubled.\n")
    docs = {d.file_name: d for d in workspace.documents()}
    assert set(docs) == {"2023/report.txt", "2024/report.txt"}
    assert (
        parts(workspace)
        .registry.text(docs["2023/report.txt"].id, owner=None)
        .startswith("Revenue in 2023")
    )
    assert (
        parts(workspace)
        .registry.text(docs["2024/report.txt"].id, owner=None)
        .startswith("Revenue in 2024")
    )


def test_long_upload_names_sharing_a_prefix_stay_two_documents(
    workspace: Workspace, tmp_path: Path
) -> None:
    prefix = "p" * (MAX_NAME_CHARS + 100)
    _upload(workspace, tmp_path, prefix + "-first.txt", "The first of two long names.\n")
    _upload(workspace, tmp_path, prefix + "-second.txt", "The second of two long names.\n")
    docs = workspace.documents()
    assert len(docs) == 2 and len({d.file_name for d in docs}) == 2
    assert all(len(d.file_name) == MAX_NAME_CHARS for d in docs)
    # Re-uploading the same long name replaces its document, as a short name does.
    again = tmp_path / "again.tmp"
    again.write_text("The first, revised.\n")
    result = parts(workspace).ingestor.ingest_upload(again, file_name=prefix + "-first.txt")
    assert (result.added, result.updated) == (0, 1)
    assert len(workspace.documents()) == 2


def _statuses(ws: Workspace) -> dict[str, tuple[str, bool]]:
    """Each document's status and whether it has an ``indexed_at``."""
    return {d.file_name: (d.status, d.indexed_at is not None) for d in ws.documents()}


INDEXED = ("indexed", True)
INDEXING = ("indexing", False)


def test_known_content_under_a_new_name_is_indexed_at_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    for p in (a, b):
        p.write_text("The lighthouse keeper logs the weather at dawn.\n")
    workspace.ingest([a])
    workspace.ingest([b])
    assert _statuses(workspace) == {"a.txt": INDEXED, "b.txt": INDEXED}
    # Without an embedding run too: the content's vectors exist already.
    _upload(workspace, tmp_path, "c.txt", a.read_text())
    assert _statuses(workspace)["c.txt"] == INDEXED


def test_documents_without_vectors_stay_indexing(workspace: Workspace, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    for p in (a, b):
        p.write_text("Full text only, until an ingest embeds it.\n")
    workspace.ingest([a], embed=False)
    workspace.ingest([b], embed=False)
    assert _statuses(workspace) == {"a.txt": INDEXING, "b.txt": INDEXING}
    workspace.embed_pending()
    assert _statuses(workspace) == {"a.txt": INDEXED, "b.txt": INDEXED}


def test_embedding_run_marks_documents_an_older_run_left_indexing(
    workspace: Workspace, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    for p in (a, b):
        p.write_text("Stuck documents are found again.\n")
    workspace.ingest([a, b])
    with parts(workspace).db.write() as s:
        s.execute(update(DocumentRow).values(status="indexing", indexed_at=None))
    assert workspace.embed_pending() == 0
    assert _statuses(workspace) == {"a.txt": INDEXED, "b.txt": INDEXED}
