"""Regressions from probing the running server as an attacker and a clumsy user would.

Each test names the finding of the hardening issue it guards.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from docchat.api.app import create_app
from docchat.config import Settings
from docchat.sessions.types import MAX_KEYWORDS

ExpectError = Callable[..., dict[str, Any]]
StartServer = Callable[..., httpx.Client]

SURROGATE = "a\\ud800b"  # as it appears inside a JSON document: a lone high surrogate
JSON = {"content-type": "application/json"}
INT64_MAX = 2**63 - 1


@pytest.fixture
def sid(client: httpx.Client) -> str:
    session_id: str = client.post("/api/sessions", json={"title": "t"}).json()["id"]
    return session_id


def _raw(client: httpx.Client, method: str, url: str, body: str) -> httpx.Response:
    return client.request(method, url, content=body.encode(), headers=JSON)


# -- 1. lone surrogates: 422 in every field, nothing stored ---------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/messages", f'{{"role":"user","content":"{SURROGATE}"}}', "content"),
        (
            "POST",
            "/messages",
            f'{{"role":"user","content":"x","metadata":{{"k":"{SURROGATE}"}}}}',
            "metadata.k",
        ),
        (
            "POST",
            "/messages",
            f'{{"role":"user","content":"x","metadata":{{"{SURROGATE}":1}}}}',
            "metadata.<key>",
        ),
        (
            "POST",
            "/messages",
            f'{{"role":"user","content":"x","references":[{{"doc":"{SURROGATE}"}}]}}',
            "references[0].doc",
        ),
        ("PATCH", "", f'{{"title":"{SURROGATE}"}}', "title"),
        ("PUT", "/settings", f'{{"model":"{SURROGATE}"}}', "model"),
        (
            "PUT",
            "/settings",
            f'{{"options":{{"custom_instructions":"{SURROGATE}"}}}}',
            "options.custom_instructions",
        ),
        (
            "PUT",
            "/settings",
            f'{{"options":{{"source_filters":{{"collections":["{SURROGATE}"]}}}}}}',
            "options.source_filters.collections[0]",
        ),
    ],
)
def test_lone_surrogates_are_refused_in_session_fields(
    client: httpx.Client,
    expect_error: ExpectError,
    sid: str,
    method: str,
    path: str,
    body: str,
    field: str,
) -> None:
    before = client.get(f"/api/sessions/{sid}").json()
    response = _raw(client, method, f"/api/sessions/{sid}{path}", body)
    error = expect_error(response, 422, "invalid_input")
    assert error["field"] == field
    assert "surrogate" in error["message"]
    after = client.get(f"/api/sessions/{sid}").json()
    assert after == before  # nothing stored, nothing changed


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/sessions", f'{{"title":"{SURROGATE}"}}'),
        ("/api/search", f'{{"query":"{SURROGATE}"}}'),
        ("/api/search", f'{{"query":"q","source_filters":{{"collections":["{SURROGATE}"]}}}}'),
        ("/api/search", f'{{"query":"q","manual_keywords":["{SURROGATE}"]}}'),
    ],
)
def test_lone_surrogates_are_refused_on_create_and_search(
    client: httpx.Client, expect_error: ExpectError, path: str, body: str
) -> None:
    expect_error(_raw(client, "POST", path, body), 422, "invalid_input")
    assert client.get("/api/sessions").json()["items"] == []


def test_a_bad_append_never_fails_other_clients(client: httpx.Client, sid: str) -> None:
    # Six clients append valid messages while a seventh keeps sending one that cannot be stored.
    base = str(client.base_url)
    statuses: list[int] = []
    bad_statuses: list[int] = []
    lock = threading.Lock()

    def good(n: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as own:
            for i in range(15):
                r = own.post(
                    f"/api/sessions/{sid}/messages", json={"role": "user", "content": f"{n}-{i}"}
                )
                with lock:
                    statuses.append(r.status_code)

    def bad() -> None:
        with httpx.Client(base_url=base, timeout=30) as own:
            for _ in range(15):
                r = _raw(
                    own,
                    "POST",
                    f"/api/sessions/{sid}/messages",
                    f'{{"role":"user","content":"{SURROGATE}"}}',
                )
                with lock:
                    bad_statuses.append(r.status_code)

    threads = [threading.Thread(target=good, args=(n,)) for n in range(6)]
    threads.append(threading.Thread(target=bad))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert statuses == [201] * 90
    assert bad_statuses == [422] * 15
    messages = client.get(f"/api/sessions/{sid}/messages").json()["items"]
    assert len(messages) == 90
    assert [m["position"] for m in messages] == list(range(90))


def _http(sock: socket.socket, request: bytes) -> bytes:
    """Send one request on ``sock`` and read one whole response (Content-Length framed)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed mid-body")
        body += chunk
    return head + b"\r\n\r\n" + body


def test_an_unexpected_error_keeps_the_connection_open(
    api_settings: Settings, start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(api_settings)

    def explode() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", explode, operation_id="boom", summary="Fail")
    client = start_server(api_settings, app)
    host, port = client.base_url.host, client.base_url.port
    assert port is not None
    with (
        caplog.at_level(logging.CRITICAL, logger="docchat.api"),
        socket.create_connection((host, port), timeout=10) as sock,
    ):
        first = _http(sock, f"GET /boom HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert first.startswith(b"HTTP/1.1 500")
        assert b"connection: close" not in first.lower()
        second = _http(sock, f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert second.startswith(b"HTTP/1.1 200")


# -- 2. integers past 64 bits: 422 ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/sessions?offset=9223372036854775808",
        "/api/sessions?offset=-1",
        "/api/documents?offset=9223372036854775808",
        "/api/sessions/{sid}/messages?limit=99999999999999999999",
        "/api/sessions/{sid}/messages?after=-9223372036854775809",
        f"/api/sessions/{{sid}}/messages?before={2**63}",
        "/api/sessions?limit=" + "9" * 5000,
    ],
)
def test_integers_past_64_bits(
    client: httpx.Client, expect_error: ExpectError, sid: str, url: str
) -> None:
    expect_error(client.get(url.format(sid=sid)), 422, "validation_error")


def test_integers_at_the_64_bit_edge_are_accepted(client: httpx.Client, sid: str) -> None:
    client.post(f"/api/sessions/{sid}/messages", json={"role": "user", "content": "hi"})
    assert client.get(f"/api/sessions?offset={INT64_MAX}").json()["items"] == []
    got = client.get(
        f"/api/sessions/{sid}/messages",
        params={"limit": INT64_MAX, "after": -(2**63), "before": INT64_MAX},
    )
    assert [m["content"] for m in got.json()["items"]] == ["hi"]


def test_big_integers_in_metadata_come_back_as_given(client: httpx.Client, sid: str) -> None:
    metadata = {"big": 2**70, "neg": -(2**64), "list": [INT64_MAX + 1]}
    created = client.post(
        f"/api/sessions/{sid}/messages",
        json={"role": "user", "content": "x", "metadata": metadata},
    )
    assert created.status_code == 201, created.text
    stored = client.get(f"/api/sessions/{sid}/messages").json()["items"][0]
    assert stored["metadata"] == metadata


# -- 5. cross-site requests and foreign Host headers ---------------------------------------------


def test_cross_site_clear_is_refused(
    client: httpx.Client, expect_error: ExpectError, sid: str
) -> None:
    client.post(f"/api/sessions/{sid}/messages", json={"role": "user", "content": "keep me"})
    form = {"content-type": "application/x-www-form-urlencoded"}
    for headers in (
        {"origin": "https://evil.example", **form},
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"referer": "https://evil.example/page.html"},
        {"origin": f"http://127.0.0.1:{client.base_url.port}.evil.example"},
    ):
        response = client.post(f"/api/sessions/{sid}/clear", headers=headers)
        expect_error(response, 403, "cross_site_request")
    # DELETE, PUT and PATCH too
    expect_error(
        client.delete(f"/api/sessions/{sid}", headers={"origin": "https://evil.example"}),
        403,
        "cross_site_request",
    )
    assert client.get(f"/api/sessions/{sid}").json()["message_count"] == 1


def test_same_origin_and_no_origin_pass(client: httpx.Client, sid: str) -> None:
    own = f"http://127.0.0.1:{client.base_url.port}"
    ok = client.post(
        f"/api/sessions/{sid}/messages",
        json={"role": "user", "content": "hi"},
        headers={"origin": own},
    )
    assert ok.status_code == 201, ok.text
    assert client.post(f"/api/sessions/{sid}/clear", headers={"referer": own + "/x"}).json() == {
        "deleted": 1
    }
    assert client.post(f"/api/sessions/{sid}/clear").status_code == 200  # curl, the CLI, SDKs
    # reads are not state changes: a foreign Origin may not read them (no CORS), but gets an answer
    assert (
        client.get("/api/sessions", headers={"origin": "https://evil.example"}).status_code == 200
    )


def test_cross_site_upload_is_refused(
    client: httpx.Client, expect_error: ExpectError, api_settings: Settings
) -> None:
    response = client.post(
        "/api/documents",
        files={"files": ("a.txt", b"hello", "text/plain")},
        headers={"origin": "https://evil.example"},
    )
    expect_error(response, 403, "cross_site_request")
    assert client.get("/api/tasks").json()["items"] == []
    uploads = api_settings.data_dir / "uploads"
    assert not uploads.exists() or not any(p.is_file() for p in uploads.rglob("*"))


def test_allowed_origin(api_settings: Settings, start_server: StartServer) -> None:
    server = api_settings.server.model_copy(
        update={"allowed_origins": ["https://portal.example.com"]}
    )
    client = start_server(api_settings.model_copy(update={"server": server}))
    ok = client.post("/api/sessions", json={}, headers={"origin": "https://portal.example.com"})
    assert ok.status_code == 201
    other = client.post("/api/sessions", json={}, headers={"origin": "https://evil.example"})
    assert other.status_code == 403


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"],
)
def test_json_endpoints_refuse_other_content_types(
    client: httpx.Client, expect_error: ExpectError, sid: str, content_type: str
) -> None:
    response = client.post(
        f"/api/sessions/{sid}/messages",
        content=b'{"role":"user","content":"simple request"}',
        headers={"content-type": content_type},
    )
    expect_error(response, 415, "unsupported_media_type")
    assert client.get(f"/api/sessions/{sid}").json()["message_count"] == 0


def test_foreign_host_is_refused(client: httpx.Client, expect_error: ExpectError) -> None:
    for path in ("/", "/api/sessions", "/healthz", "/api/sessions/"):
        response = client.get(path, headers={"host": "evil.example"})
        expect_error(response, 400, "invalid_host")
        assert "location" not in response.headers
    assert client.get("/healthz", headers={"host": "localhost:8000"}).status_code == 200
    assert client.get("/healthz", headers={"host": "[::1]:8000"}).status_code == 200
    assert client.get("/healthz", headers={"host": "192.168.1.20"}).status_code == 200


def test_allowed_host(api_settings: Settings, start_server: StartServer) -> None:
    server = api_settings.server.model_copy(update={"allowed_hosts": ["docs.example.com"]})
    client = start_server(api_settings.model_copy(update={"server": server}))
    assert client.get("/healthz", headers={"host": "docs.example.com"}).status_code == 200
    assert client.get("/healthz", headers={"host": "evil.example"}).status_code == 400


# -- 7. smaller ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("[" * 5000 + "]" * 5000, "nests deeper"),
        ('{"role":"user","content":"x","metadata":' + "[" * 65 + "]" * 65 + "}", "nests deeper"),
        ('{"role":"user","content":"x","metadata":{"n":' + "9" * 5000 + "}}", "too many digits"),
        ('{"role":"user","content":"x","metadata":{"n":NaN}}', "NaN"),
        ('{"role":"user","content":"x","metadata":{"n":-Infinity}}', "NaN"),
    ],
)
def test_json_that_cannot_be_accepted_is_422(
    client: httpx.Client, expect_error: ExpectError, sid: str, body: str, words: str
) -> None:
    response = _raw(client, "POST", f"/api/sessions/{sid}/messages", body)
    error = expect_error(response, 422)
    assert error["code"] in ("invalid_json", "invalid_input")
    assert words in error["message"]


@pytest.mark.parametrize(
    "patch",
    [
        {"model": "a\u0000b"},
        {"options": {"custom_instructions": "be \u0000 brief"}},
        {"options": {"output_language": "\u0000"}},
        {"options": {"manual_keywords": ["ok", "n\u0000ul"]}},
    ],
)
def test_nul_in_settings_is_refused(
    client: httpx.Client, expect_error: ExpectError, sid: str, patch: dict[str, Any]
) -> None:
    response = client.put(f"/api/sessions/{sid}/settings", json=patch)
    error = expect_error(response, 422, "invalid_input")
    assert "NUL" in error["message"]


def test_settings_have_size_caps(client: httpx.Client, expect_error: ExpectError, sid: str) -> None:
    too_many = {"options": {"manual_keywords": [f"k{i}" for i in range(MAX_KEYWORDS + 1)]}}
    expect_error(client.put(f"/api/sessions/{sid}/settings", json=too_many), 422)
    long_keyword = {"options": {"manual_keywords": ["k" * 201]}}
    expect_error(client.put(f"/api/sessions/{sid}/settings", json=long_keyword), 422)
    filters = {"options": {"source_filters": {"file_globs": ["*"] * 1001}}}
    expect_error(client.put(f"/api/sessions/{sid}/settings", json=filters), 422)
    at_cap = {"options": {"manual_keywords": [f"k{i}" for i in range(MAX_KEYWORDS)]}}
    assert client.put(f"/api/sessions/{sid}/settings", json=at_cap).status_code == 200


def test_null_settings_keys_reset_to_defaults(client: httpx.Client, sid: str) -> None:
    client.put(
        f"/api/sessions/{sid}/settings",
        json={"model": "smollm2", "mode": "extensive", "options": {"num_results": 3}},
    )
    response = client.put(
        f"/api/sessions/{sid}/settings", json={"options": None, "mode": None, "model": None}
    )
    assert response.status_code == 200, response.text
    settings = response.json()["settings"]
    assert settings["model"] is None
    assert settings["mode"] == "basic"
    assert settings["options"]["num_results"] is None


def test_head_healthz(client: httpx.Client) -> None:
    response = client.head("/healthz")
    assert response.status_code == 200
    assert response.content == b""


def test_long_file_name_upload_is_accepted(client: httpx.Client) -> None:
    name = "n" * 5000 + ".txt"
    response = client.post("/api/documents", files={"files": (name, b"hello there", "text/plain")})
    assert response.status_code == 202, response.text
    huge = "n" * 70_000 + ".txt"
    response = client.post("/api/documents", files={"files": (huge, b"hello", "text/plain")})
    assert response.status_code == 413
    assert "file name" in response.json()["error"]["message"]


def test_api_never_shows_server_paths(
    client: httpx.Client, api_settings: Settings, tmp_path: Any
) -> None:
    # A document ingested with the CLI (the library) has an absolute path as its source.
    from docchat.workspace import Workspace

    folder = tmp_path / "secret-folder-name"
    folder.mkdir()
    (folder / "notes.txt").write_text("the quarterly numbers are up", encoding="utf-8")
    workspace = Workspace(api_settings)
    try:
        workspace.ingest([folder], embed=False)
    finally:
        workspace.close()
    listing = client.get("/api/documents")
    assert listing.status_code == 200
    assert "secret-folder-name" not in listing.text
    item = listing.json()["items"][0]
    assert "source" not in item
    assert item["file_name"] == "notes.txt"
    one = client.get(f"/api/documents/{item['id']}")
    assert "secret-folder-name" not in one.text


def test_nul_in_the_url_is_refused(client: httpx.Client, expect_error: ExpectError) -> None:
    for url in ("/api/documents/%00", "/api/tasks/a%00b", "/api/documents?collection=%00"):
        expect_error(client.get(url), 422, "invalid_input")


def test_body_problems_name_the_field_in_json(client: httpx.Client, sid: str) -> None:
    response = _raw(
        client,
        "POST",
        f"/api/sessions/{sid}/messages",
        json.dumps({"role": "user", "content": "x"}).replace('"x"', f'"{SURROGATE}"'),
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "content"
