"""An answer being streamed names its turn, so a successor can finish a dead process's answer.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chat_messages", sa.Column("streaming_turn", sa.String(36), nullable=True))
    # Recovery looks for answers still streaming on every heartbeat: a handful of rows among
    # millions of finished messages, so the index holds only those.
    op.create_index(
        "ix_chat_messages_streaming",
        "chat_messages",
        ["streaming_turn"],
        sqlite_where=sa.text("streaming_turn IS NOT NULL"),
        postgresql_where=sa.text("streaming_turn IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_chat_messages_streaming", table_name="chat_messages")
    op.drop_column("chat_messages", "streaming_turn")
