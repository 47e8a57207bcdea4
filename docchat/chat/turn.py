"""A turn's own types, one floor below everything that runs it: its state, stop flags, outcome
and events, and ``TurnEngine``, what a mode may use of the engine.

The engine (``docchat.chat.answer``), the shared steps (``docchat.chat.steps``), the outcome
builders (``docchat.chat.outcomes``), the model calls (``docchat.chat.generate``) and every mode
import from here; nothing here imports them, so the chat package has no import circle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from docchat.chat.types import AnswerEvent, Citation

if TYPE_CHECKING:
    from docchat.chat.autosave import Autosave
    from docchat.chat.effective import Effective
    from docchat.chat.memory import Turn
    from docchat.chat.web import WebSearch
    from docchat.config import Settings
    from docchat.llm.base import ChatModel
    from docchat.retrieval.embedders import Embedder
    from docchat.retrieval.hybrid import Hit, Retriever
    from docchat.sessions.types import Message

#: Version of the extractive answer's wording (the generative prompts carry their own).
EXTRACTIVE_VERSION = "extractive-1"


class TurnStopped(Exception):
    """Raised inside a turn when its cancel flag is set."""


class StopFlag(Protocol):
    """What a turn polls to learn it should stop (a ``threading.Event``, say)."""

    def is_set(self) -> bool:
        """Whether to stop."""
        ...


class AnyFlag:
    """Set when any of its flags is."""

    def __init__(self, *flags: StopFlag | None) -> None:
        self._flags = [f for f in flags if f is not None]

    def is_set(self) -> bool:
        """Whether any flag is set."""
        return any(f.is_set() for f in self._flags)


class TurnEngine(Protocol):
    """What a mode, a step or an outcome may use of the engine: its settings and parts, never the
    engine's own methods (which run turns, and would make a mode call back into its caller)."""

    settings: Settings
    retriever: Retriever
    embedder: Callable[[], Embedder]
    web: WebSearch | None


@dataclass(slots=True)
class TurnState:
    """What one turn has produced so far (stored as it stands if the turn fails or stops)."""

    session_id: str
    owner: str | None
    effective: Effective
    user_message: Message
    model: ChatModel | None
    memory: list[Turn]
    cancel: StopFlag
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    #: A follow-up's standalone rewrite, when the turn made one.
    rewrite: str | None = None
    passages: list[Hit] = field(default_factory=list)
    text: str = ""
    usage: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    model_calls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    #: Held while calling the model: as many as the model's server answers at once.
    model_slots: threading.BoundedSemaphore | None = None
    #: A turn with a task: the assistant message its answer streams into, and what saves it.
    answer_message: Message | None = None
    autosave: Autosave | None = None

    def check(self) -> None:
        """Raise ``TurnStopped`` when the turn was asked to stop."""
        if self.cancel.is_set():
            raise TurnStopped

    def timed(self, stage: str) -> _Timer:
        """A context manager adding the block's milliseconds to ``timings[stage]``."""
        return _Timer(self.timings, stage)

    @property
    def rephrasings(self) -> list[str]:
        """Other phrasings of the question that evidence may answer (the follow-up's rewrite)."""
        return [self.rewrite] if self.rewrite else []

    @property
    def model_name(self) -> str:
        """The model (or answerer) that produced the answer."""
        return self.effective.model


class _Timer:
    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = (time.perf_counter() - self.start) * 1000
        self.timings[self.stage] = round(self.timings.get(self.stage, 0.0) + elapsed, 2)


@dataclass(slots=True)
class Result:
    """A turn's outcome, before it is stored."""

    text: str
    references: Sequence[Citation] = ()
    abstained: bool = False
    prompt_version: str = EXTRACTIVE_VERSION
    metadata: dict[str, Any] = field(default_factory=dict)


#: What a mode or a step is: events as the turn goes, its ``Result`` as the return value.
Events = Generator[AnswerEvent, None, Result]
