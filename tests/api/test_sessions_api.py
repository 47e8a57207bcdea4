"""Every endpoint of the sessions API, against a real server on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

ExpectError = Callable[..., dict[str, Any]]


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api/sessions", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def append(client: httpx.Client, session_id: str, role: str, content: str, **extra: Any) -> Any:
    response = client.post(
        f"/api/sessions/{session_id}/messages", json={"role": role, "content": content, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_health(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_front_page_is_the_web_app(client: httpx.Client) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert client.get("/docs").status_code == 200


def test_openapi_names_and_summarises_every_route(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    operations = [op for ops in spec["paths"].values() for op in ops.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) == 47
    assert {"health", "ready"} <= set(ids)
    assert {"create_session", "append_message", "export_session", "search_messages"} <= set(ids)
    assert {"upload_documents", "delete_document", "get_task", "search_documents"} <= set(ids)
    assert "reindex_document" in ids
    assert {"cancel_task", "chat", "chat_stream", "list_models", "list_modes"} <= set(ids)
    assert {"openai_list_models", "openai_chat_completions"} <= set(ids)
    assert {"get_passage", "download_document", "get_page_image", "get_page_highlights"} <= set(ids)
    assert all(op.get("summary") for op in operations)
    assert client.get("/docs").status_code == 200


def test_create_without_body_uses_defaults(client: httpx.Client) -> None:
    response = client.post("/api/sessions")
    assert response.status_code == 201
    session = response.json()
    assert session["title"] == ""
    assert session["owner"] is None
    assert session["message_count"] == 0
    assert session["settings"]["mode"] == "basic"
    assert session["messages"] is None


def test_create_with_title_and_settings(client: httpx.Client) -> None:
    session = create(
        client,
        title="Quarterly report",
        settings={"model": "smollm2", "mode": "extensive", "options": {"num_results": 5}},
    )
    assert session["title"] == "Quarterly report"
    assert session["settings"]["model"] == "smollm2"
    assert session["settings"]["mode"] == "extensive"
    assert session["settings"]["options"]["num_results"] == 5


def test_get_with_and_without_messages(client: httpx.Client) -> None:
    sid = create(client, title="t")["id"]
    append(client, sid, "user", "hello")
    append(client, sid, "assistant", "hi there")

    plain = client.get(f"/api/sessions/{sid}").json()
    assert plain["id"] == sid
    assert plain["message_count"] == 2
    assert plain["messages"] is None

    full = client.get(f"/api/sessions/{sid}", params={"include_messages": "true"}).json()
    assert [m["content"] for m in full["messages"]] == ["hello", "hi there"]


def test_list_pages_with_cursor(client: httpx.Client) -> None:
    created = [create(client, title=f"s{i}")["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/sessions", params=params).json()
        assert set(page) == {"items", "next_cursor"}
        seen += [s["id"] for s in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == created[::-1]  # most recently updated first


def test_list_with_offset(client: httpx.Client) -> None:
    created = [create(client)["id"] for _ in range(3)]
    page = client.get("/api/sessions", params={"offset": 1, "limit": 10}).json()
    assert [s["id"] for s in page["items"]] == created[::-1][1:]
    assert page["next_cursor"] is None


def test_list_refuses_a_forged_cursor(client: httpx.Client, expect_error: ExpectError) -> None:
    response = client.get("/api/sessions", params={"cursor": "not-a-cursor"})
    error = expect_error(response, 422, "invalid_input")
    assert error["field"] == "cursor"


def test_rename(client: httpx.Client) -> None:
    sid = create(client, title="old")["id"]
    response = client.patch(f"/api/sessions/{sid}", json={"title": "new"})
    assert response.status_code == 200
    assert response.json()["title"] == "new"
    assert client.get(f"/api/sessions/{sid}").json()["title"] == "new"


def test_delete(client: httpx.Client, expect_error: ExpectError) -> None:
    sid = create(client)["id"]
    append(client, sid, "user", "bye")
    response = client.delete(f"/api/sessions/{sid}")
    assert response.status_code == 204
    assert response.content == b""
    expect_error(client.get(f"/api/sessions/{sid}"), 404, "session_not_found")


def test_append_returns_the_stored_message(client: httpx.Client) -> None:
    sid = create(client)["id"]
    message = append(
        client,
        sid,
        "assistant",
        "The answer is 42. [1]",
        metadata={"model": "offline", "tokens": 7},
        references=[{"document": "guide.pdf", "page": 3}],
    )
    assert message["session_id"] == sid
    assert message["position"] == 0
    assert message["role"] == "assistant"
    assert message["metadata"] == {"model": "offline", "tokens": 7}
    assert message["references"] == [{"document": "guide.pdf", "page": 3}]
    listed = client.get(f"/api/sessions/{sid}/messages").json()["items"]
    assert listed == [message]


def test_messages_paging(client: httpx.Client) -> None:
    sid = create(client)["id"]
    for i in range(6):
        append(client, sid, "user" if i % 2 == 0 else "assistant", f"m{i}")

    def contents(**params: Any) -> list[str]:
        response = client.get(f"/api/sessions/{sid}/messages", params=params)
        assert response.status_code == 200, response.text
        return [m["content"] for m in response.json()["items"]]

    assert contents() == [f"m{i}" for i in range(6)]
    assert contents(limit=2) == ["m0", "m1"]
    assert contents(after=1, limit=2) == ["m2", "m3"]
    assert contents(before=4, limit=2) == ["m2", "m3"]
    assert contents(before=2) == ["m0", "m1"]


def test_update_settings_replaces_only_the_keys_sent(client: httpx.Client) -> None:
    sid = create(client, settings={"model": "smollm2"})["id"]
    response = client.put(f"/api/sessions/{sid}/settings", json={"mode": "deep_reflection"})
    assert response.status_code == 200, response.text
    settings = response.json()["settings"]
    assert settings["mode"] == "deep_reflection"
    assert settings["model"] == "smollm2"

    response = client.put(f"/api/sessions/{sid}/settings", json={"options": {"temperature": 0.2}})
    assert response.status_code == 200, response.text
    settings = client.get(f"/api/sessions/{sid}").json()["settings"]
    assert {k: v for k, v in settings["options"].items() if v is not None} == {"temperature": 0.2}
    assert settings["mode"] == "deep_reflection"


def test_settings_refuse_an_unknown_model_or_mode_naming_the_known_ones(
    client: httpx.Client, expect_error: ExpectError
) -> None:
    # Stored, a model no longer known made every later turn of the session a 422.
    sid = create(client, settings={"mode": "extensive"})["id"]
    url = f"/api/sessions/{sid}/settings"
    error = expect_error(client.put(url, json={"model": "no-such-model"}), 422)
    assert error["field"] == "model"
    assert "no-such-model" in error["message"]
    assert "extractive" in error["message"] and "smollm2" in error["message"]
    error = expect_error(client.put(url, json={"mode": "telepathy"}), 422)
    assert error["field"] == "mode"
    assert "'basic'" in error["message"] and "'deep_reflection'" in error["message"]
    # Nothing was written; the known names are taken.
    assert client.get(f"/api/sessions/{sid}").json()["settings"]["model"] is None
    for model in ("extractive", "smollm2", None):
        response = client.put(url, json={"model": model})
        assert response.status_code == 200, response.text
        assert response.json()["settings"]["model"] == model
        assert response.json()["settings"]["mode"] == "extensive"

    error = expect_error(client.post("/api/sessions", json={"settings": {"model": "nope"}}), 422)
    assert error["field"] == "settings.model"
    assert "smollm2" in error["message"]
    assert [s["id"] for s in client.get("/api/sessions").json()["items"]] == [sid]


def test_clear_keeps_the_session(client: httpx.Client) -> None:
    sid = create(client, title="keep me")["id"]
    for text in ("a", "b", "c"):
        append(client, sid, "user", text)
    response = client.post(f"/api/sessions/{sid}/clear")
    assert response.status_code == 200
    assert response.json() == {"deleted": 3}
    session = client.get(f"/api/sessions/{sid}").json()
    assert session["title"] == "keep me"
    assert session["message_count"] == 0
    assert client.get(f"/api/sessions/{sid}/messages").json()["items"] == []


EXPORT_ME = "attachment; filename=\"Export me.json\"; filename*=UTF-8''Export%20me.json"


def test_export_json(client: httpx.Client) -> None:
    sid = create(client, title="Export me")["id"]
    append(client, sid, "user", "question?")
    append(client, sid, "assistant", "answer.", references=[{"document": "a.pdf", "page": 2}])
    response = client.get(f"/api/sessions/{sid}/export", params={"format": "json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == EXPORT_ME
    document = json.loads(response.text)
    assert document["session_id"] == sid
    assert document["title"] == "Export me"
    assert [m["role"] for m in document["messages"]] == ["user", "assistant"]
    assert document["messages"][1]["references"] == [{"document": "a.pdf", "page": 2}]
    # json is the default format
    default = client.get(f"/api/sessions/{sid}/export")
    assert default.headers["content-disposition"] == EXPORT_ME


def test_export_markdown(client: httpx.Client) -> None:
    sid = create(client, title="Notes")["id"]
    append(client, sid, "user", "What is **bold**?")
    append(client, sid, "assistant", "Strong text.", references=[{"document": "style.md"}])
    response = client.get(f"/api/sessions/{sid}/export", params={"format": "markdown"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Notes.md\"; filename*=UTF-8''Notes.md"
    )
    assert response.text.startswith("# Notes\n")
    assert "What is **bold**?" in response.text
    assert "1. style.md" in response.text


def test_export_refuses_an_unknown_format(client: httpx.Client, expect_error: ExpectError) -> None:
    sid = create(client)["id"]
    response = client.get(f"/api/sessions/{sid}/export", params={"format": "odt"})
    error = expect_error(response, 422, "validation_error")
    assert error["field"] == "format"


def test_search(client: httpx.Client, expect_error: ExpectError) -> None:
    first = create(client, title="Cooking")["id"]
    second = create(client, title="Travel")["id"]
    append(client, first, "user", "How long do I boil an egg?")
    append(client, first, "assistant", "Boil the egg for seven minutes.")
    append(client, second, "user", "Trains from Paris to Lyon")

    response = client.get("/api/search/messages", params={"q": "egg"})
    assert response.status_code == 200
    hits = response.json()["items"]
    assert len(hits) == 2
    assert {h["message"]["session_id"] for h in hits} == {first}
    assert all(h["session_title"] == "Cooking" for h in hits)
    assert all("egg" in h["snippet"].lower() for h in hits)

    limited = client.get("/api/search/messages", params={"q": "egg", "limit": 1}).json()
    assert len(limited["items"]) == 1
    assert client.get("/api/search/messages", params={"q": "zebra"}).json() == {"items": []}

    expect_error(client.get("/api/search/messages"), 422, "validation_error")
    expect_error(client.get("/api/search/messages", params={"q": ""}), 422)


ROUTES = [
    ("GET", "/api/sessions/{id}", None),
    ("PATCH", "/api/sessions/{id}", {"title": "x"}),
    ("DELETE", "/api/sessions/{id}", None),
    ("GET", "/api/sessions/{id}/messages", None),
    ("POST", "/api/sessions/{id}/messages", {"role": "user", "content": "hi"}),
    ("PUT", "/api/sessions/{id}/settings", {"mode": "basic"}),
    ("POST", "/api/sessions/{id}/clear", None),
    ("GET", "/api/sessions/{id}/export", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_unknown_session_is_404(
    client: httpx.Client,
    expect_error: ExpectError,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    create(client)  # one that exists, so "not found" is not just "empty"
    for session_id in ("no-such-session", "not a valid id"):
        response = client.request(method, path.format(id=session_id), json=body)
        error = expect_error(response, 404, "session_not_found")
        assert "field" not in error
