"""Settings name a model the workspace knows: checked when written, not at every later turn."""

from __future__ import annotations

import pytest

import docchat
from docchat import defaults
from docchat.errors import InvalidInput
from docchat.options import ChatSettings
from docchat.workspace import Workspace


def test_workspace_refuses_an_unknown_model_in_settings(workspace: Workspace) -> None:
    session = workspace.create_session(settings={"model": "smollm2"})
    assert session.settings.model == "smollm2"
    with pytest.raises(InvalidInput, match="known models: extractive, smollm2") as raised:
        workspace.update_session_settings(session.id, {"model": "no-such-model"})
    assert raised.value.field == "model"
    with pytest.raises(InvalidInput, match="no-such-model"):
        workspace.update_session_settings(session.id, ChatSettings(model="no-such-model"))
    with pytest.raises(InvalidInput, match="nope") as raised:
        workspace.create_session(settings={"model": "nope", "mode": "extensive"})
    assert raised.value.field == "settings.model"
    with pytest.raises(InvalidInput, match=r"settings\.mode"):
        workspace.update_session_settings(session.id, {"mode": "telepathy"})
    assert workspace.session(session.id).settings.model == "smollm2"
    # Free-form options stay as they were: a dict, each key checked by the options' schema.
    updated = workspace.update_session_settings(
        session.id, {"model": None, "options": {"num_results": 4, "temperature": 0.5}}
    )
    assert updated.settings.model is None
    assert updated.settings.options.num_results == 4
    # The ask that used to fail on every turn now fails where the name was written.
    answer = workspace.ask("hello?", session_id=session.id)
    assert answer.session_id == session.id


def test_classic_library_call_checks_the_model(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defaults, "_workspace", workspace)
    session = docchat.create_chat_session(settings={"model": "extractive"})
    with pytest.raises(InvalidInput, match="unknown model 'gpt-nine'"):
        docchat.update_session_settings(session.id, {"model": "gpt-nine"})
    with pytest.raises(InvalidInput, match="unknown model"):
        docchat.create_chat_session(settings={"model": "gpt-nine"})
    updated = docchat.update_session_settings(session.id, {"options": {"use_memory": False}})
    assert updated.settings.model == "extractive"
    assert updated.settings.options.use_memory is False
