"""Owner scoping: which rows a caller may see, one rule for sessions, documents and tasks.

Every session, collection, document and task row records an ``owner`` (a user id, or NULL).  A
caller passes ``owner``:

- a user id: they see exactly the rows recorded under that id;
- ``None``: single-user mode.  Nothing is scoped and every row is visible, whoever recorded it.
  The HTTP API passes None until accounts exist (``docchat.api.deps.get_owner``); with accounts
  it must pass the caller's id, never None.

Reads go through ``scope`` (SQL) or ``visible_to`` (a loaded row), so the rule lives here only.

Writes are different: a new row records its caller as its owner, None as NULL.  So the row a
write belongs with is found by the owner recorded on it, ``owned_by``: a collection to ingest
into is the one recorded under the caller, NULL for None, so an owner-less ingest never lands in
a user's collection (collections are unique by owner and name, NULL being its own owner).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, SQLColumnExpression, true

#: An ``owner`` column: ``SessionRow.owner``, ``DocumentRow.owner``, ...
OwnerColumn = SQLColumnExpression[str | None]


def scope(column: OwnerColumn, owner: str | None) -> ColumnElement[bool]:
    """SQL: the rows of ``column``'s table that ``owner`` may see (every row when None)."""
    return true() if owner is None else column == owner


def visible_to(row_owner: str | None, owner: str | None) -> bool:
    """Whether a row recorded under ``row_owner`` is visible to ``owner`` (always when None)."""
    return owner is None or row_owner == owner


def owned_by(column: OwnerColumn, owner: str | None) -> ColumnElement[bool]:
    """SQL: the rows recorded under exactly ``owner`` (``IS NULL`` for None).

    For finding the row a write by ``owner`` belongs with, never for deciding what a caller sees.
    """
    return column.is_(None) if owner is None else column == owner
