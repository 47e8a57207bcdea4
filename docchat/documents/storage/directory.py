"""Originals in a directory: ``<data_dir>/files/<sha[:2]>/<sha>``, the layout docchat has always
used, so existing data dirs keep working."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from docchat.documents.storage.contract import (
    CHUNK,
    HashingReader,
    ReadableStream,
    check_hash,
    opened,
)


class DirectoryStore:
    """A ``ContentStore`` in ``<data_dir>/files``, written by temporary file and atomic rename."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "files"

    def path(self, sha256: str) -> Path:
        """Where the content lives (whether or not it is there)."""
        return self.root / sha256[:2] / sha256

    def location(self, sha256: str) -> str:
        return f"files/{sha256[:2]}/{sha256}"  # relative to the data dir

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size
        except OSError:
            return None

    def put(self, source: Path | BinaryIO, sha256: str) -> None:
        target = self.path(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # A dot name no reader asks for: a process killed mid-copy leaves it, never the hash.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, opened(source) as src:
                reader = HashingReader(src)
                shutil.copyfileobj(reader, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            check_hash(reader, sha256)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, sha256: str) -> ReadableStream:
        return self.path(sha256).open("rb")

    def local_path(self, sha256: str) -> Path:
        path = self.path(sha256)
        if not path.is_file():
            raise FileNotFoundError(path)
        return path

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
