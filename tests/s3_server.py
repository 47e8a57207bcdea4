"""A real S3-compatible server for the tests: moto's server mode, over HTTP on a free port.

boto3 talks to it over TCP as it would to AWS or MinIO (signatures, multipart uploads, error
codes); nothing in boto3 is patched.  Each test gets a bucket of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from moto.server import ThreadedMotoServer

from docchat.config import StorageSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: moto takes any key; these only have to be passed, so that nothing is read from ~/.aws.
CREDENTIALS = {"access_key_id": "docchat-test", "secret_access_key": "docchat-test-secret"}
REGION = "us-east-1"


@contextmanager
def run_s3_server() -> Iterator[str]:
    """Start moto's S3 server on a port the OS picks; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> S3Client:
    """A plain boto3 client of the server, for what the tests check behind the store's back."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["access_key_id"],
        aws_secret_access_key=CREDENTIALS["secret_access_key"],
    )


def new_bucket(endpoint: str, *, prefix: str = "docchat/") -> StorageSettings:
    """Create an empty bucket; storage settings that keep originals in it."""
    bucket = f"docchat-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    return StorageSettings(
        backend="s3",
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        region=REGION,
        addressing_style="path",
        **CREDENTIALS,
    )


def object_keys(endpoint: str, bucket: str) -> list[str]:
    """Every key in ``bucket``, and every multipart upload still open in it (as ``upload:KEY``)."""
    client = s3_client(endpoint)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return sorted(keys + [f"upload:{u['Key']}" for u in uploads])
