"""The guard keeps a token inside its scopes on every route, not only the one it names."""

from __future__ import annotations

from typing import Any

import pytest

from careweave.access.audit import AuditTrail, who_accessed
from careweave.access.guard import CareRecordAccess
from careweave.access.principal import Principal
from careweave.access.roles import Role
from careweave.access.scopes import Scopes
from careweave.access.sharing import DEFAULT_TERMS, save_agreement
from careweave.fhir.errors import Forbidden, NotFound
from careweave.fhir.search_query import parse_search
from careweave.store.repository import FhirStore


def put(store: FhirStore, body: dict[str, Any]) -> None:
    store.update(body["resourceType"], body["id"], body)


@pytest.fixture
def access(store: FhirStore) -> CareRecordAccess:
    put(store, {"resourceType": "Patient", "id": "p1"})
    put(
        store,
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"text": "Weight"},
            "subject": {"reference": "Patient/p1"},
        },
    )
    principal = Principal(
        username="client:narrow",
        display_name="narrow",
        role=Role.SYSTEM,
        scopes=Scopes.parse("system/Observation.rs"),
    )
    return CareRecordAccess(store, principal, audit=None)


def test_a_narrow_token_sees_only_its_types_on_every_route(
    access: CareRecordAccess, store: FhirStore
) -> None:
    with pytest.raises(Forbidden):
        access.read("Patient", "p1")
    history = access.history(None, None, "_history", count=50)
    assert {v.resource_type for v in history.versions} == {"Observation"}
    query = parse_search("Observation", [("_include", "Observation:subject")], store.registry)
    page = access.search(query, "Observation?_include=Observation:subject")
    assert [rid for _, rid, _ in page.matches] == ["o1"]
    assert page.included == []
    written: list[str] = []
    with pytest.raises(Forbidden):
        access.export(["Patient"], lambda _t, content: written.append(content))
    assert access.export(["Observation"], lambda _t, content: written.append(content)) == {
        "Observation": 1
    }
    assert len(written) == 1


def test_a_refused_read_shows_in_the_persons_record_of_who_tried(store: FhirStore) -> None:
    save_agreement(store.database, "test", DEFAULT_TERMS)
    put(store, {"resourceType": "Organization", "id": "prac"})
    put(store, {"resourceType": "Patient", "id": "elsewhere"})
    gp = Principal(
        username="gp.one",
        display_name="Dr One",
        role=Role.GP,
        scopes=Scopes.everything(),
        user_pk=1,
        organisation_id="prac",
    )
    access = CareRecordAccess(store, gp, AuditTrail(store.database))
    with pytest.raises(NotFound):
        access.read("Patient", "elsewhere")
    with pytest.raises(NotFound):
        access.read("Patient", "nobody")
    entries = who_accessed(store.database, "elsewhere")
    assert [(e.username, e.outcome) for e in entries] == [("gp.one", "4")]
