"""Files kept inside the data dir, addressed by content hash (never by a user-supplied path)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from docchat.errors import TooLarge

_CHUNK = 1 << 20


def hash_file(path: Path, *, max_bytes: int, name: str) -> tuple[str, int]:
    """sha256 and size of ``path``, read in 1 MiB blocks; TooLarge past ``max_bytes``."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            size += len(block)
            if size > max_bytes:
                raise TooLarge(
                    f"{name!r} is larger than the {max_bytes:,}-byte limit", field="file"
                )
            digest.update(block)
    return digest.hexdigest(), size


class ContentStore:
    """Original files under ``<data_dir>/files/<sha[:2]>/<sha>``, written atomically."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "files"

    def relative_path(self, sha256: str) -> str:
        """Where content with this hash lives, relative to the data dir."""
        return f"files/{sha256[:2]}/{sha256}"

    def path(self, sha256: str) -> Path:
        """Absolute path of the stored content."""
        return self.root / sha256[:2] / sha256

    def put(self, source: Path, sha256: str) -> str:
        """Copy ``source`` in (once per hash); returns the relative path."""
        target = self.path(sha256)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return self.relative_path(sha256)

    def delete(self, sha256: str) -> None:
        """Remove stored content (no error if it is already gone)."""
        self.path(sha256).unlink(missing_ok=True)
