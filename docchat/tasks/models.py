"""A task as stored (``TaskRow``, one row per task, any process may read it) and as callers see
it (``TaskInfo``), with the statuses it moves through."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Boolean, Integer, String, Text, update
from sqlalchemy.orm import Mapped, mapped_column

from docchat.db import Base, Database, JSONType, UTCDateTime, utcnow

TaskStatus = Literal["queued", "running", "succeeded", "failed", "interrupted", "cancelled"]
#: Statuses of a task that has not finished.
UNFINISHED = ("queued", "running")
#: How often a runner writes a sign of life for its unfinished tasks, and looks for dead ones.
HEARTBEAT_S = 5.0
#: An unfinished task of another host's process that has not written for this long is
#: interrupted (its runner's own heartbeat touches it every ``HEARTBEAT_S``).
HEARTBEAT_TIMEOUT = dt.timedelta(seconds=60)
#: ``TaskRow.runner`` of a job in the PostgreSQL queue (docchat.tasks.queue).
QUEUE = "queue"
#: The error entry of an interrupted task.
INTERRUPTED_ERROR = {
    "message": "the server stopped before the task finished",
    "code": "interrupted",
}
#: The note on a task whose worker stopped and handed it back to the queue (docchat.tasks.queue).
HANDED_BACK_NOTE = {
    "message": "its worker stopped; the job went back to the queue for another",
    "code": "handed_back",
}


class TaskRow(Base):
    """A background job (ingestion, re-embedding, long chat modes) and its progress."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    current: Mapped[str | None] = mapped_column(Text)
    errors: Mapped[list[Any]] = mapped_column(JSONType)
    result: Mapped[Any] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The lease id of the process that queued and runs it (None: made before leases existed);
    #: ``QUEUE`` for a job in the PostgreSQL queue, run by whichever worker takes it.
    runner: Mapped[str | None] = mapped_column(String(36))
    #: Someone asked to cancel it while it ran: the process running it stops it (any node).
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    @classmethod
    def new(
        cls,
        kind: str,
        *,
        owner: str | None,
        status: str,
        runner: str | None,
        total: int = 0,
        at: dt.datetime | None = None,
    ) -> TaskRow:
        """A task as it starts: a fresh id, nothing processed yet, no errors, no result."""
        now = at or utcnow()
        return cls(
            id=str(uuid.uuid4()),
            owner=owner,
            kind=kind,
            status=status,
            total=total,
            processed=0,
            current=None,
            errors=[],
            result=None,
            created_at=now,
            updated_at=now,
            finished_at=None,
            runner=runner,
            cancel_requested=False,
        )


class TaskInfo(BaseModel):
    """A task as callers see it."""

    id: str
    kind: str
    status: TaskStatus
    processed: int
    total: int
    current: str | None
    errors: list[Any]
    result: Any
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None


def task_info(row: TaskRow) -> TaskInfo:
    """The row as callers see it."""
    return TaskInfo(
        id=row.id,
        kind=row.kind,
        status=row.status,
        processed=row.processed,
        total=row.total,
        current=row.current,
        errors=list(row.errors or []),
        result=row.result,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


def cancel_row(db: Database, task_id: str, *, flag_running: bool) -> bool:
    """End a queued task ``cancelled`` (it never runs); True when it was queued.  Otherwise, with
    ``flag_running``, record ``cancel_requested`` on an unfinished one, for whichever process runs
    it to read (docchat.tasks.queue).  One transaction: a task claimed meanwhile is flagged."""
    now = utcnow()
    with db.write() as s:
        cancelled = s.execute(
            update(TaskRow)
            .where(TaskRow.id == task_id, TaskRow.status == "queued")
            .values(status="cancelled", updated_at=now, finished_at=now)
        )
        if cancelled.rowcount:  # type: ignore[attr-defined]
            return True
        if flag_running:
            s.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id, TaskRow.status.in_(UNFINISHED))
                .values(cancel_requested=True)
            )
    return False
