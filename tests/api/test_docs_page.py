"""``/docs`` needs nothing but this server: every URL of the page is ours, every asset is served
with its media type and a year of caching, and the vendored files are the ones VENDORED.md names.
Chromium renders it in tests/browser/test_docs_page.py."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from docchat.api.routes.docs import STATIC_DIR
from docchat.config import Settings

from .conftest import ExpectError, StartServer


@pytest.fixture
def client(tmp_path: Path, start_server: StartServer) -> httpx.Client:
    """A server on SQLite: the page does not touch the database."""
    return start_server(Settings(data_dir=tmp_path / "data"))


def page_urls(html: str) -> list[str]:
    tree = HTMLParser(html)
    return [
        value
        for node in tree.css("[src], [href], [data-openapi-url]")
        for name, value in node.attributes.items()
        if name in ("src", "href", "data-openapi-url") and value is not None
    ]


def test_page_loads_only_from_this_server(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    tree = HTMLParser(response.text)
    # No inline script or style: a script-src 'self' policy would block the one and style-src
    # 'self' the other.
    assert all(node.attributes.get("src") for node in tree.css("script"))
    assert not tree.css("style") and not tree.css("[style]")
    assert not re.search(r"\son\w+=", response.text)  # no inline event handlers

    urls = page_urls(response.text)
    assert len(urls) == 5  # icon, stylesheet, Swagger UI, our start-up script, the OpenAPI URL
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        fetched = client.get(url)
        assert fetched.status_code == 200, url
    assert "/openapi.json" in urls


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("docs.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("favicon-32x32.png", "image/png"),
    ],
)
def test_assets_are_cached_for_a_year(client: httpx.Client, name: str, media_type: str) -> None:
    (url,) = [u for u in page_urls(client.get("/docs").text) if u.endswith("/" + name)]
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    # The URL names the content: another digest is another file.
    digest = url.split("/")[-2]
    assert hashlib.sha256(response.content).hexdigest().startswith(digest)


def test_unknown_or_outdated_assets_are_404(
    client: httpx.Client, expect_error: ExpectError
) -> None:
    (url,) = [u for u in page_urls(client.get("/docs").text) if u.endswith("/docs.js")]
    digest = url.split("/")[-2]
    expect_error(client.get(f"/docs/assets/{'0' * len(digest)}/docs.js"), 404, "not_found")
    expect_error(client.get(f"/docs/assets/{digest}/VENDORED.md"), 404, "not_found")
    expect_error(client.get(f"/docs/assets/{digest}/..%2F..%2Fapp.py"), 404)


def test_openapi_document_stays_and_lists_no_docs_route(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert not [path for path in spec["paths"] if path.startswith("/docs")]
    assert client.get("/redoc").status_code == 404


def test_vendored_files_match_their_record() -> None:
    swagger = STATIC_DIR / "swagger"
    recorded = dict(
        re.findall(
            r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", (swagger / "VENDORED.md").read_text(), re.M
        )
    )
    on_disk = {p.name for p in swagger.iterdir() if p.name != "VENDORED.md"}
    assert set(recorded) == on_disk
    for name, digest in recorded.items():
        assert hashlib.sha256((swagger / name).read_bytes()).hexdigest() == digest, name
