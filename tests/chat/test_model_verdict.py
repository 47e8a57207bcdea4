"""A configured generative model reads the passages and decides whether they answer.

Qwen2.5-Coder-0.5B behind llama.cpp's OpenAI-compatible server (n_ctx 4096, as docchat gives it
in process).  Each question below is one the extractive scorer's calibrated floor abstains on,
so before the model decided, the model was never asked: a passage that answers in other words
than the question ("at least 14 days in advance" for "how far ahead ... reserved") was an
abstention, and so was an on-topic question the documents do not answer, without the model's
word.  Two model answers in all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from corpora import Corpora
from llm_server import LlamaServer

from docchat.chat.markers import without_markers
from docchat.chat.types import Answer, DoneEvent, TokenEvent
from docchat.config import Settings
from docchat.options import ChatOptions
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"
STEADY = ChatOptions(temperature=0.0, max_tokens=96)


@pytest.fixture
def served(
    settings: Settings, minilm: MiniLMEmbedder, qwen_server: LlamaServer, corpora: Corpora
) -> Iterator[Workspace]:
    """A workspace whose model ``qwen`` is the llama.cpp server, with the handbook ingested."""
    # Two cores shared with the rest of the suite: a reply can take a minute.
    qwen = qwen_server.model_settings(timeout_s=300)
    llm = settings.llm.model_copy(update={"models": {"qwen": qwen}})
    corpora.copy_into(settings, [HANDBOOK])
    with Workspace(settings.model_copy(update={"llm": llm}), embedder=minilm) as workspace:
        yield workspace


def _below_the_floor(workspace: Workspace, question: str) -> None:
    """The premise: the extractive answerer abstains on ``question``."""
    assert workspace.ask(question, model="extractive").metadata["abstained"] is True


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_answer_in_other_words_is_the_models_cited_answer(served: Workspace) -> None:
    question = "How far ahead must trips be reserved?"
    _below_the_floor(served, question)
    events = list(served.ask_stream(question, model="qwen", options=STEADY))
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    done = events[-1]
    assert isinstance(done, DoneEvent)
    answer: Answer = done.answer
    meta = answer.metadata
    assert meta["abstained"] is False and "fallback" not in meta
    assert meta["usage"]["model_calls"] == 1
    assert "14 days" in answer.answer
    assert len(tokens) > 1  # streamed as the model wrote it
    # The check adds the marker the model left out once the reply is complete.
    assert "".join(t.text for t in tokens).strip() == without_markers(answer.answer).strip()
    assert {r.file_name for r in answer.references} == {"travel-booking.md"}
    for ref in answer.references:
        text = served.document_text(ref.document_id)
        assert text[ref.span_start : ref.span_end] == ref.quote
    assert any(s["supported"] for s in meta["sentences"])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_unanswerable_question_is_abstained_on_after_the_model_read(served: Workspace) -> None:
    question = "How much does the company reimburse for parking?"
    _below_the_floor(served, question)
    answer = served.ask(question, model="qwen", options=STEADY)
    meta = answer.metadata
    assert meta["abstained"] is True and answer.references == []
    assert meta["usage"]["model_calls"] == 1
    # Its verdict, or (Qwen-0.5B here) a reply the passages do not bear out: the hotel rates
    # given as parking costs.  Either way no sentence of it reaches the answer.
    assert meta["abstain_reason"] in {
        "the model found no answer in the passages",
        "no sentence of the model's answer is supported by the passages",
    }
    assert meta["model_reply"] and meta["model_reply"] not in answer.answer
    assert answer.answer.startswith("I could not find the answer in your documents.")
