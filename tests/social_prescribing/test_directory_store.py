"""The directory as FHIR in the store (SQLite and PostgreSQL): what it writes, that it reads
back the same, and that the in-memory index follows every change."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time

import pytest

from careweave.fhir.search_query import parse_search
from careweave.fhir.validation import validate_resource
from careweave.social_prescribing.directory import (
    organisation_resource,
    resources_for,
    service_from,
    service_resource,
    venue_resource,
)
from careweave.social_prescribing.directory_codes import (
    ACCESSIBILITY_SYSTEM,
    LAST_CHECKED_EXTENSION,
    NEED_SYSTEM,
    SERVICE_CATEGORY,
)
from careweave.social_prescribing.directory_index import DirectoryIndex, load_directory
from careweave.social_prescribing.directory_records import (
    close_service,
    record_checked,
    save_entries,
    update_service,
)
from careweave.social_prescribing.directory_search import (
    ServiceSearch,
    WeeklyTime,
    search_directory,
)
from careweave.social_prescribing.problems import ChangedSinceRead, ServiceNotFound
from careweave.store.repository import FhirStore
from tests.social_prescribing.conftest import (
    ORGANISATIONS,
    ORIGIN_POSTCODE,
    POSTCODES,
    SERVICES,
    VENUES,
    north,
)


def saved(store: FhirStore) -> None:
    with store.transaction() as tx:
        save_entries(tx, ORGANISATIONS, VENUES, SERVICES)


def test_every_resource_validates_and_says_what_a_link_worker_needs() -> None:
    for resource in resources_for(ORGANISATIONS, VENUES, SERVICES):
        validate_resource(resource)
    lunch = service_resource(SERVICES[0], "Brook Good Neighbours")
    assert lunch["providedBy"] == {
        "reference": "Organization/zzc0001",
        "display": "Brook Good Neighbours",
    }
    assert [c["coding"][0]["code"] for c in lunch["type"]] == ["befriending", "lunch-club"]
    assert {c["coding"][0]["system"] for c in lunch["type"]} == {NEED_SYSTEM}
    assert [c["coding"][0] for c in lunch["category"]] == [
        {"system": SERVICE_CATEGORY, "code": "32", "display": "Support Group/s"},
        {"system": SERVICE_CATEGORY, "code": "2", "display": "Aged Care"},
    ]
    assert {c["coding"][0]["system"] for c in lunch["characteristic"]} == {ACCESSIBILITY_SYSTEM}
    assert lunch["availableTime"] == [
        {"daysOfWeek": ["tue"], "availableStartTime": "11:30:00", "availableEndTime": "14:00:00"}
    ]
    assert lunch["eligibility"] == [{"comment": "Aged 65 and over"}]
    assert {"url": LAST_CHECKED_EXTENSION, "valueDateTime": "2025-06-01"} in lunch["extension"]
    closed = service_resource(SERVICES[-1])
    assert closed["active"] is False
    assert closed["notAvailable"] == [{"description": "Closed", "during": {"start": "2025-03-01"}}]
    hall = venue_resource(VENUES[0])
    assert hall["address"]["postalCode"] == "QX1 2AB"
    assert set(hall["position"]) == {"latitude", "longitude"}
    assert organisation_resource(ORGANISATIONS[0])["identifier"][0] == {
        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
        "value": "ZZC0001",
    }


def test_stored_entries_read_back_as_the_same_entries(store: FhirStore) -> None:
    saved(store)
    directory = load_directory(store)
    assert sorted(directory.services.values(), key=lambda s: s.id) == sorted(
        SERVICES, key=lambda s: s.id
    )
    assert set(directory.venues.values()) == set(VENUES)
    assert set(directory.organisations.values()) == set(ORGANISATIONS)
    # The store's own search parameters see the need codes too.
    query = parse_search(
        "HealthcareService", [("service-type", f"{NEED_SYSTEM}|lunch-club")], store.registry
    )
    assert sorted(rid for _, rid, _ in store.search(query).matches) == ["closed", "lunch"]


def test_saving_the_same_entries_again_writes_no_new_version(store: FhirStore) -> None:
    saved(store)
    with store.transaction() as tx:
        report = save_entries(tx, ORGANISATIONS, VENUES, SERVICES)
    assert report.total("created") == report.total("updated") == 0
    assert report.total("unchanged") == len(ORGANISATIONS) + len(VENUES) + len(SERVICES)
    assert store.read("HealthcareService", "lunch").version_id == 1


def test_the_index_follows_changes_without_reading_everything_again(store: FhirStore) -> None:
    saved(store)
    index = DirectoryIndex(store, POSTCODES)
    search = ServiceSearch(needs=frozenset({"lunch-club"}), near_postcode=ORIGIN_POSTCODE)
    assert [m.service.name for m in search_directory(index, search)] == ["Lunch club"]
    with store.transaction() as tx:
        lunch = service_from(tx.read("HealthcareService", "lunch").as_dict())
        update_service(tx, replace(lunch, name="Tuesday lunch club"))
    assert [m.service.name for m in search_directory(index, search)] == ["Tuesday lunch club"]
    with store.transaction() as tx:
        close_service(tx, "lunch", date(2025, 7, 1))
    assert search_directory(index, search) == []
    store.delete("HealthcareService", "walk")
    assert "walk" not in index.current().services
    assert index.full_loads == 1


def test_a_check_is_a_new_version_and_the_old_one_stays(store: FhirStore) -> None:
    saved(store)
    with store.transaction() as tx:
        checked = record_checked(tx, "walk", date(2025, 7, 20), if_match=1)
    assert checked.last_checked == date(2025, 7, 20)
    assert checked.version == 2
    assert store.vread("HealthcareService", "walk", 1).as_dict()["extension"][0] == {
        "url": LAST_CHECKED_EXTENSION,
        "valueDateTime": "2025-01-15",
    }
    # Someone who read version 1 cannot overwrite the check without seeing it.
    changed = "Someone else changed the entry for Walking group"
    with pytest.raises(ChangedSinceRead, match=changed), store.transaction() as tx:
        record_checked(tx, "walk", date(2025, 7, 21), if_match=1)
    missing = "There is no service nowhere in the directory"
    with pytest.raises(ServiceNotFound, match=missing), store.transaction() as tx:
        record_checked(tx, "nowhere", date(2025, 7, 21))


def test_a_closed_service_keeps_its_history(store: FhirStore) -> None:
    saved(store)
    index = DirectoryIndex(store, POSTCODES)
    open_tuesday = ServiceSearch(open_at=WeeklyTime("tue", time(12)))
    assert "lunch" in [m.service.id for m in search_directory(index, open_tuesday)]
    with store.transaction() as tx:
        closed = close_service(tx, "lunch", date(2025, 8, 1))
    assert (closed.active, closed.closed_on, closed.version) == (False, date(2025, 8, 1), 2)
    assert "lunch" not in [m.service.id for m in search_directory(index, open_tuesday)]
    history = store.history(resource_type="HealthcareService", resource_id="lunch").versions
    assert [(v.version_id, v.as_dict()["active"]) for v in history] == [(2, False), (1, True)]


def test_a_service_another_system_wrote_still_reads() -> None:
    written_elsewhere = {
        "resourceType": "HealthcareService",
        "id": "elsewhere",
        "extension": [
            {
                "url": "https://fhir.careweave.example/StructureDefinition/service-cost",
                "extension": [{"url": "kind", "valueCode": "sliding-scale"}],
            }
        ],
        "name": "Community garden",
        "type": [{"coding": [{"system": "http://example.org/types", "code": "garden"}]}],
        "availableTime": [
            {"daysOfWeek": ["sat"], "availableStartTime": "10:00:00"},
            {
                "daysOfWeek": ["sun"],
                "availableStartTime": "10:00:00",
                "availableEndTime": "12:00:00",
            },
        ],
    }
    validate_resource(written_elsewhere)
    service = service_from(written_elsewhere)
    assert (service.name, service.needs, service.cost, service.organisation_id) == (
        "Community garden",
        (),
        None,
        "",
    )
    assert [session.days for session in service.opening_times] == [("sun",)]
    assert service.active and service.last_checked is None


def test_a_venue_that_moves_moves_its_services_in_the_next_search(store: FhirStore) -> None:
    saved(store)
    index = DirectoryIndex(store, POSTCODES)
    walking = ServiceSearch(needs=frozenset({"physical-activity"}), near_postcode=ORIGIN_POSTCODE)
    assert [round(m.distance_km or 0, 6) for m in search_directory(index, walking)] == [3.0]
    park = next(v for v in VENUES if v.id == "park")
    with store.transaction() as tx:
        save_entries(tx, [], [replace(park, position=north(12))], [])
    assert [round(m.distance_km or 0, 6) for m in search_directory(index, walking)] == [12.0]
    assert index.full_loads == 1
