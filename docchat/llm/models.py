"""The configured generative models, by name: what ``GET /api/models`` lists and
``settings.model`` picks.

Three kinds of name: ``extractive`` (the offline answerer in ``docchat.chat``, which is no
``ChatModel``: ``get`` returns None for it), ``smollm2`` and ``qwen-0.5b`` (built in, in process,
when the local-llm extra and the weights are installed) and the entries of ``settings.llm.models``
(an entry named like a built-in one replaces it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from docchat.config import (
    BUILTIN_LOCAL_MODEL,
    EXTRACTIVE_MODEL,
    QWEN_MODEL,
    LLMSettings,
    ModelSettings,
)
from docchat.errors import InvalidInput, ProviderError, shown_id
from docchat.llm.base import ChatModel
from docchat.llm.local import SMOLLM2_FILE, unavailable_reason
from docchat.llm.weights import QWEN_CODER_05B, PartedWeights

#: SmolLM2-135M repeats its context when let run: a short reply keeps it on point and quick
#: (~2 s at ~134 tokens/s on 2 cores).
BUILTIN_LOCAL_SETTINGS = ModelSettings(provider="local", max_output_tokens=256)
#: Qwen2.5-Coder-0.5B reads the handbook's passages well in 4096 tokens (see README, "Models").
QWEN_SETTINGS = ModelSettings(provider="local", context_window=4096, max_output_tokens=512)
#: The folder of the data dir that parted weights are joined into.
MODELS_DIR = "models"

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


def create_model(
    name: str, settings: ModelSettings, *, weights: PartedWeights | None = None
) -> ChatModel:
    """The ``ChatModel`` that ``settings`` configure under ``name`` (nothing loads or connects);
    ``weights``: a local model's parted weights, joined at ``settings.model_path``."""
    if settings.provider == "local":
        from docchat.llm.local import LocalGGUFModel

        return LocalGGUFModel.from_settings(name, settings, weights=weights)
    from docchat.llm.openai_compat import OpenAICompatibleModel

    return OpenAICompatibleModel.from_settings(name, settings)


class ModelCatalog:
    """The models of ``settings``, each created on first use and then shared (thread-safe).

    ``data_dir`` is where parted weights are joined (``<data_dir>/models``); without it the models
    that need joining are listed as unavailable.  ``close()`` closes those created.
    """

    def __init__(self, settings: LLMSettings, *, data_dir: Path | None = None) -> None:
        self._settings: dict[str, ModelSettings] = {}
        self._weights: dict[str, PartedWeights] = {}
        if BUILTIN_LOCAL_MODEL not in settings.models:
            self._settings[BUILTIN_LOCAL_MODEL] = BUILTIN_LOCAL_SETTINGS
        if QWEN_MODEL not in settings.models:
            folder = data_dir / MODELS_DIR if data_dir is not None else None
            self._settings[QWEN_MODEL] = QWEN_SETTINGS.model_copy(
                update={"model_path": folder / QWEN_CODER_05B.file_name if folder else None}
            )
            self._weights[QWEN_MODEL] = QWEN_CODER_05B
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
            reason = self._unavailable_reason(name, settings)
            infos.append(
                ModelInfo(
                    name=name,
                    provider=settings.provider,
                    model=self._model_id(name, settings),
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
                reason = self._unavailable_reason(name, settings)
                if reason is not None:
                    raise ProviderError(
                        f"model {name!r} is not available: {reason}", kind="unavailable", model=name
                    )
                model = create_model(name, settings, weights=self._weights.get(name))
                self._models[name] = model
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

    def _unavailable_reason(self, name: str, settings: ModelSettings) -> str | None:
        if settings.provider == "local":
            return unavailable_reason(settings.model_path, weights=self._weights.get(name))
        return None

    def _model_id(self, name: str, settings: ModelSettings) -> str:
        weights = self._weights.get(name)
        if weights is not None:
            return weights.file_name
        if settings.provider == "local":
            return Path(settings.model_path or SMOLLM2_FILE).name
        return settings.model or name
