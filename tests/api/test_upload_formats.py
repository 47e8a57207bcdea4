"""Every supported format through the HTTP faces: uploaded to a real server, then re-indexed.

The CLI reads files under their own names; an upload is spooled as ``upload-XXXX`` and its
original is stored as ``files/<sha[:2]>/<sha>``, so a parser that looks at the path's suffix
(openpyxl does) fails on both of these paths only.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import docx
import httpx
import openpyxl
import pptx
import pytest
from documents.conftest import HTML_PAGE, MARKDOWN_TEXT, pdf_bytes

from .test_documents_api import ingest, search, wait_for_task


def _docx() -> bytes:
    document = docx.Document()
    document.add_heading("Kettle manual", level=1)
    document.add_paragraph("Descale the kettle with vinegar every month.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pptx() -> bytes:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Roadmap"
    slide.placeholders[1].text = "The lighthouse feature ships in autumn."
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def _xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Fruit", "Crates"])
    sheet.append(["Quince", 17])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# (file name, its bytes, a search that must find it, a word of the hit)
FORMATS: dict[str, tuple[str, Callable[[], bytes], str, str]] = {
    "pdf": ("report.pdf", lambda: pdf_bytes([["The zebra project shipped."]]), "zebra", "zebra"),
    "docx": ("manual.docx", _docx, "descale kettle vinegar", "vinegar"),
    "pptx": ("roadmap.pptx", _pptx, "lighthouse feature", "lighthouse"),
    "xlsx": ("crates.xlsx", _xlsx, "quince crates", "Quince"),
    "html": ("guide.html", lambda: HTML_PAGE.encode(), "widgets small useful", "Widgets"),
    "md": ("guide.md", lambda: MARKDOWN_TEXT.encode(), "welcome to the guide", "Welcome"),
    "txt": ("notes.txt", lambda: b"Feed the axolotl on Sundays.\n", "axolotl", "axolotl"),
}


def test_every_supported_suffix_is_tested() -> None:
    from docchat.documents.parsers import FORMATS as SUPPORTED

    tested = {FORMATS[key][0].rpartition(".")[2] for key in FORMATS}
    assert all(any(s.lstrip(".") in tested for s in fmt.suffixes) for fmt in SUPPORTED)


@pytest.mark.parametrize("kind", list(FORMATS))
def test_each_format_uploads_and_reindexes(client: httpx.Client, kind: str) -> None:
    name, build, query, word = FORMATS[kind]
    task = ingest(client, [(name, build())])
    assert task["errors"] == [] and task["result"]["added"] == 1, task
    (document,) = client.get("/api/documents").json()["items"]
    assert (document["file_name"], document["status"]) == (name, "indexed"), document
    hits = search(client, query, mode="fulltext")
    assert hits and hits[0]["document_id"] == document["id"] and word in hits[0]["text"]

    # Re-indexing reads the stored original, ``files/<sha[:2]>/<sha>``: no suffix either.
    response = client.post(f"/api/documents/{document['id']}/reindex")
    assert response.status_code == 202, response.text
    task = wait_for_task(client, response.json()["task_id"])
    assert (task["status"], task["errors"]) == ("succeeded", []), task
    after = client.get(f"/api/documents/{document['id']}").json()
    assert (after["status"], after["error"]) == ("indexed", None), after
    assert after["chunk_count"] == document["chunk_count"]
