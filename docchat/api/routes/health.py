"""Liveness and readiness: the server answers and so does its database."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from sqlalchemy.exc import SQLAlchemyError

from docchat.api.deps import WorkspaceDep
from docchat.api.schemas import Health

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
