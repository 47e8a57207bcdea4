"""The task runner's interface: what the workspace asks of whatever runs its background tasks.

A background job is a ``Job``: a name and JSON arguments, so that it can be handed to another
process; the ``JobHandler`` of whoever runs it (``docchat.tasks.jobs.JobParts``, built by that
process's workspace) turns it into work.  ``ThreadRunner`` (``docchat.tasks.threads``) runs jobs in
this process's thread pool (SQLite: one process); ``QueueRunner`` (``docchat.tasks.queue``) queues
them in PostgreSQL for any ``docchat worker`` or server to run.  Either way each task is a row in
the database that any process can read.  The workspace picks one from the database kind; the
callers and the jobs do not change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from docchat.tasks.models import TaskInfo
from docchat.tasks.progress import Progress


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """A background job by name, with JSON-serialisable arguments."""

    #: A name in the job registry (``docchat.tasks.jobs.JOBS``).
    name: str
    args: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Files the job reads, relative to the data dir (absolute when outside it).  They are the
    #: job's from submission: the runner deletes them when the job ends or is skipped.
    files: tuple[str, ...] = ()
    #: Whether the job may run again after its worker died mid-way (its steps are idempotent: an
    #: ingest finds what it stored unchanged).  A chat turn may not: it ends ``interrupted``.
    retry: bool = True

    def to_json(self) -> dict[str, Any]:
        """The job as JSON (what a queue stores)."""
        return {
            "name": self.name,
            "args": self.args,
            "files": list(self.files),
            "retry": self.retry,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        """The job ``to_json`` wrote."""
        return cls(
            name=data["name"],
            args=dict(data.get("args") or {}),
            files=tuple(data.get("files") or ()),
            retry=bool(data.get("retry", True)),
        )


class JobHandler(Protocol):
    """Runs jobs by name with the parts of the workspace of the process that runs them."""

    def run(self, job: Job, progress: Progress) -> Any:
        """Do the job; what it returns is the task's result."""
        ...

    def discard(self, job: Job) -> None:
        """Delete the job's files (it ended, or never ran)."""
        ...


#: ``TaskRunner.unfinished``: which of these task ids are still queued or running.
Unfinished = Callable[[list[str]], Collection[str]]
#: Run after each recovery with ``Unfinished``, to finish what the interrupted tasks left
#: elsewhere under their ids (a streamed answer, say: ``SessionStore.interrupt_answers``).
AfterRecover = Callable[[Unfinished], object]
#: The rest of the periodic clean-up, outside the tasks (expired logins and tokens, say:
#: ``Accounts.prune``); returns how many rows or files went, by kind, for the log.
Housekeeping = Callable[[], Mapping[str, int]]


class TaskRunner(Protocol):
    """Runs background tasks and answers for their state; ``owner`` scopes as in docchat.owners."""

    def submit(self, kind: str, job: Job, *, owner: str | None, total: int = 0) -> TaskInfo:
        """Queue ``job``; returns the new task.  Its files are the runner's from here: deleted
        when it ends, or when it is cancelled before it starts."""
        ...

    def track(
        self, kind: str, *, owner: str | None, total: int = 0
    ) -> AbstractContextManager[Progress]:
        """Record work done in the caller's own thread as a running task."""
        ...

    def get(self, task_id: str, *, owner: str | None) -> TaskInfo:
        """The task; TaskNotFound when unknown or started by someone else."""
        ...

    def list(self, *, owner: str | None, limit: int = 50) -> list[TaskInfo]:
        """The owner's most recent tasks, newest first."""
        ...

    def cancel(self, task_id: str, *, owner: str | None) -> TaskInfo:
        """Cancel a task: a queued one at once, a running one at its next step."""
        ...

    def wait(self, task_id: str, *, owner: str | None, timeout: float = 60.0) -> TaskInfo:
        """The task once it has finished, or as it is after ``timeout`` seconds."""
        ...

    def recover(self) -> int:
        """End the tasks of processes that died; returns how many."""
        ...

    def cleanup(self) -> dict[str, int]:
        """The periodic clean-up, run now: ``recover``, then the housekeeping it was given;
        returns what went, by kind.  Also run on its own, every ``tasks.cleanup_interval_s``:
        once across the workers of a queue, on a timer in a thread runner."""
        ...

    def start(self) -> None:
        """Begin running queued jobs in this process, if it is one that runs them (a server)."""
        ...

    def work(self, *, concurrency: int) -> None:
        """Run jobs in the foreground until SIGINT or SIGTERM (``docchat worker``); only where
        ``shared`` (else InvalidInput)."""
        ...

    @property
    def shared(self) -> bool:
        """Whether jobs go through a queue that other processes' workers take from."""
        ...

    def hand_back(self) -> None:
        """Stop taking jobs and hand the running ones back (after ``tasks.shutdown_grace_s``) to
        the queue, for another worker, at their next step; ``shutdown`` then waits for them.  A
        thread runner has nobody to hand them to: it does nothing."""
        ...

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop accepting tasks; by default finish the queued and running ones first."""
        ...

    @property
    def running(self) -> bool:
        """Whether it takes tasks and keeps its running ones alive (until ``shutdown``)."""
        ...
