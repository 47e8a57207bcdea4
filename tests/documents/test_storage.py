"""The ContentStore contract, run against both backends: a directory and an S3 bucket (moto's
server over HTTP).  Content is put, read back as a stream and as a local file, deleted; bytes
that do not hash to their name are refused, and an upload in progress is never visible."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError
from s3_server import new_bucket, object_keys

from docchat.config import Settings, StorageSettings
from docchat.documents.storage import ContentStore, open_content_store
from docchat.documents.storage.directory import DirectoryStore
from docchat.documents.storage.s3 import S3Store
from docchat.errors import ContentChanged, StorageUnavailable

BYTES = b"%PDF-1.4 not really, but bytes all the same\n" * 100
SHA = hashlib.sha256(BYTES).hexdigest()


@dataclass
class Backend:
    """A store, and every name it has written (files or objects, finished or not)."""

    store: ContentStore
    names: Callable[[], list[str]]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture(params=["directory", "s3"])
def content(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A fresh store of each backend (no database: these tests run once per store)."""
    data_dir = tmp_path / "data"
    if request.param == "directory":
        settings = Settings(data_dir=data_dir)
        return Backend(open_content_store(settings), lambda: _files(data_dir))
    storage = new_bucket(request.getfixturevalue("s3_endpoint"))
    settings = Settings(data_dir=data_dir, storage=storage)
    endpoint, bucket = storage.endpoint_url or "", storage.bucket or ""
    return Backend(open_content_store(settings), lambda: object_keys(endpoint, bucket))


def read(store: ContentStore, sha: str) -> bytes:
    with closing(store.open(sha)) as stream:
        return stream.read()


def test_put_from_a_file_reads_back_every_way(content: Backend, tmp_path: Path) -> None:
    store = content.store
    source = tmp_path / "original.pdf"
    source.write_bytes(BYTES)
    assert not store.exists(SHA) and store.size(SHA) is None
    store.put(source, SHA)
    assert store.exists(SHA) and store.size(SHA) == len(BYTES)
    assert read(store, SHA) == BYTES
    assert store.local_path(SHA).read_bytes() == BYTES
    assert store.location(SHA).endswith(f"{SHA[:2]}/{SHA}")
    store.put(source, SHA)  # once per hash: a second put changes nothing
    assert read(store, SHA) == BYTES


def test_put_from_a_stream(content: Backend) -> None:
    content.store.put(io.BytesIO(BYTES), SHA)
    assert read(content.store, SHA) == BYTES


def test_delete_removes_content_and_is_idempotent(content: Backend) -> None:
    store = content.store
    store.put(io.BytesIO(BYTES), SHA)
    store.local_path(SHA)
    store.delete(SHA)
    assert not store.exists(SHA)
    assert not [name for name in content.names() if SHA in name]  # no copy left behind
    store.delete(SHA)
    with pytest.raises(FileNotFoundError):
        store.open(SHA)
    with pytest.raises(FileNotFoundError):
        store.local_path(SHA)


def test_bytes_that_do_not_hash_to_the_name_are_refused(content: Backend) -> None:
    with pytest.raises(ContentChanged):
        content.store.put(io.BytesIO(BYTES + b"changed while read"), SHA)
    assert not content.store.exists(SHA)
    assert content.names() == []  # not even a temporary name


class _Watched(io.RawIOBase):
    """A stream that looks at the store each time it is read: what another process would see
    while the upload is under way."""

    def __init__(self, data: bytes, store: ContentStore, names: Callable[[], list[str]]) -> None:
        self._data = io.BytesIO(data)
        self._store = store
        self._names = names
        self.seen: list[tuple[bool, list[str]]] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        self.seen.append((self._store.exists(SHA), self._names()))
        return self._data.read(size)


def test_content_is_visible_only_once_whole_and_checked(content: Backend) -> None:
    # Large enough for a multipart upload in boto3 (its threshold is 8 MiB).
    data = bytes(range(256)) * (9 * 4096)
    sha = hashlib.sha256(data).hexdigest()
    watched = _Watched(data, content.store, content.names)
    content.store.put(watched, sha)  # type: ignore[arg-type]
    assert len(watched.seen) > 1
    for exists, names in watched.seen:
        assert not exists
        assert not [name for name in names if name.endswith(f"{sha[:2]}/{sha}")]
    assert content.store.exists(sha) and read(content.store, sha) == data
    assert [name for name in content.names() if "incoming" in name] == []


class _Broken(io.RawIOBase):
    """A stream that fails after some bytes, as a client that goes away mid-upload."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        block = self._data.read(size)
        if not block:
            raise ConnectionResetError("the client went away")
        return block


def test_an_upload_cut_off_leaves_nothing(content: Backend) -> None:
    data = bytes(range(256)) * (9 * 4096)
    sha = hashlib.sha256(data).hexdigest()
    with pytest.raises(ConnectionResetError):
        content.store.put(_Broken(data), sha)  # type: ignore[arg-type]
    assert not content.store.exists(sha)
    assert content.names() == []


def test_s3_copies_land_in_the_cache_not_data_dir_files(tmp_path: Path, s3_endpoint: str) -> None:
    storage = new_bucket(s3_endpoint, prefix="team/docchat")
    store = open_content_store(Settings(data_dir=tmp_path / "data", storage=storage))
    assert isinstance(store, S3Store)
    store.put(io.BytesIO(BYTES), SHA)
    assert object_keys(s3_endpoint, storage.bucket or "") == [f"team/docchat/{SHA[:2]}/{SHA}"]
    assert store.local_path(SHA) == tmp_path / "data" / "cache" / "files" / SHA[:2] / SHA
    assert not (tmp_path / "data" / "files").exists()


def test_the_default_store_is_the_data_dir(tmp_path: Path) -> None:
    store = open_content_store(Settings(data_dir=tmp_path))
    assert isinstance(store, DirectoryStore)
    store.put(io.BytesIO(BYTES), SHA)
    assert (tmp_path / "files" / SHA[:2] / SHA).read_bytes() == BYTES  # the layout of old


def test_s3_without_a_bucket_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"storage\.bucket must be set"):
        StorageSettings(backend="s3")


def test_an_unreachable_bucket_is_storage_unavailable(tmp_path: Path, s3_endpoint: str) -> None:
    missing = new_bucket(s3_endpoint).model_copy(update={"bucket": "no-such-bucket"})
    closed = new_bucket(s3_endpoint).model_copy(
        update={"endpoint_url": "http://127.0.0.1:9", "timeout_s": 2.0}
    )
    for storage in (missing, closed):
        store = open_content_store(Settings(data_dir=tmp_path, storage=storage))
        with pytest.raises(StorageUnavailable) as caught:
            store.put(io.BytesIO(BYTES), SHA)
        assert "no-such-bucket" in caught.value.message or "docchat-" in caught.value.message
        assert "botocore" not in caught.value.message and "Error" not in caught.value.message


def test_the_default_store_needs_no_boto3(tmp_path: Path) -> None:
    # The default install has no `s3` extra: the directory store must not import boto3.
    code = (
        "import sys; from docchat.config import Settings; "
        "from docchat.documents.storage import open_content_store; "
        f"open_content_store(Settings(data_dir={str(tmp_path)!r})); "
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
