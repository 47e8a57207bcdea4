"""Background tasks: their progress and outcome, for the owner who started them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from docchat.api.deps import OwnerDep, TaskId, WorkspaceDep
from docchat.api.schemas import TaskList, error_responses
from docchat.tasks import TaskInfo

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.get(
    "",
    operation_id="list_tasks",
    summary="List your recent background tasks",
    responses=error_responses(422),
)
def list_tasks(
    workspace: WorkspaceDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many.")] = 50,
) -> TaskList:
    """Tasks you started, most recent first."""
    return TaskList(items=workspace.tasks(owner=owner, limit=limit))


@router.get(
    "/{task_id}",
    operation_id="get_task",
    summary="Get a background task's progress",
    responses=error_responses(404, 422),
)
def get_task(task_id: TaskId, workspace: WorkspaceDep, owner: OwnerDep) -> TaskInfo:
    """`status` (queued, running, succeeded, failed, interrupted, cancelled), progress, outcome.

    While an upload is read, `processed`/`total` count files and `current` names the file; while
    passages are embedded they count passages and `current` is `embedding`.  `errors` lists what
    failed (`{file, reason}` per unreadable file); `result` summarises a finished task.
    """
    return workspace.task(task_id, owner=owner)


@router.post(
    "/{task_id}/cancel",
    status_code=202,
    operation_id="cancel_task",
    summary="Cancel a background task",
    responses=error_responses(403, 404, 409, 415, 422),
)
def cancel_task(task_id: TaskId, workspace: WorkspaceDep, owner: OwnerDep) -> TaskInfo:
    """Stop the task: a queued one ends `cancelled` at once and never runs; a running one ends
    `cancelled` at its next step (poll it; until then it shows `running`).  409 once finished.

    An upload cancelled part-way keeps the files it had indexed; the others are never indexed.
    """
    return workspace.cancel_task(task_id, owner=owner)
