"""Fixtures: the real offline embedder, loaded once, and a real local OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from docchat.retrieval.embedders import MiniLMEmbedder

from .openai_server import Seen, create_app, serve


@pytest.fixture(scope="session")
def server_app(minilm: MiniLMEmbedder) -> FastAPI:
    """The local OpenAI-compatible server's app, backed by ``minilm``."""
    return create_app(minilm)


@pytest.fixture(scope="session")
def server_url(server_app: FastAPI) -> Iterator[str]:
    """Base URL of the running local server, e.g. http://127.0.0.1:N (no /v1)."""
    with serve(server_app) as url:
        yield url


@pytest.fixture
def seen(server_app: FastAPI, server_url: str) -> Seen:  # noqa: ARG001 (the server must run)
    """What the local server is asked during this test."""
    recorded: Seen = server_app.state.seen
    recorded.clear()
    return recorded
