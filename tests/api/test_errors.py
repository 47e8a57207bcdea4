"""Errors over HTTP: one JSON shape, the right status, nothing leaked (traceback or input)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from docchat.api.app import create_app
from docchat.config import Settings

ExpectError = Callable[..., dict[str, Any]]
StartServer = Callable[..., httpx.Client]

# Submitted as bad values; no response may contain it.
SECRET = "sk-SECRET-do-not-echo-4242"


@pytest.fixture
def sid(client: httpx.Client) -> str:
    """An existing session."""
    session_id: str = client.post("/api/sessions", json={"title": "t"}).json()["id"]
    return session_id


def test_invalid_role(client: httpx.Client, expect_error: ExpectError, sid: str) -> None:
    response = client.post(
        f"/api/sessions/{sid}/messages", json={"role": SECRET, "content": "hello"}
    )
    error = expect_error(response, 422, "validation_error")
    assert error["field"] == "role"
    assert error["details"][0]["loc"] == ["body", "role"]
    assert set(error["details"][0]) == {"loc", "msg", "type"}
    assert SECRET not in response.text


def test_malformed_json(client: httpx.Client, expect_error: ExpectError, sid: str) -> None:
    response = client.post(
        f"/api/sessions/{sid}/messages",
        content=f'{{"role": "user", "content": "{SECRET}'.encode(),
        headers={"content-type": "application/json"},
    )
    error = expect_error(response, 422, "invalid_json")
    assert SECRET not in response.text
    assert "field" not in error


def test_body_that_is_not_utf8(client: httpx.Client, expect_error: ExpectError) -> None:
    response = client.post(
        "/api/sessions", content=b"\xff\xfe\xfa", headers={"content-type": "application/json"}
    )
    expect_error(response, 422, "invalid_json")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/sessions/{sid}/messages", {"role": "user", "content": 12345}, "content"),
        (
            "/api/sessions/{sid}/messages",
            {"role": "user", "content": "x", "metadata": [1]},
            "metadata",
        ),
        ("/api/sessions/{sid}/messages", {"role": "user"}, "content"),
        (
            "/api/sessions/{sid}/messages",
            {"role": "user", "content": "x", "extra": SECRET},
            "extra",
        ),
        ("/api/sessions", {"title": [SECRET]}, "title"),
        ("/api/sessions", {"settings": {"mode": SECRET}}, "settings.mode"),
        ("/api/sessions", {"settings": {"colour": SECRET}}, "settings.colour"),
        ("/api/sessions", [SECRET], None),
    ],
)
def test_wrong_types_and_unknown_keys(
    client: httpx.Client,
    expect_error: ExpectError,
    sid: str,
    path: str,
    body: Any,
    field: str | None,
) -> None:
    response = client.post(path.format(sid=sid), json=body)
    error = expect_error(response, 422, "validation_error")
    assert error.get("field") == field
    assert SECRET not in response.text
    assert "12345" not in response.text


def test_wrong_query_type(client: httpx.Client, expect_error: ExpectError, sid: str) -> None:
    response = client.get(f"/api/sessions/{sid}/messages", params={"limit": SECRET})
    error = expect_error(response, 422, "validation_error")
    assert error["field"] == "limit"
    assert SECRET not in response.text
    expect_error(client.get("/api/sessions", params={"limit": 0}), 422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {"colour": SECRET},
        {"options": {"temprature": 0.5}},
        {"mode": SECRET},
        {"options": {"temperature": SECRET}},
    ],
)
def test_unknown_or_invalid_settings(
    client: httpx.Client, expect_error: ExpectError, sid: str, body: dict[str, Any]
) -> None:
    before = client.get(f"/api/sessions/{sid}").json()["settings"]
    response = client.put(f"/api/sessions/{sid}/settings", json=body)
    expect_error(response, 422, "validation_error")
    assert SECRET not in response.text
    assert client.get(f"/api/sessions/{sid}").json()["settings"] == before


def test_oversize_content(
    client: httpx.Client, api_settings: Settings, expect_error: ExpectError, sid: str
) -> None:
    limit = api_settings.sessions.max_content_chars
    content = "x" * (limit + 1)
    response = client.post(
        f"/api/sessions/{sid}/messages", json={"role": "user", "content": content}
    )
    error = expect_error(response, 413, "too_large")
    assert error["field"] == "content"
    assert content not in response.text
    ok = client.post(f"/api/sessions/{sid}/messages", json={"role": "user", "content": "x" * limit})
    assert ok.status_code == 201


def test_oversize_title(client: httpx.Client, expect_error: ExpectError, sid: str) -> None:
    response = client.patch(f"/api/sessions/{sid}", json={"title": "t" * 501})
    error = expect_error(response, 413, "too_large")
    assert error["field"] == "title"


def _message_body(size: int) -> bytes:
    """A JSON message body of exactly ``size`` bytes."""
    overhead = len(json.dumps({"role": "user", "content": ""}).encode())
    body = json.dumps({"role": "user", "content": "y" * (size - overhead)}).encode()
    assert len(body) == size
    return body


def test_oversize_body_by_content_length(
    settings: Settings, start_server: StartServer, expect_error: ExpectError
) -> None:
    server = settings.server.model_copy(update={"max_request_bytes": 1000})
    client = start_server(settings.model_copy(update={"server": server}))
    sid = client.post("/api/sessions").json()["id"]
    url = f"/api/sessions/{sid}/messages"
    headers = {"content-type": "application/json"}

    at_limit = client.post(url, content=_message_body(1000), headers=headers)
    assert at_limit.status_code == 201, at_limit.text

    response = client.post(url, content=_message_body(1001), headers=headers)
    error = expect_error(response, 413, "request_too_large")
    assert "1000 bytes" in error["message"]
    assert "yyyy" not in response.text
    # the connection stays usable and nothing was stored
    assert client.get(f"/api/sessions/{sid}").json()["message_count"] == 1


def test_oversize_chunked_body(
    client: httpx.Client, api_settings: Settings, expect_error: ExpectError, sid: str
) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b'{"role": "user", "content": "'
        for _ in range(8):
            sent.append(4096)
            yield b"z" * 4096
        yield b'"}'

    response = client.post(
        f"/api/sessions/{sid}/messages",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert sum(sent) > api_settings.server.max_request_bytes
    expect_error(response, 413, "request_too_large")
    assert client.get(f"/api/sessions/{sid}").json()["message_count"] == 0


def test_small_chunked_body_passes(client: httpx.Client, sid: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"role": "user", '
        yield b'"content": "streamed"}'

    response = client.post(
        f"/api/sessions/{sid}/messages",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["content"] == "streamed"


def test_unknown_route_and_method(client: httpx.Client, expect_error: ExpectError) -> None:
    error = expect_error(client.get("/api/nothing-here"), 404, "not_found")
    assert error["message"] == "Not Found"
    response = client.put("/api/sessions")
    expect_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"  # every route's at this path, not the first's
    response = client.request("OPTIONS", "/api/sessions/abc")
    expect_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "DELETE, GET, PATCH"


def test_unexpected_error_is_a_generic_500(
    api_settings: Settings,
    start_server: StartServer,
    expect_error: ExpectError,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(api_settings)

    def explode() -> None:
        raise RuntimeError(f"database password is {SECRET}")

    app.add_api_route("/boom", explode, operation_id="boom", summary="Fail")
    client = start_server(api_settings, app)
    with caplog.at_level(logging.ERROR, logger="docchat.api"):
        response = client.get("/boom")
    error = expect_error(response, 500, "internal_error")
    assert error["message"] == "internal server error"
    assert SECRET not in response.text
    assert "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.name == "docchat.api"]
    assert logged and logged[0].exc_info is not None  # the traceback stays server-side
    assert "/boom" in logged[0].getMessage()
