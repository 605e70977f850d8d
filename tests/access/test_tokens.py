"""API bearer tokens: issued once, kept only as a hash, resolved to the Principal they act for,
and dead once revoked, expired, or their user is disabled or locked. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from careweave.access.accounts import (
    MAX_FAILED_SIGN_INS,
    add_user,
    disable_user,
    sign_in,
)
from careweave.access.roles import Role
from careweave.access.scopes import Scopes
from careweave.access.tokens import (
    DEFAULT_LIFETIME,
    TOKEN_PREFIX,
    TokenError,
    issue_token,
    principal_for_token,
    revoke_token,
)
from careweave.store.access_tables import api_token
from careweave.store.database import Database
from careweave.store.repository import FhirStore

PASSWORD = "heron kettle orbit"


@pytest.fixture
def people(database: Database) -> Database:
    add_user(
        database,
        "asha.patel",
        "Dr Asha Patel",
        Role.GP,
        password=PASSWORD,
        organisation_id="org-1",
        practitioner_role_id="role-1",
    )
    add_user(database, "margaret", "Margaret Thompson", Role.PATIENT, patient_id="pat-1")
    add_user(
        database, "carer.1", "Pat Carer", Role.CARER, patient_id="pat-1", related_person_id="rp-1"
    )
    return database


def token_rows(database: Database) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(api_token)).scalar_one())


def test_a_user_token_acts_as_its_user_with_its_scopes(people: Database) -> None:
    before = datetime.now(UTC)
    issued = issue_token(
        people,
        Scopes.parse("user/Patient.rs user/Observation.r"),
        username="Asha.Patel",
        client_name="ward dashboard",
    )
    assert len(issued.token) == len(TOKEN_PREFIX) + 43 and issued.token not in repr(issued)
    assert issued.username == "asha.patel" and issued.organisation_id == "org-1"
    assert issued.expires is not None
    assert before + DEFAULT_LIFETIME <= issued.expires <= datetime.now(UTC) + DEFAULT_LIFETIME
    principal = principal_for_token(people, issued.token, "198.51.100.4")
    assert principal is not None
    assert (principal.username, principal.role) == ("asha.patel", Role.GP)
    assert principal.organisation_id == "org-1" and principal.practitioner_role_id == "role-1"
    assert principal.address == "198.51.100.4" and principal.user_pk is not None
    assert principal.scopes.allows("Patient", "s") and principal.scopes.allows("Observation", "r")
    assert not principal.scopes.allows("Observation", "s")
    assert not principal.scopes.allows("Condition", "r")


def test_every_token_begins_with_the_prefix_never_like_an_option(people: Database) -> None:
    """One bare token_urlsafe in 64 begins with "-", which `careweave token revoke <token>`
    took for an option; 200 tokens would hold about three such."""
    scopes = Scopes.parse("system/*.rs")
    tokens = [issue_token(people, scopes, client_name="batch").token for _ in range(200)]
    assert all(token.startswith(TOKEN_PREFIX) for token in tokens)
    assert len(set(tokens)) == 200
    assert all(principal_for_token(people, token) is not None for token in tokens[:5])


def test_a_person_and_their_carer_hold_patient_scopes(people: Database) -> None:
    for username in ("margaret", "carer.1"):
        issued = issue_token(
            people, Scopes.parse("patient/*.rs"), username=username, client_name="app"
        )
        principal = principal_for_token(people, issued.token)
        assert principal is not None and principal.patient_id == "pat-1"
        assert principal.scopes.contexts() == {"patient"}


def test_a_system_token_acts_for_its_client_and_organisation(
    people: Database, store: FhirStore
) -> None:
    store.update("Organization", "org-1", {"resourceType": "Organization", "id": "org-1"})
    issued = issue_token(
        people,
        Scopes.parse("system/*.rs"),
        client_name="GP system feed",
        organisation_id="org-1",
        lifetime=None,
        store=store,
    )
    assert issued.expires is None
    principal = principal_for_token(people, issued.token)
    assert principal is not None and principal.is_system
    assert principal.username == "client:GP system feed" and principal.user_pk is None
    assert principal.organisation_id == "org-1"
    assert str(principal.scopes) == "system/*.rs"
    with pytest.raises(TokenError, match="Organization/org-404 is not in the store"):
        issue_token(
            people,
            Scopes.parse("system/*.rs"),
            client_name="feed",
            organisation_id="org-404",
            store=store,
        )


def test_only_the_hash_of_a_token_is_stored(people: Database) -> None:
    issued = issue_token(
        people, Scopes.parse("user/*.rs"), username="asha.patel", client_name="cli"
    )
    with people.read() as conn:
        rows = [tuple(row) for row in conn.execute(select(api_token)).all()]
    assert len(rows) == 1
    assert all(issued.token not in str(value) for value in rows[0])
    assert hashlib.sha256(issued.token.encode()).hexdigest() in rows[0]


def test_unknown_revoked_and_expired_tokens_act_for_nobody(people: Database) -> None:
    scopes = Scopes.parse("user/*.rs")
    assert principal_for_token(people, "not-a-token") is None
    assert principal_for_token(people, "") is None
    assert principal_for_token(people, "x" * 10_000) is None
    revoked = issue_token(people, scopes, username="asha.patel", client_name="cli")
    assert revoke_token(people, revoked.token)
    assert not revoke_token(people, revoked.token)  # already revoked
    assert not revoke_token(people, "not-a-token")
    assert principal_for_token(people, revoked.token) is None
    expired = issue_token(
        people, scopes, username="asha.patel", client_name="cli", lifetime=timedelta(hours=1)
    )
    assert principal_for_token(people, expired.token) is not None
    with people.write() as conn:
        conn.execute(
            update(api_token)
            .where(api_token.c.revoked.is_(None))
            .values(expires=(datetime.now(UTC) - timedelta(seconds=1)).replace(tzinfo=None))
        )
    assert principal_for_token(people, expired.token) is None


def test_a_disabled_or_locked_users_tokens_stop_working(people: Database) -> None:
    scopes = Scopes.parse("user/*.rs")
    issued = issue_token(people, scopes, username="asha.patel", client_name="cli")
    for _ in range(MAX_FAILED_SIGN_INS):
        sign_in(people, "asha.patel", "wrong guess", None)
    assert principal_for_token(people, issued.token) is None  # locked
    carer = issue_token(people, Scopes.parse("patient/*.rs"), username="carer.1", client_name="app")
    disable_user(people, "carer.1")
    assert principal_for_token(people, carer.token) is None
    with pytest.raises(TokenError, match="disabled"):
        issue_token(people, Scopes.parse("patient/*.rs"), username="carer.1", client_name="app")


@pytest.mark.parametrize(
    ("scopes", "username", "message"),
    [
        ("user/*.rs", "margaret", "cannot be issued to 'margaret' \\(patient\\)"),
        ("patient/*.rs user/Patient.r", "carer.1", "user/Patient.rs? cannot be issued"),
        ("patient/Observation.rs", "asha.patel", "use user/ scopes"),
        ("system/*.rs", "asha.patel", "cannot be issued to 'asha.patel'"),
        ("user/*.rs", None, "a system client"),
        ("patient/*.rs", None, "use system/ scopes"),
    ],
)
def test_scopes_must_suit_who_holds_them(
    people: Database, scopes: str, username: str | None, message: str
) -> None:
    with pytest.raises(TokenError, match=message):
        issue_token(people, Scopes.parse(scopes), username=username, client_name="app")
    assert token_rows(people) == 0


def test_tokens_that_cannot_be_issued_write_nothing(people: Database) -> None:
    scopes = Scopes.parse("user/*.rs")
    with pytest.raises(TokenError, match="no account called 'nobody'"):
        issue_token(people, scopes, username="nobody", client_name="cli")
    with pytest.raises(TokenError, match="acts for org-1, not org-2"):
        issue_token(
            people, scopes, username="asha.patel", client_name="cli", organisation_id="org-2"
        )
    with pytest.raises(TokenError, match="Name the client"):
        issue_token(people, scopes, username="asha.patel", client_name="  ")
    with pytest.raises(TokenError, match="positive"):
        issue_token(people, scopes, username="asha.patel", client_name="cli", lifetime=timedelta(0))
    assert token_rows(people) == 0


def test_a_client_name_too_long_for_the_audit_trail_is_refused(database: Database) -> None:
    with pytest.raises(TokenError, match="1-56"):
        issue_token(database, Scopes.parse("system/*.rs"), client_name="x" * 57)
    issued = issue_token(database, Scopes.parse("system/*.rs"), client_name="x" * 56)
    principal = principal_for_token(database, issued.token)
    assert principal is not None and len(principal.username) <= 64
