"""audit hash not indexed

The audit log's `hash` column loses its UNIQUE constraint (and so its index). Nothing looks an
entry up by hash: `verify_chain` walks the chain in sequence order and `chain_head` reads the
last entry by `seq`. Each entry's hash is random, so the index put every new entry on a
different index page: writing the 300 entries of one caseload page view touched about 300
pages, which made the audit write ten times slower on SQLite (32 ms against 5 ms for 300
entries, measured on an audit log of 150,000 entries). The chain itself still shows a
duplicated, removed or altered entry.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_log_hash"), type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_hash"), ["hash"])
