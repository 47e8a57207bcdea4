"""The public surface: everything in ``docchat.__all__`` exists, and nothing public is unlisted."""

from __future__ import annotations

import importlib

import pytest

import docchat


def test_all_names_exist_and_are_sorted() -> None:
    assert docchat.__all__ == sorted(docchat.__all__)
    for name in docchat.__all__:
        assert hasattr(docchat, name), name


def test_public_members_are_exported() -> None:
    public = {
        name
        for name, value in vars(docchat).items()
        if not name.startswith("_") and not isinstance(value, type(docchat))
    }
    assert public - {"annotations"} <= set(docchat.__all__)


def test_classic_functions_keep_their_signatures() -> None:
    import inspect

    params = list(inspect.signature(docchat.add_message_to_session).parameters)
    assert params == ["session_id", "role", "content", "metadata", "references"]
    assert list(inspect.signature(docchat.update_session_settings).parameters) == [
        "session_id",
        "settings",
    ]
    for name in (
        "create_chat_session",
        "get_or_create_session",
        "clear_session",
        "save_session_to_disk",
        "load_session_from_disk",
    ):
        assert callable(getattr(docchat, name))


def test_every_export_is_loaded_on_first_use_from_its_module() -> None:
    exports = docchat._EXPORTS
    assert set(exports) == set(docchat.__all__) - {"__version__"}
    for name, module in exports.items():
        assert getattr(docchat, name) is getattr(importlib.import_module(module), name), name
    assert set(dir(docchat)) >= set(docchat.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        docchat.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
