"""A turn: a question in a session → passages → a grounded answer with checked citations.

The same for the library, the CLI and HTTP.  The question is appended (durable) before anything
else can fail; the answer is stored at the end with its references and metadata: mode, model,
effective options, per-stage timings, token usage, the passages used, the prompt version.  A turn
that fails or is cancelled keeps what it produced, marked as such.  A turn with a task (every turn
a ``Workspace`` runs) makes its answer's message right after the question and saves the text into
it as it streams (``docchat.chat.autosave``), so a process killed mid-answer leaves the text it
had, which the next process marks interrupted.  ``ChatEngine`` holds no per-turn state: every turn
builds its own ``Effective`` settings and ``TurnState``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from docchat.chat import modes, outcomes
from docchat.chat.autosave import Autosave
from docchat.chat.effective import Effective, explicit_option, resolve
from docchat.chat.memory import Turn, recent_turns
from docchat.chat.modes import Run

# Re-exported: the workspace widens a turn's stop flag with its task's.
from docchat.chat.turn import AnyFlag as AnyFlag
from docchat.chat.turn import Events, Result, TurnState, TurnStopped
from docchat.chat.turn import StopFlag as StopFlag
from docchat.chat.types import (
    Answer,
    AnswerEvent,
    DoneEvent,
    ErrorEvent,
    Question,
    TokenEvent,
)
from docchat.chat.web_search import SearxngSearch, WebSearch, as_web_citations
from docchat.config import Settings
from docchat.errors import DocchatError, InvalidInput
from docchat.language import language_of
from docchat.llm.base import ChatModel
from docchat.options import ChatSettings
from docchat.retrieval.embedders import Embedder
from docchat.retrieval.hybrid import MAX_QUERY_CHARS, Retriever, no_reranker
from docchat.sessions.store import SessionStore
from docchat.validation import check_text

log = logging.getLogger(__name__)

#: Characters of the first question that become a new session's title.
TITLE_CHARS = 80


ModelLookup = Callable[[str], ChatModel | None]


class ChatEngine:
    """Answers questions over one workspace's sessions and documents."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: SessionStore,
        retriever: Retriever,
        embedder: Callable[[], Embedder],
        models: ModelLookup,
    ) -> None:
        self.settings = settings
        self.store = store
        self.retriever = retriever
        self.embedder = embedder
        self.models = models
        url = settings.chat.web_search_url
        self.web: WebSearch | None = SearxngSearch(url) if url else None
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    # -- faces -------------------------------------------------------------------------------

    def ask(
        self,
        question: Question,
        *,
        cancel: StopFlag | None = None,
        turn_id: str | None = None,
        on_event: Callable[[AnswerEvent], None] | None = None,
    ) -> Answer:
        """Answer ``question``; the answer and both messages are stored when this returns.

        Raises ``ProviderError`` when the model failed (the question and the failed turn are
        stored) and ``InvalidInput``/``SessionNotFound`` before anything is stored.
        """
        final: Answer | None = None
        failures: list[DocchatError] = []
        for event in self._events(question, cancel=cancel, turn_id=turn_id, failures=failures):
            if on_event is not None:
                on_event(event)
            if isinstance(event, DoneEvent):
                final = event.answer
        if failures:
            raise failures[0]
        assert final is not None
        return final

    def stream(
        self,
        question: Question,
        *,
        cancel: StopFlag | None = None,
        turn_id: str | None = None,
    ) -> Iterator[AnswerEvent]:
        """The turn as events: retrieval, tokens, progress, then done (or error).

        Closing the iterator early (a client went away) stops the turn; what it had is stored,
        marked cancelled.
        """
        return self._events(question, cancel=cancel, turn_id=turn_id)

    def _events(
        self,
        question: Question,
        *,
        cancel: StopFlag | None,
        turn_id: str | None = None,
        failures: list[DocchatError] | None = None,
    ) -> Iterator[AnswerEvent]:
        state, run = self._begin(question, cancel=cancel or threading.Event(), turn_id=turn_id)
        stored = False
        try:
            result = yield from _autosaved(state, run(self, state, question.text))
            answer = self._finish(state, result)
            stored = True
            yield DoneEvent(answer=answer)
        except TurnStopped:
            answer = self._finish(state, outcomes.partial(state, cancelled=True))
            stored = True
            yield DoneEvent(answer=answer)
        except GeneratorExit:
            # The consumer went away: keep what was produced, then let the generator close.
            if not stored:
                self._finish(state, outcomes.partial(state, cancelled=True))
            raise
        except DocchatError as exc:  # a model failed, or a step refused its input
            log.warning("turn in session %s failed: %s", state.session_id, exc.message)
            answer = self._finish(state, outcomes.partial(state, error=exc))
            stored = True
            if failures is not None:
                failures.append(exc)
            yield ErrorEvent(code=exc.code, message=exc.message, answer=answer)
        except Exception:
            if not stored:  # a bug of ours: the question stays, the turn is marked failed
                self._finish(state, outcomes.partial(state, error=DocchatError("internal error")))
            raise

    # -- steps -------------------------------------------------------------------------------

    def _begin(
        self, question: Question, *, cancel: StopFlag, turn_id: str | None = None
    ) -> tuple[TurnState, Run]:
        text, session_id, owner = question.text, question.session_id, question.owner
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("question must be a non-empty string", field="question")
        # The question is searched as it is: the retriever's query limit is its limit.
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidInput(
                f"question is longer than {MAX_QUERY_CHARS} characters", field="question"
            )
        check_text(text, "question")
        existing = None if session_id is None else self.store.get(session_id, owner=owner)
        session_settings = (
            existing.settings
            if existing is not None
            else ChatSettings(mode=question.mode or self.settings.chat.mode)
        )
        effective = resolve(
            self.settings,
            session_settings,
            mode=question.mode,
            model=question.model,
            options=question.options,
        )
        chat_model = self.models(effective.model)  # unknown name: InvalidInput, nothing stored
        if effective.enable_reranking and self.retriever.reranker is None:
            if explicit_option("enable_reranking", question.options, session_settings.options):
                raise no_reranker(field="options.enable_reranking")
            # Only the configured default asked for it, and there is nothing to rerank with.
            effective = dataclasses.replace(effective, enable_reranking=False)
        # A mode's own checks (full_reading's budget): refused now, nothing is stored.
        run = modes.get(effective.mode).start(self, effective, owner)
        session = existing or self.store.create(
            owner=owner,
            title=" ".join(text.split())[:TITLE_CHARS],
            settings=session_settings,
        )
        memory: list[Turn] = []
        user_message = self.store.append(
            session.id,
            "user",
            text,
            metadata={
                "mode": effective.mode,
                "model": effective.model,
                **({"turn_id": turn_id} if turn_id else {}),
                **_overrides(effective),
            },
            owner=owner,
        )
        answer_message = autosave = None
        if turn_id:
            # Made now, after the question, so that a server killed at any point of the turn
            # leaves an answer (interrupted) beside its question, never a bare question.
            answer_message = self.store.begin_answer(
                session.id,
                turn_id=turn_id,
                metadata={"mode": effective.mode, "model": effective.model},
                owner=owner,
            )
            autosave = Autosave(
                partial(self.store.save_partial, answer_message.id),
                interval=self.settings.chat.stream_save_interval_s,
            )
        if question.history is not None:  # the caller keeps the conversation (OpenAI-style clients)
            keep = effective.memory_turns if effective.use_memory else 0
            memory = list(question.history)[-keep:] if keep else []
        elif effective.use_memory:
            memory = recent_turns(
                self.store,
                session.id,
                before=user_message.position,
                turns=effective.memory_turns,
                owner=owner,
            )
        state = TurnState(
            session_id=session.id,
            owner=owner,
            effective=effective,
            user_message=user_message,
            model=chat_model,
            memory=memory,
            cancel=cancel,
            model_slots=self._model_slots(effective.model) if chat_model else None,
            answer_message=answer_message,
            autosave=autosave,
            language=language_of(text),
        )
        return state, run

    def _model_slots(self, name: str) -> threading.BoundedSemaphore:
        """The calls a model may serve at once, shared by every turn of this engine: llama.cpp's
        server, say, interrupts a reply when another request arrives."""
        with self._slots_lock:
            slots = self._slots.get(name)
            if slots is None:
                configured = self.settings.llm.models.get(name)
                slots = threading.BoundedSemaphore(
                    configured.parallel_requests if configured else 1
                )
                self._slots[name] = slots
            return slots

    def _finish(self, state: TurnState, result: Result) -> Answer:
        metadata = {
            "mode": state.effective.mode,
            "model": state.model_name,
            "options": state.effective.to_json(),
            "queries": state.queries,
            "passages": [
                {
                    "n": i,
                    "chunk_id": h.chunk_id,
                    "document_id": h.document_id,
                    "file_name": h.file_name,
                    "page": h.page,
                    # The passage's span in the document's text: what it said can be read back
                    # (answer evaluation's baselines answer from these very passages).
                    "char_start": h.char_start,
                    "char_end": h.char_end,
                    "score": round(h.score, 4),
                }
                for i, h in enumerate(state.passages, 1)
            ],
            "timings_ms": {**state.timings, "total": _ms_since(state.started)},
            "usage": {
                "prompt_tokens": state.usage.prompt,
                "completion_tokens": state.usage.completion,
                "model_calls": state.usage.calls,
            },
            "prompt_version": result.prompt_version,
            "abstained": result.abstained,
            # Which language rules checked it: "en", "nl", "fr", or "neutral" (none).
            **state.language.metadata(),
            **state.extra,
            **result.metadata,
        }
        cited = as_web_citations(result.references)
        references = [c.model_dump(mode="json", exclude_none=True) for c in cited]
        text = self._fit(result.text, metadata)
        message = None
        if state.answer_message is not None:
            if state.autosave is not None:
                state.autosave.close()  # its save in flight lands first
            message = self.store.finish_answer(
                state.answer_message.id, text, metadata=metadata, references=references
            )
        if message is None:  # no task to recover it, or the session was cleared meanwhile
            message = self.store.append(
                state.session_id,
                "assistant",
                text,
                metadata=metadata,
                references=references,
                owner=None,  # the session was found for the owner when the turn began
            )
        return Answer(
            answer=text,
            references=cited,
            metadata=metadata,
            session_id=state.session_id,
            user_message_id=state.user_message.id,
            assistant_message_id=message.id,
        )

    def _fit(self, text: str, metadata: dict[str, Any]) -> str:
        """The answer within the session limits (a stored answer must never fail on its size):
        text cut at ``max_content_chars``, bulky metadata dropped past ``max_json_bytes``."""
        limits = self.settings.sessions
        if len(text) > limits.max_content_chars:
            text = text[: limits.max_content_chars - 1] + "…"
            metadata["truncated"] = True
        for bulky in (
            "sentences",
            "marker_spans",
            "closest",
            "passages",
            "draft",
            "model_reply",
            "reflection",
        ):
            if len(json.dumps(metadata, ensure_ascii=False).encode()) <= limits.max_json_bytes:
                break
            if metadata.pop(bulky, None) is not None:
                metadata.setdefault("dropped_metadata", []).append(bulky)
        return text


def _autosaved(state: TurnState, events: Events) -> Events:
    """``events`` passed on, the answer's text handed to the turn's autosave as it streams (the
    text the client was shown, as it was shown)."""
    try:
        while True:
            try:
                event = next(events)
            except StopIteration as stop:
                result: Result = stop.value
                return result
            if state.autosave is not None and isinstance(event, TokenEvent):
                state.autosave.add(event.text)
            yield event
    finally:
        events.close()  # now, not at garbage collection: a stopped turn frees its model slot


def _overrides(effective: Effective) -> dict[str, Any]:
    return {"overrides": effective.overrides} if effective.overrides else {}


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
