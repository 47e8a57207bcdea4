"""Chat sessions and their messages: each route parses, calls one store method, returns a schema."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from docchat.api.deps import OwnerDep, SessionId, StoreDep, WorkspaceDep
from docchat.api.downloads import content_disposition, export_name
from docchat.api.schemas import (
    ClearResult,
    MessageCreate,
    MessageList,
    SessionCreate,
    SessionUpdate,
    SettingsUpdate,
    error_responses,
)
from docchat.sessions.store import ExportFileFormat
from docchat.sessions.types import ChatSession, Message, SessionPage
from docchat.validation import INT64_MAX, INT64_MIN

router = APIRouter(prefix="/api/sessions", tags=["sessions"])

# Suffix and media type of each export format.
_EXPORTS: dict[str, tuple[str, str]] = {
    "json": ("json", "application/json"),
    "markdown": ("md", "text/markdown"),
    "docx": ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "pdf": ("pdf", "application/pdf"),
}


@router.post(
    "",
    status_code=201,
    operation_id="create_session",
    summary="Create a chat session",
    responses=error_responses(403, 413, 415, 422),
)
def create_session(
    workspace: WorkspaceDep, owner: OwnerDep, body: SessionCreate | None = None
) -> ChatSession:
    """Create an empty session; the body is optional.  `settings.model` must be one of
    GET /api/models."""
    body = body or SessionCreate()
    return workspace.create_session(owner=owner, title=body.title, settings=body.settings)


@router.get(
    "",
    operation_id="list_sessions",
    summary="List chat sessions, most recently updated first",
    responses=error_responses(422),
)
def list_sessions(
    store: StoreDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Sessions per page.")] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX, description="Sessions to skip.")] = 0,
) -> SessionPage:
    """One page of sessions; pass `next_cursor` back to get the next."""
    return store.list(owner=owner, limit=limit, cursor=cursor, offset=offset)


@router.get(
    "/{session_id}",
    operation_id="get_session",
    summary="Get a chat session",
    responses=error_responses(404, 422),
)
def get_session(
    session_id: SessionId,
    store: StoreDep,
    owner: OwnerDep,
    include_messages: Annotated[bool, Query(description="Include every message.")] = False,
) -> ChatSession:
    """The session; `messages` is null unless `include_messages` is set."""
    return store.get(session_id, owner=owner, include_messages=include_messages)


@router.patch(
    "/{session_id}",
    operation_id="update_session",
    summary="Rename a chat session",
    responses=error_responses(403, 404, 413, 415, 422),
)
def update_session(
    session_id: SessionId, body: SessionUpdate, store: StoreDep, owner: OwnerDep
) -> ChatSession:
    """Set the session's title."""
    return store.rename(session_id, body.title, owner=owner)


@router.delete(
    "/{session_id}",
    status_code=204,
    response_class=Response,
    operation_id="delete_session",
    summary="Delete a chat session and its messages",
    responses=error_responses(403, 404, 415, 422),
)
def delete_session(session_id: SessionId, store: StoreDep, owner: OwnerDep) -> None:
    """Delete the session for good."""
    store.delete(session_id, owner=owner)


@router.get(
    "/{session_id}/messages",
    operation_id="list_messages",
    summary="List a session's messages",
    responses=error_responses(404, 422),
)
def list_messages(
    session_id: SessionId,
    store: StoreDep,
    owner: OwnerDep,
    limit: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="At most this many.")
    ] = None,
    before: Annotated[
        int | None,
        Query(ge=INT64_MIN, le=INT64_MAX, description="Only positions below this."),
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=INT64_MIN, le=INT64_MAX, description="Only positions above this."),
    ] = None,
) -> MessageList:
    """Messages in position order: the first `limit` after `after`, or the last before `before`."""
    messages = store.messages(session_id, owner=owner, limit=limit, before=before, after=after)
    return MessageList(items=messages)


@router.post(
    "/{session_id}/messages",
    status_code=201,
    operation_id="append_message",
    summary="Append a message to a session",
    responses=error_responses(403, 404, 413, 415, 422),
)
def append_message(
    session_id: SessionId, body: MessageCreate, store: StoreDep, owner: OwnerDep
) -> Message:
    """Append a message; it is durable when the response arrives."""
    return store.append(
        session_id, body.role, body.content, body.metadata, body.references, owner=owner
    )


@router.put(
    "/{session_id}/settings",
    operation_id="update_session_settings",
    summary="Change a session's answer settings",
    responses=error_responses(403, 404, 413, 415, 422),
)
def update_session_settings(
    session_id: SessionId, body: SettingsUpdate, workspace: WorkspaceDep, owner: OwnerDep
) -> ChatSession:
    """Replace the settings keys sent (`model`, `mode`, `options`); the others keep their value.
    An unknown model (see GET /api/models) or mode is a 422 listing the known ones."""
    return workspace.update_session_settings(session_id, body.patch(), owner=owner)


@router.post(
    "/{session_id}/clear",
    operation_id="clear_session",
    summary="Delete a session's messages, keeping the session",
    responses=error_responses(403, 404, 415, 422),
)
def clear_session(session_id: SessionId, store: StoreDep, owner: OwnerDep) -> ClearResult:
    """Empty the session; returns how many messages went."""
    return ClearResult(deleted=store.clear(session_id, owner=owner))


@router.get(
    "/{session_id}/export",
    response_class=Response,
    operation_id="export_session",
    summary="Download a session as JSON, Markdown, Word or PDF",
    responses={
        200: {
            "description": "The session as a file attachment.",
            "content": {media_type: {} for _, media_type in _EXPORTS.values()},
        },
        **error_responses(404, 413, 422, 503),
    },
)
def export_session(
    session_id: SessionId,
    workspace: WorkspaceDep,
    owner: OwnerDep,
    export_format: Annotated[
        ExportFileFormat,
        Query(
            alias="format",
            description="`json` (classic file), `markdown`, `docx` (Word) or `pdf`.",
        ),
    ] = "json",
) -> Response:
    """The whole session as a `<title>.json`, `.md`, `.docx` or `.pdf` attachment (`<id>.…` for
    a chat without a title); Markdown, Word and PDF list each answer's references with the quoted
    span that supports it.  Word and PDF are refused (413) for a session of more than
    `renders.max_export_chars` characters, and (503, with Retry-After) while as many renders as
    allowed run and wait."""
    data = workspace.export_file(session_id, export_format, owner=owner)
    suffix, media_type = _EXPORTS[export_format]
    title = workspace.session(session_id, owner=owner).title
    disposition = content_disposition(export_name(title, session_id, suffix))
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})
