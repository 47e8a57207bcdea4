"""Request and response bodies of the HTTP API that the library's own types do not already cover."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from docchat.chat.types import Question
from docchat.documents.registry import DocumentView, ReplacedDocument
from docchat.options import ChatMode, ChatOptions, ChatSettings, SourceFilters
from docchat.retrieval.hybrid import MAX_QUERY_CHARS, Hit, SearchMode
from docchat.sessions.types import Message, MessageHit, Role
from docchat.tasks import TaskInfo
from docchat.validation import OptionalWholeNumber

# -- requests ----------------------------------------------------------------------------------
# Unknown keys are refused: a misspelt field would otherwise be dropped without a word.  Types are
# strict: JSON's true is not 1, nor 0 false, as the published schema says.


class SessionCreate(BaseModel):
    """A new chat session."""

    model_config = ConfigDict(extra="forbid", strict=True)

    title: str | None = Field(None, description="Shown in session lists; empty when left out.")
    settings: ChatSettings | None = Field(
        None, description="Answer settings; defaults if left out."
    )


class SessionUpdate(BaseModel):
    """Changes to a session."""

    model_config = ConfigDict(extra="forbid", strict=True)

    title: str = Field(description="The new title.")


class MessageCreate(BaseModel):
    """A message to append to a session."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: Role
    content: str
    metadata: dict[str, Any] | None = Field(None, description="Free-form JSON object.")
    references: list[Any] | None = Field(None, description="Sources cited, as JSON values.")


class SettingsUpdate(BaseModel):
    """Settings keys to replace; a key left out keeps its current value."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = Field(None, max_length=200, description="LLM name; null = the default.")
    mode: ChatMode | None = Field(None, description="Chat mode.")
    options: ChatOptions | None = Field(None, description="Replaces all options at once.")

    def patch(self) -> dict[str, Any]:
        """The keys the caller sent, as JSON, for ``SessionStore.update_settings``."""
        return self.model_dump(mode="json", exclude_unset=True)


class DocumentSearch(BaseModel):
    """A search over the documents' passages."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for.")
    num_results: OptionalWholeNumber = Field(
        None, ge=1, le=200, description="Passages returned; default: the configured number."
    )
    source_filters: SourceFilters | None = Field(
        None, description="Search only these collections, documents or file names."
    )
    manual_keywords: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Terms every passage must contain (added to the full-text query).",
    )
    enable_reranking: bool | None = Field(
        None, description="Rerank the fused hits; default: the configured choice."
    )
    mode: SearchMode = Field(
        "hybrid", description="'hybrid' (full text + vectors), 'fulltext' or 'dense'."
    )


class ChatRequest(BaseModel):
    """A question for a session; mode, model and options override the session's for this turn."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="The question.")
    mode: ChatMode | None = Field(None, description="Default: the session's mode.")
    model: str | None = Field(
        None, max_length=200, description="A name from GET /api/models; default: the session's."
    )
    options: ChatOptions | None = Field(
        None, description="Options for this turn only; unset ones come from the session."
    )
    background: bool = Field(
        False, description="Answer as a background task (202) even in a quick mode."
    )

    def asked(self, *, session_id: str, owner: str | None) -> Question:
        """The engine's request for this body in ``session_id`` (``background`` is the route's
        choice, not the turn's)."""
        return Question(
            text=self.question,
            session_id=session_id,
            owner=owner,
            mode=self.mode,
            model=self.model,
            options=self.options,
        )


# -- responses ---------------------------------------------------------------------------------


class Health(BaseModel):
    """Whether the server and its database answer."""

    status: Literal["ok", "unavailable"]


class Readiness(BaseModel):
    """This server may be sent requests: its database answers, its schema is current and its
    task runner runs (otherwise a 503 error naming what is not ready)."""

    status: Literal["ready"]


class MessageList(BaseModel):
    """Messages of one session, in position order."""

    items: list[Message]


class ClearResult(BaseModel):
    """What clearing a session removed."""

    deleted: int = Field(description="How many messages were deleted.")


class SearchResults(BaseModel):
    """Messages matching a search, best first."""

    items: list[MessageHit]


class DocumentSearchResults(BaseModel):
    """Passages matching a document search, best first."""

    hits: list[Hit]


class DocumentList(BaseModel):
    """Documents, newest first."""

    items: list[DocumentView]


class Collection(BaseModel):
    """A named group of documents."""

    id: str
    name: str
    documents: int = Field(description="How many documents it holds.")
    owned: bool = Field(
        True, description="Yours; false: another user's, shared with you read-only."
    )
    shared: bool = Field(False, description="Shared with other users (read-only).")


class CollectionList(BaseModel):
    """Collections, by name."""

    items: list[Collection]


class ModelDescription(BaseModel):
    """A model as the API lists it (never its key)."""

    name: str = Field(description="What settings.model and ChatRequest.model take.")
    provider: Literal["extractive", "openai", "local"]
    model: str = Field(description="The id sent to the server, the GGUF file, or 'extractive'.")
    context_window: int | None = Field(description="Tokens of prompt and reply together.")
    available: bool
    default: bool
    unavailable_reason: str | None = None


class ModelList(BaseModel):
    """The models that can answer, the default marked."""

    items: list[ModelDescription]


class ModeDescription(BaseModel):
    """A chat mode as the API lists it (what the web app's mode list shows)."""

    name: str = Field(description="What settings.mode and ChatRequest.mode take.")
    label: str = Field(description="How a list names it.")
    description: str = Field(description="What it does, in a few words.")
    background: bool = Field(description="POST …/chat answers it as a task (202).")
    budgets: list[str] = Field(description="The settings that bound its work.")


class ModeList(BaseModel):
    """The chat modes, in the order a list shows them."""

    items: list[ModeDescription]


class TaskAccepted(BaseModel):
    """Work continues as a background task."""

    task_id: str
    status_url: str = Field(description="Poll this for the task's progress and outcome.")


class UploadAccepted(BaseModel):
    """An upload was received; a background task is indexing it."""

    task_id: str
    status_url: str = Field(description="Poll this for the task's progress and outcome.")
    replaced: list[ReplacedDocument] = Field(
        description="Documents of the collection with the name of a file sent: the upload "
        "replaces their content (they keep their ids).  Empty when every name is new."
    )


class TaskList(BaseModel):
    """Background tasks, most recent first."""

    items: list[TaskInfo]


class ErrorDetail(BaseModel):
    """What went wrong; ``field`` names the offending input when known."""

    code: str = Field(description="Stable, machine-readable, e.g. 'session_not_found'.")
    message: str
    field: str | None = None
    details: list[dict[str, Any]] | None = Field(
        None,
        description="One entry per validation problem (loc, msg, type), or per check `/readyz` "
        "found not ready (check, msg).",
    )
    param: str | None = Field(
        None, description="OpenAI-compatible API (/v1) only: `field` under OpenAI's name."
    )
    type: Literal["invalid_request_error", "server_error"] | None = Field(
        None, description="OpenAI-compatible API (/v1) only: OpenAI's error type."
    )


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


_ERROR_DESCRIPTIONS = {
    400: "The Host header names a server this is not (see `server.allowed_hosts`).",
    401: "With accounts on: no login cookie or API token, or one that is wrong, expired or "
    "revoked; a failed login.",
    403: "A web page of another site sent this state-changing request (see "
    "`server.allowed_origins`); with accounts on, a change made with the login cookie lacks "
    "its CSRF token (`X-CSRF-Token`), or the route is for admins.",
    404: "No such session, document or task (or route).",
    409: "Conflicts with existing state.",
    413: "Request body, a value in it or an uploaded file is too large (`too_large`), or an "
    "upload would pass the data dir's or its owner's quota (`quota_exceeded`); the message names "
    "the setting.",
    414: "The URL is longer than `server.max_url_bytes`.",
    415: "The body is not JSON (send `Content-Type: application/json`).",
    431: "The request headers are larger than `server.max_header_bytes` in all.",
    502: "An outside service failed: the model server (refused, 401, 429, 5xx, timeout, "
    "context overflow; the question and the failed turn are stored), or the bucket that "
    "keeps original files (`storage_unavailable`).",
    429: "Too many failed logins for the account or the address; try again after "
    "`Retry-After` seconds.",
    422: "Invalid input: malformed JSON, wrong type, unknown key or out-of-range value.",
    503: "As many exports and page images as allowed are being drawn (`renders.concurrency`, "
    "`renders.queue`); try again after `Retry-After` seconds.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting the given error statuses with the shared error body."""
    return {
        status: {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }
