"""A small model's reply that is word for word a passage, but not one that answers the question.

The model is a scripted OpenAI-compatible server (``tests/browser/scripted_model.py``), so its reply
is fixed and the real client path is taken; what is tested is the engine's guard.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from corpora import Corpora

from docchat.chat.sentences import split_sentences
from docchat.config import ModelSettings, Settings
from docchat.options import ChatOptions
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace
from tests.browser.scripted_model import REPLIES, run_scripted_model

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"
QUESTION = "Which way should I leave the building when the alarm goes off?"
EVIDENCE = (
    "When the alarm sounds, leave the building by the nearest staircase; do not use the lifts."
)


@pytest.fixture
def models(settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora) -> Iterator[Workspace]:
    """The handbook, with scripted models ``small`` (a 2,048-token window) and ``large``."""
    with run_scripted_model() as url:
        llm = settings.llm.model_copy(
            update={
                "models": {
                    name: ModelSettings(base_url=url, model=name, context_window=window)
                    for name, window in (("small", 2048), ("large", 32768))
                }
            }
        )
        corpora.copy_into(settings, [HANDBOOK])
        workspace = Workspace(settings.model_copy(update={"llm": llm}), embedder=minilm)
        try:
            yield workspace
        finally:
            workspace.close()
            REPLIES.pop("small", None)
            REPLIES.pop("large", None)


def _off_topic_sentence(workspace: Workspace) -> str:
    """A sentence of a passage the small model is shown that is not about the question."""
    REPLIES["small"] = EVIDENCE
    shown = workspace.ask(QUESTION, model="small", options=ChatOptions(max_tokens=64))
    assert shown.metadata.get("fallback") is None  # the evidence itself is kept
    others = [p for p in shown.metadata["passages"] if p["file_name"] != "health-safety.md"]
    assert others, "the small model was shown only the evidence passage"
    for hit in workspace.search(QUESTION, k=10):
        if hit.chunk_id == others[0]["chunk_id"]:
            return next(s.text for s in split_sentences(hit.text) if len(s.text.split()) > 6)
    raise AssertionError("the passage shown is not among the search results")


def test_a_small_model_copying_out_an_unrelated_passage_gets_the_extracted_answer(
    models: Workspace,
) -> None:
    REPLIES["small"] = _off_topic_sentence(models)
    answer = models.ask(QUESTION, model="small", options=ChatOptions(max_tokens=64))
    assert answer.metadata["fallback"] == "extractive"
    assert "cited none of the passages" in answer.metadata["fallback_reason"]
    assert answer.metadata["model_reply"].startswith(REPLIES["small"][:20])
    assert "staircase" in answer.answer
    assert {r.file_name for r in answer.references} == {"health-safety.md"}


def test_a_large_model_may_cite_what_it_chooses(models: Workspace) -> None:
    REPLIES["large"] = _off_topic_sentence(models)
    answer = models.ask(QUESTION, model="large", options=ChatOptions(max_tokens=64))
    assert answer.metadata.get("fallback") is None
    assert answer.answer.startswith(REPLIES["large"][:20])
