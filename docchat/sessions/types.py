"""Public value types of chat sessions: what the library returns and the API serialises."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from docchat.validation import json_problem

Role = Literal["user", "assistant", "system", "tool"]
ROLES: tuple[str, ...] = ("user", "assistant", "system", "tool")
ChatMode = Literal["basic", "extensive", "full_reading", "deep_reflection"]


#: Entries of one source-filter list, and keywords of one request: settings are read with every
#: session, so they stay small (100,000 keywords once made each read 400 KB).
MAX_FILTER_ENTRIES = 1000
MAX_KEYWORDS = 50

# A collection name, a document id, a file-name pattern or a keyword.
FilterEntry = Annotated[str, StringConstraints(max_length=500)]
Keyword = Annotated[str, StringConstraints(max_length=200)]


class StoredSettings(BaseModel):
    """Base of the settings models: refuses text no database stores (NUL, lone surrogates).

    Strict: ``false`` is not a temperature nor ``0`` a switch, as the JSON schema says.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        found = json_problem(data)
        if found is not None:
            path, problem = found
            raise ValueError(f"{path or 'value'} {problem}")
        return data


class SourceFilters(StoredSettings):
    """Which documents retrieval may draw from; empty lists mean no restriction."""

    collections: list[FilterEntry] = Field(
        default_factory=list, max_length=MAX_FILTER_ENTRIES, description="Collection names."
    )
    documents: list[FilterEntry] = Field(
        default_factory=list, max_length=MAX_FILTER_ENTRIES, description="Document ids."
    )
    file_globs: list[FilterEntry] = Field(
        default_factory=list,
        max_length=MAX_FILTER_ENTRIES,
        description="Shell-style patterns on file names, e.g. '*.pdf'.",
    )


class ChatOptions(StoredSettings):
    """Per-session (or per-request) answer options; None means the configured default."""

    num_results: int | None = Field(None, ge=1, le=200, description="Passages retrieved.")
    source_filters: SourceFilters | None = None
    manual_keywords: list[Keyword] | None = Field(
        None, max_length=MAX_KEYWORDS, description="Terms forced into the full-text query."
    )
    custom_instructions: str | None = Field(None, max_length=10_000)
    output_language: str | None = Field(None, max_length=64)
    enable_reranking: bool | None = None
    use_memory: bool | None = Field(None, description="Feed earlier turns to the model.")
    memory_turns: int | None = Field(None, ge=0, le=100)
    temperature: float | None = Field(None, ge=0, le=2)


class ChatSettings(StoredSettings):
    """A session's answer settings: which model, which mode, which options."""

    model: str | None = Field(None, max_length=200, description="LLM name; None = default.")
    mode: ChatMode = "basic"
    options: ChatOptions = Field(default_factory=ChatOptions)

    def to_json(self) -> dict[str, Any]:
        """The JSON stored in the database: unset options left out."""
        return self.model_dump(mode="json", exclude_none=True)


class Message(BaseModel):
    """One message of a chat session."""

    model_config = ConfigDict(frozen=True)

    id: int
    session_id: str
    position: int = Field(description="Strictly increasing within the session.")
    role: Role
    content: str
    created_at: dt.datetime
    metadata: dict[str, Any] | None = None
    references: list[Any] | None = None


class ChatSession(BaseModel):
    """A chat session; ``messages`` is filled only when asked for (it can be long)."""

    model_config = ConfigDict(frozen=True)

    id: str
    owner: str | None
    title: str
    created_at: dt.datetime
    updated_at: dt.datetime
    settings: ChatSettings
    message_count: int
    messages: list[Message] | None = None


class SessionPage(BaseModel):
    """One page of a session listing; pass ``next_cursor`` back for the next page."""

    items: list[ChatSession]
    next_cursor: str | None


class MessageHit(BaseModel):
    """A message found by full-text search."""

    message: Message
    session_title: str
    snippet: str
    score: float = Field(description="Higher is better.")
