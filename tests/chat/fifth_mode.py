"""A fifth chat mode, defined outside docchat: what adding a mode takes (a ``Mode`` and one
``register`` call), for the tests that prove every face offers it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from docchat.chat.modes import Mode, register, unregister
from docchat.chat.turn import Events, Result, TurnEngine, TurnState
from docchat.chat.types import TokenEvent

NAME = "echo"


def echo(engine: TurnEngine, state: TurnState, question: str) -> Events:  # noqa: ARG001
    """Answers with the question, searching nothing (the ``Run`` signature every mode has)."""
    state.text = f"You asked: {question}"
    yield TokenEvent(text=state.text)
    return Result(text=state.text, metadata={"echoed": True})


ECHO = Mode(
    name=NAME,
    label="Echo",
    description="says the question back",
    run=echo,
    background=False,
)


@contextmanager
def registered(mode: Mode = ECHO) -> Iterator[Mode]:
    """``mode`` registered for the block, gone after it."""
    register(mode)
    try:
        yield mode
    finally:
        unregister(mode.name)
