"""The job queue on PostgreSQL (procrastinate's schema), and a task's cancel request (issue 16).

``tasks.cancel_requested``: set by whichever process is asked to cancel a running task; the
process running it sees it within a second (``docchat.tasks.queue``).  On both backends.

On PostgreSQL only, procrastinate's own tables and functions (the schema SQL its package ships,
the version pinned in pyproject.toml): created here, by the one process that migrates under the
advisory lock, never by each node at start.  A later procrastinate with a changed schema needs a
migration of ours applying its migration scripts.  SQLite has no queue: nothing to create.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TABLES = ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs")
_TYPES = (
    "procrastinate_job_to_defer_v1",
    "procrastinate_job_event_type",
    "procrastinate_job_status",
)


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    # On the driver's connection, in the migration's transaction: psycopg sends a script without
    # parameters as it is (SQLAlchemy's text() would read its ":" and "%" as placeholders).
    bind.connection.driver_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        names = [
            row[0]
            for row in bind.execute(
                sa.text("SELECT proname FROM pg_proc WHERE proname LIKE 'procrastinate\\_%'")
            )
        ]
        for table in (*_TABLES, "procrastinate_workers"):
            op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        for name in names:
            op.execute(f"DROP FUNCTION IF EXISTS {name} CASCADE")
        for type_name in _TYPES:
            op.execute(f"DROP TYPE IF EXISTS {type_name} CASCADE")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("cancel_requested")
