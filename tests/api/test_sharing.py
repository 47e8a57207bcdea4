"""Collections shared read-only (issue 15): whom the owner names (or everyone) may search, cite
and open its documents; only the owner changes them; unsharing takes effect at once; the
owner's chats are never part of it."""

from __future__ import annotations

from typing import Any

import httpx
from corpora import Corpora

from docchat.config import AuthSettings, Settings

from .conftest import MakeApp, StartServer
from .test_documents_api import ingest

MARKER = "quillomatic"
TEXT = f"The {MARKER} press prints forty pages a minute on recycled paper."
PASSWORD = "correct horse battery staple"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _found(client: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.post("/api/search", json={"query": f"{MARKER} press"}, headers=headers)
    assert response.status_code == 200, response.text
    return [hit for hit in response.json()["hits"] if MARKER in hit["text"]]


def test_a_shared_collection_is_readable_not_writable(
    settings: Settings, make_app: MakeApp, start_server: StartServer, corpora: Corpora
) -> None:
    settings = settings.model_copy(update={"auth": AuthSettings(mode="accounts")})
    corpora.copy_into(settings, [])
    app = make_app(settings)
    client = start_server(settings, app)
    accounts = app.state.workspace.accounts
    tokens = {}
    for name in ("alice", "bob", "carol"):
        user = accounts.create_user(name, PASSWORD, admin=name == "alice")
        tokens[name] = accounts.create_token(user.id, "tests").token
    alice, bob, carol = (bearer(tokens[name]) for name in ("alice", "bob", "carol"))

    ingest(
        client, [("press.md", f"# Press\n\n{TEXT}\n".encode())], collection="manuals", headers=alice
    )
    (document,) = client.get("/api/documents", headers=alice).json()["items"]
    doc_id = document["id"]
    assert _found(client, alice)
    assert not _found(client, bob)
    assert client.get(f"/api/documents/{doc_id}", headers=bob).status_code == 404

    shared = client.put(
        "/api/collections/manuals/shares", json={"usernames": ["bob"]}, headers=alice
    )
    assert shared.status_code == 200, shared.text
    assert shared.json() == {"usernames": ["bob"], "everyone": False}

    # Bob reads: search, the document, a passage, the original file, his collection list.
    hits = _found(client, bob)
    assert hits and hits[0]["document_id"] == doc_id
    assert client.get(f"/api/documents/{doc_id}", headers=bob).status_code == 200
    passage = client.get(
        f"/api/documents/{doc_id}/passage",
        params={"start": hits[0]["char_start"], "end": hits[0]["char_end"]},
        headers=bob,
    )
    assert passage.status_code == 200 and MARKER in passage.json()["text"]
    assert client.get(f"/api/documents/{doc_id}/file", headers=bob).status_code == 200
    listed = client.get("/api/collections", headers=bob).json()["items"]
    assert [(c["name"], c["owned"]) for c in listed] == [("manuals", False)]
    mine = client.get("/api/collections", headers=alice).json()["items"]
    assert [(c["name"], c["owned"], c["shared"]) for c in mine] == [("manuals", True, True)]
    # Bob's chat cites it.
    session = client.post("/api/sessions", json={}, headers=bob).json()["id"]
    answer = client.post(
        f"/api/sessions/{session}/chat",
        json={"question": f"How many pages a minute does the {MARKER} press print?"},
        headers=bob,
    )
    assert answer.status_code == 200, answer.text
    assert any(ref.get("document_id") == doc_id for ref in answer.json()["references"])

    # ... but does not change it, nor see whom it is shared with.
    for method, path in (
        ("DELETE", f"/api/documents/{doc_id}"),
        ("POST", f"/api/documents/{doc_id}/reindex"),
    ):
        refused = client.request(method, path, headers=bob)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
    assert client.get("/api/collections/manuals/shares", headers=bob).status_code == 404
    # Alice's chats are not shared with her documents: Bob lists his one chat only.
    alice_chat = client.post("/api/sessions", json={"title": "Alice's"}, headers=alice)
    assert alice_chat.status_code == 201
    assert [s["id"] for s in client.get("/api/sessions", headers=bob).json()["items"]] == [session]

    # Carol sees nothing until it is shared with everyone; unsharing ends both at once.
    assert not _found(client, carol)
    everyone = client.put("/api/collections/manuals/shares", json={"everyone": True}, headers=alice)
    assert everyone.json() == {"usernames": [], "everyone": True}
    assert _found(client, carol) and _found(client, bob)
    client.put("/api/collections/manuals/shares", json={}, headers=alice)
    assert not _found(client, carol) and not _found(client, bob)
    assert client.get(f"/api/documents/{doc_id}", headers=bob).status_code == 404
    assert _found(client, alice)

    # Sharing names real users and one's own collections only.
    unknown = client.put(
        "/api/collections/manuals/shares", json={"usernames": ["nobody"]}, headers=alice
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "usernames"
    theirs = client.put("/api/collections/manuals/shares", json={"everyone": True}, headers=bob)
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "collection_not_found"


def test_documents_name_their_collection_by_id(
    settings: Settings, make_app: MakeApp, start_server: StartServer, corpora: Corpora
) -> None:
    """Bob's own 'manuals' and Alice's 'manuals' shared with him carry one name: each document
    names its collection's id, which the collection list marks owned or not (the web app
    hides delete and re-index by it)."""
    settings = settings.model_copy(update={"auth": AuthSettings(mode="accounts")})
    corpora.copy_into(settings, [])
    app = make_app(settings)
    client = start_server(settings, app)
    accounts = app.state.workspace.accounts
    alice, bob = (
        bearer(accounts.create_token(accounts.create_user(name, PASSWORD).id, "tests").token)
        for name in ("alice", "bob")
    )
    ingest(
        client, [("press.md", f"# Press\n\n{TEXT}\n".encode())], collection="manuals", headers=alice
    )
    ingest(client, [("own.md", b"# Own\n\nBob's own notes.\n")], collection="manuals", headers=bob)
    client.put("/api/collections/manuals/shares", json={"usernames": ["bob"]}, headers=alice)

    collections = client.get("/api/collections", headers=bob).json()["items"]
    owned = {c["id"]: c["owned"] for c in collections}
    assert [c["name"] for c in collections] == ["manuals", "manuals"] and len(owned) == 2
    documents = client.get("/api/documents", headers=bob).json()["items"]
    assert {(d["file_name"], owned[d["collection_id"]]) for d in documents} == {
        ("own.md", True),
        ("press.md", False),
    }
