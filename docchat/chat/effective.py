"""The settings one turn runs with: configured defaults ← the session's settings ← the request's.

Built fresh for every turn and never shared, so concurrent turns with different models, modes and
options cannot see each other's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from docchat.config import Settings
from docchat.options import ChatMode, ChatOptions, ChatSettings, SourceFilters


@dataclass(frozen=True, slots=True)
class Effective:
    """Every option resolved to a value."""

    mode: ChatMode
    model: str
    num_results: int
    source_filters: SourceFilters
    manual_keywords: tuple[str, ...]
    custom_instructions: str | None
    output_language: str | None
    enable_reranking: bool
    neighbour_context: bool
    use_memory: bool
    memory_turns: int
    temperature: float | None
    max_tokens: int | None
    allow_model_knowledge: bool
    enable_web_search: bool
    query_languages: tuple[str, ...]
    reflection_rounds: int
    force: bool
    #: What the request itself set (recorded with the question).
    overrides: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The options as the answer's metadata records them."""
        data = asdict(self)
        data.pop("overrides")
        data["source_filters"] = self.source_filters.model_dump(mode="json")
        data["manual_keywords"] = list(self.manual_keywords)
        data["query_languages"] = list(self.query_languages)
        return data


def explicit_option(name: str, *layers: ChatOptions | None) -> bool:
    """Whether a request or session set option ``name`` (not left to the configured default)."""
    return _pick(name, *layers) is not None


def _pick(name: str, *layers: ChatOptions | None) -> Any:
    for layer in layers:
        value = getattr(layer, name, None) if layer is not None else None
        if value is not None:
            return value
    return None


def resolve(
    settings: Settings,
    session: ChatSettings,
    *,
    mode: ChatMode | None = None,
    model: str | None = None,
    options: ChatOptions | None = None,
) -> Effective:
    """The effective settings of a turn: the request's, else the session's, else configured."""
    chat = settings.chat
    layers = (options, session.options)

    def pick(name: str, default: Any) -> Any:
        value = _pick(name, *layers)
        return default if value is None else value

    return Effective(
        mode=mode or (session.mode if session.mode else chat.mode),
        model=model or session.model or settings.llm.default_model,
        num_results=pick("num_results", settings.retrieval.num_results),
        source_filters=pick("source_filters", SourceFilters()),
        manual_keywords=tuple(pick("manual_keywords", ())),
        custom_instructions=pick("custom_instructions", None),
        output_language=pick("output_language", None),
        enable_reranking=pick("enable_reranking", settings.retrieval.enable_reranking),
        neighbour_context=pick("neighbour_context", chat.neighbour_context),
        use_memory=pick("use_memory", chat.use_memory),
        memory_turns=pick("memory_turns", chat.memory_turns),
        temperature=pick("temperature", None),
        max_tokens=pick("max_tokens", chat.max_tokens),
        allow_model_knowledge=pick("allow_model_knowledge", False),
        enable_web_search=pick("enable_web_search", False),
        query_languages=tuple(pick("query_languages", chat.query_languages)),
        reflection_rounds=pick("reflection_rounds", chat.reflection_rounds),
        force=pick("force", False),
        overrides={
            **({"mode": mode} if mode else {}),
            **({"model": model} if model else {}),
            **(options.model_dump(mode="json", exclude_none=True) if options else {}),
        },
    )
