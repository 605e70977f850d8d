"""A small place for the care coordination tests, on SQLite and PostgreSQL: the organisations
around an older person (two practices, the council, the community trust, the acute trust and a
voluntary organisation), their staff as Practitioner + PractitionerRole with contact details
and user accounts, a few people, and the example sharing agreement that lets them work together.

Tests sign in through the real sign-in form (`Place.sign_in`) or act through the guard as a
user (`Place.access`); everything is written with the real store functions beforehand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from careweave.access.accounts import get_user, principal_for_user
from careweave.access.audit import AuditTrail
from careweave.access.guard import CareRecordAccess
from careweave.access.sharing import DEFAULT_TERMS, save_agreement
from careweave.api.app import create_app
from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM
from careweave.settings import Settings
from careweave.store.repository import FhirStore
from careweave.web.settings import WebSettings, find_frontend_dir
from tests.web.test_governance_pages import make_user, signed_in_client

ORGANISATIONS = {
    "riverside": ("Riverside Surgery", "X99001", "prov"),
    "hilltop": ("Hilltop Practice", "X99002", "prov"),
    "council": ("Northshire Council Adult Social Care", "X99003", "govt"),
    "community": ("Northshire Community Health NHS Trust", "X99004", "prov"),
    "acute": ("Northshire General Hospital NHS Trust", "X99005", "prov"),
    "voluntary": ("Age Friendly Northshire", "X99006", "cg"),
}

# username: (display name, role, organisation, practitioner id, practitioner role id, phone)
STAFF = {
    "cara.coord": ("Cara Coordinator", "care-coordinator", "riverside", "pr-cara", "prr-cara"),
    "ann.gp": ("Dr Ann Example", "gp", "riverside", "pr-ann", "prr-ann"),
    "nina.nurse": ("Nina Nurse", "nurse", "community", "pr-nina", "prr-nina"),
    "sam.sw": ("Sam Social", "social-worker", "council", "pr-sam", "prr-sam"),
    "dan.dc": ("Dan Discharge", "discharge-coordinator", "acute", "pr-dan", "prr-dan"),
    "lee.lw": ("Lee Link", "link-worker", "riverside", "pr-lee", "prr-lee"),
    "val.vol": ("Val Volunteer", "volunteer", "voluntary", "pr-val", "prr-val"),
    "hal.gp": ("Dr Hal Hilltop", "gp", "hilltop", "pr-hal", "prr-hal"),
}

# id: (NHS number, given, family, birth date, practice)
PEOPLE = {
    "mary": ("9990000018", "Mary", "Example", "1941-03-02", "riverside"),
    "joe": ("9990000026", "Joe", "Other", "1938-11-20", "riverside"),
    "sid": ("9990000034", "Sid", "Stranger", "1944-06-15", "hilltop"),
}


def organisation(org_id: str) -> dict[str, Any]:
    name, ods, kind = ORGANISATIONS[org_id]
    return {
        "resourceType": "Organization",
        "id": org_id,
        "identifier": [{"system": ODS_ORGANIZATION_SYSTEM, "value": ods}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": kind,
                    }
                ]
            }
        ],
        "name": name,
        "telecom": [{"system": "phone", "value": f"01632 96{len(org_id):04d}", "use": "work"}],
    }


def person(person_id: str) -> dict[str, Any]:
    nhs_number, given, family, born, practice = PEOPLE[person_id]
    return {
        "resourceType": "Patient",
        "id": person_id,
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
        "name": [{"use": "official", "given": [given], "family": family}],
        "gender": "female" if given == "Mary" else "male",
        "birthDate": born,
        "generalPractitioner": [{"reference": f"Organization/{practice}"}],
    }


@dataclass
class Place:
    """The place, its app, and ways to act in it as one of its people."""

    store: FhirStore
    app: FastAPI
    stack: ExitStack

    def sign_in(self, username: str) -> TestClient:
        """A browser signed in as `username` through the sign-in form."""
        return signed_in_client(self.app, self.stack, username)

    def access(self, username: str) -> CareRecordAccess:
        """`username`'s door to the record, audited like a request of theirs."""
        user = get_user(self.store.database, username)
        assert user is not None
        return CareRecordAccess(
            self.store, principal_for_user(user), AuditTrail(self.store.database)
        )

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Write a resource directly (as set-up, not as any user)."""
        return self.store.update(
            resource["resourceType"], resource["id"], resource
        ).stored.as_dict()


def csrf_of(html: str) -> str:
    """The session's CSRF token from any signed-in page (every page has the sign-out form)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no csrf_token on the page"
    return match.group(1)


def build_place(store: FhirStore, database_url: str, stack: ExitStack) -> Place:
    for org_id in ORGANISATIONS:
        store.update("Organization", org_id, organisation(org_id))
    for username, (display, role, org_id, practitioner, practitioner_role) in STAFF.items():
        given, _, family = display.removeprefix("Dr ").partition(" ")
        store.update(
            "Practitioner",
            practitioner,
            {
                "resourceType": "Practitioner",
                "id": practitioner,
                "name": [{"given": [given], "family": family}],
            },
        )
        store.update(
            "PractitionerRole",
            practitioner_role,
            {
                "resourceType": "PractitionerRole",
                "id": practitioner_role,
                "active": True,
                "practitioner": {"reference": f"Practitioner/{practitioner}"},
                "organization": {"reference": f"Organization/{org_id}"},
                "code": [{"text": role}],
                "telecom": [
                    {"system": "phone", "value": "01632 960" + str(100 + len(username))},
                    {"system": "email", "value": f"{username}@example.org"},
                ],
            },
        )
        make_user(
            store.database,
            username,
            display,
            role,
            organisation_id=org_id,
            practitioner_id=practitioner,
            practitioner_role_id=practitioner_role,
        )
    for person_id in PEOPLE:
        store.update("Patient", person_id, person(person_id))
    store.update(
        "RelatedPerson",
        "carl",
        {
            "resourceType": "RelatedPerson",
            "id": "carl",
            "patient": {"reference": "Patient/mary"},
            "relationship": [{"text": "Son"}],
            "name": [{"given": ["Carl"], "family": "Example"}],
            "telecom": [{"system": "phone", "value": "07700 900123"}],
        },
    )
    make_user(store.database, "mary", "Mary Example", "patient", patient_id="mary")
    make_user(
        store.database,
        "carl",
        "Carl Example",
        "carer",
        patient_id="mary",
        related_person_id="carl",
    )
    save_agreement(store.database, "Northshire shared care record", DEFAULT_TERMS)
    web = WebSettings(frontend_dir=find_frontend_dir(), secret_key=b"test key " * 4)
    app = create_app(Settings(database_url=database_url), store, web=web)
    return Place(store, app, stack)


@pytest.fixture
def place(store: FhirStore, database_url: str) -> Iterator[Place]:
    with ExitStack() as stack:
        yield build_place(store, database_url, stack)
