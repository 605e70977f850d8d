"""notifications and subscriptions

The in-app notification list, the FHIR Subscription delivery outbox, and the record of
overdue tasks already noticed (careweave.store.notification_tables).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("pk", _PK, autoincrement=True, nullable=False),
        sa.Column("user_pk", _PK, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("resource_reference", sa.String(length=200), nullable=False),
        sa.Column("resource_version", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["user_account.pk"], name=op.f("fk_notification_user_pk_user_account")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_notification")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_user_pk_created"), ["user_pk", "created"], unique=False
        )

    op.create_table(
        "subscription_delivery",
        sa.Column("pk", _PK, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_subscription_delivery")),
    )
    with op.batch_alter_table("subscription_delivery", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscription_delivery_status_next_attempt_at"),
            ["status", "next_attempt_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_subscription_delivery_subscription_id_status"),
            ["subscription_id", "status"],
            unique=False,
        )

    op.create_table(
        "overdue_task_notice",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("due", sa.String(length=40), nullable=False),
        sa.Column("noticed", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "due", name=op.f("pk_overdue_task_notice")),
    )


def downgrade() -> None:
    op.drop_table("overdue_task_notice")
    with op.batch_alter_table("subscription_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscription_delivery_subscription_id_status"))
        batch_op.drop_index(batch_op.f("ix_subscription_delivery_status_next_attempt_at"))
    op.drop_table("subscription_delivery")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_user_pk_created"))
    op.drop_table("notification")
