"""Alembic environment: always run with a connection handed in by ``docchat.migrations.upgrade``."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through docchat.migrations.upgrade (or `docchat migrate`)")

context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
