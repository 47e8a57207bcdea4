"""Session transcripts as Markdown, Word and PDF, on both backends: each message and, under each
answer, its references with file, page and quoted span.  The files are opened with python-docx
and pypdf, as a reader's program would."""

from __future__ import annotations

import io
from typing import Any

import docx
import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader

from docchat.errors import InvalidInput, SessionNotFound
from docchat.sessions.export_pdf import _latin1, font_cache_dir, to_pdf
from docchat.sessions.store import SessionStore

QUOTE = "Employees accrue 2.08 days of paid leave per month of service."
REFERENCES: list[Any] = [
    {
        "n": 1,
        "kind": "document",
        "document_id": "d1",
        "file_name": "handbook.pdf",
        "page": 4,
        "section": "Leave > Accrual",
        "char_start": 100,
        "char_end": 400,
        "span_start": 120,
        "span_end": 182,
        "quote": QUOTE,
        "snippet": "…the whole passage…",
    },
    {"n": 2, "kind": "web", "url": "https://example.org/leave", "title": "Leave rules"},
    {"document": "notes.md", "snippet": "A classic reference with a snippet only."},
]
HOSTILE = "CJK 中文 emoji 😀 RTL שלום control\x01char tab\tend " + "x" * 300


@pytest.fixture
def sid(store: SessionStore) -> str:
    session = store.create(title="Leave questions — ünïcode")
    store.append(session.id, "user", "How much leave do I build up each month?")
    store.append(
        session.id, "assistant", "You accrue 2.08 days a month [1].", references=REFERENCES
    )
    store.append(session.id, "user", HOSTILE)
    store.append(session.id, "assistant", "No sources for that.", references=[])
    return session.id


def test_markdown_quotes_each_reference(store: SessionStore, sid: str) -> None:
    md = store.export(sid, "markdown")
    assert "1. handbook.pdf, p. 4, Leave > Accrual\n   > " + QUOTE in md
    assert "2. Leave rules <https://example.org/leave>" in md
    assert "3. notes.md\n   > A classic reference with a snippet only." in md
    assert store.export_file(sid, "markdown") == md.encode("utf-8")


def test_markdown_quotes_keep_every_line_in_the_blockquote(store: SessionStore) -> None:
    s = store.create()
    store.append(s.id, "assistant", "Answer.", references=[{"file_name": "a.txt", "quote": "x\ny"}])
    assert "1. a.txt\n   > x\n   > y\n" in store.export(s.id, "markdown")


def test_docx(store: SessionStore, sid: str) -> None:
    data = store.export_file(sid, "docx")
    document = docx.Document(io.BytesIO(data))
    paragraphs = [p.text for p in document.paragraphs]
    text = "\n".join(paragraphs)
    assert paragraphs[0] == "Leave questions — ünïcode"
    assert document.core_properties.title == "Leave questions — ünïcode"
    assert "How much leave do I build up each month?" in paragraphs
    assert "You accrue 2.08 days a month [1]." in paragraphs
    assert "[1] handbook.pdf, p. 4, Leave > Accrual" in paragraphs
    assert "[2] Leave rules <https://example.org/leave>" in paragraphs
    quotes = [p.text for p in document.paragraphs if p.style.name == "Quote"]
    assert quotes == [QUOTE, "A classic reference with a snippet only."]
    # Every character survives but the control character XML cannot hold.
    assert HOSTILE.replace("\x01", "") in text
    assert sum(1 for p in paragraphs if p.startswith(("User ·", "Assistant ·"))) == 4


def test_pdf(store: SessionStore, sid: str) -> None:
    data = store.export_file(sid, "pdf")
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Leave questions — ünïcode" in text
    assert "How much leave do I build up each month?" in text
    assert "You accrue 2.08 days a month [1]." in text
    assert "[1] handbook.pdf, p. 4, Leave > Accrual" in text
    assert f"“{QUOTE}”" in text
    assert "[2] Leave rules <https://example.org/leave>" in text
    assert "A classic reference with a snippet only." in text
    # What the font has is printed; what it lacks (CJK, emoji, Hebrew) becomes U+FFFD.
    assert "CJK \ufffd\ufffd emoji \ufffd RTL \ufffd\ufffd\ufffd\ufffd controlchar" in text
    assert "x" * 100 in text.replace(" ", "")  # a 300-letter word wraps, is not lost
    assert reader.metadata is not None and reader.metadata.title == "Leave questions — ünïcode"


def test_pdf_bold_is_made_once_per_data_dir_and_draws_as_fpdf2s_own(
    store: SessionStore, sid: str
) -> None:
    # fpdf2 made the bold of the variable Noto Sans on every export: 5.6 s of CPU for any PDF.
    first, second = store.export_file(sid, "pdf"), store.export_file(sid, "pdf")
    cached = list(font_cache_dir(store.settings.data_dir).iterdir())
    assert [p.suffix for p in cached] == [".ttf"]  # one font, no temporary file left
    session = store.get(sid, include_messages=True)
    own = to_pdf(session)  # no cache: fpdf2 makes the bold itself
    assert pages_drawn(first) == pages_drawn(second) == pages_drawn(own)


def pages_drawn(pdf: bytes) -> list[bytes]:
    """The pixels of each page of a PDF, as PDFium draws them."""
    document = pdfium.PdfDocument(pdf)
    try:
        return [page.render(scale=1).to_pil().tobytes() for page in document]
    finally:
        document.close()


def test_pdf_without_a_unicode_font(store: SessionStore, sid: str) -> None:
    session = store.get(sid, include_messages=True)
    reader = PdfReader(io.BytesIO(to_pdf(session, unicode_font=False)))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "[1] handbook.pdf, p. 4, Leave > Accrual" in text
    assert QUOTE in text
    assert "ünïcode" in text


def test_latin1_keeps_what_it_can() -> None:
    assert _latin1("café ł — 中 😀 ǅ") == "café ? ? ? ? Dz"  # ǅ: D, z and a dropped caron


def test_export_file_errors(store: SessionStore, sid: str) -> None:
    with pytest.raises(InvalidInput):
        store.export_file(sid, "odt")  # type: ignore[arg-type]
    with pytest.raises(SessionNotFound):
        store.export_file("missing", "pdf")
    with pytest.raises(SessionNotFound):
        store.export_file(sid, "docx", owner="someone-else")


def test_an_empty_session_exports(store: SessionStore) -> None:
    s = store.create()
    assert docx.Document(io.BytesIO(store.export_file(s.id, "docx"))).paragraphs[0].text == (
        f"Chat {s.id}"
    )
    assert len(PdfReader(io.BytesIO(store.export_file(s.id, "pdf"))).pages) == 1
