"""Documents over HTTP: upload, background indexing, listing, search with provenance, deletion."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from corpora import Corpora
from fastapi import Header
from sqlalchemy import func, select, update

from docchat.api.deps import get_owner
from docchat.api.uploads import UPLOAD_DIR
from docchat.config import Settings
from docchat.db import Database
from docchat.documents.models import ChunkRow, ChunkVectorRow, ContentRow, DocumentRow
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.tasks.queue import JOBS_DIR
from docchat.workspace import Workspace
from tests.workspace_parts import parts

from .conftest import MakeApp, with_limits

ExpectError = Callable[..., dict[str, Any]]
StartServer = Callable[..., httpx.Client]
Upload = tuple[str, bytes]

NOTES_MD = b"""# Garden handbook

How we look after the shared garden.

## Watering

Water the tomatoes every morning before nine; the zucchini need twice as much in July.

## Pruning

Prune the apple trees in late winter, when the sap is down.
"""
BALCONY_TXT = b"Tomatoes on the balcony need water every evening in summer.\n"
BROKEN_PDF = bytes(range(256)) * 4  # random-looking bytes under a .pdf name

OWNER_HEADER = "X-Test-Owner"


def upload(
    client: httpx.Client,
    files: Sequence[Upload],
    *,
    collection: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST the files as one multipart request."""
    data = {"collection": collection} if collection is not None else None
    parts = [("files", (name, content)) for name, content in files]
    return client.post("/api/documents", files=parts, data=data, headers=headers)


def wait_for_task(
    client: httpx.Client, task_id: str, *, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Poll the task until it finishes; returns its final state."""
    deadline = time.monotonic() + 60
    while True:
        response = client.get(f"/api/tasks/{task_id}", headers=headers)
        assert response.status_code == 200, response.text
        task: dict[str, Any] = response.json()
        if task["finished_at"] is not None:
            return task
        assert time.monotonic() < deadline, f"task still {task['status']} after 60 s"
        time.sleep(0.05)


def ingest(
    client: httpx.Client,
    files: Sequence[Upload],
    *,
    collection: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Upload and wait for the task to succeed; returns the task."""
    response = upload(client, files, collection=collection, headers=headers)
    assert response.status_code == 202, response.text
    task = wait_for_task(client, response.json()["task_id"], headers=headers)
    assert task["status"] == "succeeded", task
    return task


def search(client: httpx.Client, query: str, **body: Any) -> list[dict[str, Any]]:
    """The hits of a document search that must succeed."""
    response = client.post("/api/search", json={"query": query, **body})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def leftovers(settings: Settings) -> list[Path]:
    """Files still under the uploads folder (in the per-process folders, or loose), or waiting for
    a queued job's worker (PostgreSQL: docchat.tasks.queue)."""
    folders = (settings.data_dir / UPLOAD_DIR, settings.data_dir / JOBS_DIR)
    return sorted(p for folder in folders for p in folder.rglob("*") if p.is_file())


def stored_text(settings: Settings, sha256: str) -> str:
    """The indexed text of a document's content, read from the database."""
    db = Database.from_settings(settings, migrate=False)
    try:
        with db.read() as s:
            return s.execute(
                select(ContentRow.text).where(ContentRow.sha256 == sha256)
            ).scalar_one()
    finally:
        db.dispose()


def multipart_body(parts: Sequence[tuple[str, str | None, bytes]]) -> tuple[bytes, dict[str, str]]:
    """A hand-made multipart body (file names sent exactly as given) and its headers."""
    boundary = "docchat-test-boundary-7f3a"
    out = bytearray()
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), {"content-type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture
def small_files(api_settings: Settings) -> Settings:
    """Settings accepting files of at most 2,000 bytes."""
    return with_limits(api_settings, documents={"max_file_bytes": 2_000})


def test_upload_index_search_and_delete(
    client: httpx.Client, api_settings: Settings, expect_error: ExpectError
) -> None:
    response = upload(
        client, [("notes.md", NOTES_MD), ("balcony.txt", BALCONY_TXT), ("scan.pdf", BROKEN_PDF)]
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status_url"] == f"/api/tasks/{accepted['task_id']}"
    assert response.headers["location"] == accepted["status_url"]

    task = wait_for_task(client, accepted["task_id"])
    assert task["status"] == "succeeded"
    assert task["kind"] == "ingest"
    assert (task["processed"], task["total"]) == (3, 3)
    assert len(task["errors"]) == 1
    assert task["errors"][0]["file"] == "scan.pdf"
    assert "scan.pdf" in task["errors"][0]["reason"]
    assert task["result"]["added"] == 2 and task["result"]["failed"] == 1
    assert task["result"]["embedded"] > 0
    assert leftovers(api_settings) == []

    documents = client.get("/api/documents").json()["items"]
    status = {d["file_name"]: d["status"] for d in documents}
    assert status == {"notes.md": "indexed", "balcony.txt": "indexed", "scan.pdf": "failed"}
    failed = next(d for d in documents if d["status"] == "failed")
    assert failed["error"] and "Traceback" not in failed["error"]
    notes = next(d for d in documents if d["file_name"] == "notes.md")
    assert client.get(f"/api/documents/{notes['id']}").json() == notes

    hits = search(client, "when do the zucchini need water")
    top = hits[0]
    assert top["file_name"] == "notes.md"
    assert top["document_id"] == notes["id"]
    assert top["collection"] == "default"
    assert top["section"] == "Garden handbook > Watering"
    assert "zucchini need twice as much in July" in top["text"]
    text = stored_text(api_settings, notes["sha256"])
    assert text[top["char_start"] : top["char_end"]] == top["text"]
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))

    # Both files mention watering tomatoes; a file-name pattern keeps one.
    both = {h["file_name"] for h in search(client, "water tomatoes")}
    assert both == {"notes.md", "balcony.txt"}
    only_txt = search(client, "water tomatoes", source_filters={"file_globs": ["*.txt"]})
    assert only_txt and {h["file_name"] for h in only_txt} == {"balcony.txt"}
    for mode in ("fulltext", "dense"):
        assert search(client, "zucchini", mode=mode, num_results=1)[0]["file_name"] == "notes.md"

    response = client.delete(f"/api/documents/{notes['id']}")
    assert response.status_code == 204 and response.content == b""
    expect_error(client.get(f"/api/documents/{notes['id']}"), 404, "document_not_found")
    expect_error(client.delete(f"/api/documents/{notes['id']}"), 404, "document_not_found")
    assert all(h["file_name"] != "notes.md" for h in search(client, "zucchini water tomatoes"))
    assert len(client.get("/api/documents").json()["items"]) == 2


def test_collections_and_listing(client: httpx.Client) -> None:
    ingest(client, [("balcony.txt", BALCONY_TXT)])
    ingest(client, [("notes.md", NOTES_MD)], collection="garden")
    collections = client.get("/api/collections").json()["items"]
    assert [(c["name"], c["documents"]) for c in collections] == [("default", 1), ("garden", 1)]

    garden = client.get("/api/documents", params={"collection": "garden"}).json()["items"]
    assert [d["file_name"] for d in garden] == ["notes.md"]
    assert garden[0]["collection"] == "garden"
    newest = client.get("/api/documents", params={"limit": 1}).json()["items"]
    assert [d["file_name"] for d in newest] == ["notes.md"]
    second = client.get("/api/documents", params={"limit": 1, "offset": 1}).json()["items"]
    assert [d["file_name"] for d in second] == ["balcony.txt"]

    hits = search(client, "water tomatoes", source_filters={"collections": ["garden"]})
    assert hits and {h["collection"] for h in hits} == {"garden"}

    # The same name in the same collection replaces the document.
    ingest(client, [("balcony.txt", b"Basil on the balcony wants sun.\n")])
    items = client.get("/api/documents", params={"collection": "default"}).json()["items"]
    assert len(items) == 1
    assert search(client, "basil sun", mode="fulltext")[0]["document_id"] == items[0]["id"]
    assert search(client, "evening", mode="fulltext") == []  # the old text is gone


def test_oversize_upload_is_refused_and_nothing_stays(
    small_files: Settings, start_server: StartServer, expect_error: ExpectError
) -> None:
    client = start_server(small_files)
    at_limit = b"a" * 2_000
    ingest(client, [("exact.txt", at_limit)])

    for files in (
        [("big.txt", b"b" * 2_001)],
        [("fine.txt", b"fine words\n"), ("big.txt", b"b" * 5_000)],  # the first file goes too
        [("huge.txt", b"h" * 1_000_000)],  # refused long before the body ends
    ):
        response = upload(client, files)
        error = expect_error(response, 413, "too_large")
        assert "'big.txt'" in error["message"] or "'huge.txt'" in error["message"]
        assert "2,000-byte limit" in error["message"]
        assert leftovers(small_files) == []
    names = [d["file_name"] for d in client.get("/api/documents").json()["items"]]
    assert names == ["exact.txt"]
    assert len(client.get("/api/tasks").json()["items"]) == 1
    # The connection and the server are fine afterwards.
    assert client.get("/healthz").json() == {"status": "ok"}


def test_file_names_are_only_display_names(
    client: httpx.Client, api_settings: Settings, tmp_path: Path
) -> None:
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    body, headers = multipart_body(
        [
            ("files", "../../etc/passwd.md", b"# Users\n\nroot is the superuser here.\n"),
            ("files", "..\\..\\boot.ini.txt", b"boot loader settings\n"),
            ("files", "/tmp/absolute.txt", b"an absolute name\n"),
            ("files", "日本語 notes.txt", b"non-ASCII names survive\n"),
            # What a browser sends for: say "hi".txt
            ("files", "say %22hi%22.txt", b"quoted names are unescaped\n"),
        ]
    )
    response = client.post("/api/documents", content=body, headers=headers)
    assert response.status_code == 202, response.text
    task = wait_for_task(client, response.json()["task_id"])
    assert task["status"] == "succeeded" and task["errors"] == []

    names = {d["file_name"] for d in client.get("/api/documents").json()["items"]}
    assert names == {
        "etc/passwd.md",
        "boot.ini.txt",
        "tmp/absolute.txt",
        "日本語 notes.txt",
        'say "hi".txt',
    }
    assert search(client, "superuser", mode="fulltext")[0]["file_name"] == "etc/passwd.md"
    created = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    outside = [p for p in created if not p.is_relative_to(api_settings.data_dir)]
    # SQLite may create its journal next to the database; nothing else appears outside data_dir.
    assert [p for p in outside if not p.name.startswith("docchat.db")] == []
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "etc").exists()
    assert leftovers(api_settings) == []


def test_folder_uploads_keep_their_relative_paths(
    client: httpx.Client, api_settings: Settings
) -> None:
    task = ingest(
        client,
        [("2023/report.txt", b"Revenue in 2023 was flat.\n"), ("2024/report.txt", BALCONY_TXT)],
    )
    assert (task["result"]["added"], task["result"]["updated"]) == (2, 0)
    assert len(set(task["result"]["documents"])) == 2
    documents = {d["file_name"]: d for d in client.get("/api/documents").json()["items"]}
    assert set(documents) == {"2023/report.txt", "2024/report.txt"}
    assert stored_text(api_settings, documents["2023/report.txt"]["sha256"]).startswith("Revenue")
    assert stored_text(api_settings, documents["2024/report.txt"]["sha256"]).startswith("Tomatoes")


def test_the_same_name_twice_in_one_upload_is_an_error(
    client: httpx.Client, api_settings: Settings
) -> None:
    task = ingest(
        client,
        [("dup.txt", BALCONY_TXT), ("other.txt", NOTES_MD), ("./dup.txt", b"A second dup.\n")],
    )
    assert (task["result"]["added"], task["result"]["updated"]) == (2, 0)
    assert task["result"]["failed"] == 1
    assert [e["file"] for e in task["errors"]] == ["dup.txt"]
    assert "twice" in task["errors"][0]["reason"]
    documents = {d["file_name"]: d for d in client.get("/api/documents").json()["items"]}
    assert set(documents) == {"dup.txt", "other.txt"}
    assert stored_text(api_settings, documents["dup.txt"]["sha256"]).startswith("Tomatoes")
    assert leftovers(api_settings) == []
    # Across requests the same name still replaces, as re-uploading should.
    ingest(client, [("dup.txt", b"A newer version.\n")])
    documents = {d["file_name"]: d for d in client.get("/api/documents").json()["items"]}
    assert stored_text(api_settings, documents["dup.txt"]["sha256"]) == "A newer version."


def test_same_bytes_under_two_names_are_both_indexed(client: httpx.Client) -> None:
    ingest(client, [("a.txt", BALCONY_TXT)])
    task = ingest(client, [("b.txt", BALCONY_TXT)])
    assert task["result"]["embedded"] == 0, "the content was embedded with a.txt"
    documents = client.get("/api/documents").json()["items"]
    assert {d["file_name"]: d["status"] for d in documents} == {
        "a.txt": "indexed",
        "b.txt": "indexed",
    }
    assert all(d["indexed_at"] is not None for d in documents)


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ([("collection", None, b"garden")], "files"),  # no file at all
        ([("files", None, b"not a file")], "files"),
        ([("files", "a.txt", b"text"), ("colour", None, b"red")], "colour"),
        ([("files", "a.txt", b"text"), ("collection", None, b"   ")], "collection"),
        ([("files", "a.txt", b"text"), ("collection", "c.txt", b"garden")], "collection"),
        (
            [("files", "a.txt", b"t"), ("collection", None, b"x"), ("collection", None, b"y")],
            "collection",
        ),
        ([("files", "a.txt", b"text"), ("collection", None, b"\xff\xfe")], "collection"),
    ],
)
def test_malformed_uploads(
    client: httpx.Client,
    api_settings: Settings,
    expect_error: ExpectError,
    parts: list[tuple[str, str | None, bytes]],
    field: str,
) -> None:
    body, headers = multipart_body(parts)
    error = expect_error(client.post("/api/documents", content=body, headers=headers), 422)
    assert error["field"] == field
    assert leftovers(api_settings) == []
    assert client.get("/api/tasks").json()["items"] == []


def test_upload_that_is_not_multipart_or_is_cut_short(
    client: httpx.Client, api_settings: Settings, expect_error: ExpectError
) -> None:
    response = client.post("/api/documents", json={"files": ["a.txt"]})
    assert expect_error(response, 422, "invalid_input")["field"] == "files"
    body, headers = multipart_body([("files", "a.txt", b"some text " * 100)])
    cut = client.post("/api/documents", content=body[:-40], headers=headers)
    assert "last part" in expect_error(cut, 422, "invalid_input")["message"]
    garbage = client.post("/api/documents", content=b"\x00" * 100, headers=headers)
    expect_error(garbage, 422, "invalid_input")
    assert leftovers(api_settings) == []
    assert client.get("/api/tasks").json()["items"] == []


def test_search_validation(client: httpx.Client, expect_error: ExpectError) -> None:
    malformed = client.post(
        "/api/search", content=b'{"query": "tomat', headers={"content-type": "application/json"}
    )
    expect_error(malformed, 422, "invalid_json")
    for body, field in [
        ({}, "query"),
        ({"query": ""}, "query"),
        ({"query": "x", "num_results": 0}, "num_results"),
        ({"query": "x", "mode": "psychic"}, "mode"),
        ({"query": "x", "source_filters": {"folders": ["a"]}}, "source_filters.folders"),
        ({"query": "x", "unknown": 1}, "unknown"),
        ({"query": ["x"]}, "query"),
    ]:
        error = expect_error(client.post("/api/search", json=body), 422, "validation_error")
        assert error["field"] == field, body
    blank = expect_error(client.post("/api/search", json={"query": "   "}), 422, "invalid_input")
    assert blank["field"] == "query"
    # The offline reranker is there by default: asking for it on an empty index finds nothing.
    rerank = client.post("/api/search", json={"query": "x", "enable_reranking": True})
    assert rerank.status_code == 200, rerank.text
    assert rerank.json()["hits"] == []
    assert search(client, "nothing indexed yet", mode="fulltext") == []


def test_unknown_ids_are_404(client: httpx.Client, expect_error: ExpectError) -> None:
    expect_error(client.get("/api/documents/no-such-id"), 404, "document_not_found")
    expect_error(client.delete("/api/documents/no-such-id"), 404, "document_not_found")
    expect_error(client.post("/api/documents/no-such-id/reindex"), 404, "document_not_found")
    expect_error(client.get("/api/tasks/no-such-id"), 404, "task_not_found")
    expect_error(
        client.get("/api/tasks/00000000-0000-0000-0000-000000000000"), 404, "task_not_found"
    )
    expect_error(client.get("/api/documents", params={"limit": 0}), 422, "validation_error")


def _owner_from_header(
    x_test_owner: Annotated[str | None, Header(alias=OWNER_HEADER)] = None,
) -> str | None:
    return x_test_owner


def test_tasks_and_documents_belong_to_their_owner(
    api_settings: Settings,
    make_app: MakeApp,
    start_server: StartServer,
    expect_error: ExpectError,
) -> None:
    # Test-only: identity arrives with accounts; until then the owner comes from a header here.
    app = make_app(api_settings)
    app.dependency_overrides[get_owner] = _owner_from_header
    client = start_server(api_settings, app)
    alice, bob = {OWNER_HEADER: "alice"}, {OWNER_HEADER: "bob"}

    response = upload(client, [("notes.md", NOTES_MD)], headers=alice)
    task_id = response.json()["task_id"]
    expect_error(client.get(f"/api/tasks/{task_id}", headers=bob), 404, "task_not_found")
    assert wait_for_task(client, task_id, headers=alice)["status"] == "succeeded"
    assert [t["id"] for t in client.get("/api/tasks", headers=alice).json()["items"]] == [task_id]
    assert client.get("/api/tasks", headers=bob).json()["items"] == []

    (document,) = client.get("/api/documents", headers=alice).json()["items"]
    assert client.get("/api/documents", headers=bob).json()["items"] == []
    assert client.get("/api/collections", headers=bob).json()["items"] == []
    expect_error(client.get(f"/api/documents/{document['id']}", headers=bob), 404)
    expect_error(client.delete(f"/api/documents/{document['id']}", headers=bob), 404)
    expect_error(client.post(f"/api/documents/{document['id']}/reindex", headers=bob), 404)
    as_bob = client.post("/api/search", json={"query": "zucchini"}, headers=bob)
    assert as_bob.json() == {"hits": []}
    as_alice = client.post("/api/search", json={"query": "zucchini"}, headers=alice)
    assert as_alice.json()["hits"][0]["document_id"] == document["id"]


def test_startup_embeds_chunks_left_without_vectors(
    api_settings: Settings, start_server: StartServer, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.md").write_bytes(NOTES_MD)
    workspace = Workspace(api_settings)
    try:
        workspace.ingest([folder], embed=False)  # as if the server died before embedding
        assert workspace.chunks_without_vectors() > 0
    finally:
        workspace.close()

    client = start_server(api_settings)
    (task,) = client.get("/api/tasks").json()["items"]
    assert task["kind"] == "embed"
    task = wait_for_task(client, task["id"])
    assert task["status"] == "succeeded" and task["result"]["embedded"] > 0
    (document,) = client.get("/api/documents").json()["items"]
    assert document["status"] == "indexed"
    assert search(client, "zucchini", mode="dense")[0]["file_name"] == "notes.md"


def test_startup_with_nothing_to_embed_starts_no_task(
    client: httpx.Client, api_settings: Settings
) -> None:
    assert client.get("/api/tasks").json() == {"items": []}
    assert not (api_settings.data_dir / UPLOAD_DIR).exists()


def test_startup_sweeps_stale_uploads(api_settings: Settings, start_server: StartServer) -> None:
    folder = api_settings.data_dir / UPLOAD_DIR
    folder.mkdir(parents=True)
    stale, fresh = folder / "upload-stale", folder / "upload-fresh"
    stale.write_bytes(b"left by a process that died")
    fresh.write_bytes(b"another worker is receiving this one")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (day_ago, day_ago))
    start_server(api_settings)
    assert leftovers(api_settings) == [fresh]


def test_startup_marks_documents_whose_vectors_exist(
    api_settings: Settings, start_server: StartServer, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_bytes(BALCONY_TXT)
    (folder / "b.txt").write_bytes(BALCONY_TXT)
    workspace = Workspace(api_settings, embedder=embedder)
    try:
        workspace.ingest([folder])
        # As an older version left them: vectors all there, documents still `indexing`.
        with parts(workspace).db.write() as s:
            s.execute(update(DocumentRow).values(status="indexing", indexed_at=None))
        assert workspace.chunks_without_vectors() == 0
    finally:
        workspace.close()

    client = start_server(api_settings)
    assert client.get("/api/tasks").json() == {"items": []}
    documents = client.get("/api/documents").json()["items"]
    assert {d["file_name"]: d["status"] for d in documents} == {
        "a.txt": "indexed",
        "b.txt": "indexed",
    }
    assert all(d["indexed_at"] is not None for d in documents)


#: One section of about 450 word-pieces: three chunks at the default size, many more at 32.
ORCHARD_MD = (
    "# Orchard\n\n"
    + " ".join(
        f"Row {n} of the orchard holds pear trees that are pruned in February and picked in "
        f"September by the volunteers of team {n % 4}."
        for n in range(1, 21)
    )
).encode()


def chunks_without_vectors(settings: Settings) -> int:
    """Chunks that have no vector, read from the database."""
    db = Database.from_settings(settings, migrate=False)
    try:
        with db.read() as s:
            return s.execute(
                select(func.count())
                .select_from(ChunkRow)
                .where(
                    ~select(ChunkVectorRow.chunk_id)
                    .where(ChunkVectorRow.chunk_id == ChunkRow.id)
                    .exists()
                )
            ).scalar_one()
    finally:
        db.dispose()


def test_reindex_after_a_change_of_chunk_size(
    api_settings: Settings,
    make_app: MakeApp,
    start_server: StartServer,
    expect_error: ExpectError,
    corpora: Corpora,
) -> None:
    corpora.copy_into(api_settings, [])
    first = make_app(api_settings)
    client = start_server(api_settings, first)
    ingest(client, [("orchard.md", ORCHARD_MD), ("scan.pdf", BROKEN_PDF)])
    docs = {d["file_name"]: d for d in client.get("/api/documents").json()["items"]}
    orchard, scan = docs["orchard.md"], docs["scan.pdf"]
    assert isinstance(orchard["chunk_count"], int) and orchard["chunk_count"] > 0
    assert scan["chunk_count"] is None
    # The broken file was never stored, so there is nothing to parse again.
    error = expect_error(client.post(f"/api/documents/{scan['id']}/reindex"), 409, "conflict")
    # Said with the name the user sees in the list, not the id they never do.
    assert error["message"] == (
        "'scan.pdf' cannot be re-indexed: its original file was not kept, because it failed "
        "before it was stored; upload the file again instead"
    )

    # The same data dir and database, served with a smaller chunk size.  A job runs with the
    # settings of the worker that takes it (the nodes of a cluster share theirs): the first
    # server stops taking jobs, so that on PostgreSQL its worker does not take this one.
    parts(first.state.workspace).runner.shutdown()
    smaller = start_server(
        with_limits(api_settings, documents={"chunk_tokens": 32, "chunk_overlap": 8})
    )
    response = smaller.post(f"/api/documents/{orchard['id']}/reindex")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status_url"] == f"/api/tasks/{accepted['task_id']}"
    assert response.headers["location"] == accepted["status_url"]
    task = wait_for_task(smaller, accepted["task_id"])
    assert (task["kind"], task["status"]) == ("reindex", "succeeded"), task
    assert task["result"]["documents"] == [orchard["id"]]

    after = smaller.get(f"/api/documents/{orchard['id']}").json()
    assert after["status"] == "indexed" and after["indexed_at"] is not None
    assert after["chunk_count"] == task["result"]["chunks"] > orchard["chunk_count"]
    assert chunks_without_vectors(api_settings) == 0
    for mode in ("hybrid", "dense", "fulltext"):
        hits = search(smaller, "when are the pear trees pruned", mode=mode, num_results=3)
        assert hits and hits[0]["document_id"] == orchard["id"], mode
