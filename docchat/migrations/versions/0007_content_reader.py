"""Content records the reader that made its text, so text read by an older reader is read again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: read before readers were recorded (PDFs: PDFium's printed lines, headers and all).
    op.add_column("contents", sa.Column("reader", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("contents", "reader")
