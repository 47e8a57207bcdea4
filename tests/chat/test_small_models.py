"""What stands in for a model's reply: only a failed citation check, whatever the model's size.

The model is a scripted OpenAI-compatible server (``tests/browser/scripted_model.py``), so its reply
is fixed and the real client path is taken; what is tested is the engine's rule.  The model reads
the passages and decides (its "the documents do not say" is the abstention); the extractive answer
replaces its reply only when no sentence of the reply is borne out by the passages, and when even
the extractive evidence is below its floor the turn abstains.  Before, a small model's supported
reply citing a passage the extractive scorer had not chosen was replaced as well, and the model
was not asked at all below the floor.
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


def test_a_small_model_keeps_a_cited_reply_that_its_passages_bear_out(models: Workspace) -> None:
    REPLIES["small"] = _off_topic_sentence(models)
    answer = models.ask(QUESTION, model="small", options=ChatOptions(max_tokens=64))
    assert answer.metadata.get("fallback") is None
    assert answer.answer.startswith(REPLIES["small"][:20])
    assert answer.references


def test_a_large_model_may_cite_what_it_chooses(models: Workspace) -> None:
    REPLIES["large"] = _off_topic_sentence(models)
    answer = models.ask(QUESTION, model="large", options=ChatOptions(max_tokens=64))
    assert answer.metadata.get("fallback") is None
    assert answer.answer.startswith(REPLIES["large"][:20])


def test_a_reply_the_passages_do_not_bear_out_gets_the_extracted_answer(
    models: Workspace,
) -> None:
    REPLIES["small"] = "Climb onto the roof and wait for the helicopter [1]."
    answer = models.ask(QUESTION, model="small", options=ChatOptions(max_tokens=64))
    meta = answer.metadata
    assert meta["fallback"] == "extractive" and meta["abstained"] is False
    assert meta["fallback_reason"] == (
        "no sentence of the model's answer is supported by the passages"
    )
    assert meta["model_reply"].startswith("Climb onto the roof")
    assert "staircase" in answer.answer
    assert {r.file_name for r in answer.references} == {"health-safety.md"}


def test_below_the_evidence_floor_a_reply_not_borne_out_is_an_abstention(
    models: Workspace,
) -> None:
    question = "How much does the company reimburse for parking?"
    assert models.ask(question, model="extractive").metadata["abstained"] is True
    REPLIES["small"] = "Parking is reimbursed up to EUR 300 per month [1]."
    answer = models.ask(question, model="small", options=ChatOptions(max_tokens=64))
    meta = answer.metadata
    assert meta["usage"]["model_calls"] == 1  # the model read the passages
    assert meta["abstained"] is True and answer.references == []
    assert meta["abstain_reason"] == (
        "no sentence of the model's answer is supported by the passages"
    )
    assert "EUR 300" not in answer.answer and meta["model_reply"].startswith("Parking")


def test_below_the_evidence_floor_a_reply_borne_out_is_the_answer(models: Workspace) -> None:
    question = "How far ahead must trips be reserved?"
    assert models.ask(question, model="extractive").metadata["abstained"] is True
    REPLIES["small"] = (
        "All flights and hotels are booked through Egencia at least 14 days in advance [1]."
    )
    answer = models.ask(question, model="small", options=ChatOptions(max_tokens=64))
    assert answer.metadata["abstained"] is False and answer.metadata.get("fallback") is None
    assert "14 days in advance" in answer.answer
    assert {r.file_name for r in answer.references} == {"travel-booking.md"}


def test_the_models_verdict_is_the_abstention_even_above_the_floor(models: Workspace) -> None:
    assert models.ask(QUESTION, model="extractive").metadata["abstained"] is False
    REPLIES["small"] = "The documents do not say which way to leave the building."
    answer = models.ask(QUESTION, model="small", options=ChatOptions(max_tokens=64))
    meta = answer.metadata
    assert meta["abstained"] is True and answer.references == []
    assert meta["abstain_reason"] == "the model found no answer in the passages"
