"""Answer options: one home for sessions and retrieval, the per-request knobs and their caps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import docchat.options
import docchat.sessions.types
from docchat.options import MAX_QUERY_LANGUAGES, ChatOptions, ChatSettings


def test_sessions_re_export_the_same_models() -> None:
    for name in ("ChatMode", "ChatOptions", "ChatSettings", "SourceFilters", "MAX_KEYWORDS"):
        assert getattr(docchat.sessions.types, name) is getattr(docchat.options, name)
        assert name in docchat.sessions.types.__all__


def test_engine_options_round_trip() -> None:
    options = ChatOptions(
        max_tokens=512,
        allow_model_knowledge=True,
        enable_web_search=False,
        query_languages=["English", "Dutch", "fr"],
        reflection_rounds=0,
        force=True,
    )
    settings = ChatSettings(mode="extensive", options=options)
    assert ChatSettings.model_validate(settings.to_json()) == settings
    # Unset options stay out of what is stored: None means the configured default.
    assert ChatSettings().to_json() == {"mode": "basic", "options": {}}


@pytest.mark.parametrize(
    "bad",
    [
        {"max_tokens": 0},
        {"max_tokens": 32_769},
        {"reflection_rounds": 6},
        {"reflection_rounds": -1},
        {"query_languages": ["x"] * (MAX_QUERY_LANGUAGES + 1)},
        {"query_languages": ["l" * 33]},
        {"query_languages": [""]},
        {"query_languages": ["Dutch\u0000"]},
        {"force": 1},
        {"allow_model_knowledge": "yes"},
        {"enable_web_search": None, "unknown": True},
    ],
)
def test_engine_options_are_bounded(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ChatOptions.model_validate(bad)


def test_options_import_neither_sessions_nor_retrieval() -> None:
    lines = Path(docchat.options.__file__).read_text(encoding="utf-8").splitlines()
    imports = [line for line in lines if line.startswith(("import ", "from "))]
    assert all("sessions" not in line and "retrieval" not in line for line in imports)
