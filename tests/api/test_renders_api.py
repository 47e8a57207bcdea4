"""Expensive renders over HTTP: Word and PDF exports of large sessions, page images of very large
pages.  Each is bounded (characters per export, seconds per export, pixels per image) and takes
one of a few render slots; past them a request gets 503 with Retry-After, in docchat's shape."""

from __future__ import annotations

import io
import math

import httpx
import pytest
from fastapi import FastAPI
from fpdf import FPDF
from PIL import Image

from docchat.config import Settings
from docchat.workspace import Workspace
from tests.workspace_parts import parts

from .conftest import MAX_CONTENT_CHARS, ExpectError, MakeApp, StartServer, with_limits
from .test_documents_api import ingest

#: A page 14,400 points tall (200 inches), as in the probe that took the server to 2.2 GB.
TALL = (612, 14_400)


def tall_pdf() -> bytes:
    pdf = FPDF(unit="pt", format=TALL)
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    for y in range(40, 14_000, 400):
        pdf.set_xy(36, y)
        pdf.cell(500, 14, f"A line of the tall page at {y} points.")
    return bytes(pdf.output())


def big_session(client: httpx.Client, messages: int) -> str:
    sid = str(client.post("/api/sessions", json={"title": "long"}).json()["id"])
    for i in range(messages):
        body = {"role": ("user", "assistant")[i % 2], "content": "word " * (MAX_CONTENT_CHARS // 5)}
        assert client.post(f"/api/sessions/{sid}/messages", json=body).status_code == 201
    return sid


def export(client: httpx.Client, sid: str, export_format: str) -> httpx.Response:
    return client.get(f"/api/sessions/{sid}/export", params={"format": export_format})


@pytest.mark.parametrize("export_format", ["pdf", "docx"])
def test_word_and_pdf_exports_over_the_character_cap_are_refused(
    api_settings: Settings,
    start_server: StartServer,
    expect_error: ExpectError,
    export_format: str,
) -> None:
    client = start_server(with_limits(api_settings, renders={"max_export_chars": 5_000}))
    small, large = big_session(client, 2), big_session(client, 3)  # 4,000 and 6,000 characters
    assert export(client, small, export_format).status_code == 200
    error = expect_error(export(client, large, export_format), 413, "too_large")
    assert error["field"] == "format"
    assert "6,000 characters" in error["message"] and "5,000" in error["message"]
    assert "export it as JSON or Markdown" in error["message"]
    for cheap in ("json", "markdown"):
        assert export(client, large, cheap).status_code == 200


def test_an_export_past_its_time_limit_is_stopped(
    api_settings: Settings, start_server: StartServer, expect_error: ExpectError
) -> None:
    # No interpreter starts, let alone writes a PDF, in a millisecond: the child is killed.
    client = start_server(with_limits(api_settings, renders={"export_timeout_s": 0.001}))
    sid = big_session(client, 1)
    error = expect_error(export(client, sid, "pdf"), 413, "too_large")
    assert "too large to write as PDF within 0.001 s" in error["message"]


@pytest.fixture
def busy_app(api_settings: Settings, make_app: MakeApp) -> FastAPI:
    """An app with one render slot and no queue, for a test to take the slot itself."""
    settings = with_limits(api_settings, renders={"concurrency": 1, "queue": 0, "wait_s": 0.01})
    return make_app(settings)


def test_renders_past_the_slots_get_503_with_retry_after(
    busy_app: FastAPI,
    api_settings: Settings,
    start_server: StartServer,
    expect_error: ExpectError,
) -> None:
    client = start_server(api_settings, app=busy_app)
    ingest(client, [("tall.pdf", tall_pdf())])
    pdf_id = client.get("/api/documents").json()["items"][0]["id"]
    sid = big_session(client, 1)
    image_url = f"/api/documents/{pdf_id}/pages/1/image"
    workspace: Workspace = busy_app.state.workspace
    with parts(workspace).renders.slot("a test's render"):
        for response in (client.get(image_url), export(client, sid, "pdf")):
            error = expect_error(response, 503, "busy")
            assert response.headers["retry-after"] == "5"
            assert "1 at once, 0 waiting" in error["message"]
        # What costs little is not held up.
        assert export(client, sid, "json").status_code == 200
        assert client.get(f"/api/documents/{pdf_id}/pages/1/highlights").status_code == 200
    assert client.get(image_url).status_code == 200
    assert export(client, sid, "pdf").status_code == 200


def test_a_tall_page_is_drawn_under_the_pixel_cap_and_says_at_what_scale(
    api_settings: Settings, start_server: StartServer
) -> None:
    client = start_server(with_limits(api_settings, renders={"max_page_pixels": 1_000_000}))
    ingest(client, [("tall.pdf", tall_pdf())])
    pdf_id = client.get("/api/documents").json()["items"][0]["id"]
    response = client.get(f"/api/documents/{pdf_id}/pages/1/image", params={"scale": 3})
    assert response.status_code == 200, response.text
    width, height = Image.open(io.BytesIO(response.content)).size
    assert width * height <= 1_000_000 * 1.01  # rounding to whole pixels
    scale = float(response.headers["x-docchat-scale"])
    assert scale == pytest.approx(math.sqrt(1_000_000 / (TALL[0] * TALL[1])), rel=1e-3)
    assert height == pytest.approx(TALL[1] * scale, abs=1)
