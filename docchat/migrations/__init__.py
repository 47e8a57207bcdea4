"""Alembic migrations, shipped in the package and applied at start-up.

Several processes may start at once against one database: the upgrade runs inside one transaction
that first takes the database's write lock (SQLite ``BEGIN IMMEDIATE``) or an advisory lock
(PostgreSQL), so exactly one of them migrates and the others find the schema current.  Without
them, four processes opening a fresh database at once failed every time (3 runs of 3 each,
tests/test_migrations.py): PostgreSQL with a duplicate key in ``pg_type`` (two ``CREATE TABLE
alembic_version``), SQLite with "database is locked" (two readers both upgrading to writers).

The PostgreSQL lock is transaction-level, not session-level: it is released by the commit or the
rollback of the migration itself, so a failure cannot leave it held on a pooled connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

_HERE = Path(__file__).parent
_ADVISORY_LOCK_ID = 0x646F6363  # "docc"

#: Where a database's schema stands against this docchat's migrations.
SchemaState = Literal["current", "behind", "ahead"]


def alembic_config() -> Config:
    """An Alembic config pointing at the shipped scripts (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` under a database-wide lock."""
    cfg = alembic_config()
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def head_revision() -> str:
    """The newest revision this docchat ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package ships at least one migration
    return head


def schema_state(engine: Engine) -> SchemaState:
    """Whether the database's schema is this docchat's newest, behind it, or newer than it (a
    later docchat migrated it): what a server that did not migrate may not serve."""
    current = current_revision(engine)
    script = ScriptDirectory.from_config(alembic_config())
    if current == script.get_current_head():
        return "current"
    known = current is None or any(r.revision == current for r in script.walk_revisions())
    return "behind" if known else "ahead"


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
