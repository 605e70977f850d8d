"""Break-glass over HTTP, on SQLite and PostgreSQL: a clinician finds a person by NHS number,
says why, and can then read their record through the guard; every refusal leaves no grant."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient

from careweave.access.accounts import get_user, principal_for_user
from careweave.access.guard import CareRecordAccess
from careweave.access.sharing import DEFAULT_TERMS, save_agreement
from careweave.fhir.errors import NotFound
from careweave.store.access_tables import break_glass as break_glass_table
from tests.web.test_governance_pages import Site, error_summary, hidden, site

__all__ = ["site"]  # the fixture, shared with the governance pages' tests

REASON_TEXT = "Brought in unconscious; need allergies and medicines"


def _csrf(client: TestClient) -> str:
    return hidden(client.get("/home").text, "csrf_token")


def _ask(client: TestClient, csrf: str, **fields: str) -> httpx.Response:
    data = {
        "csrf_token": csrf,
        "nhs_number": "999 000 0034",
        "reason": "unable-to-consent",
        "reason_text": REASON_TEXT,
    }
    data.update(fields)
    response: httpx.Response = client.post("/break-glass", data=data, follow_redirects=False)
    return response


def _guarded_read(site: Site, username: str, patient_id: str) -> str:
    user = get_user(site.database, username)
    assert user is not None
    access = CareRecordAccess(site.store, principal_for_user(user), audit=None)
    return access.read("Patient", patient_id).id


def test_a_clinician_breaks_the_glass_and_can_then_read_the_record(site: Site) -> None:
    save_agreement(site.database, "test", DEFAULT_TERMS)
    # Sid is registered at another practice: Dr Ann has no relationship with him.
    with pytest.raises(NotFound):
        _guarded_read(site, "ann.gp", "p3")
    client = site.sign_in("ann.gp")
    form = client.get("/break-glass")
    assert form.status_code == 200
    assert "This is recorded and reviewed by your Caldicott guardian" in form.text
    assert 'class="nhsuk-card nhsuk-card--warning"' in form.text
    response = client.post(
        "/break-glass",
        data={
            "csrf_token": hidden(form.text, "csrf_token"),
            "nhs_number": " 999 000 0034 ",
            "reason": "unable-to-consent",
            "reason_text": REASON_TEXT,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    location = response.headers["location"]
    pk = int(location.rsplit("/", 1)[1])
    row = site.grant_row(pk)
    ann = get_user(site.database, "ann.gp")
    assert ann is not None
    assert (row.user_pk, row.patient_id, row.organisation_id) == (ann.pk, "p3", "practice-1")
    assert (row.reason_code, row.reason_text) == ("unable-to-consent", REASON_TEXT)
    [audit] = site.audit_rows("break-glass")
    assert bool(audit.break_glass)
    assert (audit.username, audit.patient_id, audit.outcome) == ("ann.gp", "p3", "0")
    assert audit.action == "E"
    # The confirmation: whose record, the NHS number as printed, until when in UK time.
    page = client.get(location)
    assert page.status_code == 200
    assert "You have emergency access to Sid Stranger's record" in page.text
    assert "999 000 0034" in page.text
    until = row.expires.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Europe/London"))
    assert f"Until {until:%A} {until.day} {until:%B %Y}, {until:%H:%M}" in page.text
    assert "flagged as emergency access" in page.text
    assert _guarded_read(site, "ann.gp", "p3") == "p3"
    # Nobody else sees Ann's confirmation page.
    other = site.sign_in("gina").get(location)
    assert other.status_code == 404
    assert "Sid Stranger" not in other.text


def test_a_short_reason_is_an_error_and_grants_nothing(site: Site) -> None:
    client = site.sign_in("ann.gp")
    response = _ask(client, _csrf(client), reason_text="  too short  ", reason="")
    assert response.status_code == 400
    summary = error_summary(response.text)
    assert '<a href="#reason_text">Describe the emergency in 15 characters or more</a>' in summary
    assert '<a href="#reason">Select why you need emergency access</a>' in summary
    assert 'value="999 000 0034"' in response.text  # what was typed is kept
    assert "  too short  </textarea>" in response.text
    assert response.text.count("<title>Error: Get emergency access") == 1
    assert site.count(break_glass_table) == 0
    assert site.audit_rows("break-glass") == []


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the person&#39;s NHS number"),
        ("999 000 003", "NHS number must be 10 digits"),
        ("999-000-003X", "NHS number must be 10 digits"),
        ("999 000 0035", "Enter a valid NHS number"),
    ],
)
def test_an_invalid_nhs_number_is_an_error(site: Site, typed: str, message: str) -> None:
    client = site.sign_in("ann.gp")
    response = _ask(client, _csrf(client), nhs_number=typed)
    assert response.status_code == 400
    assert re.search(rf'<a href="#nhs_number">{message}', error_summary(response.text))
    assert 'aria-describedby="nhs_number-hint nhs_number-error"' in response.text
    assert site.count(break_glass_table) == 0


def test_an_unknown_nhs_number_is_named_and_the_attempt_audited(site: Site) -> None:
    client = site.sign_in("ann.gp")
    response = _ask(client, _csrf(client), nhs_number="9990000042")
    assert response.status_code == 400
    assert "No one with NHS number 999 000 0042 is registered on careweave" in error_summary(
        response.text
    )
    assert site.count(break_glass_table) == 0
    [attempt] = site.audit_rows("break-glass")
    assert (attempt.outcome, attempt.patient_id) == ("4", None)
    assert not attempt.break_glass


def test_roles_that_are_not_clinical_are_refused(site: Site) -> None:
    client = site.sign_in("lee.lw")
    page = client.get("/break-glass")
    assert page.status_code == 403
    assert "Only clinicians can use emergency access" in page.text
    assert "GP" in page.text and "Nurse" in page.text
    assert 'action="/break-glass"' not in page.text
    response = _ask(client, hidden(page.text, "csrf_token"))
    assert response.status_code == 403
    assert site.count(break_glass_table) == 0
    assert site.audit_rows("break-glass") == []


def test_a_request_without_the_forms_token_grants_nothing(site: Site) -> None:
    client = site.sign_in("ann.gp")
    response = _ask(client, "forged")
    assert response.status_code == 403
    assert site.count(break_glass_table) == 0
    assert site.audit_rows("break-glass") == []


def test_the_confirmation_shows_when_access_has_ended(site: Site) -> None:
    pk = site.grant("ann.gp", "p3")
    past = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)  # naive UTC, as stored
    with site.database.write() as conn:
        conn.execute(
            break_glass_table.update()
            .where(break_glass_table.c.pk == pk)
            .values(started=past - timedelta(hours=4), expires=past)
        )
    page = site.sign_in("ann.gp").get(f"/break-glass/{pk}")
    assert page.status_code == 200
    assert "Your emergency access to Sid Stranger's record has ended" in page.text
