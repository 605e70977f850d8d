"""Tables for telling people and other systems that something meaningful happened.

They sit beside the resource store, not in it: a notification is a message to one user account
("Mary Example was admitted to hospital"), and a delivery is the outbox of FHIR Subscription
notifications still to send. Neither is a clinical record a FHIR client edits. Rows are written
by the store's write observers inside the transaction that wrote the resource (see
careweave.store.repository), so they commit or roll back with it. Times are naive UTC, as in
tables.py.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from careweave.store.tables import PrimaryKey, metadata

notification = Table(
    "notification",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("user_pk", ForeignKey("user_account.pk"), nullable=False),
    # Whose record the event is about (a Patient id); the page names them only if the user
    # may still see that person's record when they read the list.
    Column("patient_id", String(64), nullable=True),
    # One of careweave.coordination.notifications.KINDS (admission, discharge, death ...).
    Column("kind", String(32), nullable=False),
    # What happened, in words, without the person's name (see patient_id).
    Column("text", Text, nullable=False),
    # The page to go to (a path on careweave's web pages).
    Column("link", String(500), nullable=True),
    # The resource version that made it happen: "Encounter/e1" and its version.
    Column("resource_reference", String(200), nullable=False),
    Column("resource_version", Integer, nullable=True),
    Column("created", DateTime(timezone=False), nullable=False),
    Column("read_at", DateTime(timezone=False), nullable=True),
    Index(None, "user_pk", "created"),
)

subscription_delivery = Table(
    "subscription_delivery",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("subscription_id", String(64), nullable=False),
    # The version that matched the Subscription's criteria, sent as it was then.
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    # pending (to send, at next_attempt_at) | delivered | failed (given up)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # When a worker may try it next; while a worker is sending it, the end of its lease.
    Column("next_attempt_at", DateTime(timezone=False), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created", DateTime(timezone=False), nullable=False),
    Column("delivered_at", DateTime(timezone=False), nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "subscription_id", "status"),
)

overdue_task_notice = Table(
    "overdue_task_notice",
    metadata,
    # A Task noticed overdue for its due date (restriction.period.end as written), so the
    # periodic sweep tells its owner once; a new due date that passes is noticed again.
    Column("task_id", String(64), nullable=False),
    Column("due", String(40), nullable=False),
    Column("noticed", DateTime(timezone=False), nullable=False),
    PrimaryKeyConstraint("task_id", "due"),
)

NOTIFICATION_TABLES: tuple[Table, ...] = (notification, subscription_delivery, overdue_task_notice)
