"""Original files, addressed by content hash (never by a user-supplied path), behind one protocol.

Two backends: ``directory`` (``<data_dir>/files/<sha[:2]>/<sha>``, the default) and ``s3``
(an S3-compatible bucket, the optional ``s3`` extra), chosen by ``storage.backend``.  Content is
immutable and named by its sha256, so a copy of it, anywhere, never goes stale.

A put never makes incomplete or wrong bytes visible under a hash: each backend writes under a
temporary name, hashes what it wrote, and only then gives it the hash's name (a rename, or an S3
server-side copy).  A process that dies midway leaves only a temporary name nobody reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from docchat.config import Settings
from docchat.errors import ContentChanged, StorageUnavailable, TooLarge

CHUNK = 1 << 20


class ReadableStream(Protocol):
    """What ``ContentStore.open`` returns: a file, or an S3 response body."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class ContentStore(Protocol):
    """Where originals are kept, by sha256.  Missing content is ``FileNotFoundError``; a store
    that cannot be reached is ``StorageUnavailable``."""

    def location(self, sha256: str) -> str:
        """Where content with this hash lives, as recorded in the database (for people only:
        nothing is ever read back by it)."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether the content is stored."""
        ...

    def size(self, sha256: str) -> int | None:
        """Its size in bytes; None when it is not stored."""
        ...

    def put(self, source: Path | BinaryIO, sha256: str) -> None:
        """Store the bytes of a local file or a stream under ``sha256`` (once per hash);
        ContentChanged, storing nothing, when they do not hash to it."""
        ...

    def open(self, sha256: str) -> ReadableStream:
        """The stored bytes, to be read in blocks (and closed)."""
        ...

    def local_path(self, sha256: str) -> Path:
        """A local file holding the content, for readers that need a path (PDFium, parsers)."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the content (no error when it is already gone)."""
        ...


def hash_file(path: Path, *, max_bytes: int, name: str) -> tuple[str, int]:
    """sha256 and size of ``path``, read in 1 MiB blocks; TooLarge past ``max_bytes``."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            size += len(block)
            if size > max_bytes:
                raise TooLarge(
                    f"{name!r} is larger than the {max_bytes:,}-byte limit", field="file"
                )
            digest.update(block)
    return digest.hexdigest(), size


class HashingReader:
    """Reads a stream and hashes exactly what was read.  It has no ``seek`` on purpose: an
    uploader that could seek might read parts out of order (or twice), and the hash would not
    be the one of the bytes sent."""

    def __init__(self, stream: ReadableStream | BinaryIO) -> None:
        self._stream = stream
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        block = self._stream.read(size)
        self._digest.update(block)
        self.size += len(block)
        return block

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def check_hash(reader: HashingReader, sha256: str) -> None:
    """ContentChanged unless what ``reader`` read hashes to ``sha256``."""
    if reader.hexdigest() != sha256:
        raise ContentChanged(
            f"content {sha256[:12]}… changed while it was stored (its bytes no longer hash to "
            "it); nothing was kept: read the file again"
        )


@contextmanager
def opened(source: Path | BinaryIO) -> Iterator[BinaryIO]:
    """A readable binary stream over ``source``; a path is opened (and closed) here, a stream
    is the caller's to close."""
    if isinstance(source, Path):
        with source.open("rb") as fh:
            yield fh
    else:
        yield source


def _directory(settings: Settings) -> ContentStore:
    from docchat.documents.storage.directory import DirectoryStore

    return DirectoryStore(settings.data_dir)


def _s3(settings: Settings) -> ContentStore:
    try:
        from docchat.documents.storage.s3 import S3Store
    except ImportError:  # boto3 comes with the `s3` extra only
        raise StorageUnavailable(
            "storage.backend is 's3' but boto3 is not installed: pip install 'docchat[s3]'"
        ) from None
    return S3Store.from_settings(settings.storage, cache_dir=settings.data_dir / "cache" / "files")


#: ``storage.backend`` → how to open it.  A backend's library is imported only when chosen.
BACKENDS: dict[str, Callable[[Settings], ContentStore]] = {"directory": _directory, "s3": _s3}


def open_content_store(settings: Settings) -> ContentStore:
    """The store ``settings.storage.backend`` names."""
    return BACKENDS[settings.storage.backend](settings)
