"""Session exports over HTTP in every format, on both backends: the files open in the programs
that read them and hold the messages and each answer's references with their quoted spans."""

from __future__ import annotations

import io

import docx
import httpx
import pytest
from pypdf import PdfReader

QUOTE = "CCTV footage is kept for 28 days, then overwritten."
REFERENCE = {
    "n": 1,
    "document_id": "d1",
    "file_name": "security.pdf",
    "page": 3,
    "quote": QUOTE,
}
MEDIA_TYPES = {
    "json": "application/json",
    "markdown": "text/markdown; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
SUFFIXES = {"json": "json", "markdown": "md", "docx": "docx", "pdf": "pdf"}


@pytest.fixture
def sid(client: httpx.Client) -> str:
    sid = str(client.post("/api/sessions", json={"title": "Retention"}).json()["id"])
    for role, content, refs in (
        ("user", "How long is CCTV kept? 中文 😀", None),
        ("assistant", "28 days [1].", [REFERENCE]),
    ):
        body = {"role": role, "content": content, "references": refs}
        assert client.post(f"/api/sessions/{sid}/messages", json=body).status_code == 201
    return sid


@pytest.mark.parametrize(
    ("title", "disposition"),
    [
        (
            'Q3 plan: "draft"/v2 été 中文',
            'attachment; filename="Q3 plan_ _draft_-v2 ete.md"; '
            "filename*=UTF-8''Q3%20plan%3A%20%22draft%22-v2%20%C3%A9t%C3%A9%20%E4%B8%AD%E6%96%87.md",
        ),
        ("   ", None),  # no title: the id names the file
    ],
)
def test_export_is_named_after_the_chat_title(
    client: httpx.Client, title: str, disposition: str | None
) -> None:
    sid = str(client.post("/api/sessions", json={"title": title}).json()["id"])
    response = client.get(f"/api/sessions/{sid}/export", params={"format": "markdown"})
    assert response.status_code == 200, response.text
    expected = disposition or f"attachment; filename=\"{sid}.md\"; filename*=UTF-8''{sid}.md"
    assert response.headers["content-disposition"] == expected


@pytest.mark.parametrize("export_format", ["json", "markdown", "docx", "pdf"])
def test_export_formats(client: httpx.Client, sid: str, export_format: str) -> None:
    response = client.get(f"/api/sessions/{sid}/export", params={"format": export_format})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA_TYPES[export_format]
    suffix = SUFFIXES[export_format]
    assert response.headers["content-disposition"] == (
        f"attachment; filename=\"Retention.{suffix}\"; filename*=UTF-8''Retention.{suffix}"
    )
    if export_format == "docx":
        text = "\n".join(p.text for p in docx.Document(io.BytesIO(response.content)).paragraphs)
    elif export_format == "pdf":
        reader = PdfReader(io.BytesIO(response.content))
        text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    else:
        text = response.text
    assert "28 days [1]." in text
    assert "security.pdf" in text
    assert QUOTE in text
    if export_format != "json":
        assert "security.pdf, p. 3" in text
    if export_format != "pdf":  # the PDF's font has no CJK or emoji
        assert "中文 😀" in text
