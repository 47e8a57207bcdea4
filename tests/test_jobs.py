"""Ingest, then embed: uploads consumed, progress reported, cancel honoured."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from docchat.config import Settings
from docchat.documents.ingest import IngestProgress, UploadedFile
from docchat.documents.models import ChunkRow
from docchat.errors import InvalidInput
from docchat.retrieval.embedders import MiniLMEmbedder, Vectors
from docchat.tasks import Progress
from docchat.tasks.jobs import EMBEDDING, ingest_job
from docchat.tasks.runner import Job
from docchat.workspace import Workspace
from tests.named_jobs import blocking_job
from tests.workspace_parts import parts

NOTES = b"# Garden\n\nWater the tomatoes every morning; prune the apple trees in late winter.\n"
BALCONY = b"Tomatoes on the balcony need water every evening in summer.\n"


def spool(workspace: Workspace, files: Sequence[tuple[str, bytes]]) -> list[UploadedFile]:
    """Files as the upload route hands them over: spooled in the workspace's upload folder."""
    workspace.upload_dir.mkdir(parents=True, exist_ok=True)
    spooled = []
    for i, (name, content) in enumerate(files):
        path = workspace.upload_dir / f"upload-{i}"
        path.write_bytes(content)
        spooled.append(UploadedFile(path=path, file_name=name, size=len(content)))
    return spooled


class GatedEmbedder:
    """MiniLM, but each ``embed`` call waits until the test lets it through."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return self.inner.embed(texts)


@pytest.fixture
def gated(settings: Settings, minilm: MiniLMEmbedder) -> Iterator[tuple[Workspace, GatedEmbedder]]:
    """A workspace whose embedder waits for the test."""
    embedder = GatedEmbedder(minilm)
    ws = Workspace(settings, embedder=embedder)
    yield ws, embedder
    embedder.gate.set()
    ws.close()


def test_an_upload_task_ingests_embeds_and_consumes_its_files(workspace: Workspace) -> None:
    files = spool(workspace, [("notes.md", NOTES), ("dup.md", BALCONY), ("./dup.md", b"Again.\n")])
    task = workspace.start_ingest(files, collection="garden")
    assert task.kind == "ingest" and task.total == 3
    done = workspace.wait_for_task(task.id)
    assert done.status == "succeeded", done
    assert done.result == {
        "documents": done.result["documents"],
        "added": 2,
        "updated": 0,
        "unchanged": 0,
        "failed": 1,
        "replaced": [],
        "embedded": done.result["embedded"],
    }
    assert done.result["embedded"] > 0 and len(done.result["documents"]) == 2
    assert [e["file"] for e in done.errors] == ["dup.md"]
    assert (done.processed, done.total, done.current) == (3, 3, None)
    assert {d.file_name: d.status for d in workspace.documents()} == {
        "notes.md": "indexed",
        "dup.md": "indexed",
    }
    assert [c.name for c in workspace.collections()] == ["garden"]
    assert not any(f.path.exists() for f in files)


def test_an_upload_job_crosses_as_json_and_a_second_run_stores_nothing_twice(
    workspace: Workspace,
) -> None:
    # What a queue stores and a worker of another process reads back: names and JSON only.
    files = spool(workspace, [("notes.md", NOTES), ("balcony.md", BALCONY)])
    job = ingest_job(files, data_dir=workspace.settings.data_dir, collection="garden", owner=None)
    sent = Job.from_json(json.loads(json.dumps(job.to_json())))
    assert sent == job and not any(Path(name).is_absolute() for name in sent.files)
    runner = parts(workspace).jobs
    progress = Progress(parts(workspace).db, "no-row")  # its writes find no row: fine here

    first = runner.run(sent, progress)
    assert (first["added"], first["unchanged"]) == (2, 0)
    assert all(f.path.exists() for f in files)  # kept until the job is over: a retry reads them
    # A worker killed after storing them: the job runs again, from the start.
    again = runner.run(sent, progress)
    assert (again["added"], again["unchanged"], again["failed"]) == (0, 2, 0)
    assert sorted(d.file_name for d in workspace.documents()) == ["balcony.md", "notes.md"]
    with parts(workspace).db.read() as s:
        chunks = s.scalar(select(func.count()).select_from(ChunkRow))
    assert chunks == first["embedded"]  # each passage once, embedded once
    runner.discard(sent)
    assert not any(f.path.exists() for f in files)


def test_an_upload_that_cannot_be_queued_deletes_its_files(workspace: Workspace) -> None:
    files = spool(workspace, [("notes.md", NOTES)])
    with pytest.raises(InvalidInput):
        workspace.start_ingest(files, collection="  ")
    assert not files[0].path.exists()
    assert workspace.tasks() == []


def test_a_queued_upload_cancelled_never_runs_and_its_files_go(workspace: Workspace) -> None:
    release = threading.Event()
    # Both workers busy, so the upload waits its turn.
    busy = []
    for _ in range(2):
        started = threading.Event()
        job = blocking_job(started, release)
        busy.append(parts(workspace).runner.submit("other", job, owner=None))
        assert started.wait(30)
    files = spool(workspace, [("notes.md", NOTES)])
    task = workspace.start_ingest(files)
    assert workspace.task(task.id).status == "queued"
    cancelled = workspace.cancel_task(task.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    release.set()
    for other in busy:
        assert workspace.wait_for_task(other.id).status == "succeeded"
    # Its turn came, and it was skipped: the files are gone, nothing was indexed.
    parts(workspace).runner.shutdown()
    assert not files[0].path.exists()
    assert workspace.documents() == []
    assert workspace.task(task.id).status == "cancelled"


def test_a_running_upload_cancelled_stops_at_its_next_step(
    gated: tuple[Workspace, GatedEmbedder],
) -> None:
    workspace, embedder = gated
    files = spool(workspace, [("notes.md", NOTES), ("balcony.md", BALCONY)])
    task = workspace.start_ingest(files)
    assert embedder.entered.wait(30)  # the files are in; the first batch of vectors is waiting
    running = workspace.task(task.id)
    assert running.status == "running" and running.current == EMBEDDING
    assert workspace.cancel_task(task.id).status == "running"
    embedder.gate.set()
    done = workspace.wait_for_task(task.id)
    assert done.status == "cancelled" and done.finished_at is not None
    assert done.result is None
    # What it had done stays done: both documents are searchable by full text.
    assert {d.file_name for d in workspace.documents()} == {"notes.md", "balcony.md"}
    assert workspace.search("balcony", mode="fulltext")[0].file_name == "balcony.md"
    assert not any(f.path.exists() for f in files)


def test_ingest_paths_reports_files_then_embedding(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.md").write_bytes(NOTES)
    (folder / "balcony.md").write_bytes(BALCONY)
    files: list[tuple[str | None, int]] = []
    batches: list[tuple[int, int]] = []

    def on_file(state: IngestProgress) -> None:
        assert not batches, "embedding starts once the files are done"
        files.append((Path(state.current).name if state.current else None, state.files_done))

    result = workspace.ingest(
        [folder, tmp_path / "missing.md"],
        progress=on_file,
        embed_progress=lambda done, total: batches.append((done, total)),
    )
    assert (result.added, len(result.failures), result.embedded) == (2, 1, 2)
    assert workspace.chunks_without_vectors() == 0
    # Before and after each file (named while it is read), then once more at the end.
    assert files == [
        ("balcony.md", 0),
        ("balcony.md", 1),
        ("notes.md", 1),
        ("notes.md", 2),
        (None, 2),
    ]
    assert batches == [(0, 2), (2, 2)]


def test_an_upload_counts_its_own_passages_while_it_embeds(
    gated: tuple[Workspace, GatedEmbedder], tmp_path: Path
) -> None:
    workspace, embedder = gated
    # Another batch's passages still wait for vectors (ingested without, or a cancelled run).
    other = tmp_path / "rivers.txt"
    other.write_text(
        "\n\n".join(f"River {i} floods in spring and runs dry by August." * 8 for i in range(40))
    )
    embedder.gate.set()
    workspace.ingest([other], embed=False)
    embedder.gate.clear()
    waiting = workspace.chunks_without_vectors()
    assert waiting > 10

    task = workspace.start_ingest(spool(workspace, [("notes.md", NOTES)]))
    assert embedder.entered.wait(30)
    running = workspace.task(task.id)
    (notes,) = [d for d in workspace.documents() if d.file_name == "notes.md"]
    # The row of notes.md counts notes.md's passages, not every passage left without a vector.
    assert (running.current, running.processed, running.total) == (
        EMBEDDING,
        0,
        notes.chunk_count,
    )
    embedder.gate.set()
    done = workspace.wait_for_task(task.id)
    assert done.status == "succeeded", done
    # The others are still embedded, as before, just not counted as this file's.
    assert done.result["embedded"] == waiting + notes.chunk_count
    assert workspace.chunks_without_vectors() == 0


def test_known_content_counts_as_embedded_for_an_owner_who_did_not_hold_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Content is stored once for everyone with the same bytes; a result that said "embedded 0"
    # to bob would tell him someone else has his file.  For alice's second copy it is still 0:
    # her own document embedded it.
    path = tmp_path / "notes.md"
    path.write_bytes(NOTES)
    first = workspace.ingest([path], owner="alice")
    assert first.embedded == 1
    again = workspace.ingest([path], owner="alice", collection="other")
    assert (again.added, again.embedded) == (1, 0)
    bob = workspace.ingest([path], owner="bob")
    assert (bob.added, bob.embedded) == (first.added, first.embedded)
    assert workspace.chunks_without_vectors() == 0
