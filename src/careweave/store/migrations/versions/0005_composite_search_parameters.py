"""composite search parameters

Every search-index table gains a nullable `composite` column: the rows of a composite search
parameter (Observation `code-value-quantity`, `component-code-value-quantity`, ...) carry the
number of the element they were found in, so a search can pair a code with the value found
beside it. The rows of resources already stored are written here, from their current content,
so those searches find them too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX_TABLES = (
    "search_token",
    "search_string",
    "search_date",
    "search_reference",
    "search_number",
    "search_quantity",
    "search_uri",
)


def upgrade() -> None:
    from careweave.store.composite_rows import index_composites

    for table in _INDEX_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("composite", sa.Integer(), nullable=True))
    index_composites(op.get_bind())


def downgrade() -> None:
    for table in _INDEX_TABLES:
        op.execute(sa.text(f'DELETE FROM "{table}" WHERE composite IS NOT NULL'))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("composite")
