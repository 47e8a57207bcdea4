"""Names of uploads and collections over HTTP: one rule, and replacement said out loud."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from documents.conftest import pdf_bytes

from docchat.config import Settings

from .test_documents_api import (
    BALCONY_TXT,
    NOTES_MD,
    leftovers,
    multipart_body,
    stored_text,
    upload,
    wait_for_task,
)

ExpectError = Callable[..., dict[str, Any]]


def _documents(client: httpx.Client) -> dict[str, dict[str, Any]]:
    return {d["file_name"]: d for d in client.get("/api/documents").json()["items"]}


def test_a_name_with_invisible_characters_is_refused_not_merged(
    client: httpx.Client, api_settings: Settings, expect_error: ExpectError
) -> None:
    first = upload(client, [("policy.md", NOTES_MD)])
    assert first.status_code == 202 and first.json()["replaced"] == []
    assert wait_for_task(client, first.json()["task_id"])["status"] == "succeeded"
    before = _documents(client)

    # U+200B used to be stripped, so this silently replaced policy.md.
    body, headers = multipart_body([("files", "pol\u200bicy.md", BALCONY_TXT)])
    error = expect_error(
        client.post("/api/documents", content=body, headers=headers), 422, "invalid_input"
    )
    assert "U+200B ZERO WIDTH SPACE" in error["message"] and error["field"] == "files"
    assert "\u200b" not in error["message"]
    assert _documents(client) == before
    assert stored_text(api_settings, before["policy.md"]["sha256"]).startswith("Garden")
    assert leftovers(api_settings) == []
    assert len(client.get("/api/tasks").json()["items"]) == 1


def test_collection_names_follow_the_same_rule(
    client: httpx.Client, expect_error: ExpectError
) -> None:
    for name, named in (
        ("garden\u202eneduag", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("garden\x85", "U+0085"),
        ("gar\u200bden", "U+200B ZERO WIDTH SPACE"),
    ):
        error = expect_error(upload(client, [("a.txt", BALCONY_TXT)], collection=name), 422)
        assert named in error["message"] and error["field"] == "collection"
    assert client.get("/api/collections").json()["items"] == []
    assert client.get("/api/tasks").json()["items"] == []
    # NFC: the decomposed and the composed spelling are one collection.
    for spelling in ("Cafe\u0301", "Caf\u00e9"):
        response = upload(client, [(f"{len(spelling)}.txt", BALCONY_TXT)], collection=spelling)
        assert response.status_code == 202, response.text
        wait_for_task(client, response.json()["task_id"])
    collections = client.get("/api/collections").json()["items"]
    assert [(c["name"], c["documents"]) for c in collections] == [("Caf\u00e9", 2)]


def test_replacing_a_document_is_said_in_the_response_and_the_task(
    client: httpx.Client, api_settings: Settings
) -> None:
    response = upload(client, [("dup.txt", BALCONY_TXT), ("notes.md", NOTES_MD)])
    assert response.json()["replaced"] == []
    wait_for_task(client, response.json()["task_id"])
    old = _documents(client)["dup.txt"]

    # The decomposed spelling of a name is the same name once NFC; a no-break space is a space.
    body, headers = multipart_body(
        [
            ("files", "dup.txt", b"A newer version.\n"),
            ("files", "new.txt", b"Something else.\n"),
            ("files", "scan.pdf", pdf_bytes([["A scanned page."]])),
        ]
    )
    response = client.post("/api/documents", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["replaced"] == [{"document_id": old["id"], "file_name": "dup.txt"}]
    task = wait_for_task(client, response.json()["task_id"])
    assert task["result"]["replaced"] == [old["id"]]
    assert (task["result"]["added"], task["result"]["updated"]) == (2, 1)
    after = _documents(client)
    assert after["dup.txt"]["id"] == old["id"]
    assert stored_text(api_settings, after["dup.txt"]["sha256"]) == "A newer version."

    # Unicode spellings of one name: the same document, and the response says so.
    response = upload(client, [("Re\u0301sume\u0301\u00a0final.txt", b"v1\n")])
    wait_for_task(client, response.json()["task_id"])
    resume = _documents(client)["R\u00e9sum\u00e9 final.txt"]
    response = upload(client, [("R\u00e9sum\u00e9 final.txt", b"v2\n")])
    assert response.json()["replaced"] == [
        {"document_id": resume["id"], "file_name": "R\u00e9sum\u00e9 final.txt"}
    ]
    wait_for_task(client, response.json()["task_id"])
    again = _documents(client)["R\u00e9sum\u00e9 final.txt"]
    assert again["id"] == resume["id"] and stored_text(api_settings, again["sha256"]) == "v2"
