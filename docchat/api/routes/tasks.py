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
    return TaskList(items=workspace.tasks.list(owner=owner, limit=limit))


@router.get(
    "/{task_id}",
    operation_id="get_task",
    summary="Get a background task's progress",
    responses=error_responses(404, 422),
)
def get_task(task_id: TaskId, workspace: WorkspaceDep, owner: OwnerDep) -> TaskInfo:
    """`status` (queued, running, succeeded, failed, interrupted), progress and outcome.

    While an upload is read, `processed`/`total` count files and `current` names the file; while
    passages are embedded they count passages and `current` is `embedding`.  `errors` lists what
    failed (`{file, reason}` per unreadable file); `result` summarises a finished task.
    """
    return workspace.tasks.get(task_id, owner=owner)
