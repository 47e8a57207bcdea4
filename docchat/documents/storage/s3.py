"""Originals in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2…), through boto3.

Keys are ``<prefix><sha[:2]>/<sha>``, the directory backend's layout, so a data dir's ``files/``
can be copied into a bucket as it is.  A put uploads to ``<prefix>incoming/<uuid>`` while
hashing the bytes sent, and only when they hash to the sha is the object copied (server-side)
to its key: an upload cut off midway is an incomplete multipart upload, never an object, and one
killed after uploading leaves an ``incoming/`` object no reader asks for (a bucket lifecycle rule
expires them; see the README).

Parsers and PDFium need a path, so ``local_path`` downloads the object once into
``<data_dir>/cache/files/<sha[:2]>/<sha>``, checked against its hash.  The content behind a hash
never changes, so that copy is never stale; it is a cache: any process may delete it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from docchat.config import StorageSettings
from docchat.documents.storage.contract import (
    CHUNK,
    HashingReader,
    ReadableStream,
    check_hash,
    opened,
)
from docchat.errors import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

# What S3 and its look-alikes answer for a key that is not there (HEAD has no body, so a code).
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Store:
    """A ``ContentStore`` in an S3-compatible bucket, with a local cache for ``local_path``."""

    def __init__(self, client: S3Client, *, bucket: str, prefix: str, cache_dir: Path) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.cache_dir = cache_dir

    @classmethod
    def from_settings(cls, settings: StorageSettings, *, cache_dir: Path) -> S3Store:
        """A store on the bucket ``settings`` names; credentials left unset are found as boto3
        finds them (AWS_* variables, ~/.aws, an instance role)."""
        assert settings.bucket is not None  # StorageSettings refuses s3 without one
        secret = settings.secret_access_key
        client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(
                connect_timeout=settings.timeout_s,
                read_timeout=settings.timeout_s,
                retries={"max_attempts": 4, "mode": "standard"},
                s3={"addressing_style": settings.addressing_style},
            ),
        )
        return cls(client, bucket=settings.bucket, prefix=settings.prefix, cache_dir=cache_dir)

    def key(self, sha256: str) -> str:
        """The object key of content with this hash."""
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def location(self, sha256: str) -> str:
        return f"s3://{self.bucket}/{self.key(sha256)}"

    def exists(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def size(self, sha256: str) -> int | None:
        try:
            with self._errors("look up a file"):
                return self._client.head_object(Bucket=self.bucket, Key=self.key(sha256))[
                    "ContentLength"
                ]
        except FileNotFoundError:
            return None

    def put(self, source: Path | BinaryIO, sha256: str) -> None:
        if self.exists(sha256):
            return
        incoming = f"{self.prefix}incoming/{uuid.uuid4().hex}"
        try:
            with opened(source) as src, self._errors("store a file"):
                reader = HashingReader(src)
                # The reader cannot seek, so boto3 reads it once, in order: the hash is that of
                # the bytes uploaded.
                self._client.upload_fileobj(cast(BinaryIO, reader), self.bucket, incoming)
                check_hash(reader, sha256)
                self._client.copy(
                    {"Bucket": self.bucket, "Key": incoming}, self.bucket, self.key(sha256)
                )
        finally:
            self._forget(incoming)

    def open(self, sha256: str) -> ReadableStream:
        with self._errors("read a file"):
            return self._client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]

    def local_path(self, sha256: str) -> Path:
        path = self.cache_dir / sha256[:2] / sha256
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                body = self.open(sha256)
                try:
                    with self._errors("read a file"):
                        reader = HashingReader(body)
                        shutil.copyfileobj(reader, out, CHUNK)
                finally:
                    body.close()
            check_hash(reader, sha256)  # a damaged download is not kept as the content
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def delete(self, sha256: str) -> None:
        with self._errors("delete a file"):
            self._client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        (self.cache_dir / sha256[:2] / sha256).unlink(missing_ok=True)

    def _forget(self, key: str) -> None:
        """Delete a temporary object, logging (not raising) a failure: it is nobody's content."""
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            log.warning("could not delete temporary object %s: %s", key, exc)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """boto3's errors as docchat's: a missing key is FileNotFoundError, anything else
        StorageUnavailable (its details go to the log, not to the client)."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise FileNotFoundError(doing) from None
            log.warning("S3 bucket %s refused to %s: %s", self.bucket, doing, exc)
            raise self._unavailable(doing) from None
        except (BotoCoreError, Boto3Error) as exc:
            log.warning("S3 bucket %s: cannot %s: %s", self.bucket, doing, exc)
            raise self._unavailable(doing) from None

    def _unavailable(self, doing: str) -> StorageUnavailable:
        return StorageUnavailable(
            f"could not {doing}: the document store (bucket {self.bucket!r}) refused or did "
            "not answer; try again later"
        )
