"""Document registry, chunks with full-text index, vectors, index state and tasks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "collections",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index(
        "ux_collections_owner_name",
        "collections",
        [sa.text("coalesce(owner, '')"), "name"],
        unique=True,
    )
    op.create_table(
        "contents",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mime_type", sa.String(100), nullable=False),
        sa.Column("stored_path", sa.String(300), nullable=False),
        sa.Column("page_count", sa.Integer, nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column(
            "collection_id",
            sa.String(36),
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mime_type", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("page_count", sa.Integer, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("indexed_at", _TS, nullable=True),
        sa.UniqueConstraint("collection_id", "source", name="uq_documents_source"),
    )
    op.create_index("ix_documents_owner_collection", "documents", ["owner", "collection_id"])
    op.create_index("ix_documents_sha256", "documents", ["sha256"])
    op.create_table(
        "chunks",
        sa.Column("id", _KEY, primary_key=True, autoincrement=True),
        sa.Column(
            "sha256",
            sa.String(64),
            sa.ForeignKey("contents.sha256", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("page", sa.Integer, nullable=True),
        sa.Column("section", sa.Text, nullable=True),
        sa.Column("char_start", sa.Integer, nullable=False),
        sa.Column("char_end", sa.Integer, nullable=False),
        sa.Column("token_count", sa.Integer, nullable=False),
        sa.UniqueConstraint("sha256", "ordinal", name="uq_chunks_ordinal"),
    )
    op.create_table(
        "chunk_vectors",
        sa.Column(
            "chunk_id",
            sa.BigInteger,
            sa.ForeignKey("chunks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_chunk_vectors_model", "chunk_vectors", ["model"])
    op.create_table(
        "index_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", _JSON, nullable=True),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("processed", sa.Integer, nullable=False),
        sa.Column("current", sa.Text, nullable=True),
        sa.Column("errors", _JSON, nullable=False),
        sa.Column("result", _JSON, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
    )
    op.create_index("ix_tasks_owner_created", "tasks", ["owner", "created_at"])
    if postgres:
        # Vectors of any dimension; search casts to the model's dimension, and an HNSW index per
        # model is created on first use (docchat.retrieval.vectors).
        op.execute("ALTER TABLE chunk_vectors ALTER COLUMN embedding TYPE vector USING NULL")
        op.execute(
            "ALTER TABLE chunks ADD COLUMN text_tsv tsvector GENERATED ALWAYS AS "
            "(to_tsvector('english', coalesce(section, '') || ' ' || text)) STORED"
        )
        op.execute("CREATE INDEX ix_chunks_fts ON chunks USING gin (text_tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE chunks_fts USING fts5("
            "text, section, content='chunks', content_rowid='id', tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN "
            "INSERT INTO chunks_fts(rowid, text, section) VALUES (new.id, new.text, new.section); "
            "END"
        )
        op.execute(
            "CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN "
            "INSERT INTO chunks_fts(chunks_fts, rowid, text, section) "
            "VALUES ('delete', old.id, old.text, old.section); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS chunks_fts")
    for table in ("tasks", "index_state", "chunk_vectors", "chunks", "documents", "contents"):
        op.drop_table(table)
    op.drop_index("ux_collections_owner_name", table_name="collections")
    op.drop_table("collections")
