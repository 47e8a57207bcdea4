"""Background work the server starts: ingesting uploads, and embedding chunks that lack vectors.

Each job runs on the workspace's task runner and reports progress there.  Ingestion always runs to
the end of its batch (its uploaded files exist only until then); embedding stops at the next batch
when the server shuts down, and the next start-up resumes it, for chunks without vectors are found
again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from docchat.api.uploads import UPLOAD_DIR, UploadedFile, discard, sweep_stale
from docchat.documents.registry import check_collection_name
from docchat.tasks import Progress, TaskFunction, TaskInfo
from docchat.workspace import Workspace

#: ``current`` of a task while it computes vectors.
EMBEDDING = "embedding"


def start_ingest(
    workspace: Workspace,
    files: Sequence[UploadedFile],
    *,
    collection: str,
    owner: str | None,
    stopping: threading.Event,
) -> TaskInfo:
    """Queue one task that ingests ``files`` into ``collection``; it deletes them when done.

    The files are deleted at once if the task cannot be queued (say, a bad collection name).
    """
    files = list(files)
    try:
        collection = check_collection_name(collection)
        job = _ingest_job(workspace, files, collection=collection, owner=owner, stopping=stopping)
        return workspace.tasks.submit("ingest", job, owner=owner, total=len(files))
    except BaseException:
        discard(files)
        raise


def resume(workspace: Workspace, stopping: threading.Event) -> TaskInfo | None:
    """At start-up: finish the tasks and delete the uploads of processes that died, and embed
    chunks left without vectors, or all of them after a change of embedding model (None: nothing
    to do).

    Several server processes on one database may each start this; a live process's uploads and
    tasks are never touched (docchat.leases), and the index ignores a vector that is already
    there, so the cost is duplicate work, never duplicate rows.
    """
    workspace.tasks.recover()
    sweep_stale(workspace.settings.data_dir / UPLOAD_DIR)
    if not workspace.embedding_outdated():
        # Nothing to embed, yet an older docchat left documents whose vectors exist `indexing`.
        # (After a change of model the embed job re-marks everything as it finishes.)
        workspace.mark_indexed()
        return None
    pending = workspace.vectors.pending()

    def job(progress: Progress) -> dict[str, Any]:
        embedded = _embed(workspace, progress, stopping)
        progress.current = None
        return {"embedded": embedded}

    return workspace.tasks.submit("embed", job, owner=None, total=pending)


def _ingest_job(
    workspace: Workspace,
    files: list[UploadedFile],
    *,
    collection: str,
    owner: str | None,
    stopping: threading.Event,
) -> TaskFunction:
    def job(progress: Progress) -> dict[str, Any]:
        try:
            totals = {"added": 0, "updated": 0, "unchanged": 0, "failed": 0}
            document_ids: list[str] = []
            names: set[str] = set()
            for done, upload in enumerate(files):
                progress.update(processed=done, total=len(files), current=upload.file_name)
                if upload.file_name in names:
                    # Same name, same document: the second would silently replace the first.
                    reason = f"{upload.file_name!r} is in this upload twice; the first one is kept"
                    progress.update(error={"file": upload.file_name, "reason": reason})
                    totals["failed"] += 1
                    continue
                names.add(upload.file_name)
                state = workspace.ingestor.ingest_upload(
                    upload.path, file_name=upload.file_name, collection=collection, owner=owner
                )
                upload.path.unlink(missing_ok=True)  # the content store has its own copy now
                document_ids.extend(state.document_ids)
                totals["added"] += state.added
                totals["updated"] += state.updated
                totals["unchanged"] += state.unchanged
                totals["failed"] += len(state.failures)
                for failure in state.failures:
                    progress.update(error={"file": failure.name, "reason": failure.reason})
            progress.update(processed=len(files), force=True)
            embedded = _embed(workspace, progress, stopping)
            # Finished: the counts go back to files, as they started.
            progress.current = None
            progress.update(processed=len(files), total=len(files), force=True)
            return {"documents": document_ids, **totals, "embedded": embedded}
        finally:
            discard(files)

    return job


def _embed(workspace: Workspace, progress: Progress, stopping: threading.Event) -> int:
    """Embed pending chunks; from here ``processed``/``total`` count chunks, not files."""

    def report(done: int, total: int) -> None:
        progress.update(processed=done, total=total)

    progress.update(processed=0, total=workspace.vectors.pending(), current=EMBEDDING, force=True)
    return workspace.embed_pending(progress=report, stop=stopping)
