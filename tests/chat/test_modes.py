"""The mode registry: one ``Mode`` per module, one registry every face reads.  A fifth mode
(``tests/chat/fifth_mode.py``) is registered and nothing else is changed: the engine runs it,
session settings take it and the CLI offers it.  ``tests/api/test_modes_api.py`` proves the same
for ``GET /v1/models`` and ``GET /api/modes`` (the web app's list)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from docchat.chat import modes
from docchat.cli import app, core
from docchat.errors import InvalidInput
from docchat.options import ChatSettings, mode_names
from docchat.workspace import Workspace
from tests.chat.fifth_mode import ECHO, NAME, registered


def test_the_built_in_modes_are_the_names_options_know_before_the_engine_loads() -> None:
    assert [m.name for m in modes.BUILT_IN] == list(mode_names())
    assert modes.all_modes() == list(modes.BUILT_IN)
    assert [m.name for m in modes.all_modes() if m.background] == [
        "full_reading",
        "deep_reflection",
    ]


def test_a_mode_is_registered_once_and_unregistered_without_a_trace() -> None:
    with registered():
        assert mode_names()[-1] == NAME
        assert modes.get(NAME) is ECHO
        with pytest.raises(ValueError, match="already registered"):
            modes.register(ECHO)
    assert NAME not in mode_names()
    with pytest.raises(InvalidInput, match="known modes: basic, extensive") as raised:
        modes.get(NAME)
    assert raised.value.field == "mode"
    with pytest.raises(ValueError, match="'deep_reflection'"):
        ChatSettings(mode=NAME)


def test_a_fifth_mode_answers_a_turn_and_sessions_take_it(workspace: Workspace) -> None:
    with registered():
        assert ChatSettings(mode=NAME).mode == NAME
        answer = workspace.ask("Where is the fire exit?", mode=NAME)
        assert answer.answer == "You asked: Where is the fire exit?"
        assert answer.metadata["mode"] == NAME
        assert answer.metadata["echoed"] is True
        assert workspace.session(answer.session_id).settings.mode == NAME


def test_the_cli_offers_a_fifth_mode(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"DOCCHAT_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    args = ["ask", "--mode", NAME, "Anything new?", "--json"]
    refused = runner.invoke(app, args, env=env)
    assert refused.exit_code == 2
    assert f"'{NAME}' is not one of" in refused.output
    with registered():
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        assert "You asked: Anything new?" in result.stdout
        assert core.chat_mode_parser("all")(NAME) == NAME
        evaluated = runner.invoke(app, ["eval", "--help"], env=env)
        assert evaluated.exit_code == 0
