"""Background tasks: work that outlives a request, with progress any process can read.

- ``models``: a task's row and its view (``TaskRow``, ``TaskInfo``), its statuses;
- ``progress``: what a task's function is handed (``Progress``);
- ``runner``: the interface the workspace runs tasks through (``TaskRunner``, a protocol);
- ``runner``'s ``Job``: a background job by name with JSON arguments, what crosses processes;
- ``threads``: the runner of one process, a thread pool (``ThreadRunner``; SQLite);
- ``queue``: the runner of a cluster, a job queue in PostgreSQL (``QueueRunner``, procrastinate);
- ``leases``: how a process claims its uploads and tasks, so that its successors clean up;
- ``jobs``: the jobs every face starts (ingest then embed, re-index then embed, embed), by name.

``jobs`` is not imported here: it loads the parsers and the index, which ``import docchat.tasks``
(for ``TaskInfo``, say) should not.
"""

from docchat.tasks.models import (
    HEARTBEAT_TIMEOUT,
    INTERRUPTED_ERROR,
    UNFINISHED,
    TaskInfo,
    TaskRow,
    TaskStatus,
)
from docchat.tasks.progress import Progress, TaskFunction
from docchat.tasks.queue import QueueRunner
from docchat.tasks.runner import (
    AfterRecover,
    Housekeeping,
    Job,
    JobHandler,
    TaskRunner,
    Unfinished,
)
from docchat.tasks.threads import ThreadRunner

__all__ = [
    "HEARTBEAT_TIMEOUT",
    "INTERRUPTED_ERROR",
    "UNFINISHED",
    "AfterRecover",
    "Housekeeping",
    "Job",
    "JobHandler",
    "Progress",
    "QueueRunner",
    "TaskFunction",
    "TaskInfo",
    "TaskRow",
    "TaskRunner",
    "TaskStatus",
    "ThreadRunner",
    "Unfinished",
]
