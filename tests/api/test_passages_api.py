"""What citations point at, over HTTP on both backends: passages, original files (with headers
no file name can break), PDF page images with the cited span highlighted, and their boxes."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import numpy as np
import pytest
from PIL import Image
from sample_pdf import SENTENCE, sentence_span, write_pdf

from docchat.api.downloads import content_disposition
from docchat.config import Settings
from docchat.validation import INT64_MAX
from docchat.workspace import Workspace

from .conftest import ExpectError
from .test_documents_api import ingest

PASSAGE_KEYS = {
    "document_id",
    "file_name",
    "collection",
    "mime_type",
    "page",
    "section",
    "page_count",
    "start",
    "end",
    "text",
    "before",
    "after",
    "before_start",
    "after_end",
    "document_length",
}


def documents(client: httpx.Client) -> dict[str, dict[str, Any]]:
    return {d["file_name"]: d for d in client.get("/api/documents").json()["items"]}


@pytest.fixture
def pdf_id(client: httpx.Client, tmp_path: Path) -> str:
    path = write_pdf(tmp_path / "zebra.pdf")
    ingest(client, [("zebra.pdf", path.read_bytes())])
    return str(documents(client)["zebra.pdf"]["id"])


def text_of(client: httpx.Client, document_id: str) -> str:
    """The whole extracted text, read through the passage endpoint itself."""
    first = client.get(f"/api/documents/{document_id}/passage", params={"start": 0, "end": 1})
    length = first.json()["document_length"]
    whole = client.get(
        f"/api/documents/{document_id}/passage",
        params={"start": 0, "end": length, "context": 0},
    )
    return str(whole.json()["text"])


def test_passage(client: httpx.Client, pdf_id: str) -> None:
    text = text_of(client, pdf_id)
    start, end = sentence_span(text)
    response = client.get(
        f"/api/documents/{pdf_id}/passage", params={"start": start, "end": end, "context": 80}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PASSAGE_KEYS
    assert " ".join(body["text"].split()) == SENTENCE
    assert body["text"] == text[start:end]
    assert (body["page"], body["page_count"], body["section"]) == (2, 3, None)
    assert (body["file_name"], body["collection"], body["mime_type"]) == (
        "zebra.pdf",
        "default",
        "application/pdf",
    )
    assert (body["start"], body["end"]) == (start, end)
    assert text[body["before_start"] : start] == body["before"]
    assert text[end : body["after_end"]] == body["after"]
    assert 0 < len(body["before"]) <= 80 and 0 < len(body["after"]) <= 80
    # The default context is 300 characters.
    default = client.get(f"/api/documents/{pdf_id}/passage", params={"start": start, "end": end})
    assert 200 < len(default.json()["before"]) <= 300


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({"start": 5, "end": 5}, 422, "invalid_input", "start"),
        ({"start": 9, "end": 2}, 422, "invalid_input", "start"),
        ({"start": 0, "end": 10**9}, 422, "invalid_input", "end"),
        ({"start": 0, "end": 25_000}, 422, "invalid_input", "end"),
        ({"start": 0, "end": INT64_MAX}, 422, "invalid_input", "end"),
        ({"start": 0, "end": 2**63}, 422, "validation_error", "end"),
        ({"start": -1, "end": 5}, 422, "validation_error", "start"),
        ({"start": 0, "end": 5, "context": 5_001}, 422, "validation_error", "context"),
        ({"start": "x", "end": 5}, 422, "validation_error", "start"),
        ({"end": 5}, 422, "validation_error", "start"),
    ],
)
def test_bad_passage_ranges(
    client: httpx.Client,
    expect_error: ExpectError,
    pdf_id: str,
    params: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    error = expect_error(client.get(f"/api/documents/{pdf_id}/passage", params=params), status)
    assert (error["code"], error.get("field")) == (code, field), error


def test_unknown_documents_are_404(client: httpx.Client, expect_error: ExpectError) -> None:
    for url in (
        "/api/documents/nope/passage?start=0&end=1",
        "/api/documents/nope/file",
        "/api/documents/nope/pages/1/image",
        "/api/documents/nope/pages/1/highlights?start=0&end=1",
        f"/api/documents/{'x' * 300}/file",
    ):
        expect_error(client.get(url), 404, "document_not_found")


# -- original files -----------------------------------------------------------------------------


def disposition_name(header: str) -> str:
    """The file name a browser takes from Content-Disposition: ``filename*`` when present."""
    found = re.search(r"filename\*=UTF-8''([^;\s]+)", header)
    assert found is not None, header
    return unquote(found.group(1), errors="strict")


def test_download_pdf_inline_and_as_attachment(
    client: httpx.Client, pdf_id: str, tmp_path: Path
) -> None:
    response = client.get(f"/api/documents/{pdf_id}/file")
    assert response.status_code == 200
    assert response.content == (tmp_path / "zebra.pdf").read_bytes()
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"zebra.pdf\"; filename*=UTF-8''zebra.pdf"
    )
    shown = client.get(f"/api/documents/{pdf_id}/file", params={"inline": "true"})
    assert shown.headers["content-disposition"].startswith("inline;")
    assert "content-security-policy" not in shown.headers  # Chrome's viewer refuses a sandbox


def test_html_is_never_shown_inline(client: httpx.Client) -> None:
    page = b"<html><body><script>fetch('/api/sessions')</script><p>Opening hours</p></body></html>"
    ingest(client, [("page.html", page), ("notes.txt", "café\n".encode())])
    docs = documents(client)
    html = client.get(f"/api/documents/{docs['page.html']['id']}/file", params={"inline": True})
    assert html.status_code == 200 and html.content == page
    assert html.headers["content-disposition"].startswith("attachment;")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in html.headers["content-security-policy"]
    text = client.get(f"/api/documents/{docs['notes.txt']['id']}/file", params={"inline": True})
    assert text.headers["content-disposition"].startswith("inline;")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == "café\n"


HOSTILE_NAMES = [
    'say "hi";.txt',
    "line\nbreak\r\nX-Injected: yes.txt",
    "日本語 notes.txt",
    "emoji 😀 ünïcode.txt",
    "back\\slash\\evil.txt",  # (a name starting with a dot would be skipped as hidden)
    "percent %22 and %0d%0a.txt",
    "tab\tand\x7fdel.txt",
]


def test_hostile_file_names_cannot_break_the_header(
    client: httpx.Client, api_settings: Settings, tmp_path: Path
) -> None:
    # Ingested from disk, where a name may hold quotes, newlines and backslashes.
    folder = tmp_path / "hostile"
    folder.mkdir()
    for i, name in enumerate(HOSTILE_NAMES):
        (folder / name).write_text(f"document number {i}\n", encoding="utf-8")
    workspace = Workspace(api_settings)
    try:
        workspace.ingest([folder], embed=False)
    finally:
        workspace.close()
    docs = documents(client)
    assert set(docs) == set(HOSTILE_NAMES)
    for name, doc in docs.items():
        response = client.get(f"/api/documents/{doc['id']}/file")
        assert response.status_code == 200, name
        assert "x-injected" not in response.headers
        header = response.headers["content-disposition"]
        assert header.isascii() and "\n" not in header and "\r" not in header
        fallback = re.fullmatch(r'attachment; filename="([^"\\]*)"; filename\*=\S+', header)
        assert fallback is not None, header
        assert "/" not in fallback.group(1) and "\\" not in fallback.group(1)
        assert fallback.group(1).endswith(".txt")
        exact = disposition_name(header)
        assert exact == name.replace("\\", "/").split("/")[-1].replace("\n", "").replace(
            "\r", ""
        ).replace("\t", "").replace("\x7f", "")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"),
        ("../../etc/passwd", "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"),
        (
            "日本.pdf",
            "attachment; filename=\"download.pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf",
        ),
        ("", "attachment; filename=\"download\"; filename*=UTF-8''download"),
        ("a\ud800b.txt", "attachment; filename=\"ab.txt\"; filename*=UTF-8''ab.txt"),
        ('x";y=z', "attachment; filename=\"x_y=z\"; filename*=UTF-8''x%22%3By%3Dz"),
    ],
)
def test_content_disposition(name: str, expected: str) -> None:
    assert content_disposition(name) == expected


# -- PDF pages ----------------------------------------------------------------------------------


def yellow(png: bytes) -> np.ndarray:
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return (rgb[..., 0] - rgb[..., 2]) > 60


def test_page_image_and_highlights(client: httpx.Client, pdf_id: str) -> None:
    start, end = sentence_span(text_of(client, pdf_id))
    span = {"start": start, "end": end}
    image = client.get(f"/api/documents/{pdf_id}/pages/2/image", params={**span, "scale": 1})
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    mask = yellow(image.content)
    assert mask.shape == (842, 596)  # A4 in points, rounded up

    boxes = client.get(f"/api/documents/{pdf_id}/pages/2/highlights", params=span)
    assert boxes.status_code == 200
    body = boxes.json()
    assert set(body) == {
        "document_id",
        "page",
        "page_count",
        "width",
        "height",
        "start",
        "end",
        "rects",
    }
    assert (body["page"], body["page_count"], body["start"], body["end"]) == (2, 3, start, end)
    assert len(body["rects"]) == 2
    assert all(set(r) == {"x", "y", "width", "height"} for r in body["rects"])
    # At scale 1 a point is a pixel: the yellow pixels are exactly those inside the boxes.
    inside = np.zeros_like(mask)
    for r in body["rects"]:
        y0, y1 = round(r["y"]), round(r["y"] + r["height"])
        x0, x1 = round(r["x"]), round(r["x"] + r["width"])
        inside[y0 - 1 : y1 + 1, x0 - 1 : x1 + 1] = True
    assert mask.sum() > 500
    assert not (mask & ~inside).any()

    plain = client.get(f"/api/documents/{pdf_id}/pages/1/image")
    assert plain.status_code == 200 and not yellow(plain.content).any()
    size = Image.open(io.BytesIO(plain.content)).size
    assert size == (893, 1263)  # A4 at the default scale, 1.5


def test_pages_that_cannot_be_shown(
    client: httpx.Client, expect_error: ExpectError, pdf_id: str
) -> None:
    ingest(client, [("notes.txt", b"no pages here\n")])
    txt = documents(client)["notes.txt"]["id"]
    base = f"/api/documents/{pdf_id}/pages"
    expect_error(client.get(f"{base}/4/image"), 404, "page_not_found")
    expect_error(client.get(f"{base}/{INT64_MAX}/highlights"), 404, "page_not_found")
    expect_error(client.get(f"/api/documents/{txt}/pages/1/image"), 404, "page_not_found")
    for url, field in (
        (f"{base}/0/image", "page"),
        (f"{base}/{2**63}/image", "page"),
        (f"{base}/1/image?scale=0.1", "scale"),
        (f"{base}/1/image?scale=nan", "scale"),
        (f"{base}/1/image?scale=inf", "scale"),
        (f"{base}/1/image?start=1", "start"),
        (f"{base}/1/highlights?start=3&end=2", "start"),
        (f"{base}/1/highlights?start=0&end={2**63}", "end"),
    ):
        error = expect_error(client.get(url), 422)
        assert error.get("field") == field, (url, error)
