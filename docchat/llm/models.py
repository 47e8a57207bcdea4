"""The configured generative models, by name: what ``GET /api/models`` lists and
``settings.model`` picks.

Three kinds of name: ``extractive`` (the offline answerer in ``docchat.chat``, which is no
``ChatModel``: ``get`` returns None for it), ``smollm2`` (built in, in process, when the local-llm
extra and the weights are installed) and the entries of ``settings.llm.models``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from docchat.config import BUILTIN_LOCAL_MODEL, EXTRACTIVE_MODEL, LLMSettings, ModelSettings
from docchat.errors import InvalidInput, ProviderError, shown_id
from docchat.llm.base import ChatModel
from docchat.llm.local import SMOLLM2_FILE, unavailable_reason

#: SmolLM2-135M repeats its context when let run: a short reply keeps it on point and quick
#: (~2 s at ~134 tokens/s on 2 cores).
BUILTIN_LOCAL_SETTINGS = ModelSettings(provider="local", max_output_tokens=256)

Provider = Literal["extractive", "openai", "local"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model as ``GET /api/models`` shows it (never its key)."""

    name: str
    provider: Provider
    #: The id sent to the server, the GGUF file name, or ``extractive``.
    model: str
    #: Tokens of prompt and reply together; None for the extractive answerer (no window).
    context_window: int | None
    #: Whether it can run here: a local model's llama-cpp-python and weights are installed.  A
    #: server is not asked (that would make listing as slow as the slowest server).
    available: bool
    #: Whether it answers when a session names no model.
    default: bool
    #: Why ``available`` is false, with what to install.
    unavailable_reason: str | None = None


def create_model(name: str, settings: ModelSettings) -> ChatModel:
    """The ``ChatModel`` that ``settings`` configure under ``name`` (nothing loads or connects)."""
    if settings.provider == "local":
        from docchat.llm.local import LocalGGUFModel

        return LocalGGUFModel.from_settings(name, settings)
    from docchat.llm.openai_compat import OpenAICompatibleModel

    return OpenAICompatibleModel.from_settings(name, settings)


class ModelCatalog:
    """The models of ``settings``, each created on first use and then shared (thread-safe).

    ``close()`` closes those created.
    """

    def __init__(self, settings: LLMSettings) -> None:
        self._settings: dict[str, ModelSettings] = {}
        if BUILTIN_LOCAL_MODEL not in settings.models:
            self._settings[BUILTIN_LOCAL_MODEL] = BUILTIN_LOCAL_SETTINGS
        self._settings.update(settings.models)
        self.default_name = settings.default_model
        self._models: dict[str, ChatModel] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Every name ``get`` accepts: ``extractive``, then the built-in and configured models."""
        return [EXTRACTIVE_MODEL, *self._settings]

    def describe(self) -> list[ModelInfo]:
        """Every model, in ``names()`` order, with whether it can run here."""
        infos = [
            ModelInfo(
                name=EXTRACTIVE_MODEL,
                provider="extractive",
                model=EXTRACTIVE_MODEL,
                context_window=None,
                available=True,
                default=self.default_name == EXTRACTIVE_MODEL,
            )
        ]
        for name, settings in self._settings.items():
            reason = self._unavailable_reason(settings)
            infos.append(
                ModelInfo(
                    name=name,
                    provider=settings.provider,
                    model=_model_id(name, settings),
                    context_window=settings.effective_context_window,
                    available=reason is None,
                    default=self.default_name == name,
                    unavailable_reason=reason,
                )
            )
        return infos

    def resolve(self, name: str | None, *, field: str = "model") -> str:
        """``name``, or the default when None; ``InvalidInput`` naming ``field`` when unknown."""
        if name is None:
            return self.default_name
        if name != EXTRACTIVE_MODEL and name not in self._settings:
            raise InvalidInput(
                f"unknown model {shown_id(name)!r}; known models: {', '.join(self.names())}",
                field=field,
            )
        return name

    def get(self, name: str | None = None) -> ChatModel | None:
        """The model called ``name`` (the default when None), or None for the extractive answerer.

        Raises ``InvalidInput`` for an unknown name and ``ProviderError`` (kind ``unavailable``)
        for a local model that cannot run here.
        """
        name = self.resolve(name)
        if name == EXTRACTIVE_MODEL:
            return None
        with self._lock:
            model = self._models.get(name)
            if model is None:
                settings = self._settings[name]
                reason = self._unavailable_reason(settings)
                if reason is not None:
                    raise ProviderError(
                        f"model {name!r} is not available: {reason}", kind="unavailable", model=name
                    )
                model = self._models[name] = create_model(name, settings)
            return model

    def close(self) -> None:
        """Close every model created so far (a later ``get`` creates it again)."""
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for model in models:
            model.close()

    def __enter__(self) -> ModelCatalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _unavailable_reason(settings: ModelSettings) -> str | None:
        if settings.provider == "local":
            return unavailable_reason(settings.model_path)
        return None


def _model_id(name: str, settings: ModelSettings) -> str:
    if settings.provider == "local":
        return Path(settings.model_path or SMOLLM2_FILE).name
    return settings.model or name
