"""Chat sessions and messages, with full-text search over message content.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settings", _JSON, nullable=False),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.Column("next_position", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_chat_sessions_owner_updated", "chat_sessions", ["owner", "updated_at"])
    op.create_table(
        "chat_messages",
        sa.Column("id", _KEY, primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            sa.String(64),
            sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metadata", _JSON, nullable=True),
        sa.Column("references", _JSON, nullable=True),
        sa.UniqueConstraint("session_id", "position", name="uq_chat_messages_position"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Capped input: a tsvector holds at most 1 MB, and search past the first 200k chars of one
        # message is not worth failing an append for.
        op.execute(
            "ALTER TABLE chat_messages ADD COLUMN content_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', left(content, 200000))) STORED"
        )
        op.execute("CREATE INDEX ix_chat_messages_fts ON chat_messages USING gin (content_tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE chat_messages_fts USING fts5("
            "content, content='chat_messages', content_rowid='id', tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER chat_messages_ai AFTER INSERT ON chat_messages BEGIN "
            "INSERT INTO chat_messages_fts(rowid, content) VALUES (new.id, new.content); END"
        )
        op.execute(
            "CREATE TRIGGER chat_messages_ad AFTER DELETE ON chat_messages BEGIN "
            "INSERT INTO chat_messages_fts(chat_messages_fts, rowid, content) "
            "VALUES ('delete', old.id, old.content); END"
        )
        op.execute(
            "CREATE TRIGGER chat_messages_au AFTER UPDATE OF content ON chat_messages BEGIN "
            "INSERT INTO chat_messages_fts(chat_messages_fts, rowid, content) "
            "VALUES ('delete', old.id, old.content); "
            "INSERT INTO chat_messages_fts(rowid, content) VALUES (new.id, new.content); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS chat_messages_fts")
    op.drop_table("chat_messages")
    op.drop_index("ix_chat_sessions_owner_updated", table_name="chat_sessions")
    op.drop_table("chat_sessions")
