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
from docchat.language import NEUTRAL, Language, Lexicon, language_of

if TYPE_CHECKING:
    from docchat.chat.autosave import Autosave
    from docchat.chat.effective import Effective
    from docchat.chat.memory import Turn
    from docchat.chat.web_search import WebSearch
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


class TurnUsage:
    """A turn's model calls and tokens, counted from every thread that calls the model.

    ``full_reading`` maps groups of passages on ``chat.concurrency`` threads at once, each adding
    its call's usage as the reply arrives.  A bare ``+=`` on a shared count is a load, an add and
    a store: threads that interleave there lose additions (free-threaded Python does; CPython 3.11
    only happens not to switch inside it), so every change holds the lock.
    """

    __slots__ = ("_calls", "_completion", "_lock", "_prompt")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = self._prompt = self._completion = 0

    def count_call(self) -> None:
        """One more model call."""
        with self._lock:
            self._calls += 1

    def add(self, prompt: int, completion: int) -> None:
        """Tokens a call reported."""
        with self._lock:
            self._prompt += prompt
            self._completion += completion

    def estimate_unreported(self, prompt: int, completion: int) -> None:
        """Take these estimates when no call reported any prompt tokens (the server sends no
        usage)."""
        with self._lock:
            if self._prompt == 0:
                self._prompt, self._completion = prompt, completion

    @property
    def calls(self) -> int:
        """Model calls so far."""
        return self._calls

    @property
    def prompt(self) -> int:
        """Prompt tokens so far."""
        return self._prompt

    @property
    def completion(self) -> int:
        """Completion tokens so far."""
        return self._completion


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
    #: The follow-up with the earlier turn's keywords, for scoring evidence only (offline).
    rewrite_terms: str | None = None
    passages: list[Hit] = field(default_factory=list)
    text: str = ""
    usage: TurnUsage = field(default_factory=TurnUsage)
    extra: dict[str, Any] = field(default_factory=dict)
    #: Held while calling the model: as many as the model's server answers at once.
    model_slots: threading.BoundedSemaphore | None = None
    #: A turn with a task: the assistant message its answer streams into, and what saves it.
    answer_message: Message | None = None
    autosave: Autosave | None = None
    #: The question's language and the lexicon its checks read (``lexicon``); set as the turn
    #: begins.
    language: Language = field(default_factory=lambda: Language(None, NEUTRAL, "none"))
    #: Whether a question placed nowhere was given the passages' language (tried once).
    passages_read: bool = False

    def check(self) -> None:
        """Raise ``TurnStopped`` when the turn was asked to stop."""
        if self.cancel.is_set():
            raise TurnStopped

    def timed(self, stage: str) -> _Timer:
        """A context manager adding the block's milliseconds to ``timings[stage]``."""
        return _Timer(self.timings, stage)

    def lexicon(self, hits: Sequence[Hit] = ()) -> Lexicon:
        """The lexicon the turn's checks read: the question's language's; for a question placed
        nowhere ("E1055 alert"), that of the first passages it is checked against, else none."""
        if self.language.code is None and hits and not self.passages_read:
            self.passages_read = True
            passages = [h.text for h in hits[:3]]
            self.language = language_of(self.user_message.content, passages)
        return self.language.lexicon

    @property
    def rephrasings(self) -> list[str]:
        """Other phrasings of the question that evidence may answer (the follow-up's rewrite)."""
        if self.rewrite_terms:
            return [self.rewrite_terms]
        return [self.rewrite] if self.rewrite else []

    @property
    def model_calls(self) -> int:
        """Model calls the turn has made so far (from every thread)."""
        return self.usage.calls

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
