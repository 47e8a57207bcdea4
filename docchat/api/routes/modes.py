"""The chat modes, as the registry (``docchat.chat.modes``) holds them: the web app's mode list
and any client's."""

from __future__ import annotations

from fastapi import APIRouter

from docchat.api.schemas import ModeDescription, ModeList
from docchat.chat.modes import all_modes

router = APIRouter(prefix="/api", tags=["chat"])


@router.get("/modes", operation_id="list_modes", summary="List the chat modes")
def list_modes() -> ModeList:
    """Every registered chat mode: its name, label, what it does and whether it runs as a task."""
    return ModeList(
        items=[
            ModeDescription(
                name=m.name,
                label=m.label,
                description=m.description,
                background=m.background,
                budgets=list(m.budgets),
            )
            for m in all_modes()
        ]
    )
