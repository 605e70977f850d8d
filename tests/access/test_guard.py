"""The guard keeps a token inside its scopes on every route, not only the one it names."""

from __future__ import annotations

from typing import Any

import pytest

from careweave.access.guard import CareRecordAccess
from careweave.access.principal import Principal
from careweave.access.roles import Role
from careweave.access.scopes import Scopes
from careweave.fhir.errors import Forbidden
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
