"""Original files, addressed by content hash (never by a user-supplied path), behind one protocol.

Two backends: ``directory`` (``<data_dir>/files/<sha[:2]>/<sha>``, the default) and ``s3``
(an S3-compatible bucket, the optional ``s3`` extra), chosen by ``storage.backend``.  Content is
immutable and named by its sha256, so a copy of it, anywhere, never goes stale.

A put never makes incomplete or wrong bytes visible under a hash: each backend writes under a
temporary name, hashes what it wrote, and only then gives it the hash's name (a rename, or an S3
server-side copy).  A process that dies midway leaves only a temporary name nobody reads.
"""

from __future__ import annotations

from collections.abc import Callable

from docchat.config import Settings
from docchat.documents.storage.contract import (
    CHUNK,
    ContentStore,
    HashingReader,
    ReadableStream,
    check_hash,
    hash_file,
    opened,
)
from docchat.errors import StorageUnavailable

__all__ = [
    "CHUNK",
    "ContentStore",
    "HashingReader",
    "ReadableStream",
    "check_hash",
    "hash_file",
    "open_content_store",
    "opened",
]


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
