"""Tasks record the lease of the process running them, so a successor can finish a dead one's.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("runner", sa.String(36), nullable=True))
    # Recovery looks for unfinished tasks on every heartbeat: few rows, among many finished ones.
    op.create_index("ix_tasks_status_updated", "tasks", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_status_updated", table_name="tasks")
    op.drop_column("tasks", "runner")
