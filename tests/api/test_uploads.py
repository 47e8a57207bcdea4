"""The multipart receiver, fed a body a piece at a time: what reaches the disk while it arrives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from documents.conftest import pdf_bytes
from event_loops import run_async
from starlette.requests import Request
from starlette.types import Message

from docchat.api.uploads import UploadForm, receive_upload

from .test_documents_api import multipart_body

PIECE = 64 * 1024


def _spooled(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def _receive(body: bytes, headers: dict[str, str], directory: Path) -> tuple[UploadForm, int]:
    """Stream ``body`` to ``receive_upload`` in 64 KiB pieces; returns the form and the most bytes
    that were on disk under ``directory`` as any piece arrived."""
    pieces: Iterator[bytes] = (body[i : i + PIECE] for i in range(0, len(body), PIECE))
    most = 0

    async def receive() -> Message:
        nonlocal most
        # The receiver has handled every earlier piece before it asks for the next one.
        most = max(most, _spooled(directory))
        piece = next(pieces, None)
        if piece is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": piece, "more_body": True}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/documents",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }

    async def main() -> UploadForm:
        return await receive_upload(Request(scope, receive), directory, max_file_bytes=100_000_000)

    form = run_async(main)
    return form, max(most, _spooled(directory))


@pytest.mark.parametrize(
    ("name", "head", "reason"),
    [
        ("data.bin", b"\x7fELF\x02\x01", "not a supported document type"),
        ("archive.zip", b"PK\x03\x04", "not a supported document type"),
        ("scan.pdf", b"\x89PNG\r\n\x1a\n", "is not a valid PDF"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old binary Office format"),
    ],
)
def test_a_file_refused_by_its_name_and_first_bytes_is_not_spooled(
    tmp_path: Path, name: str, head: bytes, reason: str
) -> None:
    big = head + bytes(range(256)) * (3 * 1024 * 1024 // 256)  # 3 MB
    body, headers = multipart_body([("files", name, big), ("files", "notes.txt", b"kept\n")])
    form, most = _receive(body, headers, tmp_path)
    # Only the small text file (5 bytes) is ever written; the refused file's bytes are not.
    assert most <= 5
    refused, kept = form.files
    assert refused.file_name == name and refused.size == len(big)
    assert refused.refused is not None and reason in refused.refused
    assert kept.refused is None and kept.path.read_bytes() == b"kept\n"


def test_content_still_wins_over_a_supported_or_missing_suffix(tmp_path: Path) -> None:
    pdf = pdf_bytes([["A page."]])
    body, headers = multipart_body(
        [
            ("files", "really-a-pdf.txt", pdf),
            ("files", "README", b"plain words\n"),
            ("files", "scan.bin", pdf),
        ]
    )
    form, _ = _receive(body, headers, tmp_path)
    assert [f.refused for f in form.files] == [None, None, None]
    assert [f.path.read_bytes() for f in form.files] == [pdf, b"plain words\n", pdf]
