"""A server whose originals live in an S3 bucket (moto's server over HTTP): upload, search,
download, page image, re-index and delete work as with the data dir, and nothing is written under
``<data_dir>/files``.  What a process keeps on its disk (the local copies) can be lost."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import httpx
import pytest
from corpora import Corpora
from PIL import Image
from s3_server import new_bucket, object_keys, s3_client
from sample_pdf import write_pdf

from docchat.config import Settings

from .conftest import ExpectError, StartServer
from .test_documents_api import ingest, search, wait_for_task
from .test_passages_api import documents


@pytest.fixture
def s3_settings(settings: Settings, s3_endpoint: str, corpora: Corpora) -> Settings:
    """The backend under test, its originals in a fresh bucket."""
    corpora.copy_into(settings, [])
    return settings.model_copy(update={"storage": new_bucket(s3_endpoint)})


@pytest.mark.one_backend
def test_a_workspace_on_s3(
    s3_settings: Settings, start_server: StartServer, s3_endpoint: str, tmp_path: Path
) -> None:
    client = start_server(s3_settings)
    bucket = s3_settings.storage.bucket or ""
    pdf = write_pdf(tmp_path / "zebra.pdf").read_bytes()
    sha = hashlib.sha256(pdf).hexdigest()
    ingest(client, [("zebra.pdf", pdf), ("copy.pdf", pdf)])  # two documents, one content
    docs = documents(client)
    zebra, copy = docs["zebra.pdf"]["id"], docs["copy.pdf"]["id"]
    assert object_keys(s3_endpoint, bucket) == [f"docchat/{sha[:2]}/{sha}"]

    hits = search(client, "when does the zebra migration cross the river", mode="fulltext")
    assert hits and {hit["document_id"] for hit in hits} <= {zebra, copy}  # one per content

    download = client.get(f"/api/documents/{zebra}/file")
    assert download.status_code == 200, download.text
    assert download.content == pdf
    assert download.headers["content-length"] == str(len(pdf))
    assert download.headers["content-type"] == "application/pdf"

    image = client.get(f"/api/documents/{zebra}/pages/2/image", params={"scale": 1})
    assert image.status_code == 200, image.text
    assert Image.open(io.BytesIO(image.content)).size == (596, 842)  # A4 at 1 pixel per point

    # The local copy PDFium read is a cache: gone, the original is fetched from the bucket again.
    shutil.rmtree(s3_settings.data_dir / "cache" / "files")
    response = client.post(f"/api/documents/{zebra}/reindex")
    assert response.status_code == 202, response.text
    task = wait_for_task(client, response.json()["task_id"])
    assert (task["status"], sorted(task["result"]["documents"])) == (
        "succeeded",
        sorted([zebra, copy]),
    )

    assert client.delete(f"/api/documents/{zebra}").status_code == 204
    assert object_keys(s3_endpoint, bucket) == [f"docchat/{sha[:2]}/{sha}"]  # copy.pdf uses it
    assert client.delete(f"/api/documents/{copy}").status_code == 204
    assert object_keys(s3_endpoint, bucket) == []
    assert not (s3_settings.data_dir / "files").exists()


@pytest.mark.one_backend
def test_an_object_removed_from_the_bucket_is_not_stored(
    s3_settings: Settings, start_server: StartServer, expect_error: ExpectError, tmp_path: Path
) -> None:
    client = start_server(s3_settings)
    pdf = write_pdf(tmp_path / "zebra.pdf").read_bytes()
    ingest(client, [("zebra.pdf", pdf)])
    zebra = documents(client)["zebra.pdf"]["id"]
    storage = s3_settings.storage
    sha = hashlib.sha256(pdf).hexdigest()
    s3_client(storage.endpoint_url or "").delete_object(
        Bucket=storage.bucket or "", Key=f"docchat/{sha[:2]}/{sha}"
    )
    expect_error(client.get(f"/api/documents/{zebra}/file"), 404, "original_not_stored")
    image = client.get(f"/api/documents/{zebra}/pages/1/image")
    expect_error(image, 404, "original_not_stored")
    expect_error(client.post(f"/api/documents/{zebra}/reindex"), 409, "conflict")


@pytest.mark.one_backend
def test_a_bucket_that_does_not_answer_is_a_clear_error(
    settings: Settings,
    corpora: Corpora,
    s3_endpoint: str,
    start_server: StartServer,
    expect_error: ExpectError,
    tmp_path: Path,
) -> None:
    corpora.copy_into(settings, [])
    working = settings.model_copy(update={"storage": new_bucket(s3_endpoint)})
    client = start_server(working)
    pdf = write_pdf(tmp_path / "zebra.pdf").read_bytes()
    ingest(client, [("zebra.pdf", pdf)])
    zebra = documents(client)["zebra.pdf"]["id"]
    # The same database served by a process whose bucket has gone away.
    gone = working.storage.model_copy(update={"endpoint_url": "http://127.0.0.1:9"})
    broken: httpx.Client = start_server(working.model_copy(update={"storage": gone}))
    error = expect_error(broken.get(f"/api/documents/{zebra}/file"), 502, "storage_unavailable")
    assert working.storage.bucket in error["message"] and "botocore" not in error["message"]
