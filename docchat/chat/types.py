"""What a turn takes and produces: the question asked, typed citations, checked sentences, the
answer and its stream of events.

``Citation`` is what the engine writes into an assistant message's ``references`` (as JSON); the
classic ``add_message_to_session`` still takes free-form references and returns them as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from docchat.retrieval.hybrid import Hit

if TYPE_CHECKING:
    from docchat.chat.memory import Turn
    from docchat.options import ChatMode, ChatOptions


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """One turn's question and what it asks for: the session (None: a new one), the owner, and
    mode, model and options over the session's settings.

    ``history``, when given, is the conversation the caller keeps (OpenAI-style clients) in place
    of the session's stored turns.  Checked when the engine begins the turn, not here: a question
    refused there still fails inside the turn's task record, as it always has.

    The cancel flag is not part of it: a value describing what is asked can be built once and
    handed down, logged or asked again, while a stop flag is live state that belongs to one run,
    and each layer widens it (``Workspace`` adds its task's flag, a background task uses only its
    own).  The turn id and event callback are per-run in the same way.
    """

    text: str
    session_id: str | None = None
    owner: str | None = None
    mode: ChatMode | None = None
    model: str | None = None
    options: ChatOptions | None = None
    history: Sequence[Turn] | None = None


class Citation(BaseModel):
    """A source the answer cites, numbered ``n`` in order of first citation.

    For a document: the passage (``chunk_id``, its ``char_start``/``char_end`` in the document's
    extracted text) and, inside it, the exact span that supports the citing sentence
    (``span_start``/``span_end``, document offsets, and its text as ``quote``).  For the web: the
    ``url`` and ``title``.
    """

    n: int = Field(ge=1, description="The number of its [n] marker in the answer.")
    kind: Literal["document", "web"] = "document"
    document_id: str | None = None
    file_name: str | None = None
    collection: str | None = None
    page: int | None = Field(None, description="1-based page (PDF) or slide (PPTX).")
    section: str | None = None
    chunk_id: int | None = None
    char_start: int | None = Field(None, description="The passage's start in the document text.")
    char_end: int | None = None
    span_start: int | None = Field(
        None, description="Start of the supporting span in the document text."
    )
    span_end: int | None = None
    quote: str | None = Field(None, description="The supporting span's text.")
    snippet: str = ""
    score: float | None = Field(None, description="The passage's retrieval score.")
    url: str | None = None
    title: str | None = None

    @classmethod
    def from_hit(cls, hit: Hit, n: int) -> Citation:
        """The citation of a retrieved passage (the span is the whole passage until located)."""
        return cls(
            n=n,
            document_id=hit.document_id,
            file_name=hit.file_name,
            collection=hit.collection,
            page=hit.page,
            section=hit.section,
            chunk_id=hit.chunk_id,
            char_start=hit.char_start,
            char_end=hit.char_end,
            span_start=hit.char_start,
            span_end=hit.char_end,
            snippet=hit.snippet,
            score=hit.score,
        )


class SentenceCheck(BaseModel):
    """One sentence of the answer and whether its cited spans support it."""

    text: str
    citations: list[int] = Field(default_factory=list, description="The [n] it cites.")
    supported: bool | None = Field(
        None, description="True/False when checked; None for a sentence that needs no source."
    )
    overlap: float | None = Field(None, description="Share of its content words in the span.")
    similarity: float | None = Field(None, description="Cosine of sentence and span embeddings.")
    added_citation: bool = Field(
        False, description="The check found support and added the marker the model left out."
    )


class Answer(BaseModel):
    """A finished (or failed, or cancelled) turn."""

    answer: str
    references: list[Citation]
    metadata: dict[str, Any]
    session_id: str
    user_message_id: int | None = None
    assistant_message_id: int | None = None


class RetrievalEvent(BaseModel):
    """Passages were retrieved: what the model will see, numbered as it sees them."""

    type: Literal["retrieval"] = "retrieval"
    queries: list[str]
    passages: list[dict[str, Any]]


class TokenEvent(BaseModel):
    """The next piece of the answer text (markers already checked)."""

    type: Literal["token"] = "token"
    text: str


class ProgressEvent(BaseModel):
    """What a long mode is doing now."""

    type: Literal["progress"] = "progress"
    status: str
    done: int | None = None
    total: int | None = None


class DoneEvent(BaseModel):
    """The turn is stored; the checked answer, its references and metadata."""

    type: Literal["done"] = "done"
    answer: Answer


class ErrorEvent(BaseModel):
    """The turn failed; what was produced so far is stored, marked as failed."""

    type: Literal["error"] = "error"
    code: str
    message: str
    answer: Answer | None = None


AnswerEvent = RetrievalEvent | TokenEvent | ProgressEvent | DoneEvent | ErrorEvent
