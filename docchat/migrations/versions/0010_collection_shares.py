"""Collections shared read-only with named users or everyone (issue 15).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "collection_shares",
        sa.Column("id", _KEY, primary_key=True, autoincrement=True),
        sa.Column(
            "collection_id",
            sa.String(36),
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # Who may read which collections: looked up on every search and document read.
    op.create_index("ix_collection_shares_user", "collection_shares", ["user_id", "collection_id"])
    op.create_index("ix_collection_shares_collection", "collection_shares", ["collection_id"])


def downgrade() -> None:
    op.drop_table("collection_shares")
