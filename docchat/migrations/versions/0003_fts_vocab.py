"""Full-text tuning: SQLite gets a vocabulary view of the chunk index (term -> number of chunks);
PostgreSQL splits "XT-9485" into "xt" and "9485" (its parser made "-9485" a signed number, which
the query word 9485 never matched), as SQLite's tokenizer already does.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


_PG_TSV = (
    "to_tsvector('english', coalesce(section, '') || ' ' || "
    "regexp_replace(text, '([[:alnum:]])-([[:digit:]])', '\\1 \\2', 'g'))"
)
_PG_TSV_BEFORE = "to_tsvector('english', coalesce(section, '') || ' ' || text)"


def _pg_tsv(expression: str) -> None:
    op.execute("DROP INDEX IF EXISTS ix_chunks_fts")
    op.execute("ALTER TABLE chunks DROP COLUMN text_tsv")
    op.execute(
        f"ALTER TABLE chunks ADD COLUMN text_tsv tsvector GENERATED ALWAYS AS ({expression}) STORED"
    )
    op.execute("CREATE INDEX ix_chunks_fts ON chunks USING gin (text_tsv)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE chunks_fts_vocab USING fts5vocab(chunks_fts, 'row')")
    else:
        _pg_tsv(_PG_TSV)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS chunks_fts_vocab")
    else:
        _pg_tsv(_PG_TSV_BEFORE)
