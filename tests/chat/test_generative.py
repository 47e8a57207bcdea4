"""Turns answered by a real generative model: SmolLM2-135M behind llama.cpp's OpenAI-compatible
server (the path every OpenAI-compatible provider takes) and in process.

SmolLM2-135M is tiny: it gets simple grounded facts right but rarely writes [n] markers, so these
tests check what the engine guarantees whatever the model does: the facts that the answer
states come from the passages, each reference's span holds its quote, unsupported sentences are
marked, nothing is lost, and the metadata names the model and counts its tokens.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpora import Corpora
from llm_server import LlamaServer

from docchat.chat.types import DoneEvent, TokenEvent
from docchat.config import Settings
from docchat.options import ChatOptions, SourceFilters
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

# These tests check what a generative model's turn guarantees.  The database stores that turn as
# it stores any other (every mode's turn is stored on both backends in test_answer.py), so they
# run on SQLite only: on PostgreSQL too they doubled the file's cost (full_reading 65-85 s a run).
pytestmark = pytest.mark.one_backend

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"
STEADY = ChatOptions(temperature=0.0, max_tokens=96)


@pytest.fixture
def served(
    settings: Settings, minilm: MiniLMEmbedder, smollm2_server: LlamaServer, corpora: Corpora
) -> Iterator[Workspace]:
    """A workspace whose model ``local`` is the llama.cpp server, with the handbook ingested."""
    local = smollm2_server.model_settings(max_output_tokens=128)
    # The same server with a window so small that five short documents no longer fit one prompt:
    # full_reading maps them one by one, in a few calls rather than the handbook's sixteen.
    narrow = smollm2_server.model_settings(max_output_tokens=128, context_window=768)
    llm = settings.llm.model_copy(update={"models": {"local": local, "narrow": narrow}})
    corpora.copy_into(settings, [HANDBOOK])
    with Workspace(settings.model_copy(update={"llm": llm}), embedder=minilm) as workspace:
        yield workspace


def _spans_hold_their_quotes(workspace: Workspace, answer: object) -> None:
    for ref in answer.references:  # type: ignore[attr-defined]
        text = workspace.document_text(ref.document_id)
        assert text[ref.span_start : ref.span_end] == ref.quote


#: What full_reading reads: every document in scope, here five of the handbook's fifteen.
FIVE = SourceFilters(
    file_globs=[
        "data-retention.md",
        "health-safety.md",
        "it-security.md",
        "history.txt",
        "onboarding.txt",
    ]
)


@pytest.mark.parametrize("mode", ["basic", "extensive", "full_reading", "deep_reflection"])
def test_every_mode_with_the_served_model(served: Workspace, mode: str) -> None:
    model, options = "local", STEADY
    if mode == "full_reading":
        model, options = "narrow", STEADY.model_copy(update={"source_filters": FIVE})
    answer = served.ask("How long is CCTV footage kept?", model=model, mode=mode, options=options)  # type: ignore[arg-type]
    meta = answer.metadata
    assert meta["model"] == model and meta["mode"] == mode
    if mode == "full_reading":
        assert meta["strategy"] == "map-reduce" and meta["map_calls"] == 5
    assert meta["usage"]["completion_tokens"] > 0 and meta["usage"]["model_calls"] >= 1
    assert meta["prompt_version"]
    assert meta.get("error") is None
    if not meta["abstained"]:
        assert "28" in answer.answer
        _spans_hold_their_quotes(served, answer)
        assert all(s["supported"] in (True, False, None) for s in meta["sentences"])
    stored = served.sessions.messages(answer.session_id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].content == answer.answer


def test_the_served_model_streams_tokens(served: Workspace) -> None:
    events = list(
        served.ask_stream("What does F42 mean on the X300?", model="local", options=STEADY)
    )
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    done = events[-1]
    assert isinstance(done, DoneEvent)
    assert len(tokens) > 1  # pieces as the model writes them
    assert done.answer.metadata["citations"]["markers"] >= 0


def test_an_unanswerable_question_is_read_by_the_model_and_abstains(served: Workspace) -> None:
    answer = served.ask("What is the name of the CEO's cat?", model="local", options=STEADY)
    assert answer.metadata["abstained"] is True
    # The model reads the passages and decides (the extractive floor guards only the extractive
    # answerer); here its reply is its "not in the documents" or fails its citation check.
    assert answer.metadata["usage"]["model_calls"] == 1
    assert answer.metadata["abstain_reason"] in {
        "the model found no answer in the passages",
        "no sentence of the model's answer is supported by the passages",
    }
    assert answer.references == []


def test_own_knowledge_only_when_allowed_and_labelled(served: Workspace) -> None:
    allowed = STEADY.model_copy(update={"allow_model_knowledge": True})
    answer = served.ask("What is the capital of France?", model="local", options=allowed)
    assert answer.metadata["abstained"] is True
    assert answer.metadata["from_model_knowledge"] is True
    assert answer.answer.startswith("Not from your documents")


def test_a_follow_up_with_the_served_model(served: Workspace) -> None:
    first = served.ask("What does error F23 mean on the X100?", model="local", options=STEADY)
    second = served.ask(
        "And on the X300?", session_id=first.session_id, model="local", options=STEADY
    )
    assert second.metadata["rewritten_query"]
    assert "faq-x300.md" in {p["file_name"] for p in second.metadata["passages"]}


def test_the_in_process_model(settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora) -> None:
    corpora.copy_into(settings, [HANDBOOK])
    with Workspace(settings, embedder=minilm) as workspace:
        answer = workspace.ask("How long is CCTV footage kept?", model="smollm2", options=STEADY)
    assert answer.metadata["model"] == "smollm2"
    assert answer.metadata["usage"]["completion_tokens"] > 0
    if not answer.metadata["abstained"]:
        assert "28" in answer.answer


def test_a_background_turn_stops_when_its_workspace_closes(
    served: Workspace, minilm: MiniLMEmbedder
) -> None:
    # A full reading asks the model once per document: closing after the first keeps the rest
    # unread, where before close waited for every one (minutes of a server's shutdown).
    task = served.start_ask(
        "What does each policy say about notice periods?",
        model="local",
        mode="full_reading",
        options=STEADY,
    )
    deadline = time.monotonic() + 120
    while not (served.task(task.id).current or "").startswith("reading"):
        assert time.monotonic() < deadline, served.task(task.id)
        time.sleep(0.05)
    served.close()
    with Workspace(served.settings, embedder=minilm) as reopened:
        info = reopened.task(task.id)
        assert info.status == "interrupted", info
        assert [e["code"] for e in info.errors] == ["interrupted"]
        assert info.processed < info.total
        (session,) = reopened.sessions.list().items
        messages = reopened.sessions.messages(session.id)
    assert [m.role for m in messages] == ["user", "assistant"]  # the question is kept
    assert messages[1].metadata is not None and messages[1].metadata["cancelled"] is True
