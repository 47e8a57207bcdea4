"""Archive-bomb guard for Office files (.docx, .pptx, .xlsx are zip archives).

It reads only the zip's central directory, before python-docx, python-pptx or openpyxl inflate
anything.  The declared sizes can be trusted as upper bounds: ``zipfile``, which all three libraries
read through, stops inflating a member at its declared size.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

from docchat.config import DocumentSettings
from docchat.documents.sizes import format_size
from docchat.errors import CorruptDocument, TooLarge

# Real Office files have tens to a few thousand parts; more only costs us time to list.
MAX_MEMBERS = 10_000
# zipfile builds an object per central-directory entry before we can count them, so the directory's
# declared size is checked first; a real entry is 46 bytes plus a name of a few dozen.
MAX_DIRECTORY_BYTES = MAX_MEMBERS * 512
_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD_SEARCH_BYTES = 22 + 65_535 + 20  # record, longest comment, zip64 locator
# Below this a high ratio is harmless: a few hundred KB of repetitive XML may well shrink 300-fold.
RATIO_FLOOR_BYTES = 1_000_000


def check_office_zip(path: Path, limits: DocumentSettings, *, name: str) -> None:
    """Refuse a damaged, encrypted or bomb-like Office archive; return if it is safe to open."""
    check_zip_directory(path, name=name)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise CorruptDocument(f"{name!r} is damaged: it is not a readable zip archive") from None
    if len(infos) > MAX_MEMBERS:
        raise CorruptDocument(
            f"{name!r} has more parts than any real Office file; it was not opened"
        )
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise CorruptDocument(f"{name!r} is encrypted")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
            raise CorruptDocument(
                f"{name!r} looks like an archive bomb: one of its parts expands {ratio:,.0f}-fold "
                f"(at most {limits.max_compression_ratio:,.0f}-fold is accepted)"
            )
        total += info.file_size
    if total > limits.max_unpacked_bytes:
        raise TooLarge(
            f"{name!r} unpacks to {format_size(total)}; "
            f"the limit is {format_size(limits.max_unpacked_bytes)}",
            field="file",
        )


def check_zip_directory(path: Path, *, name: str) -> None:
    """Refuse a zip whose central directory is too big to list, reading only its end records."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - _EOCD_SEARCH_BYTES))
        tail = f.read()
        at = tail.rfind(_EOCD)
        if at < 0 or at + 22 > len(tail):
            return  # not a zip zipfile can open either; it will say so
        entries, directory_bytes = struct.unpack_from("<HI", tail, at + 10)
        locator = at - 20
        if locator >= 0 and tail[locator : locator + 4] == _EOCD64_LOCATOR:
            (offset,) = struct.unpack_from("<Q", tail, locator + 8)
            f.seek(offset)
            record = f.read(56)
            if len(record) == 56 and record[:4] == _EOCD64:
                entries, directory_bytes = struct.unpack_from("<QQ", record, 32)
    if entries > MAX_MEMBERS or directory_bytes > MAX_DIRECTORY_BYTES:
        raise CorruptDocument(
            f"{name!r} has more parts than any real Office file; it was not opened"
        )
