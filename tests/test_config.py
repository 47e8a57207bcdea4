"""Secrets in the settings (the database URL, API keys) never show: not in a repr, a dump, a log
or an error message; only the code that needs the value asks for it."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from docchat.cli import app
from docchat.config import Settings
from docchat.errors import ProviderError
from docchat.retrieval.embedders import OpenAIEmbedder, make_embedder
from docchat.retrieval.rerank import RemoteReranker, make_reranker
from docchat.workspace import Workspace

PASSWORD = "pw-0f9c2e7a"
EMBED_KEY = "sk-embed-5b1d"
RERANK_KEY = "sk-rerank-9e44"
SECRETS = (PASSWORD, EMBED_KEY, RERANK_KEY)


def _closed_port() -> int:
    """A local port nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _unreachable_url() -> str:
    return f"postgresql+psycopg://docchat:{PASSWORD}@127.0.0.1:{_closed_port()}/docchat"


def _settings(tmp_path: Path, **changes: object) -> Settings:
    port = _closed_port()
    return Settings.model_validate(
        {
            "data_dir": tmp_path,
            "database_url": _unreachable_url(),
            "retrieval": {
                "embedder": "openai",
                "embedder_url": f"http://127.0.0.1:{port}/v1",
                "embedder_model": "minilm",
                "embedder_api_key": EMBED_KEY,
                "rerank_url": f"http://127.0.0.1:{port}/v1/rerank",
                "rerank_api_key": RERANK_KEY,
            },
            **changes,
        }
    )


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_settings_never_show_their_secrets(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert_no_secret(repr(settings))
    assert_no_secret(str(settings))
    assert_no_secret(repr(settings.retrieval))
    assert_no_secret(settings.model_dump_json())
    assert_no_secret(str(settings.model_dump()))
    # Where the value is needed, it is asked for by name.
    assert PASSWORD in settings.effective_database_url.get_secret_value()
    assert settings.retrieval.embedder_api_key is not None
    assert settings.retrieval.embedder_api_key.get_secret_value() == EMBED_KEY


def test_secrets_are_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _unreachable_url()
    monkeypatch.setenv("DOCCHAT_DATABASE_URL", url)
    monkeypatch.setenv("DOCCHAT_RETRIEVAL__RERANK_API_KEY", RERANK_KEY)
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url.get_secret_value() == url
    assert settings.retrieval.rerank_api_key is not None
    assert settings.retrieval.rerank_api_key.get_secret_value() == RERANK_KEY
    assert_no_secret(repr(settings))


def test_the_default_database_is_a_sqlite_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    expected = f"sqlite:///{tmp_path / 'docchat.db'}"
    assert settings.effective_database_url.get_secret_value() == expected
    empty = Settings(data_dir=tmp_path, database_url="")  # type: ignore[arg-type]
    assert empty.effective_database_url.get_secret_value() == expected


def test_a_failed_connection_does_not_show_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(OperationalError) as failed:
        Workspace(_settings(tmp_path))
    assert_no_secret(str(failed.value))
    assert_no_secret(repr(failed.value))
    assert_no_secret(caplog.text)


def test_the_cli_masks_the_password(tmp_path: Path) -> None:
    env = {"DOCCHAT_DATA_DIR": str(tmp_path), "DOCCHAT_DATABASE_URL": _unreachable_url()}
    for command in (["migrate"], ["documents", "list"]):
        result = CliRunner().invoke(app, command, env=env)
        assert result.exit_code == 1, result.output
        assert "docchat:***@127.0.0.1" in result.output
        assert_no_secret(result.output)
        assert "Traceback" not in result.output


def test_providers_get_the_keys_and_their_errors_do_not_show_them(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    reranker = make_reranker(settings.retrieval)
    assert isinstance(reranker, RemoteReranker)
    try:
        assert reranker._client.headers["Authorization"] == f"Bearer {RERANK_KEY}"
        with pytest.raises(ProviderError) as failed:
            reranker.rerank("query", ["a passage"])
        assert_no_secret(failed.value.message)
    finally:
        reranker.close()
    embedder = make_embedder(settings.retrieval)
    assert isinstance(embedder, OpenAIEmbedder)
    try:
        with pytest.raises(ProviderError) as failed:
            embedder.embed(["a passage"])
        assert_no_secret(failed.value.message)
    finally:
        embedder.close()
