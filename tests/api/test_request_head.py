"""An oversized or malformed request head (URL, headers, request line) gets docchat's JSON error,
whether uvicorn's HTTP parser or docchat's own check meets it first.

Raw sockets: httpx refuses to send a URL this long, and the parser's limit applies only to a head
that arrives in several reads, so both ways are driven here: all at once and trickled.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from docchat.config import ServerSettings

LIMITS = ServerSettings()


def _exchange(client: httpx.Client, parts: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """Send ``parts`` (pausing between them, so the server reads them apart); the response."""
    url = urlsplit(str(client.base_url))
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        try:
            for i, part in enumerate(parts):
                if i:
                    time.sleep(0.02)
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before all of it was read: the answer is waiting
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _length(data):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    assert len(status_line.split()) > 2, status_line  # a reason phrase, as every client shows
    return int(status_line.split()[1]), headers, body


def _length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return len(data) + 1


def _error(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, Any]:
    assert status == expected, body[:300]
    assert headers["content-type"] == "application/json"
    error: dict[str, Any] = json.loads(body)["error"]
    assert set(error) <= {"code", "message", "field"}
    assert "Traceback" not in error["message"]
    return error


def _get(target: bytes, *headers: bytes) -> bytes:
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_a_megabyte_query_string_is_a_json_414(client: httpx.Client) -> None:
    request = _get(b"/api/sessions?q=" + b"a" * 1_000_000)
    for parts in ([request], [request[i : i + 8192] for i in range(0, len(request), 8192)]):
        error = _error(*_exchange(client, parts), 414)
        assert error["code"] == "uri_too_long"
        assert f"{LIMITS.max_url_bytes:,}" in error["message"]


def test_a_url_over_the_limit_is_414_and_one_under_it_is_served(client: httpx.Client) -> None:
    over = b"/api/sessions?cursor=" + b"a" * LIMITS.max_url_bytes
    error = _error(*_exchange(client, [_get(over)]), 414)
    assert "DOCCHAT_SERVER__MAX_URL_BYTES" in error["message"]
    under = b"/api/sessions?limit=5&pad=" + b"a" * (LIMITS.max_url_bytes - 100)
    status, _, body = _exchange(client, [_get(under)])
    assert status == 200, body[:300]


@pytest.mark.parametrize("trickle", [False, True])
@pytest.mark.parametrize("size", [LIMITS.max_header_bytes + 10, 3 * LIMITS.max_header_bytes])
def test_headers_over_the_limit_are_a_json_431(
    client: httpx.Client, trickle: bool, size: int
) -> None:
    request = _get(b"/api/sessions", b"X-Big: " + b"a" * size)
    parts = [request[i : i + 4096] for i in range(0, len(request), 4096)] if trickle else [request]
    error = _error(*_exchange(client, parts), 431)
    assert error["code"] == "request_header_fields_too_large"
    assert f"{LIMITS.max_header_bytes:,}" in error["message"]
    assert "DOCCHAT_SERVER__MAX_HEADER_BYTES" in error["message"]
    several = [f"X-H{i}: {'b' * 1000}".encode() for i in range(LIMITS.max_header_bytes // 1000 + 1)]
    _error(*_exchange(client, [_get(b"/api/sessions", *several)]), 431)
    fine = _exchange(client, [_get(b"/api/sessions", b"X-Ok: " + b"a" * 8000)])
    assert fine[0] == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"\x01\x02 nonsense\r\n\r\n",
        b"GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nbad header line\r\n\r\n",
        b"GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n",
    ],
)
def test_a_malformed_request_is_a_json_400(client: httpx.Client, request_bytes: bytes) -> None:
    error = _error(*_exchange(client, [request_bytes]), 400)
    assert error["code"] == "invalid_http_request"
