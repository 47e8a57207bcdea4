"""What every content store is and shares: the ``ContentStore`` protocol, hashing while reading,
and the check that bytes are the content their name says (a module of its own, so the backends
import it without importing the package that chooses between them)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from docchat.errors import ContentChanged, TooLarge

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
