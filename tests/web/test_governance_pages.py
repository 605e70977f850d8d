"""The governance pages over HTTP, on SQLite and PostgreSQL: who has looked at my record (a
person, their carer, staff refused), and the Caldicott guardian's review of break-glass use.

People sign in through the sign-in form, as a browser does; the records, accounts, audit
entries and grants are made with the real functions beforehand."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from careweave.access import break_glass
from careweave.access.accounts import add_user, get_user, principal_for_user
from careweave.access.audit import AuditRecord, AuditTrail, verify_chain
from careweave.access.passwords import hash_password
from careweave.api.app import create_app
from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM
from careweave.settings import Settings
from careweave.store.access_tables import audit_log, user_account
from careweave.store.access_tables import break_glass as break_glass_table
from careweave.store.database import Database
from careweave.store.repository import FhirStore
from careweave.web.settings import WebSettings, find_frontend_dir

PASSWORD = "kettle orchard lantern"
REASON = "Collapsed in the waiting room; needs medicines history now"


@functools.cache
def _password_hash() -> str:
    """One real argon2 hash shared by every test account (hashing costs a third of a second;
    each sign-in still verifies against it)."""
    return hash_password(PASSWORD)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', html)
    assert match, f"no hidden {name} field"
    return match.group(1)


def error_summary(html: str) -> str:
    match = re.search(r'<div class="nhsuk-error-summary".*?</ul>', html, re.DOTALL)
    assert match, "no error summary"
    return match.group(0)


def table_rows(html: str) -> int:
    """Rows in the page's body tables (header rows are in <thead>)."""
    return sum(body.count("<tr ") for body in re.findall(r"<tbody.*?</tbody>", html, re.DOTALL))


def make_user(database: Database, username: str, display_name: str, role: str, **links: Any) -> int:
    pk = add_user(database, username, display_name, role, **links)
    with database.write() as conn:
        conn.execute(
            update(user_account)
            .where(user_account.c.pk == pk)
            .values(password_hash=_password_hash())
        )
    return pk


def patient(
    resource_id: str, nhs_number: str, given: str, family: str, practice: str
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": resource_id,
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
        "name": [{"use": "official", "given": [given], "family": family}],
        "generalPractitioner": [{"reference": f"Organization/{practice}"}],
    }


def audit_entry(
    username: str,
    display_name: str,
    role: str,
    organisation_id: str,
    patient_id: str,
    event: str,
    entity: str,
    recorded: datetime,
    *,
    outcome: str = "0",
    emergency: bool = False,
) -> AuditRecord:
    return AuditRecord(
        event=event,
        action={"read": "R", "update": "U"}.get(event, "E"),
        outcome=outcome,
        username=username,
        display_name=display_name,
        role=role,
        organisation_id=organisation_id,
        practitioner_role_id=None,
        patient_id=patient_id,
        entity=entity,
        reason=None,
        break_glass=emergency,
        address="192.0.2.1",
        recorded=recorded,
    )


def signed_in_client(app: FastAPI, stack: ExitStack, username: str) -> TestClient:
    """A browser (kept open until `stack` closes) signed in through the sign-in form."""
    client = stack.enter_context(TestClient(app, base_url="http://testserver"))
    form = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={
            "csrf_token": hidden(form.text, "csrf_token"),
            "username": username,
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


@dataclass
class Site:
    """A place with two practices and a council, its people and accounts, and the app."""

    store: FhirStore
    app: FastAPI
    stack: ExitStack

    @property
    def database(self) -> Database:
        return self.store.database

    def sign_in(self, username: str) -> TestClient:
        return signed_in_client(self.app, self.stack, username)

    def principal(self, username: str) -> Any:
        user = get_user(self.database, username)
        assert user is not None
        return principal_for_user(user)

    def grant(self, username: str, patient_id: str, reason_text: str = REASON) -> int:
        started = break_glass.start(
            self.database,
            self.store,
            self.principal(username),
            patient_id,
            "emergency-treatment",
            reason_text,
        )
        return started.pk

    def grant_row(self, pk: int) -> Any:
        with self.database.read() as conn:
            return conn.execute(select(break_glass_table).where(break_glass_table.c.pk == pk)).one()

    def audit_rows(self, event: str) -> list[Any]:
        with self.database.read() as conn:
            return list(
                conn.execute(
                    select(audit_log).where(audit_log.c.event == event).order_by(audit_log.c.seq)
                )
            )

    def count(self, table: Any) -> int:
        with self.database.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def site(store: FhirStore, database_url: str) -> Iterator[Site]:
    for organisation_id, name in (
        ("practice-1", "Riverside Surgery"),
        ("practice-2", "Hilltop Practice"),
        ("council-1", "Northshire Council"),
    ):
        store.update(
            "Organization",
            organisation_id,
            {"resourceType": "Organization", "id": organisation_id, "name": name},
        )
    store.update("Patient", "p1", patient("p1", "9990000018", "Mary", "Example", "practice-1"))
    store.update("Patient", "p2", patient("p2", "9990000026", "Joe", "Other", "practice-1"))
    store.update("Patient", "p3", patient("p3", "9990000034", "Sid", "Stranger", "practice-2"))
    store.update(
        "RelatedPerson",
        "rp1",
        {
            "resourceType": "RelatedPerson",
            "id": "rp1",
            "patient": {"reference": "Patient/p1"},
            "name": [{"given": ["Carl"], "family": "Carer"}],
        },
    )
    database = store.database
    make_user(database, "mary", "Mary Example", "patient", patient_id="p1")
    make_user(database, "carl", "Carl Carer", "carer", patient_id="p1", related_person_id="rp1")
    make_user(database, "ann.gp", "Dr Ann Example", "gp", organisation_id="practice-1")
    make_user(database, "sam.sw", "Sam Social", "social-worker", organisation_id="council-1")
    make_user(database, "lee.lw", "Lee Link", "link-worker", organisation_id="practice-1")
    make_user(
        database,
        "gina",
        "Gina Guardian",
        "nurse",
        organisation_id="practice-1",
        caldicott_guardian=True,
    )
    make_user(database, "hal.gp", "Dr Hal Hilltop", "gp", organisation_id="practice-2")
    web = WebSettings(frontend_dir=find_frontend_dir(), secret_key=b"test key " * 4)
    app = create_app(Settings(database_url=database_url), store, web=web)
    with ExitStack() as stack:
        yield Site(store, app, stack)


# --- Who has looked at my record -------------------------------------------------------------

JULY = datetime(2026, 7, 14, 13, 5, tzinfo=UTC)  # 14:05 British Summer Time
JANUARY = datetime(2026, 1, 20, 9, 30, tzinfo=UTC)  # 09:30 Greenwich Mean Time


def _record_looks(site: Site) -> None:
    AuditTrail(site.database).record(
        [
            audit_entry("sam.sw", "Sam Social", "social-worker", "council-1", "p1", "update",
                        "CarePlan/cp1", JANUARY),
            audit_entry("zed.gp", "Zed Secretive", "gp", "practice-1", "p2", "read",
                        "Patient/p2", JULY),
            audit_entry("ann.gp", "Dr Ann Example", "gp", "practice-1", "p1", "read",
                        "Patient/p1", JULY),
            audit_entry("hal.gp", "Dr Hal Hilltop", "gp", "practice-2", "p1", "read",
                        "Condition/c1", JULY, emergency=True),
            audit_entry("lee.lw", "Lee Link", "link-worker", "practice-1", "p1", "read",
                        "Patient/p1", JULY, outcome="4"),
        ]
    )  # fmt: skip


def test_a_person_sees_who_looked_at_their_record_and_no_one_elses(site: Site) -> None:
    _record_looks(site)
    page = site.sign_in("mary").get("/my-record/access")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Who has looked at your record</h1>" in html
    assert table_rows(html) == 4
    assert "Zed Secretive" not in html  # Joe's record, not Mary's
    # Newest first, in words, with the organisation's name from the directory.
    order = [
        html.index(name) for name in ("Lee Link", "Dr Hal Hilltop", "Dr Ann Example", "Sam Social")
    ]
    assert order == sorted(order)
    assert "Tuesday 14 July 2026, 14:05" in html  # BST: an hour ahead of UTC
    assert "Tuesday 20 January 2026, 09:30" in html  # GMT
    assert "13:05" not in html
    assert "Social worker" in html and "Northshire Council" in html
    assert "Changed your care plan" in html
    assert "Looked at your record" in html
    assert "Looked at your health conditions" in html
    assert "Riverside Surgery" in html and "Hilltop Practice" in html
    hal_row = re.search(r"<tr [^>]*>(?:(?!</tr>).)*Dr Hal Hilltop.*?</tr>", html, re.DOTALL)
    assert hal_row and "Emergency access</strong>" in hal_row.group(0)
    lee_row = re.search(r"<tr [^>]*>(?:(?!</tr>).)*Lee Link.*?</tr>", html, re.DOTALL)
    assert lee_row and "Tried to look at your record" in lee_row.group(0)
    assert "Refused" in lee_row.group(0)
    assert "data protection officer at Riverside Surgery" in html


def test_a_carer_sees_the_record_of_the_person_they_care_for(site: Site) -> None:
    _record_looks(site)
    page = site.sign_in("carl").get("/my-record/access")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Who has looked at Mary Example's record</h1>" in html
    assert "You are signed in as a carer for Mary Example" in html
    assert table_rows(html) == 4
    assert "Dr Ann Example" in html and "Looked at their record" in html
    assert "Zed Secretive" not in html


def test_staff_are_refused_the_page_and_strangers_asked_to_sign_in(site: Site) -> None:
    _record_looks(site)
    anonymous = site.stack.enter_context(TestClient(site.app, base_url="http://testserver"))
    redirect = anonymous.get("/my-record/access", follow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/sign-in?next=%2Fmy-record%2Faccess"
    staff = site.sign_in("ann.gp").get("/my-record/access")
    assert staff.status_code == 403
    assert "This page is for people looking at their own record" in staff.text
    assert "Looked at" not in staff.text
    assert staff.headers["content-security-policy"].startswith("default-src 'self'")


def test_older_entries_are_on_later_pages(site: Site) -> None:
    AuditTrail(site.database).record(
        [
            audit_entry(f"user{n:02d}", f"Reader {n:02d}", "nurse", "practice-1", "p1", "read",
                        "Patient/p1", JANUARY)
            for n in range(55)
        ]
    )  # fmt: skip
    client = site.sign_in("mary")
    first = client.get("/my-record/access")
    assert table_rows(first.text) == 50
    assert "Reader 54" in first.text and "Reader 05" in first.text
    assert "Reader 04" not in first.text
    older = re.search(r'href="(/my-record/access\?before=\d+)" rel="next"', first.text)
    assert older, "no Older entries link"
    second = client.get(older.group(1))
    assert second.status_code == 200
    assert table_rows(second.text) == 5
    assert "Reader 04" in second.text and "Reader 00" in second.text
    assert "Reader 05" not in second.text
    assert 'rel="next"' not in second.text
    assert 'href="/my-record/access" rel="prev"' in second.text
    assert client.get("/my-record/access?before=banana").status_code == 400


def test_home_links_to_the_pages_each_role_can_use(site: Site) -> None:
    pages = ("/my-record/access", "/governance/review", "/break-glass")
    expected = {
        "mary": {"/my-record/access"},
        "gina": {"/governance/review", "/break-glass"},
        "lee.lw": set(),
    }
    for username, links in expected.items():
        home = site.sign_in(username).get("/home").text
        assert {p for p in pages if f'href="{p}"' in home} == links, username


# --- The Caldicott guardian's review ---------------------------------------------------------


def test_the_review_page_lists_grants_of_the_guardians_organisation_only(site: Site) -> None:
    ours = site.grant("ann.gp", "p3")
    site.grant("hal.gp", "p2", "Hilltop emergency that is not for practice one")
    AuditTrail(site.database).record(
        [
            AuditRecord.for_principal(
                site.principal("ann.gp"),
                event="read",
                patient_id="p3",
                entity="Patient/p3",
                break_glass=True,
            )
        ]
    )
    page = site.sign_in("gina").get("/governance/review")
    assert page.status_code == 200
    html = page.text
    assert "Emergency (break-glass) access to review" in html
    assert "Dr Ann Example opened Sid Stranger's record" in html
    assert "Patient/p3" in html
    assert break_glass.REASONS["emergency-treatment"] in html
    assert REASON in html
    assert f'action="/governance/review/{ours}"' in html
    assert "Hilltop emergency" not in html and "Dr Hal Hilltop" not in html
    assert "Riverside Surgery" in html
    # The audit trail's break-glass pattern, with why it is listed.
    assert "Unusual access" in html
    assert "Used break-glass to reach Patient/p3" in html


def test_a_review_without_the_forms_token_changes_nothing(site: Site) -> None:
    pk = site.grant("ann.gp", "p3")
    client = site.sign_in("gina")
    for token in (None, "not-the-token"):
        data = {"outcome": "appropriate", "note": "fine"}
        if token is not None:
            data["csrf_token"] = token
        response = client.post(f"/governance/review/{pk}", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "did not come from careweave" in response.text
    row = site.grant_row(pk)
    assert row.reviewed_by is None and row.review_outcome is None
    assert site.audit_rows("break-glass-review") == []


def test_a_review_is_saved_audited_and_confirmed(site: Site) -> None:
    pk = site.grant("ann.gp", "p3")
    client = site.sign_in("gina")
    csrf = hidden(client.get("/governance/review").text, "csrf_token")
    response = client.post(
        f"/governance/review/{pk}",
        data={"csrf_token": csrf, "outcome": "appropriate", "note": "Checked with the ward"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/governance/review?reviewed={pk}"
    row = site.grant_row(pk)
    gina = get_user(site.database, "gina")
    assert gina is not None
    assert row.reviewed_by == gina.pk
    assert row.review_outcome == "appropriate"
    assert row.review_note == "Checked with the ward"
    assert row.reviewed_at is not None
    [audit] = site.audit_rows("break-glass-review")
    assert (audit.username, audit.action, audit.outcome) == ("gina", "U", "0")
    assert audit.patient_id == "p3"
    assert audit.entity == f"break-glass/{pk}"
    assert audit.organisation_id == "practice-1"
    assert verify_chain(site.database).ok
    page = client.get(response.headers["location"])
    assert "nhsuk-notification-banner--success" in page.text
    assert "Review saved: Dr Ann Example's emergency access to" in html.unescape(page.text)
    assert f'action="/governance/review/{pk}"' not in page.text  # no form: reviewed
    assert "Emergency access already reviewed" in page.text
    assert "Checked with the ward" in page.text


def test_a_guardian_cannot_review_their_own_break_glass(site: Site) -> None:
    own = site.grant("gina", "p3")
    other = site.grant("ann.gp", "p3")
    client = site.sign_in("gina")
    page = client.get("/governance/review").text
    assert f'action="/governance/review/{own}"' not in page
    assert "This is your own emergency access" in page
    csrf = hidden(page, "csrf_token")
    response = client.post(
        f"/governance/review/{own}",
        data={"csrf_token": csrf, "outcome": "appropriate", "note": "all fine"},
    )
    assert response.status_code == 403
    assert "Nobody reviews their own break-glass use" in error_summary(response.text)
    assert site.grant_row(own).review_outcome is None
    [refused] = site.audit_rows("break-glass-review")
    assert refused.outcome == "4" and refused.patient_id == "p3"
    # Leaving out the outcome names the field and keeps the note that was typed.
    missing = client.post(
        f"/governance/review/{other}",
        data={"csrf_token": csrf, "note": "Spoke to <Dr Ann>"},
    )
    assert missing.status_code == 400
    summary = error_summary(missing.text)
    assert (
        f'<a href="#outcome-{other}">Select whether this emergency access was appropriate</a>'
        in summary
    )
    assert "Spoke to &lt;Dr Ann&gt;</textarea>" in missing.text
    assert site.grant_row(other).review_outcome is None


def test_only_a_caldicott_guardian_may_review(site: Site) -> None:
    pk = site.grant("hal.gp", "p2")
    client = site.sign_in("ann.gp")
    page = client.get("/governance/review")
    assert page.status_code == 403
    assert "Only a Caldicott guardian can use this page" in page.text
    csrf = hidden(page.text, "csrf_token")  # the sign-out form's: a valid token
    response = client.post(
        f"/governance/review/{pk}", data={"csrf_token": csrf, "outcome": "inappropriate"}
    )
    assert response.status_code == 403
    assert site.grant_row(pk).review_outcome is None
    assert site.audit_rows("break-glass-review") == []


def test_a_guardian_cannot_review_another_organisations_grant(site: Site) -> None:
    pk = site.grant("hal.gp", "p2")
    client = site.sign_in("gina")
    csrf = hidden(client.get("/governance/review").text, "csrf_token")
    response = client.post(
        f"/governance/review/{pk}", data={"csrf_token": csrf, "outcome": "inappropriate"}
    )
    assert response.status_code == 404
    assert f"No break-glass use {pk} at your organisation" in error_summary(response.text)
    assert site.grant_row(pk).review_outcome is None
    [refused] = site.audit_rows("break-glass-review")
    assert refused.outcome == "4" and refused.patient_id is None


def test_stored_text_is_shown_escaped_on_the_review_page(site: Site) -> None:
    site.grant("ann.gp", "p3", "<script>alert('x')</script> collapsed at clinic")
    page = site.sign_in("gina").get("/governance/review")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; collapsed at clinic" in page.text
