"""Alembic migrations, shipped in the package and applied at start-up.

Several processes may start at once against one database: the upgrade runs inside one transaction
that first takes the database's write lock (SQLite ``BEGIN IMMEDIATE``) or an advisory lock
(PostgreSQL), so exactly one of them migrates and the others find the schema current.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

_HERE = Path(__file__).parent
_ADVISORY_LOCK_ID = 0x646F6363  # "docc"


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


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
