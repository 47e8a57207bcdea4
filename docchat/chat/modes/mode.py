"""What a chat mode is: a name, how the faces present it, and how it runs a turn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from docchat.chat.effective import Effective
from docchat.chat.turn import Events, TurnEngine, TurnState

#: A mode answering one turn: the engine's parts, the turn's state, the question.
Run = Callable[[TurnEngine, TurnState, str], Events]
#: What a mode checks before the question is stored (refusing with ``InvalidInput``), returning
#: the run that uses what it found (``full_reading``'s estimate of the work).
Prepare = Callable[[TurnEngine, Effective, str | None], Run]


@dataclass(frozen=True, slots=True, kw_only=True)
class Mode:
    """One chat mode, as every face sees it (CLI choices, /v1/models, the API, the web app)."""

    #: What requests, sessions and the CLI call it.
    name: str
    #: How a person's list names it, and one line on what it does.
    label: str
    description: str
    run: Run
    #: The HTTP API answers it as a background task (202), not within the request.
    background: bool = False
    #: The settings that bound its work, beyond one retrieval and one answer.
    budgets: tuple[str, ...] = ()
    prepare: Prepare | None = None

    def start(self, engine: TurnEngine, effective: Effective, owner: str | None) -> Run:
        """The run for one turn, its checks done (before anything of the turn is stored)."""
        return self.prepare(engine, effective, owner) if self.prepare is not None else self.run
