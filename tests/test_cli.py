"""The ``docchat`` command line: help for everything, ``migrate`` and ``serve`` for real.

The document commands (ingest, search, documents, eval) run in ``test_cli_documents.py``; the chat
commands (ask, chat, sessions, models) in ``test_cli_chat.py``.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from serve_process import serve_process
from sqlalchemy import create_engine
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.testing import CliRunner

from docchat.cli import app
from docchat.migrations import current_revision

runner = CliRunner()


def _group() -> TyperGroup:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return group


def _commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every command and sub-group by its path ("documents list"), sub-commands included."""
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        path = (*prefix, name)
        found[" ".join(path)] = command
        if isinstance(command, TyperGroup):
            found.update(_commands(command, path))
    return found


COMMANDS = sorted(_commands(_group()))


def test_top_level_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Chat with your documents" in result.output
    for name in _group().commands:
        assert name in result.output


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "Usage" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help(name: str) -> None:
    result = runner.invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    command = _commands(_group())[name]
    if isinstance(command, TyperGroup):
        for sub in command.commands:
            assert sub in result.output


def test_every_command_option_and_argument_has_help() -> None:
    commands = _commands(_group())
    assert {
        "serve",
        "worker",
        "migrate",
        "ingest",
        "reindex",
        "search",
        "eval",
        "documents",
        "documents list",
        "documents rm",
        "documents collections",
        "ask",
        "chat",
        "models",
        "sessions",
        "sessions list",
        "sessions show",
        "sessions export",
        "users",
        "users create",
        "users list",
        "users disable",
        "users enable",
        "users reset-password",
        "users token",
    } <= set(commands)
    for name, command in commands.items():
        assert command.help, f"command {name!r} has no help"
        for param in command.params:
            if isinstance(param, TyperOption | TyperArgument) and param.name != "help":
                assert param.help, f"{param.name!r} of {name!r} has no help"


def test_migrate_creates_and_reports_the_schema(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = runner.invoke(app, ["migrate"], env={"DOCCHAT_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, result.output
    database = data_dir / "docchat.db"
    assert database.exists()
    engine = create_engine(f"sqlite:///{database}")
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    assert revision is not None
    assert f"Revision: {revision}" in result.output
    assert str(database) in result.output
    # a second run finds the schema current
    again = runner.invoke(app, ["migrate"], env={"DOCCHAT_DATA_DIR": str(data_dir)})
    assert again.exit_code == 0, again.output
    assert f"Revision: {revision}" in again.output


def test_worker_on_sqlite_says_it_is_one_process(tmp_path: Path) -> None:
    result = runner.invoke(app, ["worker"], env={"DOCCHAT_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0  # one line
    assert "SQLite is one process" in result.output


def test_migrate_reports_bad_configuration_without_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["migrate"],
        env={"DOCCHAT_DATA_DIR": str(tmp_path), "DOCCHAT_DATABASE__DURABILITY": "sometimes"},
    )
    assert result.exit_code == 2
    assert "invalid configuration" in result.output
    assert "database.durability" in result.output
    assert "sometimes" not in result.output
    assert "Traceback" not in result.output


def test_serve_runs_the_api(tmp_path: Path) -> None:
    with serve_process(tmp_path / "data", capture_output=True) as server:
        try:
            response = httpx.get(f"{server.url}/healthz", timeout=5)
            assert response.json() == {"status": "ok"}
            created = httpx.post(f"{server.url}/api/sessions", json={"title": "cli"})
            assert created.status_code == 201
        finally:
            server.process.send_signal(signal.SIGINT)
            output = server.process.communicate(timeout=30)[0].decode()
    assert server.process.returncode == 0, output
    assert (tmp_path / "data" / "docchat.db").exists()
