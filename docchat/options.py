"""Answer options: which documents, which mode, which knobs; shared by sessions, retrieval and chat.

Kept apart from ``sessions/`` so that retrieval and the chat engine can read them without
importing the session store; it imports only pydantic and ``docchat.validation``.  Every option
is optional: None means the configured default, so a session stores only what its user chose.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainValidator,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from docchat.validation import OptionalWholeNumber, json_problem

#: The chat modes' names, in the order faces list them.  ``docchat.chat.modes`` adds a mode's
#: name here when it registers the mode: options sit below the chat engine and cannot import its
#: registry, and the CLI reads them without loading it.  The built-in modes are named here too, so
#: that stored settings validate before (or without) the engine being loaded; a test checks that
#: they are the registry's built-in modes.
_MODE_NAMES: list[str] = ["basic", "extensive", "full_reading", "deep_reflection"]


def mode_names() -> tuple[str, ...]:
    """The names a ``ChatMode`` may take (every registered chat mode)."""
    return tuple(_MODE_NAMES)


def add_mode_name(name: str) -> None:
    """Accept ``name`` as a chat mode (``docchat.chat.modes.register`` calls it)."""
    if name not in _MODE_NAMES:
        _MODE_NAMES.append(name)


def remove_mode_name(name: str) -> None:
    """No longer accept ``name`` (``docchat.chat.modes.unregister`` calls it)."""
    if name in _MODE_NAMES:
        _MODE_NAMES.remove(name)


def _registered_mode(name: Any) -> str:
    names = mode_names()
    if not isinstance(name, str) or name not in names:
        # Worded as pydantic words a Literal's error, which the mode was until modes registered.
        expected = ", ".join(repr(n) for n in names[:-1]) + f" or {names[-1]!r}"
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": expected}
        )
    return name


class _ModeNamesSchema:
    """The JSON schema of a mode: an enum of the names registered when the schema is made."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"enum": list(mode_names()), "type": "string"}


#: A registered chat mode's name.
ChatMode = Annotated[str, PlainValidator(_registered_mode), _ModeNamesSchema()]

#: Entries of one source-filter list, and keywords of one request: settings are read with every
#: session, so they stay small (100,000 keywords once made each read 400 KB).
MAX_FILTER_ENTRIES = 1000
MAX_KEYWORDS = 50
MAX_QUERY_LANGUAGES = 10

# A collection name, a document id, a file-name pattern or a keyword.
FilterEntry = Annotated[str, StringConstraints(max_length=500)]
Keyword = Annotated[str, StringConstraints(max_length=200)]
# A language as a person or a model names it: "Dutch", "nl", "français".
Language = Annotated[str, StringConstraints(min_length=1, max_length=32)]


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

    num_results: OptionalWholeNumber = Field(None, ge=1, le=200, description="Passages retrieved.")
    source_filters: SourceFilters | None = None
    manual_keywords: list[Keyword] | None = Field(
        None, max_length=MAX_KEYWORDS, description="Terms forced into the full-text query."
    )
    custom_instructions: str | None = Field(None, max_length=10_000)
    output_language: str | None = Field(None, max_length=64)
    enable_reranking: bool | None = None
    neighbour_context: bool | None = Field(
        None,
        description="Widen each passage with its neighbours of the same page and section, so "
        "the answer sees the whole paragraph (citations stay exact).",
    )
    use_memory: bool | None = Field(None, description="Feed earlier turns to the model.")
    memory_turns: OptionalWholeNumber = Field(None, ge=0, le=100)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: OptionalWholeNumber = Field(
        None, ge=1, le=32_768, description="Most tokens the model may write for the answer."
    )
    allow_model_knowledge: bool | None = Field(
        None,
        description="When the passages do not contain the answer, answer from the model's own "
        "knowledge (the answer says so) instead of abstaining.",
    )
    enable_web_search: bool | None = Field(
        None, description="Add results of the configured web search provider to the passages."
    )
    query_languages: list[Language] | None = Field(
        None,
        max_length=MAX_QUERY_LANGUAGES,
        description="Languages the 'extensive' mode translates its query variants into.",
    )
    reflection_rounds: OptionalWholeNumber = Field(
        None, ge=0, le=5, description="Critique-and-retrieve rounds of 'deep_reflection'."
    )
    force: bool | None = Field(
        None,
        description="Run a 'full_reading' whose estimated work exceeds the configured budget "
        "instead of refusing with the estimate.",
    )


class ChatSettings(StoredSettings):
    """A session's answer settings: which model, which mode, which options."""

    model: str | None = Field(None, max_length=200, description="LLM name; None = default.")
    mode: ChatMode = "basic"
    options: ChatOptions = Field(default_factory=ChatOptions)

    def to_json(self) -> dict[str, Any]:
        """The JSON stored in the database: unset options left out."""
        return self.model_dump(mode="json", exclude_none=True)
