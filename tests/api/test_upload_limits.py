"""Limits on what uploads may bring in: per request, per document (passages), per data dir and
per owner; each refusal names the setting that set it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Header

from docchat.api.deps import get_owner
from docchat.config import Settings
from tests.workspace_parts import parts

from .conftest import MakeApp, with_limits
from .test_documents_api import BALCONY_TXT, NOTES_MD, ingest, leftovers, upload, wait_for_task

ExpectError = Callable[..., dict[str, Any]]
StartServer = Callable[..., httpx.Client]

OWNER_HEADER = "X-Test-Owner"
#: Many short paragraphs: 60 passages at 32 word-pieces each.
LONG_TXT = b"".join(
    b"Paragraph %d says the walnut harvest was counted in crates, twice, in October.\n\n" % i
    for i in range(120)
)


def _owner_from_header(x_test_owner: Annotated[str | None, Header()] = None) -> str | None:
    return x_test_owner


def _data_dir_bytes(data_dir: Path) -> int:
    return sum(
        (Path(root) / name).stat().st_size for root, _, names in os.walk(data_dir) for name in names
    )


def test_a_request_has_a_total_size_limit(
    api_settings: Settings, start_server: StartServer, expect_error: ExpectError
) -> None:
    settings = with_limits(
        api_settings, documents={"max_file_bytes": 2_000, "max_upload_bytes": 3_000}
    )
    client = start_server(settings)
    # Each file is under the per-file limit; together they pass the per-request one.
    error = expect_error(
        upload(client, [("a.txt", b"a" * 1_500), ("b.txt", b"b" * 1_600)]), 413, "too_large"
    )
    assert "3,000" in error["message"] and "documents.max_upload_bytes" in error["message"]
    assert leftovers(settings) == []
    assert client.get("/api/tasks").json()["items"] == []
    ingest(client, [("a.txt", b"a" * 1_500), ("b.txt", b"b" * 1_400)])


def test_a_document_has_a_passage_limit_on_upload_and_reindex(
    api_settings: Settings, make_app: MakeApp, start_server: StartServer
) -> None:
    small = {"chunk_tokens": 32, "chunk_overlap": 0}
    capped = with_limits(api_settings, documents={**small, "max_chunks_per_document": 10})
    first = make_app(capped)
    client = start_server(capped, first)
    task = ingest(client, [("walnuts.txt", LONG_TXT), ("balcony.txt", BALCONY_TXT)])
    assert (task["result"]["added"], task["result"]["failed"]) == (1, 1)
    (error,) = task["errors"]
    assert error["file"] == "walnuts.txt"
    assert "10" in error["reason"] and "documents.max_chunks_per_document" in error["reason"]
    documents = {d["file_name"]: d for d in client.get("/api/documents").json()["items"]}
    assert documents["walnuts.txt"]["status"] == "failed"
    assert documents["walnuts.txt"]["chunk_count"] is None

    # Indexed under a larger cap, then re-indexed under a smaller one: refused, chunks kept.  A
    # job runs with the settings of the worker that takes it (the nodes of a cluster share
    # theirs): on PostgreSQL each server here stops taking jobs before one with others starts.
    parts(first.state.workspace).runner.shutdown()
    second = make_app(with_limits(api_settings, documents=small))
    roomy = start_server(api_settings, second)
    ingest(roomy, [("walnuts.txt", LONG_TXT)])
    parts(second.state.workspace).runner.shutdown()
    client = start_server(capped)
    walnuts = {d["file_name"]: d for d in roomy.get("/api/documents").json()["items"]}[
        "walnuts.txt"
    ]
    assert walnuts["status"] == "indexed" and walnuts["chunk_count"] > 10
    response = client.post(f"/api/documents/{walnuts['id']}/reindex")
    assert response.status_code == 202, response.text
    task = wait_for_task(client, response.json()["task_id"])
    assert task["status"] == "failed"
    (error,) = task["errors"]
    assert error["code"] == "too_large"
    assert "documents.max_chunks_per_document" in error["message"]
    after = roomy.get(f"/api/documents/{walnuts['id']}").json()
    assert (after["status"], after["chunk_count"]) == ("indexed", walnuts["chunk_count"])


def test_the_data_dir_has_a_size_limit(
    api_settings: Settings, start_server: StartServer, expect_error: ExpectError
) -> None:
    # Started once so that the database exists; then served again with a cap just above it.
    ingest(start_server(api_settings), [("notes.md", NOTES_MD)])
    used = _data_dir_bytes(api_settings.data_dir)
    capped = with_limits(api_settings, documents={"max_data_dir_bytes": used + 200_000})
    client = start_server(capped)
    error = expect_error(upload(client, [("big.txt", b"w " * 150_000)]), 413, "quota_exceeded")
    assert "documents.max_data_dir_bytes" in error["message"]
    assert leftovers(capped) == []
    ingest(client, [("small.txt", BALCONY_TXT)])

    # A data dir already at its limit refuses any upload before reading its body.
    used = _data_dir_bytes(api_settings.data_dir)
    full = with_limits(api_settings, documents={"max_data_dir_bytes": used})
    client = start_server(full)
    error = expect_error(upload(client, [("tiny.txt", b"tiny\n")]), 413, "quota_exceeded")
    assert f"{used:,} bytes" in error["message"]
    assert "documents.max_data_dir_bytes" in error["message"]


def test_owners_have_document_and_byte_quotas(
    api_settings: Settings,
    make_app: MakeApp,
    start_server: StartServer,
    expect_error: ExpectError,
) -> None:
    settings = with_limits(
        api_settings, documents={"max_documents_per_owner": 2, "max_bytes_per_owner": 5_000}
    )
    app = make_app(settings)
    app.dependency_overrides[get_owner] = _owner_from_header
    client = start_server(settings, app)
    alice, bob = {OWNER_HEADER: "alice"}, {OWNER_HEADER: "bob"}

    ingest(client, [("a.txt", BALCONY_TXT), ("b.txt", NOTES_MD)], headers=alice)
    error = expect_error(upload(client, [("c.txt", b"c\n")], headers=alice), 413, "quota_exceeded")
    assert "2 documents" in error["message"]
    assert "documents.max_documents_per_owner" in error["message"]
    # Another owner's quota is their own.
    ingest(client, [("c.txt", b"c\n")], headers=bob)
    error = expect_error(upload(client, [("big.txt", b"b" * 5_001)], headers=bob), 413)
    assert error["code"] == "quota_exceeded"
    assert "5,000" in error["message"] and "documents.max_bytes_per_owner" in error["message"]
    assert leftovers(settings) == []
    names = {d["file_name"] for d in client.get("/api/documents", headers=bob).json()["items"]}
    assert names == {"c.txt"}
