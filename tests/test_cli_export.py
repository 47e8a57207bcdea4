"""``docchat sessions export`` in every format: text to stdout, Word and PDF to a file (or to a
pipe, never to a terminal)."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from docchat.cli import app
from docchat.config import Settings
from docchat.sessions.store import SessionStore

runner = CliRunner()
QUOTE = "The notice period is three months."


@pytest.fixture
def session(tmp_path: Path) -> tuple[Path, str]:
    data = tmp_path / "data"
    store = SessionStore.from_settings(Settings(data_dir=data))
    try:
        s = store.create(title="Contract")
        store.append(s.id, "user", "What is the notice period?")
        reference = {"n": 1, "file_name": "contract.pdf", "page": 4, "quote": QUOTE}
        store.append(s.id, "assistant", "Three months [1].", references=[reference])
    finally:
        store.db.dispose()
    return data, s.id


def export(data: Path, *args: str) -> tuple[int, bytes, str]:
    result = runner.invoke(app, ["sessions", "export", *args], env={"DOCCHAT_DATA_DIR": str(data)})
    return result.exit_code, result.stdout_bytes, result.output


def test_markdown_to_stdout(session: tuple[Path, str]) -> None:
    data, sid = session
    code, out, _ = export(data, sid, "-f", "markdown")
    assert code == 0
    assert f"1. contract.pdf, p. 4\n   > {QUOTE}\n".encode() in out


def test_docx_and_pdf_to_files(session: tuple[Path, str], tmp_path: Path) -> None:
    data, sid = session
    target = tmp_path / "out.docx"
    code, out, output = export(data, sid, "--format", "docx", "-o", str(target))
    assert code == 0, output
    assert out == b""
    paragraphs = [p.text for p in docx.Document(str(target)).paragraphs]
    assert "[1] contract.pdf, p. 4" in paragraphs and QUOTE in paragraphs
    # Piped (CliRunner's stdout is no terminal): the PDF's bytes go to stdout as they are.
    code, out, _ = export(data, sid, "--format", "pdf")
    assert code == 0 and out.startswith(b"%PDF-")
    text = " ".join(PdfReader(io.BytesIO(out)).pages[0].extract_text().split())
    assert "[1] contract.pdf, p. 4" in text and QUOTE in text
