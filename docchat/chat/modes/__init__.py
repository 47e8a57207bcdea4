"""The chat modes: one module each, one ``Mode`` object each, all in one registry.

Every face reads the registry: the CLI's ``--mode`` choices and ``GET /v1/models`` (through the
names ``register`` hands to ``docchat.options``), ``GET /api/modes`` (the web app's list), the
HTTP API's background modes and ``docchat eval --answers``.  Adding a mode is a module with its
``MODE`` and one line in ``BUILT_IN`` (or a ``register`` call, for a mode defined elsewhere).
Modes never import each other; what they share is in ``docchat.chat.steps``.
"""

from __future__ import annotations

from docchat.chat.modes import basic, deep_reflection, extensive, full_reading
from docchat.chat.modes.mode import Mode, Prepare, Run
from docchat.errors import InvalidInput
from docchat.options import add_mode_name, mode_names, remove_mode_name

__all__ = ["BUILT_IN", "Mode", "Prepare", "Run", "all_modes", "get", "register", "unregister"]

#: The modes docchat ships, in the order faces list them.
BUILT_IN: tuple[Mode, ...] = (basic.MODE, extensive.MODE, full_reading.MODE, deep_reflection.MODE)

_registry: dict[str, Mode] = {}


def register(mode: Mode) -> Mode:
    """Add ``mode``: every face offers it from now on.  ``ValueError`` when its name is taken."""
    if mode.name in _registry:
        raise ValueError(f"a chat mode named {mode.name!r} is already registered")
    _registry[mode.name] = mode
    add_mode_name(mode.name)
    return mode


def unregister(name: str) -> None:
    """Remove the mode ``name`` (a test's, a plugin's); nothing when there is none."""
    if _registry.pop(name, None) is not None:
        remove_mode_name(name)


def all_modes() -> list[Mode]:
    """Every registered mode, built-in ones first, in the order faces list them."""
    return [_registry[name] for name in mode_names() if name in _registry]


def get(name: str) -> Mode:
    """The mode ``name``; ``InvalidInput`` naming the known ones when there is none."""
    mode = _registry.get(name)
    if mode is None:
        known = ", ".join(m.name for m in all_modes())
        raise InvalidInput(f"unknown chat mode {name[:100]!r}; known modes: {known}", field="mode")
    return mode


for _mode in BUILT_IN:
    register(_mode)
