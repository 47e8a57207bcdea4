"""A turn's model calls and tokens add up when the model answers on several threads at once
(``full_reading`` maps groups of passages ``chat.concurrency`` calls at a time)."""

from __future__ import annotations

import threading
from pathlib import Path

from corpora import Corpora
from llm.chat_server import ANSWER, create_app
from retrieval.openai_server import serve

from docchat.chat.turn import TurnUsage
from docchat.config import ModelSettings, Settings
from docchat.options import ChatOptions
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"


def test_an_addition_waits_for_the_one_in_progress() -> None:
    # CPython 3.11 switches threads only between calls and loops, so two ``+=`` rarely interleave
    # there; under free threading they do.  What the counts rely on is exclusion: while one
    # addition holds the lock (taken here as an addition in progress would), another waits.
    usage = TurnUsage()
    with usage._lock:
        adder = threading.Thread(target=usage.add, args=(2, 1))
        adder.start()
        adder.join(0.2)
        assert adder.is_alive()
        assert usage.prompt == 0
    adder.join(5)
    assert (usage.prompt, usage.completion) == (2, 1)


def test_unreported_usage_is_estimated_only_when_none_was_reported() -> None:
    usage = TurnUsage()
    usage.estimate_unreported(10, 5)
    assert (usage.prompt, usage.completion) == (10, 5)
    usage.add(3, 1)
    usage.estimate_unreported(99, 99)
    assert (usage.prompt, usage.completion) == (13, 6)


def test_full_reading_counts_every_parallel_call(
    settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora
) -> None:
    app = create_app()
    with serve(app) as url:
        # A small window, so the handbook is mapped in groups rather than read in one prompt;
        # four calls at once.
        threaded = ModelSettings(
            base_url=f"{url}/v1",
            context_window=1024,
            max_output_tokens=128,
            parallel_requests=4,
            max_retries=0,
        )
        llm = settings.llm.model_copy(update={"models": {"threaded": threaded}})
        chat = settings.chat.model_copy(update={"concurrency": 4, "max_model_calls": 200})
        both = settings.model_copy(update={"llm": llm, "chat": chat})
        corpora.copy_into(both, [HANDBOOK])
        workspace = Workspace(both, embedder=minilm)
        try:
            answer = workspace.ask(
                "How loud is the X200 in its quiet programme?",
                mode="full_reading",
                model="threaded",
                options=ChatOptions(force=True),
            )
        finally:
            workspace.close()
    metadata = answer.metadata
    assert metadata["strategy"] == "map-reduce"
    assert metadata["map_calls"] > 4
    calls = len(app.state.seen.bodies)
    # The server reports 42 prompt tokens and one completion token per word of its answer.
    assert metadata["usage"] == {
        "prompt_tokens": 42 * calls,
        "completion_tokens": len(ANSWER.split()) * calls,
        "model_calls": calls,
    }
