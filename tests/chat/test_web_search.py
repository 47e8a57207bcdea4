"""Web search: a local server speaking SearXNG's JSON API stands in for the web (no public
network here).  Results are cited as web references; off, unconfigured or unreachable, the answer
comes from the documents and the metadata says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpora import Corpora
from fastapi import FastAPI
from retrieval.openai_server import free_port, serve

from docchat.config import Settings
from docchat.options import ChatOptions
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"
WEB = ChatOptions(enable_web_search=True)


def searxng() -> FastAPI:
    app = FastAPI()

    @app.get("/search")
    def search(q: str, format: str) -> dict[str, Any]:
        assert format == "json"
        return {
            "query": q,
            "results": [
                {
                    "url": "https://example.org/zorbia",
                    "title": "Zorbia - facts",
                    "content": "Zorbia is the capital of Xanadu, founded in 1211 by river traders.",
                },
                {"url": "javascript:alert(1)", "title": "bad", "content": "never cited"},
            ],
        }

    return app


@pytest.fixture(scope="module")
def searxng_url() -> Iterator[str]:
    with serve(searxng()) as url:
        yield url


@pytest.fixture
def handbook(settings: Settings, corpora: Corpora) -> Settings:
    """``settings`` with the test handbook ingested and embedded (a copy of the run's one)."""
    corpora.copy_into(settings, [HANDBOOK])
    return settings


def _workspace(settings: Settings, minilm: MiniLMEmbedder, url: str | None) -> Workspace:
    chat = settings.chat.model_copy(update={"web_search_url": url})
    return Workspace(settings.model_copy(update={"chat": chat}), embedder=minilm)


def test_web_results_are_cited_as_web_references(
    handbook: Settings, minilm: MiniLMEmbedder, searxng_url: str
) -> None:
    workspace = _workspace(handbook, minilm, searxng_url)
    try:
        answer = workspace.ask("What is the capital of Xanadu?", options=WEB)
        assert "Zorbia" in answer.answer
        assert answer.metadata["web_search"] == {"used": True, "results": 1}
        (ref,) = answer.references
        assert ref.kind == "web"
        assert ref.url == "https://example.org/zorbia" and ref.title == "Zorbia - facts"
        assert ref.document_id is None and ref.span_start is None
        stored = workspace.sessions.messages(answer.session_id)[-1]
        assert stored.references == [{"n": 1, "kind": "web", **_web_fields(ref)}]

        off = workspace.ask("What is the capital of Xanadu?")
        assert off.metadata["abstained"] is True and "web_search" not in off.metadata
    finally:
        workspace.close()


def _web_fields(ref: Any) -> dict[str, Any]:
    return ref.model_dump(mode="json", exclude_none=True, exclude={"n", "kind"})


def test_unreachable_or_unconfigured_search_falls_back_to_documents(
    handbook: Settings, minilm: MiniLMEmbedder
) -> None:
    workspace = _workspace(handbook, minilm, f"http://127.0.0.1:{free_port()}")
    try:
        answer = workspace.ask("How long is CCTV footage kept?", options=WEB)
        assert "28 days" in answer.answer
        assert answer.metadata["web_search"]["used"] is False
        assert "did not answer" in answer.metadata["web_search"]["reason"]
    finally:
        workspace.close()
    workspace = _workspace(handbook, minilm, None)
    try:
        answer = workspace.ask("How long is CCTV footage kept?", options=WEB)
        assert answer.metadata["web_search"] == {
            "used": False,
            "reason": "no web search service is configured",
        }
    finally:
        workspace.close()
