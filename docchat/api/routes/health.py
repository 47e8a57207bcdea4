"""Liveness and readiness: the server answers (and so does its database); it may be sent requests.

``/healthz`` is for a supervisor deciding whether to restart the process.  ``/readyz`` is for a load
balancer deciding whether to send it requests: during a rolling upgrade a server whose schema is
behind (another process is migrating) or ahead (a newer docchat migrated) says not yet, and so does
one whose task runner is not running.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from sqlalchemy.exc import SQLAlchemyError

from docchat.api.deps import WorkspaceDep
from docchat.api.errors import error_response
from docchat.api.schemas import ErrorResponse, Health, Readiness

logger = logging.getLogger("docchat.api")

router = APIRouter(tags=["health"])


@router.head("/healthz", include_in_schema=False)
@router.get(
    "/healthz",
    operation_id="health",
    summary="Check that the server and its database answer",
    responses={503: {"model": Health, "description": "The database does not answer."}},
)
def health(workspace: WorkspaceDep, response: Response) -> Health:
    """`ok`, or 503 `unavailable` when the database does not answer."""
    try:
        ok = workspace.database_answers()
    except SQLAlchemyError:
        # A load balancer polls this: a warning per failure, not a 500 with a traceback.
        logger.warning("health check: the database does not answer", exc_info=True)
        ok = False
    if not ok:
        response.status_code = 503
        return Health(status="unavailable")
    return Health(status="ok")


@router.head("/readyz", include_in_schema=False, response_model=None)
@router.get(
    "/readyz",
    operation_id="ready",
    summary="Check that the server may be sent requests",
    response_model=Readiness,
    responses={
        503: {
            "model": ErrorResponse,
            "description": "Not ready (`not_ready`): `details` names each check that failed "
            "(`database`: does not answer; `schema`: older or newer than this docchat's; "
            "`tasks`: the task runner is not running).",
        }
    },
)
def ready(workspace: WorkspaceDep) -> Response | Readiness:
    """`ready`, or 503 naming what is not: the database, its schema, the task runner."""
    problems = workspace.readiness()
    if not problems:
        return Readiness(status="ready")
    return error_response(
        503,
        "not_ready",
        "not ready: " + "; ".join(p.message for p in problems),
        details=[{"check": p.check, "msg": p.message} for p in problems],
    )
