"""Tables for who is asking and what they did: accounts, sessions, API tokens, break-glass,
information-sharing agreements and the hash-chained audit log.

They sit beside the resource store rather than in it because they are not clinical records a
FHIR client edits: a password hash or a session must never come back through a FHIR search, and
the audit log must stay append-only (each row's hash covers the one before, so an edited or
removed row is found by `careweave audit verify`). The audit log is still published as FHIR
AuditEvent resources, read-only, by the access layer. Times are naive UTC, as in tables.py.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from careweave.store.tables import PrimaryKey, metadata

user_account = Table(
    "user_account",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    # argon2id encoded hash; NULL means the account cannot sign in with a password.
    Column("password_hash", Text, nullable=True),
    # One of careweave.access.roles.Role (gp, nurse, care-coordinator, ... patient, carer).
    Column("role", String(32), nullable=False),
    # The FHIR ids the user acts through: Organization always for staff; PractitionerRole and
    # Practitioner where the user is in the workforce; Patient for a person or for the person a
    # carer (RelatedPerson) looks after.
    Column("organisation_id", String(64), nullable=True),
    Column("practitioner_id", String(64), nullable=True),
    Column("practitioner_role_id", String(64), nullable=True),
    Column("patient_id", String(64), nullable=True),
    Column("related_person_id", String(64), nullable=True),
    Column("caldicott_guardian", Boolean, nullable=False, default=False),
    Column("failed_sign_ins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=False), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created", DateTime(timezone=False), nullable=False),
)

user_session = Table(
    "user_session",
    metadata,
    # SHA-256 (hex) of the cookie value: a copy of the table gives nobody a working session.
    Column("token_hash", String(64), primary_key=True),
    Column("user_pk", ForeignKey("user_account.pk"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created", DateTime(timezone=False), nullable=False),
    Column("last_seen", DateTime(timezone=False), nullable=False),
    Column("expires", DateTime(timezone=False), nullable=False),
    Column("address", String(64), nullable=True),
)

api_token = Table(
    "api_token",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    # NULL for a system client (an integration acting for its organisation, not a person).
    Column("user_pk", ForeignKey("user_account.pk"), nullable=True, index=True),
    Column("client_name", String(200), nullable=False),
    # SMART on FHIR v2 scopes, space-separated, as issued.
    Column("scopes", Text, nullable=False),
    Column("organisation_id", String(64), nullable=True),
    Column("created", DateTime(timezone=False), nullable=False),
    Column("expires", DateTime(timezone=False), nullable=True),
    Column("revoked", DateTime(timezone=False), nullable=True),
)

break_glass = Table(
    "break_glass",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("user_pk", ForeignKey("user_account.pk"), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("organisation_id", String(64), nullable=True),
    Column("reason_code", String(32), nullable=False),
    Column("reason_text", Text, nullable=False),
    Column("started", DateTime(timezone=False), nullable=False),
    Column("expires", DateTime(timezone=False), nullable=False),
    Column("reviewed_by", ForeignKey("user_account.pk"), nullable=True),
    Column("reviewed_at", DateTime(timezone=False), nullable=True),
    Column("review_outcome", String(32), nullable=True),
    Column("review_note", Text, nullable=True),
    Index(None, "user_pk", "patient_id", "expires"),
    Index(None, "organisation_id", "started"),
)

sharing_agreement = Table(
    "sharing_agreement",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    # The agreement as careweave.access.sharing reads it (parties, categories per kind of
    # organisation, sensitive categories per role), JSON; checked when it is loaded.
    Column("terms", Text, nullable=False),
    Column("starts", DateTime(timezone=False), nullable=False),
    Column("ends", DateTime(timezone=False), nullable=True),
    Column("loaded", DateTime(timezone=False), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("recorded", DateTime(timezone=False), nullable=False),
    # FHIR AuditEvent.action (C R U D E) and the careweave event (read, search, sign-in ...).
    Column("action", String(1), nullable=False),
    Column("event", String(32), nullable=False),
    # FHIR AuditEvent.outcome: 0 success, 4 minor failure (refused), 8 serious, 12 major.
    Column("outcome", String(2), nullable=False),
    Column("username", String(64), nullable=True),
    Column("role", String(32), nullable=True),
    Column("organisation_id", String(64), nullable=True),
    # Whose record this touched, so "who looked at my record" is one index range.
    Column("patient_id", String(64), nullable=True),
    Column("entity", Text, nullable=True),
    Column("break_glass", Boolean, nullable=False, default=False),
    Column("address", String(64), nullable=True),
    # The FHIR AuditEvent as JSON; the hash covers it and prev_hash.
    Column("content", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    # Not unique, and not indexed: nothing looks an entry up by its hash (verification walks
    # the chain in order), and an index of random hashes made every audited page write a few
    # hundred scattered index pages (see migration 0004).
    Column("hash", String(64), nullable=False),
    Index(None, "patient_id", "recorded"),
    Index(None, "organisation_id", "recorded"),
    Index(None, "username", "recorded"),
    Index(None, "break_glass", "recorded"),
)

ACCESS_TABLES: tuple[Table, ...] = (
    user_account,
    user_session,
    api_token,
    break_glass,
    sharing_agreement,
    audit_log,
)
