"""Request and response bodies of the HTTP API that the library's own types do not already cover."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from docchat.sessions.types import ChatMode, ChatOptions, ChatSettings, Message, MessageHit, Role

# -- requests ----------------------------------------------------------------------------------
# Unknown keys are refused: a misspelt field would otherwise be dropped without a word.


class SessionCreate(BaseModel):
    """A new chat session."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, description="Shown in session lists; empty when left out.")
    settings: ChatSettings | None = Field(
        None, description="Answer settings; defaults if left out."
    )


class SessionUpdate(BaseModel):
    """Changes to a session."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="The new title.")


class MessageCreate(BaseModel):
    """A message to append to a session."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str
    metadata: dict[str, Any] | None = Field(None, description="Free-form JSON object.")
    references: list[Any] | None = Field(None, description="Sources cited, as JSON values.")


class SettingsUpdate(BaseModel):
    """Settings keys to replace; a key left out keeps its current value."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, max_length=200, description="LLM name; null = the default.")
    mode: ChatMode | None = Field(None, description="Chat mode.")
    options: ChatOptions | None = Field(None, description="Replaces all options at once.")

    def patch(self) -> dict[str, Any]:
        """The keys the caller sent, as JSON, for ``SessionStore.update_settings``."""
        return self.model_dump(mode="json", exclude_unset=True)


# -- responses ---------------------------------------------------------------------------------


class Health(BaseModel):
    """Whether the server and its database answer."""

    status: Literal["ok", "unavailable"]


class MessageList(BaseModel):
    """Messages of one session, in position order."""

    items: list[Message]


class ClearResult(BaseModel):
    """What clearing a session removed."""

    deleted: int = Field(description="How many messages were deleted.")


class SearchResults(BaseModel):
    """Messages matching a search, best first."""

    items: list[MessageHit]


class ErrorDetail(BaseModel):
    """What went wrong; ``field`` names the offending input when known."""

    code: str = Field(description="Stable, machine-readable, e.g. 'session_not_found'.")
    message: str
    field: str | None = None
    details: list[dict[str, Any]] | None = Field(
        None, description="One entry per validation problem: loc, msg, type."
    )


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


_ERROR_DESCRIPTIONS = {
    404: "No such session (or route).",
    409: "Conflicts with existing state.",
    413: "Request body or a value in it is too large.",
    422: "Invalid input: malformed JSON, wrong type, unknown key or out-of-range value.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting the given error statuses with the shared error body."""
    return {
        status: {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }
