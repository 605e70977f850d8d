"""`careweave users` and `careweave token`: accounts and tokens from the command line, on a real
SQLite file and on PostgreSQL; errors are one line, exit non-zero and write nothing."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Table, func, select
from typer.testing import CliRunner, Result

from careweave.access.accounts import get_user, list_users, sign_in
from careweave.access.roles import Role
from careweave.access.tokens import principal_for_token
from careweave.cli import DEMO_PASSWORD, app
from careweave.fhir.search_query import parse_search
from careweave.store.access_tables import api_token, user_account
from careweave.store.database import Database, open_database
from careweave.store.repository import FhirStore

runner = CliRunner()
PASSWORD = "heron kettle orbit"
ADD_GP = (
    "users add asha.patel --name 'Dr Asha Patel' --role gp --practitioner-role role-1 "
    "--caldicott-guardian --password-stdin"
)


def invoke(command: str, url: str | None = None, stdin: str | None = None) -> Result:
    """Run `careweave <command>` (shell words), against `url` when given."""
    args = shlex.split(command) + (["--database-url", url] if url else [])
    return runner.invoke(app, args, input=stdin, env={"COLUMNS": "250"})


@pytest.fixture
def url(database_url: str) -> str:
    """A migrated database holding the built-in example (org-1, role-1, pat-1, rp-1)."""
    assert invoke("db upgrade", database_url).exit_code == 0
    assert invoke("load-examples", database_url).exit_code == 0
    return database_url


@pytest.fixture
def db(url: str) -> Iterator[Database]:
    database = open_database(url)
    yield database
    database.dispose()


def rows(database: Database, table: Table) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def last_line(result: Result) -> str:
    return result.output.strip().splitlines()[-1]


def test_add_list_and_disable_a_user(url: str, db: Database) -> None:
    result = invoke(ADD_GP, url, stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Added asha.patel (gp)" in result.output
    user = get_user(db, "asha.patel")
    assert user is not None and user.caldicott_guardian
    assert (user.organisation_id, user.practitioner_id) == ("org-1", "prac-1")
    assert sign_in(db, "asha.patel", PASSWORD).ok
    listed = invoke("users list", url)
    assert listed.exit_code == 0
    assert "asha.patel" in listed.stdout and "Dr Asha Patel" in listed.stdout
    assert "Organization/org-1" in listed.stdout and "Caldicott guardian" in listed.stdout
    disabled = invoke("users disable asha.patel", url)
    assert disabled.exit_code == 0 and "Disabled asha.patel" in disabled.output
    assert "disabled" in invoke("users list", url).stdout
    assert sign_in(db, "asha.patel", PASSWORD).reason == "disabled"
    missing = invoke("users disable nobody", url)
    assert missing.exit_code == 1 and "no account called 'nobody'" in missing.output


def test_without_password_stdin_the_password_is_asked_for_twice(url: str, db: Database) -> None:
    result = invoke(
        "users add margaret --name 'Margaret Thompson' --role patient --patient pat-1",
        url,
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("Password") == 1 and "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert sign_in(db, "margaret", PASSWORD).ok


@pytest.mark.parametrize(
    ("options", "stdin", "message"),
    [
        ("--role surgeon --organisation org-1", None, "'surgeon' is not a role"),
        ("--role nurse", None, "acts for an organisation"),
        ("--role gp --organisation org-404", None, "Organization/org-404 is not in the store"),
        ("--role carer --related-person rp-404", None, "RelatedPerson/rp-404 is not in"),
        ("--role system", None, "API client"),
        ("--role gp --organisation org-1 --password-stdin", "short\n", "at least 12"),
        ("--role gp --organisation org-1 --password-stdin", "\n", "held no password"),
    ],
)
def test_a_bad_account_is_one_line_of_error_and_writes_nothing(
    url: str, db: Database, options: str, stdin: str | None, message: str
) -> None:
    result = invoke(f"users add someone --name 'Some One' {options}", url, stdin=stdin)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("error:") == 1
    if stdin is None:
        assert "Password" not in result.output  # refused before asking for one
    assert rows(db, user_account) == 0


def test_a_username_is_taken_once(url: str, db: Database) -> None:
    assert invoke(ADD_GP, url, stdin=PASSWORD + "\n").exit_code == 0
    again = invoke(ADD_GP, url, stdin=PASSWORD + "\n")
    assert again.exit_code == 1 and "already an account called 'asha.patel'" in again.output
    assert rows(db, user_account) == 1


def test_token_issue_prints_the_token_last_and_it_works(url: str, db: Database) -> None:
    assert invoke(ADD_GP, url, stdin=PASSWORD + "\n").exit_code == 0
    result = invoke("token issue --user asha.patel --scope user/Patient.rs --hours 2", url)
    assert result.exit_code == 0, result.output
    token = last_line(result)
    assert result.stdout.strip() == token  # the explanation goes to stderr: $(...) gets the token
    assert "only time it is shown" in result.output
    principal = principal_for_token(db, token, "203.0.113.9")
    assert principal is not None and principal.username == "asha.patel"
    assert principal.role is Role.GP and principal.organisation_id == "org-1"
    assert principal.scopes.allows("Patient", "r") and not principal.scopes.allows("Flag", "r")
    with db.read() as conn:
        stored = [tuple(row) for row in conn.execute(select(api_token)).all()]
    assert all(token not in str(value) for row in stored for value in row)

    system = invoke("token issue --client 'GP feed' --organisation org-1 --scope system/*.rs", url)
    assert system.exit_code == 0, system.output
    client = principal_for_token(db, last_line(system))
    assert client is not None and client.is_system and client.username == "client:GP feed"
    assert client.organisation_id == "org-1"


def test_token_revoke(url: str, db: Database) -> None:
    assert invoke(ADD_GP, url, stdin=PASSWORD + "\n").exit_code == 0
    token = last_line(invoke("token issue --user asha.patel --scope user/*.rs", url))
    revoked = invoke("token revoke -", url, stdin=token + "\n")
    assert revoked.exit_code == 0, revoked.output
    assert principal_for_token(db, token) is None
    again = invoke(f"token revoke {token}", url)
    assert again.exit_code == 1 and "no live token" in again.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--user asha.patel --scope user/Nonsense.rs", "Nonsense is not a resource type"),
        ("--user asha.patel --scope everything", "is not a SMART scope"),
        ("--user nobody --scope user/*.rs", "no account called 'nobody'"),
        ("--user asha.patel --scope patient/*.rs", "use user/ scopes"),
        ("--user asha.patel --scope system/*.rs", "cannot be issued to 'asha.patel'"),
        ("--client feed --scope user/*.rs", "a system client"),
        ("--client feed --scope system/*.rs --organisation org-404", "org-404 is not in"),
        ("--user asha.patel --scope user/*.rs --hours 0", "--hours"),
    ],
)
def test_a_token_that_cannot_be_issued_is_one_line_of_error_and_writes_nothing(
    url: str, db: Database, options: str, message: str
) -> None:
    assert invoke(ADD_GP, url, stdin=PASSWORD + "\n").exit_code == 0
    result = invoke(f"token issue {options}", url)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert rows(db, api_token) == 0


def test_a_system_token_needs_nothing_but_its_scope(url: str, db: Database) -> None:
    """`careweave token issue --scope 'system/*.cruds'`, as the issue writes it."""
    result = invoke("token issue --scope system/*.cruds", url)
    assert result.exit_code == 0, result.output
    principal = principal_for_token(db, result.output.strip().splitlines()[-1])
    assert principal is not None and principal.username == "client:system client"
    assert principal.organisation_id is None


def test_demo_users_for_a_generated_place(database_url: str, tmp_path: Path) -> None:
    place = tmp_path / "place"
    assert invoke(f"generate --people 300 --seed 1 --out {place}").exit_code == 0
    assert invoke("db upgrade", database_url).exit_code == 0
    empty = invoke("users demo", database_url)
    assert empty.exit_code == 1 and "careweave generate" in empty.output
    imported = invoke(f"import {place} --workers 1", database_url)
    assert imported.exit_code == 0, imported.output
    first = invoke("users demo", database_url)
    assert first.exit_code == 0, first.output
    assert "Demo only" in first.output and DEMO_PASSWORD in first.output
    second = invoke("users demo", database_url)  # safe to re-run
    assert second.exit_code == 0, second.output
    assert "already there (unchanged)" in second.stdout and "created" not in second.stdout
    database = open_database(database_url)
    try:
        users = {user.username: user for user in list_users(database)}
        expected = {role.value for role in Role} - {"system"}
        assert {user.role.value for user in users.values()} == expected
        assert len(users) == len(expected)
        gp, patient, carer = users["demo.gp"], users["demo.patient"], users["demo.carer"]
        assert [u.username for u in users.values() if u.caldicott_guardian] == ["demo.gp"]
        assert carer.patient_id == patient.patient_id and carer.related_person_id is not None
        store = FhirStore(database)
        person = store.read("Patient", str(patient.patient_id)).as_dict()
        assert person["birthDate"] <= "1961-12-31"  # an older person
        # The demo GP is the demo person's own GP: the demo shows a real relationship.
        practices = [r["reference"] for r in person["generalPractitioner"]]
        assert f"Organization/{gp.organisation_id}" in practices
        related = store.read("RelatedPerson", str(carer.related_person_id)).as_dict()
        assert related["patient"]["reference"] == f"Patient/{patient.patient_id}"
        for username, user in users.items():
            assert username in first.stdout
            if user.role not in (Role.ANALYST, Role.ADMINISTRATOR, Role.PATIENT, Role.CARER):
                post = store.read("PractitionerRole", str(user.practitioner_role_id)).as_dict()
                assert post["organization"]["reference"] == f"Organization/{user.organisation_id}"
        assert sign_in(database, "demo.carer", DEMO_PASSWORD).ok
        # The demo coordinator is in the demo person's care team, so can open their record.
        teams = store.search(
            parse_search(
                "CareTeam",
                [("patient", f"Patient/{patient.patient_id}"), ("status", "active")],
                store.registry,
            )
        )
        members = {
            participant["member"]["reference"]
            for _, _, content in teams.matches
            for participant in json.loads(content).get("participant", [])
        }
        coordinator = users["demo.care-coordinator"]
        assert f"PractitionerRole/{coordinator.practitioner_role_id}" in members
    finally:
        database.dispose()
