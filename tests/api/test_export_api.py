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


@pytest.mark.parametrize("export_format", ["json", "markdown", "docx", "pdf"])
def test_export_formats(client: httpx.Client, sid: str, export_format: str) -> None:
    response = client.get(f"/api/sessions/{sid}/export", params={"format": export_format})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA_TYPES[export_format]
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{sid}.{SUFFIXES[export_format]}"'
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
