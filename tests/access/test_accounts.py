"""User accounts: links checked against the store, sign-in with lock-out that does not reveal
which usernames exist, and the Principal an account acts as. Every test runs on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from careweave.access.accounts import (
    LOCK_DURATION,
    MAX_FAILED_SIGN_INS,
    AccountError,
    add_user,
    check_references,
    disable_user,
    get_user,
    list_users,
    principal_for_user,
    set_password,
    sign_in,
)
from careweave.access.passwords import PasswordPolicyError
from careweave.access.roles import Role
from careweave.access.scopes import Scopes
from careweave.examples import all_examples
from careweave.store.access_tables import user_account
from careweave.store.database import Database
from careweave.store.repository import FhirStore

PASSWORD = "heron kettle orbit"


@pytest.fixture
def directory(store: FhirStore) -> FhirStore:
    """The built-in example: Organization org-1, Practitioner prac-1 in PractitionerRole role-1,
    Patient pat-1 and her carer RelatedPerson rp-1."""
    with store.transaction() as tx:
        for body in all_examples():
            tx.update(body["resourceType"], body["id"], body)
    return store


def account_rows(database: Database) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(user_account)).scalar_one())


def stored_row(database: Database, username: str) -> Any:
    with database.read() as conn:
        return conn.execute(select(user_account).where(user_account.c.username == username)).one()


def add_gp(database: Database, **kwargs: Any) -> int:
    kwargs.setdefault("organisation_id", "org-1")
    return add_user(database, "asha.patel", "Dr Asha Patel", Role.GP, password=PASSWORD, **kwargs)


def test_an_account_is_stored_with_a_hash_and_read_back(
    database: Database, directory: FhirStore
) -> None:
    pk = add_user(
        database,
        " Asha.Patel ",
        "Dr  Asha Patel",
        "gp",
        password=PASSWORD,
        practitioner_role_id="role-1",
        caldicott_guardian=True,
        store=directory,
    )
    user = get_user(database, "ASHA.PATEL")
    assert user is not None and user.pk == pk
    assert get_user(database, pk) == user
    assert user.username == "asha.patel" and user.display_name == "Dr Asha Patel"
    assert user.role is Role.GP and user.caldicott_guardian and user.has_password
    # The PractitionerRole says where and who: the links are taken from it.
    assert (user.organisation_id, user.practitioner_id) == ("org-1", "prac-1")
    assert user.created.tzinfo is UTC and not user.disabled and user.failed_sign_ins == 0
    row = stored_row(database, "asha.patel")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert "password" not in repr(user).lower().replace("has_password", "")
    assert [u.username for u in list_users(database)] == ["asha.patel"]
    assert get_user(database, "nobody") is None and get_user(database, pk + 1) is None


def test_patient_and_carer_accounts_link_to_the_person(
    database: Database, directory: FhirStore
) -> None:
    add_user(
        database, "margaret", "Margaret Thompson", Role.PATIENT, patient_id="pat-1", store=directory
    )
    # The RelatedPerson names the patient: the carer account takes it from there.
    add_user(database, "carer.1", "A Carer", Role.CARER, related_person_id="rp-1", store=directory)
    carer = get_user(database, "carer.1")
    assert carer is not None
    assert (carer.patient_id, carer.related_person_id) == ("pat-1", "rp-1")
    assert not carer.has_password


@pytest.mark.parametrize(
    ("username", "role", "links", "message"),
    [
        ("ab", "gp", {"organisation_id": "org-1"}, "is not a username"),
        ("Has Space", "gp", {"organisation_id": "org-1"}, "is not a username"),
        ("x" * 65, "gp", {"organisation_id": "org-1"}, "is not a username"),
        ("someone", "surgeon", {"organisation_id": "org-1"}, "is not a role"),
        ("someone", "system", {"organisation_id": "org-1"}, "API client"),
        ("someone", "nurse", {}, "acts for an organisation"),
        ("someone", "gp", {"organisation_id": "org-1", "patient_id": "pat-1"}, "staff"),
        ("someone", "patient", {}, "needs their own Patient id"),
        ("someone", "patient", {"patient_id": "pat-1", "organisation_id": "org-1"}, "person"),
        ("someone", "patient", {"patient_id": "pat-1", "related_person_id": "rp-1"}, "carers"),
        ("someone", "carer", {"patient_id": "pat-1"}, "needs the RelatedPerson"),
        ("someone", "carer", {"related_person_id": "rp-1"}, "cared-for person's Patient"),
        ("someone", "analyst", {"caldicott_guardian": True}, "Caldicott"),
        ("someone", "patient", {"patient_id": "pat-1", "caldicott_guardian": True}, "Caldicott"),
        ("someone", "gp", {"organisation_id": "org 1"}, "is not a FHIR id"),
    ],
)
def test_an_account_that_does_not_make_sense_is_refused_and_not_written(
    database: Database, username: str, role: str, links: dict[str, Any], message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        add_user(database, username, "Some One", role, **links)
    assert account_rows(database) == 0


def test_analysts_and_administrators_need_no_organisation(database: Database) -> None:
    add_user(database, "ana.lyst", "Ana Lyst", Role.ANALYST)
    add_user(database, "admin", "Admin", Role.ADMINISTRATOR)
    assert account_rows(database) == 2


def test_links_must_exist_and_agree(database: Database, directory: FhirStore) -> None:
    cases: list[tuple[dict[str, str], str]] = [
        ({"organisation_id": "org-404"}, "Organization/org-404 is not in the store"),
        ({"practitioner_role_id": "role-404"}, "PractitionerRole/role-404 is not in the store"),
        ({"organisation_id": "org-1", "practitioner_id": "prac-404"}, "Practitioner/prac-404"),
        ({"patient_id": "pat-404"}, "Patient/pat-404 is not in the store"),
        ({"related_person_id": "rp-404"}, "RelatedPerson/rp-404 is not in the store"),
    ]
    for links, message in cases:
        with pytest.raises(AccountError, match=message):
            check_references(directory, **links)
    directory.update(
        "Organization", "org-2", {"resourceType": "Organization", "id": "org-2", "name": "Other"}
    )
    directory.update(
        "Patient", "pat-2", {"resourceType": "Patient", "id": "pat-2", "gender": "male"}
    )
    with pytest.raises(AccountError, match="a post at Organization/org-1, not Organization/org-2"):
        add_gp(database, organisation_id="org-2", practitioner_role_id="role-1", store=directory)
    with pytest.raises(AccountError, match="related to Patient/pat-1, not Patient/pat-2"):
        add_user(
            database,
            "carer.2",
            "C",
            "carer",
            patient_id="pat-2",
            related_person_id="rp-1",
            store=directory,
        )
    assert account_rows(database) == 0
    assert check_references(directory, organisation_id="org-2").organisation_id == "org-2"


def test_usernames_are_unique_and_weak_passwords_are_refused(database: Database) -> None:
    add_gp(database)
    with pytest.raises(AccountError, match=r"already an account called 'asha\.patel'"):
        add_gp(database)
    with pytest.raises(PasswordPolicyError, match="at least 12"):
        add_user(
            database, "someone", "Some One", "nurse", password="short", organisation_id="org-1"
        )
    assert account_rows(database) == 1


def test_sign_in_with_the_right_password(database: Database) -> None:
    pk = add_gp(database)
    result = sign_in(database, "Asha.Patel", PASSWORD, "192.0.2.1")
    assert result.ok and result.reason == "ok"
    assert result.user is not None and result.user.pk == pk
    wrong = sign_in(database, "asha.patel", PASSWORD + "!", "192.0.2.1")
    assert not wrong.ok and wrong.user is None and wrong.reason == "unknown-or-wrong"


def test_an_unknown_username_gets_the_same_public_reason_as_a_wrong_password(
    database: Database,
) -> None:
    add_gp(database)
    wrong = sign_in(database, "asha.patel", "not the password", None)
    unknown = sign_in(database, "no.such.person", "not the password", None)
    garbage = sign_in(database, "Robert'); DROP TABLE", "x", None)
    assert wrong.reason == unknown.reason == garbage.reason == "unknown-or-wrong"
    assert not wrong.ok and not unknown.ok and not garbage.ok
    # The audit trail can tell them apart; the person signing in cannot.
    assert wrong.detail == "wrong-password" and unknown.detail == "unknown-username"


def test_five_failures_lock_the_account_until_the_lock_runs_out(database: Database) -> None:
    add_gp(database)
    for attempt in range(1, MAX_FAILED_SIGN_INS + 1):
        result = sign_in(database, "asha.patel", f"wrong guess {attempt}", None)
        assert result.reason == "unknown-or-wrong"
    user = get_user(database, "asha.patel")
    assert user is not None and user.locked_until is not None
    before = datetime.now(UTC)
    assert before < user.locked_until <= before + LOCK_DURATION
    # The sixth attempt, with the right password, is still refused while locked.
    locked = sign_in(database, "asha.patel", PASSWORD, None)
    assert not locked.ok and locked.reason == "locked" and locked.user is None
    with database.write() as conn:
        conn.execute(
            update(user_account).values(
                locked_until=(datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None)
            )
        )
    allowed = sign_in(database, "asha.patel", PASSWORD, None)
    assert allowed.ok and allowed.user is not None
    assert allowed.user.failed_sign_ins == 0 and allowed.user.locked_until is None


def test_failures_must_be_consecutive_to_lock(database: Database) -> None:
    add_gp(database)
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        sign_in(database, "asha.patel", "wrong guess", None)
    assert sign_in(database, "asha.patel", PASSWORD, None).ok
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        sign_in(database, "asha.patel", "wrong guess", None)
    assert sign_in(database, "asha.patel", PASSWORD, None).ok


def test_an_expired_lock_gives_a_fresh_set_of_attempts(database: Database) -> None:
    add_gp(database)
    with database.write() as conn:
        conn.execute(
            update(user_account).values(
                failed_sign_ins=MAX_FAILED_SIGN_INS,
                locked_until=(datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None),
            )
        )
    assert sign_in(database, "asha.patel", "wrong again", None).reason == "unknown-or-wrong"
    user = get_user(database, "asha.patel")
    assert user is not None and user.failed_sign_ins == 1 and user.locked_until is None


def test_a_disabled_account_cannot_sign_in(database: Database) -> None:
    add_gp(database)
    disabled = disable_user(database, "asha.patel")
    assert disabled.disabled
    assert disable_user(database, "asha.patel").disabled  # twice is harmless
    result = sign_in(database, "asha.patel", PASSWORD, None)
    assert not result.ok and result.reason == "disabled" and result.user is None
    with pytest.raises(AccountError, match="no account called 'nobody'"):
        disable_user(database, "nobody")


def test_an_account_without_a_password_cannot_sign_in(database: Database) -> None:
    add_user(database, "ana.lyst", "Ana Lyst", Role.ANALYST)
    result = sign_in(database, "ana.lyst", "", None)
    assert not result.ok and result.reason == "unknown-or-wrong"


def test_a_new_password_replaces_the_old_and_lifts_a_lock(database: Database) -> None:
    add_gp(database)
    for _ in range(MAX_FAILED_SIGN_INS):
        sign_in(database, "asha.patel", "wrong guess", None)
    set_password(database, "asha.patel", "lantern meadow copper")
    assert sign_in(database, "asha.patel", "lantern meadow copper", None).ok
    assert not sign_in(database, "asha.patel", PASSWORD, None).ok
    with pytest.raises(PasswordPolicyError):
        set_password(database, "asha.patel", "asha.patel-is-me")
    with pytest.raises(AccountError):
        set_password(database, "nobody", "lantern meadow copper")


def test_a_hash_with_old_parameters_is_renewed_at_sign_in(database: Database) -> None:
    add_gp(database)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with database.write() as conn:
        conn.execute(update(user_account).values(password_hash=weak))
    assert sign_in(database, "asha.patel", PASSWORD, None).ok
    renewed = stored_row(database, "asha.patel").password_hash
    assert renewed != weak and "m=65536" in renewed
    assert sign_in(database, "asha.patel", PASSWORD, None).ok


def test_the_principal_of_a_member_of_staff_and_of_a_person(
    database: Database, directory: FhirStore
) -> None:
    add_user(
        database,
        "asha.patel",
        "Dr Asha Patel",
        "gp",
        practitioner_role_id="role-1",
        caldicott_guardian=True,
        store=directory,
    )
    add_user(database, "margaret", "Margaret Thompson", "patient", patient_id="pat-1")
    gp, person = get_user(database, "asha.patel"), get_user(database, "margaret")
    assert gp is not None and person is not None
    principal = principal_for_user(gp, address="192.0.2.7")
    assert principal.role is Role.GP and principal.user_pk == gp.pk
    assert principal.organisation_id == "org-1" and principal.practitioner_role_id == "role-1"
    assert principal.caldicott_guardian and principal.address == "192.0.2.7"
    assert principal.scopes.contexts() == {"user"}
    assert principal.scopes.allows("Observation", "r")
    own = principal_for_user(person)
    assert own.patient_id == "pat-1" and own.scopes.contexts() == {"patient"}
    narrow = principal_for_user(gp, Scopes.parse("user/Patient.r"))
    assert not narrow.scopes.allows("Observation", "r")
    with pytest.raises(AccountError, match="disabled"):
        principal_for_user(disable_user(database, "margaret"))
