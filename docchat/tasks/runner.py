"""The task runner's interface: what the workspace asks of whatever runs its background tasks.

``ThreadRunner`` (``docchat.tasks.threads``) runs them in this process's thread pool, each task a
row in the database that any process can read.  A runner that hands tasks to workers elsewhere (a
queue in PostgreSQL, say) implements the same methods; the workspace and the jobs it submits
(``docchat.tasks.jobs``) do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from typing import Protocol

from docchat.tasks.models import TaskInfo
from docchat.tasks.progress import Progress, TaskFunction

#: ``TaskRunner.unfinished``: which of these task ids are still queued or running.
Unfinished = Callable[[list[str]], Collection[str]]
#: Run after each recovery with ``Unfinished``, to finish what the interrupted tasks left
#: elsewhere under their ids (a streamed answer, say: ``SessionStore.interrupt_answers``).
AfterRecover = Callable[[Unfinished], object]


class TaskRunner(Protocol):
    """Runs background tasks and answers for their state; ``owner`` scopes as in docchat.owners."""

    def submit(
        self,
        kind: str,
        fn: TaskFunction,
        *,
        owner: str | None,
        total: int = 0,
        on_skipped: Callable[[], None] | None = None,
    ) -> TaskInfo:
        """Queue ``fn``; returns the new task.  ``on_skipped`` is called instead of ``fn`` if the
        task is cancelled before it starts."""
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

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop accepting tasks; by default finish the queued and running ones first."""
        ...

    @property
    def running(self) -> bool:
        """Whether it takes tasks and keeps its running ones alive (until ``shutdown``)."""
        ...
