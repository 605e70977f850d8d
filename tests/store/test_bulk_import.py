"""The bulk NDJSON import on SQLite and PostgreSQL: order, batches, resuming, bad lines, workers.

Each test writes a small place of its own (several files referring to each other across files)
and imports it with small batches, so batch boundaries fall inside and across files.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM, is_valid_nhs_number
from careweave.fhir.search_query import SearchQuery, parse_search
from careweave.store.bulk_import import (
    IMPORT_ORDER,
    ImportFailed,
    ImportPlan,
    ImportReport,
    import_ndjson,
    plan_import,
)
from careweave.store.database import open_database
from careweave.store.repository import FhirStore
from careweave.store.schema import metadata
from careweave.store.tables import INDEX_TABLES, resource, resource_version

Resource = dict[str, Any]
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


def synthetic_nhs_numbers() -> Iterator[str]:
    """Valid NHS numbers from the synthetic range 999 000 0000 - 999 999 9999."""
    for stem in itertools.count(999_000_001):
        for digit in "0123456789":
            if is_valid_nhs_number(f"{stem}{digit}"):
                yield f"{stem}{digit}"


def make_place(people: int = 6) -> dict[str, list[Resource]]:
    """A small place, by file: practices, GPs, people, their conditions and observations."""
    nhs = synthetic_nhs_numbers()
    organizations = [
        {"resourceType": "Organization", "id": f"org-{n}", "name": f"Practice {n}", "active": True}
        for n in range(3)
    ]
    practitioners = [
        {
            "resourceType": "Practitioner",
            "id": f"gp-{n}",
            "name": [{"family": f"Doctor{n}", "given": ["Sam"], "prefix": ["Dr"]}],
        }
        for n in range(5)
    ]
    patients = [
        {
            "resourceType": "Patient",
            "id": f"pat-{n}",
            "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": next(nhs)}],
            "name": [{"family": f"Family{n}", "given": ["Alex"]}],
            "gender": "female" if n % 2 else "male",
            "birthDate": f"19{30 + n}-03-0{1 + n % 9}",
            "managingOrganization": {"reference": f"Organization/org-{n % 3}"},
            "generalPractitioner": [{"reference": f"Practitioner/gp-{n % 5}"}],
        }
        for n in range(people)
    ]
    conditions = [
        {
            "resourceType": "Condition",
            "id": f"cond-{n}",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"coding": [{"system": SNOMED, "code": "38341003", "display": "Hypertension"}]},
            "subject": {"reference": f"Patient/pat-{n}"},
            "recorder": {"reference": f"Practitioner/gp-{n % 5}"},
        }
        for n in range(people)
    ]
    observations = [
        {
            "resourceType": "Observation",
            "id": f"obs-{n}-{k}",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}], "text": "Systolic"},
            "subject": {"reference": f"Patient/pat-{n}"},
            "performer": [{"reference": f"Practitioner/gp-{n % 5}"}],
            "effectiveDateTime": f"2024-0{1 + k}-15T09:30:00Z",
            "valueQuantity": {
                "value": 120 + n + k,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }
        for n in range(people)
        for k in range(2)
    ]
    return {
        "Organization": organizations,
        "Practitioner": practitioners,
        "Patient": patients,
        "Condition": conditions,
        "Observation": observations,
    }


def write_place(folder: Path, place: dict[str, list[Resource]]) -> None:
    """One <Type>.ndjson per type (written in reverse, to show the import orders them itself),
    and a file that is not NDJSON."""
    folder.mkdir(parents=True, exist_ok=True)
    for rtype, resources in reversed(place.items()):
        lines = b"".join(orjson.dumps(r) + b"\n" for r in resources)
        (folder / f"{rtype}.ndjson").write_bytes(lines)
    (folder / "README.txt").write_text("not data")


def all_resources(place: dict[str, list[Resource]]) -> list[Resource]:
    return [r for resources in place.values() for r in resources]


def version_count(store: FhirStore) -> int:
    with store.database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(resource_version)).scalar_one())


def import_folder(store: FhirStore, folder: Path, **options: Any) -> ImportReport:
    return import_ndjson(store, plan_import(folder), **{"batch_size": 4, **options})


def found(store: FhirStore, query: SearchQuery) -> list[str]:
    return sorted(rid for _, rid, _ in store.search(query).matches)


def stored_ids(store: FhirStore, resource_type: str) -> set[str]:
    with store.database.read() as conn:
        rows = conn.execute(select(resource.c.id).where(resource.c.resource_type == resource_type))
        return {row[0] for row in rows}


# -- planning ---------------------------------------------------------------------------------


def test_files_load_in_reference_order_and_other_files_are_left_out(tmp_path: Path) -> None:
    write_place(tmp_path, make_place())
    (tmp_path / "Appointment.ndjson").write_text("")
    (tmp_path / "extra.ndjson").write_text("")
    (tmp_path / "nested").mkdir()
    plan = plan_import(tmp_path)
    assert [f.path.name for f in plan.files] == [
        "Organization.ndjson",
        "Practitioner.ndjson",
        "Patient.ndjson",
        "Condition.ndjson",
        "Observation.ndjson",
        "Appointment.ndjson",  # a type not in IMPORT_ORDER comes after those that are
        "extra.ndjson",  # a name that is no type comes last, and may hold any type
    ]
    assert [f.resource_type for f in plan.files][-2:] == ["Appointment", None]
    assert {p.name for p in plan.ignored} == {"README.txt", "nested"}
    assert plan.total_bytes == sum(f.path.stat().st_size for f in plan.files)
    single = plan_import(tmp_path / "Patient.ndjson")
    assert [f.path.name for f in single.files] == ["Patient.ndjson"] and not single.ignored
    assert IMPORT_ORDER.index("Goal") < IMPORT_ORDER.index("CarePlan")


@pytest.mark.parametrize("name", ["missing", "README.txt", "empty-folder"])
def test_nothing_to_import_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "README.txt").write_text("x")
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(ImportFailed, match=name):
        plan_import(tmp_path / name)


# -- importing --------------------------------------------------------------------------------


def test_a_place_is_imported_with_every_reference_resolved(
    store: FhirStore, tmp_path: Path
) -> None:
    place = make_place()
    write_place(tmp_path, place)
    seen: list[ImportReport] = []
    report = import_folder(store, tmp_path, on_progress=seen.append)
    total = len(all_resources(place))
    assert (report.created, report.updated, report.unchanged) == (total, 0, 0)
    assert report.batches == -(-total // 4)
    assert report.path is not None and report.path.name == "Observation.ndjson"
    assert report.line == len(place["Observation"])
    assert report.bytes_done == plan_import(tmp_path).total_bytes
    assert [r.bytes_done for r in seen] == sorted(r.bytes_done for r in seen)
    assert seen[-1] == report
    assert version_count(store) == total
    for rtype, resources in place.items():
        assert stored_ids(store, rtype) == {r["id"] for r in resources}
    stored = store.read("Patient", "pat-1").as_dict()
    assert stored["meta"]["versionId"] == "1"
    assert {k: v for k, v in stored.items() if k != "meta"} == place["Patient"][1]
    # The search indexes were written too: a search across the imported references works.
    query = parse_search(
        "Observation",
        [("subject", "Patient/pat-2"), ("code", f"{LOINC}|8480-6")],
        store.registry,
    )
    assert found(store, query) == ["obs-2-0", "obs-2-1"]


def test_importing_again_adds_nothing_and_a_changed_line_is_a_new_version(
    store: FhirStore, tmp_path: Path
) -> None:
    place = make_place()
    write_place(tmp_path, place)
    import_folder(store, tmp_path)
    versions = version_count(store)
    again = import_folder(store, tmp_path, batch_size=5)
    assert (again.created, again.updated, again.unchanged) == (0, 0, versions)
    assert version_count(store) == versions
    assert store.read("Patient", "pat-3").version_id == 1

    place["Patient"][3]["gender"] = "other"
    write_place(tmp_path, place)
    changed = import_folder(store, tmp_path)
    assert (changed.created, changed.updated) == (0, 1)
    assert version_count(store) == versions + 1
    current = store.read("Patient", "pat-3")
    assert current.version_id == 2 and current.as_dict()["gender"] == "other"
    assert store.vread("Patient", "pat-3", 1).as_dict()["gender"] == "female"
    query = parse_search("Patient", [("gender", "other")], store.registry)
    assert found(store, query) == ["pat-3"]


def test_a_bad_line_stops_the_import_and_fixing_it_resumes_without_duplicates(
    store: FhirStore, tmp_path: Path
) -> None:
    place = make_place()
    write_place(tmp_path, place)
    lines = (tmp_path / "Practitioner.ndjson").read_bytes().splitlines(keepends=True)
    # Loaded second: Organizations are lines 1-3 of the import, Practitioners 4-8. With a
    # blank line first, the third Practitioner is on line 4 of its file, in the second batch.
    broken = [b"\n", *lines[:2], b'{"resourceType": "Practitioner", "id": \n', *lines[3:]]
    (tmp_path / "Practitioner.ndjson").write_bytes(b"".join(broken))
    with pytest.raises(ImportFailed) as failure:
        import_folder(store, tmp_path)
    error = failure.value
    assert error.path == tmp_path / "Practitioner.ndjson" and error.line == 4
    assert "not valid JSON" in error.reason
    assert str(error).startswith(f"{tmp_path / 'Practitioner.ndjson'}:4: not valid JSON")
    assert (error.report.created, error.report.batches, error.unwritten) == (4, 1, 1)
    # The first batch (three Organizations, one Practitioner) is there; nothing of the second.
    assert stored_ids(store, "Organization") == {"org-0", "org-1", "org-2"}
    assert stored_ids(store, "Practitioner") == {"gp-0"}
    assert version_count(store) == 4

    (tmp_path / "Practitioner.ndjson").write_bytes(b"".join([b"\n", *lines]))
    resumed = import_folder(store, tmp_path)
    total = len(all_resources(place))
    assert (resumed.created, resumed.unchanged) == (total - 4, 4)
    assert version_count(store) == total
    assert stored_ids(store, "Practitioner") == {f"gp-{n}" for n in range(5)}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b'{"resourceType": "Patient", "gender": "male"}', "has no id"),
        (b'{"resourceType": "Patient", "id": "x", "gender": "sometimes"}', "Patient.gender"),
        (b'{"resourceType": "Patient", "id": "bad id"}', "Patient.id"),
        (b'{"resourceType": "Patient", "id": "x", "name": [{"family": "a\\u0000b"}]}', "NUL"),
        (b'{"resourceType": "Organization", "id": "o9", "name": "Elsewhere"}', "named for"),
    ],
)
def test_each_kind_of_bad_line_is_named_with_its_file_and_line(
    store: FhirStore, tmp_path: Path, line: bytes, message: str
) -> None:
    place = make_place()
    write_place(tmp_path, place)
    lines = (tmp_path / "Patient.ndjson").read_bytes().splitlines(keepends=True)
    (tmp_path / "Patient.ndjson").write_bytes(b"".join([*lines[:4], line + b"\n", *lines[4:]]))
    with pytest.raises(ImportFailed) as failure:
        import_folder(store, tmp_path, batch_size=100)
    assert (failure.value.path, failure.value.line) == (tmp_path / "Patient.ndjson", 5)
    assert message in failure.value.reason
    assert failure.value.report.resources == 0
    assert version_count(store) == 0  # the one batch held the bad line: nothing was kept


def test_a_dangling_reference_names_the_line_that_refers(store: FhirStore, tmp_path: Path) -> None:
    place = make_place()
    place["Condition"][2]["subject"] = {"reference": "Patient/nobody"}
    place["Observation"][0]["focus"] = [{"reference": "Condition/cond-2"}]
    write_place(tmp_path, place)
    with pytest.raises(ImportFailed) as failure:
        import_folder(store, tmp_path, batch_size=5)
    error = failure.value
    assert (error.path, error.line) == (tmp_path / "Condition.ndjson", 3)
    assert error.reason == (
        "Condition/cond-2 refers to Patient/nobody, which is neither in the store nor anywhere "
        "in the import"
    )
    # Everything else is imported: all but the Condition and the Observation that refers to it.
    total = len(all_resources(place))
    assert (error.report.created, error.unwritten) == (total - 2, 2)
    assert version_count(store) == total - 2
    assert stored_ids(store, "Condition") == {f"cond-{n}" for n in range(6)} - {"cond-2"}
    assert "obs-0-0" not in stored_ids(store, "Observation")

    place["Condition"][2]["subject"] = {"reference": "Patient/pat-2"}
    write_place(tmp_path, place)
    resumed = import_folder(store, tmp_path, batch_size=5)
    assert (resumed.created, resumed.unchanged) == (2, total - 2)


def linked_patient(pid: str, *others: str) -> Resource:
    links = [{"other": {"reference": f"Patient/{o}"}, "type": "seealso"} for o in others]
    return {"resourceType": "Patient", "id": pid, **({"link": links} if links else {})}


def test_a_resource_referring_forwards_waits_for_what_it_refers_to(
    store: FhirStore, tmp_path: Path
) -> None:
    path = tmp_path / "Patient.ndjson"
    people = [linked_patient("a", "b"), linked_patient("b", "c"), linked_patient("c")]
    path.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in people))
    seen: list[ImportReport] = []
    report = import_ndjson(store, plan_import(path), batch_size=2, on_progress=seen.append)
    # The first batch (a -> b -> c) waits for c; the second writes all three.
    assert (report.created, report.batches) == (3, 1)
    assert seen[0].created == 0
    assert stored_ids(store, "Patient") == {"a", "b", "c"}


def test_resources_referring_to_each_other_across_files_are_written_together(
    store: FhirStore, tmp_path: Path
) -> None:
    patient = {"resourceType": "Patient", "id": "p1"}
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/p1"},
        "diagnosis": [{"condition": {"reference": "Condition/c1"}}],
    }
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "code": {"text": "Fractured neck of femur"},
    }
    for body in (patient, encounter, condition):
        (tmp_path / f"{body['resourceType']}.ndjson").write_bytes(orjson.dumps(body) + b"\n")
    report = import_ndjson(store, plan_import(tmp_path), batch_size=1)
    assert report.created == 3
    assert store.read("Encounter", "e1").version_id == 1
    assert store.read("Condition", "c1").version_id == 1


def test_too_many_waiting_resources_stop_the_import(store: FhirStore, tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    people = [*(linked_patient(f"p{n}", "last") for n in range(4)), linked_patient("last")]
    path.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in people))
    with pytest.raises(ImportFailed) as failure:
        import_ndjson(store, plan_import(path), batch_size=1, max_waiting=2)
    assert (failure.value.path, failure.value.line) == (path, 1)
    assert "Patient/p0 refers to Patient/last" in failure.value.reason
    assert "more than 2 resources are waiting" in failure.value.reason
    assert failure.value.unwritten == 3
    assert import_ndjson(store, plan_import(path), batch_size=1).created == 5


def test_a_resource_twice_in_one_batch_is_stored_in_order(store: FhirStore, tmp_path: Path) -> None:
    first = {"resourceType": "Organization", "id": "o1", "name": "Old name"}
    second = {**first, "name": "New name"}
    path = tmp_path / "Organization.ndjson"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in (first, first, second)))
    report = import_ndjson(store, plan_import(path), batch_size=10)
    assert (report.created, report.unchanged, report.updated) == (1, 1, 1)
    assert store.read("Organization", "o1").version_id == 2
    assert store.read("Organization", "o1").as_dict()["name"] == "New name"
    query = parse_search("Organization", [("name", "old")], store.registry)
    assert found(store, query) == []  # the first version's index rows are gone


def test_a_deleted_resource_comes_back_as_a_new_version(store: FhirStore, tmp_path: Path) -> None:
    body = {"resourceType": "Organization", "id": "o1", "name": "Riverside"}
    store.update("Organization", "o1", body)
    store.delete("Organization", "o1")
    path = tmp_path / "Organization.ndjson"
    path.write_bytes(orjson.dumps(body) + b"\n")
    report = import_ndjson(store, plan_import(path))
    assert report.created == 1
    assert store.read("Organization", "o1").version_id == 3


# -- the same rows as a single write ----------------------------------------------------------


@pytest.fixture
def second_store(database_url: str, tmp_path: Path) -> Iterator[FhirStore]:
    """Another empty store on the same kind of database as `store`."""
    url = make_url(database_url)
    schema = None
    if url.get_backend_name() == "sqlite":
        other = f"sqlite:///{tmp_path / 'second.sqlite3'}"
    else:
        schema = f"{url.query['options']}_2".rpartition("=")[2]  # the fixture's schema + _2
        admin = create_engine(url.difference_update_query(["options"]))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        other = url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    database = open_database(other)
    metadata.create_all(database.writer)
    try:
        yield FhirStore(database)
    finally:
        database.dispose()
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def stored_rows(store: FhirStore) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every table's rows, with primary keys replaced by type/id and `meta.lastUpdated` (the
    time of writing) left out, so two stores written at different times can be compared."""
    rows: dict[str, Counter[tuple[Any, ...]]] = {}
    with store.database.read() as conn:
        names = {
            pk: (rtype, rid)
            for pk, rtype, rid in conn.execute(
                select(resource.c.pk, resource.c.resource_type, resource.c.id)
            )
        }

        def timeless(content: str | None) -> Any:
            if content is None:
                return None
            body = orjson.loads(content)
            del body["meta"]["lastUpdated"]
            return orjson.dumps(body).decode()  # key order kept: it is part of what is stored

        rows["resource"] = Counter(
            (r.resource_type, r.id, r.version_id, r.deleted, timeless(r.content))
            for r in conn.execute(select(resource))
        )
        rows["resource_version"] = Counter(
            (names[v.resource_pk], v.version_id, v.resource_type, v.method, timeless(v.content))
            for v in conn.execute(select(resource_version))
        )
        for table in INDEX_TABLES:
            rows[table.name] = Counter(
                (names[row[0]], *row[1:]) for row in conn.execute(select(table))
            )
    return rows


@pytest.mark.parametrize("workers", [1, 2])
def test_bulk_import_stores_exactly_what_single_writes_store(
    store: FhirStore, second_store: FhirStore, tmp_path: Path, workers: int
) -> None:
    place = make_place(people=12)
    place["Patient"][0]["meta"] = {"tag": [{"system": "urn:example", "code": "imported"}]}
    # Exported data may carry another server's meta; text may hold what COPY must escape.
    place["Patient"][1]["meta"] = {"versionId": "7", "lastUpdated": "2020-01-01T00:00:00Z"}
    place["Patient"][1]["name"][0]["family"] = 'O\'Brien\t\\ "Nell"\nRenée'
    write_place(tmp_path, place)
    report = import_folder(store, tmp_path, workers=workers, batch_size=7)
    with second_store.transaction() as tx:
        for body in all_resources(place):
            tx.update(body["resourceType"], body["id"], body)
    bulk, single = stored_rows(store), stored_rows(second_store)
    assert report.created == len(all_resources(place)) == len(bulk["resource"])
    assert sum(bulk["search_token"].values()) > len(place["Observation"])
    assert sum(bulk["search_reference"].values()) > len(place["Observation"])
    assert bulk == single


def test_statistics_are_gathered_after_a_large_import_on_postgresql(
    store: FhirStore, tmp_path: Path
) -> None:
    if store.database.dialect != "postgresql":
        pytest.skip("SQLite: careweave gathers no statistics")
    write_place(tmp_path, make_place())

    def analysed() -> bool:
        with store.database.read() as conn:
            when = conn.execute(
                text(
                    "SELECT last_analyze FROM pg_stat_user_tables "
                    "WHERE relname = 'resource' AND schemaname = current_schema()"
                )
            ).scalar_one_or_none()
        return when is not None

    import_folder(store, tmp_path, analyze_after=10_000)
    assert not analysed()
    import_folder(store, tmp_path, analyze_after=0)
    assert analysed()


def test_empty_lines_are_skipped_and_an_empty_plan_imports_nothing(
    store: FhirStore, tmp_path: Path
) -> None:
    path = tmp_path / "Organization.ndjson"
    body = {"resourceType": "Organization", "id": "o1", "name": "Riverside"}
    path.write_bytes(b"\n  \n" + orjson.dumps(body) + b"\n\n")
    assert import_ndjson(store, plan_import(path)).created == 1
    assert import_ndjson(store, ImportPlan(files=())).resources == 0
