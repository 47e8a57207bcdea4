"""Language rules through the library: a Dutch or French answer is checked with its own language's
negations and "not in the documents" phrases, and every answer says which rules checked it.

The documents are tests/data/languages (a Dutch, a French and a German page); the model is a
scripted OpenAI-compatible server (``tests/browser/scripted_model.py``), so its reply is fixed and
the real client path is taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from corpora import Corpora

from docchat.config import ModelSettings, Settings
from docchat.options import ChatOptions
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace
from tests.browser.scripted_model import REPLIES, run_scripted_model

DATA = Path(__file__).parents[1] / "data"
OPTIONS = ChatOptions(max_tokens=64)


@pytest.fixture
def pages(settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora) -> Iterator[Workspace]:
    """The Dutch, French and German pages (a copy of the run's ingested ones), and a scripted
    model ``scripted``."""
    corpora.copy_into(settings, [DATA / "languages"])
    with run_scripted_model() as url:
        models = {"scripted": ModelSettings(base_url=url, model="scripted", context_window=32768)}
        llm = settings.llm.model_copy(update={"models": models})
        workspace = Workspace(settings.model_copy(update={"llm": llm}), embedder=minilm)
        try:
            yield workspace
        finally:
            workspace.close()
            REPLIES.pop("scripted", None)


@pytest.mark.parametrize(
    ("question", "reply"),
    [
        (
            "Worden foto's van bonnetjes geaccepteerd?",
            "Foto's van bonnetjes worden niet geaccepteerd [1].",
        ),
        (
            "Les photos des justificatifs sont-elles acceptées ?",
            "Les photos des justificatifs ne sont pas acceptées [1].",
        ),
    ],
)
def test_a_negated_answer_is_not_supported_by_a_passage_without_the_negation(
    pages: Workspace, question: str, reply: str
) -> None:
    REPLIES["scripted"] = reply
    answer = pages.ask(question, model="scripted", options=OPTIONS)
    # The model's claim is not borne out: the passages' own sentence stands in for it.
    assert answer.metadata["fallback_reason"] == (
        "no sentence of the model's answer is supported by the passages"
    )
    assert answer.metadata["model_reply"].startswith(reply[:30])
    assert "leesbaar" in answer.answer or "lisibles" in answer.answer


def test_an_answer_the_passages_bear_out_is_kept(pages: Workspace) -> None:
    REPLIES["scripted"] = "Je krijgt 25 vakantiedagen per jaar [1]."
    answer = pages.ask(
        "Hoeveel vakantiedagen krijg ik per jaar?", model="scripted", options=OPTIONS
    )
    # "vijfentwintig" in the passage is the reply's 25.
    assert answer.metadata.get("fallback") is None
    assert answer.answer == "Je krijgt 25 vakantiedagen per jaar [1]."
    assert answer.metadata["language"] == "nl"


@pytest.mark.parametrize(
    ("question", "reply"),
    [
        ("Hoeveel vakantiedagen krijg ik per jaar?", "De documenten vermelden dit niet."),
        (
            "Combien de jours de congé ai-je par an ?",
            "Les documents ne disent pas combien de jours.",
        ),
    ],
)
def test_the_models_not_in_the_documents_is_an_abstention(
    pages: Workspace, question: str, reply: str
) -> None:
    REPLIES["scripted"] = reply
    answer = pages.ask(question, model="scripted", options=OPTIONS)
    assert answer.metadata["abstained"] is True
    assert answer.metadata["abstain_reason"] == "the model found no answer in the passages"
    assert answer.metadata["model_reply"] == reply


@pytest.mark.parametrize(
    ("question", "language", "checks"),
    [
        ("Hoeveel vakantiedagen krijg ik per jaar?", "nl", "nl"),
        ("Combien de jours de congé ai-je par an ?", "fr", "fr"),
        ("How many vacation days do I get per year?", "en", "en"),
        # German has no rules: the language-neutral checks, and the answer says so.
        ("Wie viele Urlaubstage bekomme ich pro Jahr?", "de", "neutral"),
        # No language in the question: the passages' (the Dutch page is found by its word).
        ("vakantiedagen?", "nl", "nl"),
    ],
)
def test_every_answer_names_its_language_and_checks(
    pages: Workspace, question: str, language: str, checks: str
) -> None:
    answer = pages.ask(question)
    assert (answer.metadata["language"], answer.metadata["language_checks"]) == (language, checks)
    stored = pages.sessions.messages(answer.session_id)[-1]
    assert stored.metadata is not None
    assert stored.metadata["language_checks"] == checks
