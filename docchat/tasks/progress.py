"""What a running task's function is handed: ``Progress``, to report how far it got and to learn
whether it was cancelled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from docchat.db import Database, utcnow
from docchat.errors import Cancelled
from docchat.tasks.models import HEARTBEAT_S, TaskRow

_MIN_WRITE_INTERVAL_S = 0.25


class Progress:
    """Handed to a task's function: report progress (writes are throttled, the last one forced)
    and learn whether the task was cancelled."""

    def __init__(self, db: Database, task_id: str) -> None:
        self._db = db
        self._id = task_id
        self._last_write = 0.0
        self._cancel = threading.Event()
        self._interrupted = False
        self._handed_back = False
        self.processed = 0
        self.total = 0
        self.current: str | None = None
        self.errors: list[Any] = []
        #: What ``TaskRunner.track`` records as the task's result.
        self.result: Any = None

    @property
    def id(self) -> str:
        """The task's id."""
        return self._id

    @property
    def cancel_flag(self) -> threading.Event:
        """The flag ``cancelled`` reads, for work that waits on an event."""
        return self._cancel

    @property
    def cancelled(self) -> bool:
        """Whether the task was asked to stop."""
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise ``Cancelled`` if the task was asked to stop; call it where stopping is safe."""
        if self._cancel.is_set():
            raise Cancelled(self._id)

    def request_cancel(self) -> None:
        """Ask the task to stop (``TaskRunner.cancel``)."""
        self._cancel.set()

    @property
    def interrupted(self) -> bool:
        """Whether the task was asked to stop because its process is stopping."""
        return self._interrupted

    def request_interrupt(self) -> None:
        """Ask the task to stop because its process is stopping: it stops as when cancelled,
        but ends ``interrupted``, as the task of a process that died does."""
        self._interrupted = True
        self._cancel.set()

    @property
    def handed_back(self) -> bool:
        """Whether the task was asked to stop because its worker is stopping, for another worker
        to take it from the queue."""
        return self._handed_back

    def request_hand_back(self) -> None:
        """Ask the task to stop because its worker is stopping: a job that may run again goes
        back to the queue for another worker; one that may not (a chat turn) ends
        ``interrupted``, as with ``request_interrupt``."""
        self._handed_back = True
        self.request_interrupt()

    def update(
        self,
        *,
        processed: int | None = None,
        total: int | None = None,
        current: str | None = None,
        error: Any = None,
        force: bool = False,
    ) -> None:
        """Record progress; persisted at most every 0.25 s unless ``force`` or an error."""
        if processed is not None:
            self.processed = processed
        if total is not None:
            self.total = total
        if current is not None:
            self.current = current
        if error is not None:
            self.errors.append(error)
        now = time.monotonic()
        if force or error is not None or now - self._last_write >= _MIN_WRITE_INTERVAL_S:
            self._write()
            self._last_write = now

    def heartbeat(self) -> None:
        """Write the current state if nothing was written for a while."""
        if time.monotonic() - self._last_write >= HEARTBEAT_S:
            self._write()
            self._last_write = time.monotonic()

    def _write(self, **extra: Any) -> None:
        with self._db.write() as s:
            row = s.get(TaskRow, self._id, with_for_update=True)
            if row is None:
                return
            row.processed, row.total = self.processed, self.total
            row.current, row.errors = self.current, list(self.errors)
            row.updated_at = utcnow()
            for key, value in extra.items():
                setattr(row, key, value)


#: A task's work: called with its ``Progress``; what it returns is the task's result.
TaskFunction = Callable[[Progress], Any]
