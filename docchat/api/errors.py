"""Exceptions to HTTP responses, in one place.

Every error body has one shape::

    {"error": {"code": "...", "message": "...", "field": "...", "details": [...]}}

``field`` and ``details`` appear only when known.  A docchat error keeps its own message (written
for the caller); any other exception becomes a generic 500 whose traceback goes to the server log
only.  Validation errors are described without the submitted values, so a secret pasted into the
wrong field is never echoed back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docchat.errors import (
    Busy,
    Conflict,
    DocchatError,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    ProviderError,
    TooLarge,
    TooManyLogins,
    UnsupportedParameter,
)

logger = logging.getLogger("docchat.api")

#: The status of each branch of the error tree; a class not listed takes its nearest listed base.
STATUS_BY_ERROR: Mapping[type, int] = {
    NotFound: 404,
    TooLarge: 413,
    UnsupportedParameter: 400,  # what OpenAI answers, and its SDK raises BadRequestError for
    InvalidInput: 422,
    Conflict: 409,
    NotAuthenticated: 401,
    Forbidden: 403,
    TooManyLogins: 429,
    ProviderError: 502,
    Busy: 503,
    DocchatError: 400,
}

#: Paths of the OpenAI-compatible API: its clients read OpenAI's ``param`` and ``type`` too.
OPENAI_PREFIX = "/v1/"

# Where a validation error's location says which part of the request was wrong; not a field name.
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})

Handler = Callable[[Request, Any], Coroutine[Any, Any, Response]]


def status_for(exc: DocchatError) -> int:
    """The HTTP status of ``exc``, found along its class's MRO as Starlette finds handlers."""
    for cls in type(exc).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 400  # pragma: no cover  # DocchatError itself is in the table


def error_body(
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: list[dict[str, Any]] | None = None,
    openai: int | None = None,
) -> dict[str, Any]:
    """The JSON document of an error response; with ``openai`` (the status) it also carries
    OpenAI's ``param`` (the field) and ``type``, which the ``openai`` SDK reads."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    if details is not None:
        error["details"] = details
    if openai is not None:
        error["param"] = field
        error["type"] = "invalid_request_error" if openai < 500 else "server_error"
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    request: Request | None = None,
) -> JSONResponse:
    """An error response in the one shape every docchat error takes (plus OpenAI's ``param``
    and ``type`` for a ``request`` to the OpenAI-compatible API)."""
    openai = status if request is not None and _is_openai(request) else None
    body = error_body(code, message, field=field, details=details, openai=openai)
    return JSONResponse(body, status_code=status, headers=headers)


def problem_headers(exc: DocchatError) -> dict[str, str] | None:
    """Headers an error response carries besides its body: when to retry, how to sign in."""
    if isinstance(exc, Busy | TooManyLogins):
        return {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, NotAuthenticated):
        return {"WWW-Authenticate": 'Bearer realm="docchat"'}
    return None


def _is_openai(request: Request) -> bool:
    return str(request.scope.get("path", "")).startswith(OPENAI_PREFIX)


async def _docchat_error(request: Request, exc: DocchatError) -> Response:
    headers = problem_headers(exc)
    return error_response(
        status_for(exc),
        exc.code,
        exc.message,
        field=getattr(exc, "field", None),
        headers=headers,
        request=request,
    )


def _field_of(loc: tuple[int | str, ...]) -> str | None:
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in _SOURCES else loc)]
    return ".".join(parts) or None


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    # FastAPI hands over plain dicts that still hold the input; keep only what names the problem.
    errors = [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return error_response(
            422,
            "invalid_json",
            "request body is not valid JSON",
            details=[{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}],
            request=request,
        )
    if not errors:  # pragma: no cover  # FastAPI never raises an empty one
        return error_response(422, "validation_error", "request is invalid", request=request)
    first = errors[0]
    field = _field_of(tuple(first["loc"]))
    message = f"{field}: {first['msg']}" if field else str(first["msg"])
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return error_response(
        422, "validation_error", message, field=field, details=errors, request=request
    )


async def _http_error(request: Request, exc: HTTPException) -> Response:
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "HTTP error"
    if exc.status_code in (204, 304):  # these statuses may not carry a body
        return Response(status_code=exc.status_code, headers=exc.headers)
    # Framework details ("Not Found", "Method Not Allowed") are written for clients; anything
    # else falls back to the status phrase.
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(exc.status_code, code, message, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's).

    ``create_app`` records the routes' paths and methods as ``state.route_methods``.
    """
    table: Sequence[tuple[re.Pattern[str], Collection[str]]] = getattr(
        request.app.state, "route_methods", ()
    )
    methods: set[str] = set()
    for pattern, route_methods in table:
        if pattern.match(request.url.path):
            methods.update(route_methods)
    return sorted(methods)


#: Handlers for ``FastAPI(exception_handlers=...)``; Starlette picks the nearest class on the MRO.
#: Anything else is ours to answer: ``UnexpectedErrors``.
EXCEPTION_HANDLERS: dict[int | type[Exception], Handler] = {
    DocchatError: _docchat_error,
    RequestValidationError: _validation_error,
    HTTPException: _http_error,
}


class UnexpectedErrors:
    """Answer any other exception with a generic 500 and keep the connection usable.

    Not an ``Exception`` handler: Starlette's outermost middleware re-raises the exception after
    such a handler has answered, and uvicorn then closes the keep-alive connection, so the
    client's next request on it was reset.  Here the exception stops; the traceback goes to the
    server log only.  An error after the response began cannot be answered: it propagates and
    the server closes that connection, as it must (the response is incomplete).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:
            if started:
                raise
            logger.error(
                "unhandled error in %s %s", scope.get("method"), scope.get("path"), exc_info=exc
            )
            response = error_response(500, "internal_error", "internal server error")
            await response(scope, receive, send)
