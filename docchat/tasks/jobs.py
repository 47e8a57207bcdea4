"""Ingest, then embed: the one job behind ``docchat ingest``, ``docchat.ingest()`` and an upload;
and re-index (parse a stored original again), then embed, behind every face's re-index.

The CLI and the library run it inline, with callbacks (``Workspace.ingest``); an upload runs it as
a background task (``Workspace.start_ingest``, ``ingest_task``) reporting to the task's progress:
while files are read ``processed``/``total`` count files and ``current`` names the file; while
vectors are computed they count chunks and ``current`` is ``embedding``; at the end they count
files again.  A task stops between two files or two batches of vectors when it is cancelled.
Embedding stops at its next batch when the workspace closes (``stop``), and the next start-up
resumes it (``embed_task``), for chunks without vectors are found again.

Each job is handed the parts it works with (the ``Ingestor``, the ``Indexer``), never the
workspace that starts it: nothing here calls back into the facade.

A background job crosses processes as a ``Job`` (a name and JSON arguments): ``JOBS`` maps each
name to the function that does it with the ``JobParts`` of the process that runs it (its own
workspace's ingestor, index and chat turn).  ``ingest_job``, ``reindex_job``, ``embed_job`` build
them; the chat turn (``CHAT``) is built by the workspace, for the chat engine is on a floor beside
this one and is handed in as ``JobParts.chat_turn``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docchat.documents.ingest import Ingestor, IngestProgress, ProgressCallback, UploadedFile
from docchat.documents.registry import DEFAULT_COLLECTION
from docchat.errors import InvalidInput
from docchat.tasks.progress import Progress, TaskFunction
from docchat.tasks.runner import Job

if TYPE_CHECKING:
    from docchat.retrieval.indexing import Indexer
    from docchat.retrieval.vectors import EmbedProgress

#: ``current`` of a task while it computes vectors.
EMBEDDING = "embedding"


def ingest_then_embed(
    ingestor: Ingestor,
    index: Indexer,
    *,
    paths: Iterable[str | Path] = (),
    uploads: Sequence[UploadedFile] = (),
    collection: str = DEFAULT_COLLECTION,
    owner: str | None = None,
    prune: bool = False,
    follow_symlinks: bool = False,
    embed: bool = True,
    progress: ProgressCallback | None = None,
    embed_progress: EmbedProgress | None = None,
    stop: threading.Event | None = None,
) -> IngestProgress:
    """Ingest ``paths`` (files and folders) or ``uploads`` (received files, deleted as they are
    read) into ``collection``, then, with ``embed``, compute the vectors new chunks lack.

    Symbolic links out of a folder are skipped unless ``follow_symlinks`` (``ingest.scan``).
    Returns the totals, ``embedded`` included.  ``progress`` is called around each file;
    ``embed_progress`` with ``(0, chunks to embed)`` as embedding starts, then after each batch.
    Either may raise (``Cancelled``, say) to stop the job there.
    """
    if uploads:
        paths = list(paths)
        if paths:
            raise ValueError("ingest paths or uploads, not both at once")
        state = ingestor.ingest_uploads(
            uploads, collection=collection, owner=owner, progress=progress
        )
    else:
        state = ingestor.ingest_paths(
            paths,
            collection=collection,
            owner=owner,
            prune=prune,
            follow_symlinks=follow_symlinks,
            progress=progress,
        )
    if embed:
        state.embedded += embed_new_chunks(index, progress=embed_progress, stop=stop)
    return state


def embed_new_chunks(
    index: Indexer,
    *,
    progress: EmbedProgress | None = None,
    stop: threading.Event | None = None,
    own: Collection[str] | None = None,
) -> int:
    """Compute the vectors chunks lack; returns how many.  ``progress`` is called with
    ``(0, chunks to embed)`` first, then after each batch.

    With ``own`` (sha256 values), the chunks of that content come first and are all that
    ``progress`` counts; the others left without vectors follow, reported as that same count.
    """
    if own is None:
        if progress:
            progress(0, index.pending())
        return index.embed_pending(progress=progress, stop=stop)
    # A file's row showed "297 of 297" for its 91 chunks: every upload counted what all the
    # uploads at once had left to embed.
    total = index.pending(own)
    if progress:
        progress(0, total)
    done = index.embed_pending(progress=progress, stop=stop, contents=own)
    # Then what an earlier run left (ingested without vectors, or cancelled), as before; the
    # callback still runs per batch, so a cancel stops it there.
    own_done = done
    rest = None if progress is None else (lambda _done, _total: progress(own_done, total))
    return done + index.embed_pending(progress=rest, stop=stop)


def ingest_task(
    ingestor: Ingestor,
    index: Indexer,
    uploads: Sequence[UploadedFile],
    *,
    collection: str,
    owner: str | None,
    stop: threading.Event | None = None,
    keep_files: bool = False,
) -> TaskFunction:
    """The task that ingests ``uploads`` (deleting them as it goes, unless ``keep_files``) then
    embeds; its result counts documents and chunks.  If it never runs, ``discard(uploads)`` is
    the caller's."""

    def job(progress: Progress) -> dict[str, Any]:
        report = _TaskReport(progress)
        state = ingestor.ingest_uploads(
            uploads,
            collection=collection,
            owner=owner,
            progress=report.file,
            keep_files=keep_files,
        )
        state.embedded += embed_new_chunks(
            index, progress=report.embedding, stop=stop, own=state.contents
        )
        # Finished: the counts go back to files, as they started.
        progress.current = None
        progress.update(processed=state.files_done, total=state.files_total, force=True)
        return {
            "documents": state.document_ids,
            "added": state.added,
            "updated": state.updated,
            "unchanged": state.unchanged,
            "failed": len(state.failures),
            # Documents an upload of the same name replaced: said, never silent.
            "replaced": state.replaced,
            "embedded": state.embedded,
        }

    return job


def reindex_then_embed(
    ingestor: Ingestor,
    index: Indexer,
    document_id: str,
    *,
    owner: str | None = None,
    embed_progress: EmbedProgress | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Parse a document's stored original again with the current settings, replace its content's
    chunks (shared by every document with the same bytes), then compute the vectors they lack.

    Returns what changed: the documents re-indexed, the new chunk and page counts, and how many
    chunks were embedded.  ``embed_progress`` as for ``ingest_then_embed``.
    """
    done = ingestor.reindex(document_id, owner=owner)
    embedded = embed_new_chunks(index, progress=embed_progress, stop=stop, own={done.sha256})
    return {
        "documents": done.document_ids,
        "chunks": done.chunk_count,
        "pages": done.page_count,
        "embedded": embedded,
    }


def reindex_task(
    ingestor: Ingestor,
    index: Indexer,
    document_id: str,
    *,
    file_name: str,
    owner: str | None,
    stop: threading.Event | None = None,
) -> TaskFunction:
    """The task that re-indexes one document, then embeds; progress counts the one file while
    it is parsed (``current`` names it), then chunks while vectors are computed."""

    def job(progress: Progress) -> dict[str, Any]:
        progress.update(processed=0, total=1, current=file_name, force=True)
        progress.check_cancelled()
        result = reindex_then_embed(
            ingestor,
            index,
            document_id,
            owner=owner,
            embed_progress=_TaskReport(progress).embedding,
            stop=stop,
        )
        progress.current = None
        progress.update(processed=1, total=1, force=True)
        return result

    return job


def embed_task(index: Indexer, *, stop: threading.Event | None = None) -> TaskFunction:
    """The task that embeds chunks left without vectors (start-up, a change of model)."""

    def job(progress: Progress) -> dict[str, Any]:
        embedded = embed_new_chunks(index, progress=_TaskReport(progress).embedding, stop=stop)
        progress.current = None
        return {"embedded": embedded}

    return job


class _TaskReport:
    """The job's callbacks, written to a task's progress; a cancelled task stops at the next."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.reported_failures = 0

    def file(self, state: IngestProgress) -> None:
        progress = self.progress
        for failure in state.failures[self.reported_failures :]:
            progress.update(error={"file": failure.name, "reason": failure.reason})
        self.reported_failures = len(state.failures)
        progress.update(
            processed=state.files_done,
            total=state.files_total,
            current=state.current,
            force=state.current is None,  # the files are done
        )
        progress.check_cancelled()

    def embedding(self, done: int, total: int) -> None:
        # From here ``processed``/``total`` count chunks, not files.
        self.progress.update(processed=done, total=total, current=EMBEDDING, force=done == 0)
        self.progress.check_cancelled()


# -- named jobs: what crosses processes ----------------------------------------------------------

#: Job names.
INGEST, REINDEX, EMBED, CHAT = "ingest", "reindex", "embed", "chat"


@dataclass(frozen=True, slots=True)
class JobParts:
    """What jobs work with, from the workspace of the process that runs them (a ``JobHandler``)."""

    ingestor: Ingestor
    index: Indexer
    data_dir: Path
    #: Set as that workspace closes: embedding stops at its next batch.
    stop: threading.Event
    #: Runs a background chat turn from its JSON question; returns the answer as JSON.
    chat_turn: Callable[[dict[str, Any], Progress], Any]

    def run(self, job: Job, progress: Progress) -> Any:
        """Do ``job``; what it returns is the task's result."""
        try:
            do = JOBS[job.name]
        except KeyError:
            raise InvalidInput(f"no background job is named {job.name!r}") from None
        return do(self, job, progress)

    def discard(self, job: Job) -> None:
        """Delete the job's files (those already gone are skipped)."""
        for name in job.files:
            self.path(name).unlink(missing_ok=True)

    def path(self, name: str) -> Path:
        """Where a job's file is: ``name`` is relative to the data dir (or absolute)."""
        return self.data_dir / name


#: What a named job does, with the parts of the process running it.
JobFunction = Callable[[JobParts, Job, Progress], Any]
#: Every job a runner can be handed, by name.
JOBS: dict[str, JobFunction] = {}


def register_job(name: str) -> Callable[[JobFunction], JobFunction]:
    """Add a job to ``JOBS`` under ``name`` (a decorator)."""

    def add(fn: JobFunction) -> JobFunction:
        JOBS[name] = fn
        return fn

    return add


def job_file(path: Path, data_dir: Path) -> str:
    """How a job names a file: relative to the data dir when under it, which every node of a
    cluster mounts (wherever it mounts it)."""
    try:
        return os.fspath(path.resolve().relative_to(data_dir.resolve()))
    except ValueError:
        return os.fspath(path.resolve())


def ingest_job(
    uploads: Sequence[UploadedFile], *, data_dir: Path, collection: str, owner: str | None
) -> Job:
    """The job that ingests received files (then embeds); they are its files."""
    return Job(
        INGEST,
        {
            "collection": collection,
            "owner": owner,
            "uploads": [
                {"file_name": u.file_name, "size": u.size, "refused": u.refused} for u in uploads
            ],
        },
        files=tuple(job_file(u.path, data_dir) for u in uploads),
    )


def reindex_job(document_id: str, *, file_name: str, owner: str | None) -> Job:
    """The job that re-indexes one document, then embeds."""
    return Job(REINDEX, {"document_id": document_id, "file_name": file_name, "owner": owner})


def embed_job() -> Job:
    """The job that embeds chunks left without vectors."""
    return Job(EMBED)


@register_job(INGEST)
def _ingest(parts: JobParts, job: Job, progress: Progress) -> Any:
    uploads = [
        UploadedFile(path=parts.path(name), **upload)
        for name, upload in zip(job.files, job.args["uploads"], strict=True)
    ]
    run = ingest_task(
        parts.ingestor,
        parts.index,
        uploads,
        collection=job.args["collection"],
        owner=job.args["owner"],
        stop=parts.stop,
        # The runner deletes them when the job is over: a retry reads them again.
        keep_files=True,
    )
    return run(progress)


@register_job(REINDEX)
def _reindex(parts: JobParts, job: Job, progress: Progress) -> Any:
    run = reindex_task(
        parts.ingestor,
        parts.index,
        job.args["document_id"],
        file_name=job.args["file_name"],
        owner=job.args["owner"],
        stop=parts.stop,
    )
    return run(progress)


@register_job(EMBED)
def _embed(parts: JobParts, _job: Job, progress: Progress) -> Any:
    return embed_task(parts.index, stop=parts.stop)(progress)


@register_job(CHAT)
def _chat(parts: JobParts, job: Job, progress: Progress) -> Any:
    return parts.chat_turn(job.args["question"], progress)
