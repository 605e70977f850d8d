"""Alembic environment: migrations run on the connection careweave hands over (see migrate.py)."""

from __future__ import annotations

from alembic import context

from careweave.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations with `careweave db upgrade`, which supplies the connection")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
