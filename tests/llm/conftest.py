"""Fixtures: the misbehaving chat server, and SmolLM2 loaded in process once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from retrieval.openai_server import serve

from docchat.llm.local import LocalGGUFModel

from .chat_server import Seen, create_app


@pytest.fixture(scope="session")
def chat_app() -> FastAPI:
    """The misbehaving chat server's app."""
    return create_app()


@pytest.fixture(scope="session")
def chat_url(chat_app: FastAPI) -> Iterator[str]:
    """Base URL of the running chat server, e.g. http://127.0.0.1:N (no /v1)."""
    with serve(chat_app) as url:
        yield url


@pytest.fixture
def chat_seen(chat_app: FastAPI, chat_url: str) -> Seen:  # noqa: ARG001 (the server must run)
    """What the chat server is asked during this test."""
    recorded: Seen = chat_app.state.seen
    recorded.clear()
    return recorded


@pytest.fixture(scope="session")
def smollm2() -> Iterator[LocalGGUFModel]:
    """SmolLM2-135M in process, loaded once (~0.3 s)."""
    model = LocalGGUFModel()
    model.load()
    yield model
    model.close()
