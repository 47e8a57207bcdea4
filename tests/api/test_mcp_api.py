"""``/mcp``: the MCP tools over streamable HTTP on a real server, behind the app's guards.

The SDK's client runs every tool (tests/mcp_checks.py, as over stdio in tests/test_mcp.py).
Raw requests show that the route does not slip past ``SiteGuard``: a foreign ``Origin`` or
``Host`` is refused before the MCP server sees the request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from corpora import Corpora
from event_loops import run_async
from mcp import Client
from mcp_checks import exercise_tools, ingest_handbook

from docchat.config import Settings

from .conftest import ExpectError, StartServer, with_limits

INITIALIZE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"accept": "application/json, text/event-stream"}


@pytest.fixture
def mcp_settings(tmp_path: Path) -> Settings:
    """A SQLite data dir: the transport is under test here, not the database."""
    return Settings(data_dir=tmp_path / "data")


def initialize(client: httpx.Client, **headers: str) -> httpx.Response:
    return client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS | headers)


def test_http_answers_every_tool(
    mcp_settings: Settings, corpora: Corpora, start_server: StartServer
) -> None:
    ingest_handbook(mcp_settings.data_dir, corpora)
    client = start_server(mcp_settings)

    async def main() -> None:
        async with Client(str(client.base_url.join("/mcp")), read_timeout_seconds=120) as mcp:
            await exercise_tools(mcp)

    run_async(main)


def test_own_pages_and_clients_without_origin_may_connect(
    mcp_settings: Settings, start_server: StartServer
) -> None:
    client = start_server(mcp_settings)
    for headers in ({}, {"origin": str(client.base_url).rstrip("/")}):
        response = initialize(client, **headers)
        assert response.status_code == 200, response.text
        assert '"serverInfo"' in response.text and '"docchat"' in response.text


def test_foreign_origin_is_refused(
    mcp_settings: Settings, start_server: StartServer, expect_error: ExpectError
) -> None:
    client = start_server(mcp_settings)
    for origin in ("https://evil.example", "null", "http://127.0.0.1.evil.example"):
        expect_error(initialize(client, origin=origin), 403, "cross_site_request")
    expect_error(initialize(client, referer="https://evil.example/page"), 403, "cross_site_request")


def test_trusted_origin_may_connect(mcp_settings: Settings, start_server: StartServer) -> None:
    settings = with_limits(mcp_settings, server={"allowed_origins": ["https://portal.example"]})
    client = start_server(settings)
    assert initialize(client, origin="https://portal.example").status_code == 200


def test_foreign_host_is_refused(
    mcp_settings: Settings, start_server: StartServer, expect_error: ExpectError
) -> None:
    client = start_server(mcp_settings)
    # DNS rebinding: the attacker's name resolving to 127.0.0.1.
    expect_error(initialize(client, host="evil.example"), 400, "invalid_host")


def test_only_post_reaches_the_mcp_server(
    mcp_settings: Settings, start_server: StartServer, expect_error: ExpectError
) -> None:
    # Stateless: no event stream to hold open (a GET, which no Origin check stops), no session
    # to end.
    client = start_server(mcp_settings)
    evil = {"origin": "https://evil.example"}
    for method, headers, status in [
        ("GET", {}, 405),
        ("GET", evil, 405),
        ("DELETE", {}, 405),
        ("DELETE", evil, 403),  # SiteGuard answers first
    ]:
        response = client.request(
            method, "/mcp", headers={"accept": "text/event-stream"} | headers, timeout=10
        )
        expect_error(response, status)
        if status == 405:
            assert response.headers["allow"] == "POST"


def test_body_limits_apply(
    mcp_settings: Settings, start_server: StartServer, expect_error: ExpectError
) -> None:
    settings = with_limits(mcp_settings, server={"max_request_bytes": 4096})
    client = start_server(settings)
    big: dict[str, Any] = INITIALIZE | {"params": INITIALIZE["params"] | {"pad": "x" * 5000}}
    response = client.post("/mcp", json=big, headers=MCP_HEADERS)
    expect_error(response, 413, "request_too_large")
    nul = client.post(
        "/mcp",
        content=b'{"jsonrpc": "2.0", "id": 1, "method": "ping\\u0000"}',
        headers=MCP_HEADERS | {"content-type": "application/json"},
    )
    expect_error(nul, 422, "invalid_input")
