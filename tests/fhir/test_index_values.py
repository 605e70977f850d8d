"""Index rows extracted from resources, following the value rules of FHIR R4 search.html."""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careweave.examples import all_examples, example
from careweave.fhir import index_values
from careweave.fhir.index_values import (
    DateValue,
    IndexValues,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
    extract_index_values,
    references_in,
)
from careweave.fhir.search_parameters import (
    SUPPORTED_RESOURCE_TYPES,
    SearchParameter,
    SearchParameterRegistry,
    default_registry,
    evaluate_parts,
)
from careweave.fhir.search_values import DATE_MAX, DATE_MIN
from careweave.fhir.validation import validate_resource

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


@pytest.fixture(scope="module")
def registry() -> SearchParameterRegistry:
    return default_registry()


def rows(values: IndexValues, param: str) -> list[Any]:
    """Every row of any table for `param`."""
    found: list[Any] = []
    for table in (
        values.tokens,
        values.strings,
        values.dates,
        values.references,
        values.numbers,
        values.quantities,
        values.uris,
    ):
        found.extend(row for row in table if row.param == param)
    return found


def strings(values: IndexValues, param: str) -> set[str]:
    return {row.exact for row in values.strings if row.param == param}


# --- the examples themselves ------------------------------------------------------------------


def test_one_valid_example_per_supported_type() -> None:
    examples = all_examples()
    assert sorted(r["resourceType"] for r in examples) == sorted(SUPPORTED_RESOURCE_TYPES)
    for resource in examples:
        assert validate_resource(resource) == resource


def test_examples_refer_only_to_earlier_examples() -> None:
    seen: set[tuple[str, str]] = set()
    for resource in all_examples():
        for target in references_in(resource):
            assert target in seen, (resource["resourceType"], target)
        seen.add((resource["resourceType"], resource["id"]))


def test_examples_are_copies() -> None:
    first = example("Patient")
    first["name"][0]["family"] = "Changed"
    assert example("Patient")["name"][0]["family"] == "Thompson"
    with pytest.raises(KeyError):
        example("Basic")


@pytest.mark.parametrize("resource", all_examples(), ids=lambda r: r["resourceType"])
def test_every_example_is_indexed_without_being_changed(
    registry: SearchParameterRegistry, resource: dict[str, Any]
) -> None:
    before = copy.deepcopy(resource)
    values = extract_index_values(resource, registry)
    assert resource == before
    assert values.tokens
    assert len(values.references) + len(values.strings) + len(values.uris) > 0


# --- Patient ----------------------------------------------------------------------------------


def test_patient(registry: SearchParameterRegistry) -> None:
    values = extract_index_values(example("Patient"), registry)
    assert rows(values, "identifier") == [
        TokenValue("identifier", "https://fhir.nhs.uk/Id/nhs-number", "9990000018")
    ]
    assert rows(values, "gender") == [TokenValue("gender", None, "female")]
    assert rows(values, "active") == [TokenValue("active", None, "true")]
    assert rows(values, "deceased") == [TokenValue("deceased", None, "false")]
    assert rows(values, "email") == [TokenValue("email", None, "margaret.thompson@example.org")]
    assert rows(values, "phone") == [TokenValue("phone", None, "0113 496 0123")]
    assert rows(values, "birthdate") == [
        DateValue("birthdate", datetime(1941, 3, 14), datetime(1941, 3, 15))
    ]
    assert strings(values, "family") == {"Thompson"}
    assert strings(values, "given") == {"Margaret", "Elizabeth"}
    assert strings(values, "name") == {
        "Mrs",
        "Margaret",
        "Elizabeth",
        "Thompson",
        "Mrs Margaret Elizabeth Thompson",
    }
    assert rows(values, "address-postalcode") == [
        StringValue("address-postalcode", "ls6 2ab", "LS6 2AB")
    ]
    assert strings(values, "address") == {
        "12 Acacia Avenue",
        "Leeds",
        "West Yorkshire",
        "LS6 2AB",
        "GB",
    }
    assert rows(values, "general-practitioner") == [
        ReferenceValue("general-practitioner", "Organization", "org-1", None),
        ReferenceValue("general-practitioner", "Practitioner", "prac-1", None),
    ]
    assert rows(values, "_profile") == [
        UriValue("_profile", "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient")
    ]


def test_string_values_are_normalised(registry: SearchParameterRegistry) -> None:
    patient = example("Patient")
    patient["name"] = [{"family": "Ó Súilleabháin", "given": ["Zoë"], "text": "Zoë Ó Súilleabháin"}]
    values = extract_index_values(patient, registry)
    assert StringValue("family", "o suilleabhain", "Ó Súilleabháin") in values.strings
    assert StringValue("name", "zoe o suilleabhain", "Zoë Ó Súilleabháin") in values.strings
    assert len([row for row in values.strings if row.param == "name"]) == 3


def test_deceased_date_time(registry: SearchParameterRegistry) -> None:
    patient = example("Patient")
    del patient["deceasedBoolean"]
    patient["deceasedDateTime"] = "2024-06-01T09:00:00+01:00"
    values = extract_index_values(patient, registry)
    assert rows(values, "deceased") == [TokenValue("deceased", None, "true")]
    assert rows(values, "death-date") == [
        DateValue("death-date", datetime(2024, 6, 1, 8, 0), datetime(2024, 6, 1, 8, 0, 1))
    ]


# --- Observation ------------------------------------------------------------------------------


def test_observation(registry: SearchParameterRegistry) -> None:
    values = extract_index_values(example("Observation"), registry)
    assert rows(values, "code") == [
        TokenValue("code", SNOMED, "27113001", "Body weight"),
        TokenValue("code", "http://loinc.org", "29463-7", "Body weight"),
        TokenValue("code", None, None, "Body weight"),
    ]
    assert rows(values, "date") == [
        DateValue("date", datetime(2024, 2, 1, 10, 15), datetime(2024, 2, 1, 10, 15, 1))
    ]
    assert rows(values, "subject") == [ReferenceValue("subject", "Patient", "pat-1", None)]
    assert rows(values, "patient") == [ReferenceValue("patient", "Patient", "pat-1", None)]
    assert rows(values, "value-quantity") == [
        QuantityValue("value-quantity", Decimal("61.4"), UCUM, "kg", "kg")
    ]
    assert rows(values, "combo-value-quantity") == [
        QuantityValue("combo-value-quantity", Decimal("61.4"), UCUM, "kg", "kg")
    ]
    assert rows(values, "_tag") == [
        TokenValue("_tag", "https://fhir.careweave.example/Id/source", "gp-record")
    ]
    assert rows(values, "value-concept") == []
    assert rows(values, "component-code") == []


def test_patient_parameter_follows_resolve_filter(registry: SearchParameterRegistry) -> None:
    observation = example("Observation")
    observation["subject"] = {"reference": "Group/group-1"}
    values = extract_index_values(observation, registry)
    assert rows(values, "subject") == [ReferenceValue("subject", "Group", "group-1", None)]
    assert rows(values, "patient") == []


def test_appointment_actor_is_split_by_type(registry: SearchParameterRegistry) -> None:
    values = extract_index_values(example("Appointment"), registry)
    assert rows(values, "patient") == [ReferenceValue("patient", "Patient", "pat-1", None)]
    assert rows(values, "practitioner") == [
        ReferenceValue("practitioner", "Practitioner", "prac-1", None)
    ]
    assert rows(values, "location") == [ReferenceValue("location", "Location", "loc-1", None)]
    assert len(rows(values, "actor")) == 3


def test_components_and_duplicates(registry: SearchParameterRegistry) -> None:
    observation = example("Observation")
    observation["code"]["coding"].append(dict(observation["code"]["coding"][0]))
    observation["component"] = [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": 128, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        }
    ]
    values = extract_index_values(observation, registry)
    assert len(rows(values, "code")) == 3
    assert rows(values, "component-value-quantity") == [
        QuantityValue("component-value-quantity", Decimal(128), UCUM, "mm[Hg]", "mmHg")
    ]
    assert {row.value for row in rows(values, "combo-value-quantity")} == {
        Decimal("61.4"),
        Decimal(128),
    }


def test_composite_rows_are_numbered_by_the_element_they_come_from(
    registry: SearchParameterRegistry,
) -> None:
    observation = example("Observation")
    observation.pop("valueQuantity", None)
    reading = {"system": UCUM, "code": "mm[Hg]", "unit": "mmHg"}
    observation["component"] = [
        {
            "code": {
                "coding": [
                    {"system": SNOMED, "code": "271649006"},
                    {"system": "http://loinc.org", "code": "8480-6"},
                ],
                "text": "Systolic",
            },
            "valueQuantity": {"value": 150, **reading},
        },
        {"code": {"text": "no coding, so nothing to pair"}, "valueQuantity": {"value": 1}},
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
            "valueQuantity": {"value": 85, **reading},
        },
    ]
    values = extract_index_values(observation, registry)
    codes = [(row.code, row.composite) for row in rows(values, "component-code-value-quantity$0")]
    assert codes == [("271649006", 0), ("8480-6", 0), ("8462-4", 1)]
    assert [
        (row.value, row.composite) for row in rows(values, "component-code-value-quantity$1")
    ] == [(Decimal(150), 0), (Decimal(85), 1)]
    # The panel has no value of its own, so it pairs nothing; combo reuses these rows.
    assert rows(values, "code-value-quantity$0") == []
    assert not [row for row in rows(values, "combo-code-value-quantity$0")]
    # The components' plain rows carry no number.
    assert all(row.composite is None for row in rows(values, "component-code"))


def test_composite_rows_are_the_same_without_the_fast_paths(
    registry: SearchParameterRegistry,
) -> None:
    observation = example("Observation")
    observation["component"] = [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": 128, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        },
        {
            "code": {"coding": [{"system": SNOMED, "code": "364075005"}]},
            "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "17621005"}]},
        },
    ]
    fast = extract_index_values(observation, registry)
    slow = extract_index_values(observation, registry, fast=False)
    assert fast == slow
    assert any(row.composite is not None for row in fast.tokens)
    assert any(row.composite is not None for row in fast.quantities)


def _observations_with_every_kind_of_value() -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = [
        {"valueQuantity": {"value": 61.4, "unit": "kg", "system": UCUM, "code": "kg"}},
        {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "8517006"}]}},
        {"valueString": "paid $5"},
        {"valueDateTime": "2026-03-04"},
        {"valuePeriod": {"start": "2026-03-01", "end": "2026-03-04"}},
        {"valueBoolean": True},
    ]
    found = []
    for value in values:
        observation = example("Observation")
        observation.pop("valueQuantity", None)
        observation.update(value)
        found.append(observation)
    return found


@pytest.mark.parametrize("observation", _observations_with_every_kind_of_value())
def test_composites_of_the_resource_itself_match_their_components_own_parameters(
    registry: SearchParameterRegistry, observation: dict[str, Any]
) -> None:
    """``code-value-quantity`` and its kind are answered from ``code`` and ``value-quantity``
    (and so on) instead of rows of their own: for that to be right, each component's own
    parameter must give the values the component's expression gives on the resource."""
    values = extract_index_values(observation, registry)
    checked = 0
    for parameter in registry.for_type("Observation").values():
        for source in parameter.sources:
            if not source.plain_params:
                continue
            for kind, own, parts in zip(
                source.kinds, source.plain_params, source.components, strict=True
            ):
                component = index_values._rows(kind, own, evaluate_parts(parts, observation, {}))
                plain = set(rows(values, own))
                # The one difference: R4 writes code-value-date's value as
                # value.ofType(DateTime), a type FHIR does not have (dateTime), which finds
                # nothing; value-date finds the date the definition means.
                assert set(component) <= plain, (parameter.code, own)
                assert set(component) == plain or own == "value-date", (parameter.code, own)
                checked += bool(plain)
    assert checked >= 2  # the code, and the one kind of value it has (not for a boolean)


# --- dates ------------------------------------------------------------------------------------


def test_period_with_both_ends(registry: SearchParameterRegistry) -> None:
    values = extract_index_values(example("Encounter"), registry)
    assert rows(values, "date") == [
        DateValue("date", datetime(2024, 2, 1, 10, 0), datetime(2024, 2, 1, 10, 30, 1))
    ]


def test_period_at_day_precision(registry: SearchParameterRegistry) -> None:
    values = extract_index_values(example("CarePlan"), registry)
    assert rows(values, "date") == [DateValue("date", datetime(2024, 2, 1), datetime(2025, 2, 1))]


def test_open_ended_periods(registry: SearchParameterRegistry) -> None:
    episode = extract_index_values(example("EpisodeOfCare"), registry)
    assert rows(episode, "date") == [DateValue("date", datetime(2024, 1, 15), DATE_MAX)]
    encounter = example("Encounter")
    encounter["period"] = {"end": "2024-02"}
    values = extract_index_values(encounter, registry)
    assert rows(values, "date") == [DateValue("date", DATE_MIN, datetime(2024, 3, 1))]


def test_timing_is_indexed_by_its_outer_limits(registry: SearchParameterRegistry) -> None:
    values = extract_index_values(example("CarePlan"), registry)
    assert rows(values, "activity-date") == [
        DateValue("activity-date", datetime(2024, 5, 1, 10, 0), datetime(2024, 11, 1, 10, 0, 1))
    ]
    care_plan = example("CarePlan")
    care_plan["activity"][1]["detail"]["scheduledTiming"] = {
        "repeat": {"boundsPeriod": {"start": "2024-03-01", "end": "2024-03-31"}, "frequency": 1,
                   "period": 1, "periodUnit": "wk"}
    }  # fmt: skip
    values = extract_index_values(care_plan, registry)
    assert rows(values, "activity-date") == [
        DateValue("activity-date", datetime(2024, 3, 1), datetime(2024, 4, 1))
    ]


def test_free_text_and_malformed_dates_are_skipped(registry: SearchParameterRegistry) -> None:
    care_plan = example("CarePlan")
    care_plan["activity"][1]["detail"].pop("scheduledTiming")
    care_plan["activity"][1]["detail"]["scheduledString"] = "Every six months"
    assert rows(extract_index_values(care_plan, registry), "activity-date") == []
    observation = example("Observation")
    observation["effectiveDateTime"] = "01/02/2024"
    assert rows(extract_index_values(observation, registry), "date") == []
    encounter = example("Encounter")
    encounter["period"] = {"start": "2024-02-30"}
    assert rows(extract_index_values(encounter, registry), "date") == []
    encounter["period"] = {"start": "2024-03-01", "end": "2024-02-01"}
    assert rows(extract_index_values(encounter, registry), "date") == []


# --- references -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Practitioner/prac-1", ("Practitioner", "prac-1", None)),
        ("Practitioner/prac-1/_history/2", ("Practitioner", "prac-1", None)),
        (
            "https://fhir.example.org/R4/Practitioner/77",
            ("Practitioner", "77", "https://fhir.example.org/R4/Practitioner/77"),
        ),
        (
            "https://fhir.example.org/R4/Practitioner/77/_history/1",
            ("Practitioner", "77", "https://fhir.example.org/R4/Practitioner/77"),
        ),
        ("urn:oid:2.16.840.1.113883.2.1.4.1", (None, None, "urn:oid:2.16.840.1.113883.2.1.4.1")),
        ("#contained-1", None),
        ("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", None),
        ("Practitioner?identifier=https://fhir.hl7.org.uk/Id/gmc-number|7123456", None),
        ("not a reference", None),
    ],
)
def test_reference_forms(
    registry: SearchParameterRegistry,
    reference: str,
    expected: tuple[str | None, str | None, str | None] | None,
) -> None:
    task = example("Task")
    task["requester"] = {"reference": reference}
    found = rows(extract_index_values(task, registry), "requester")
    assert found == ([] if expected is None else [ReferenceValue("requester", *expected)])


def test_canonical_references_are_matched_by_url(registry: SearchParameterRegistry) -> None:
    response = example("QuestionnaireResponse")
    url = "https://fhir.careweave.example/Questionnaire/prisma-7"
    assert rows(extract_index_values(response, registry), "questionnaire") == [
        ReferenceValue("questionnaire", None, None, url)
    ]
    response["questionnaire"] = url + "|1.0.0"
    assert rows(extract_index_values(response, registry), "questionnaire") == [
        ReferenceValue("questionnaire", None, None, url + "|1.0.0"),
        ReferenceValue("questionnaire", None, None, url),
    ]


def test_uri_parameters(registry: SearchParameterRegistry) -> None:
    values = extract_index_values(example("Questionnaire"), registry)
    assert rows(values, "url") == [
        UriValue("url", "https://fhir.careweave.example/Questionnaire/prisma-7")
    ]


# --- quantities and numbers -------------------------------------------------------------------


def test_age_is_a_quantity_and_range_is_skipped(registry: SearchParameterRegistry) -> None:
    condition = example("Condition")
    del condition["onsetDateTime"]
    condition["onsetAge"] = {"value": 67, "unit": "years", "system": UCUM, "code": "a"}
    assert rows(extract_index_values(condition, registry), "onset-age") == [
        QuantityValue("onset-age", Decimal(67), UCUM, "a", "years")
    ]
    del condition["onsetAge"]
    condition["onsetRange"] = {"low": {"value": 60, "system": UCUM, "code": "a"}}
    assert rows(extract_index_values(condition, registry), "onset-age") == []


def test_duration_quantity(registry: SearchParameterRegistry) -> None:
    encounter = example("Encounter")
    encounter["length"] = {"value": 30, "unit": "minutes", "system": UCUM, "code": "min"}
    assert rows(extract_index_values(encounter, registry), "length") == [
        QuantityValue("length", Decimal(30), UCUM, "min", "minutes")
    ]


def _custom_registry(type_: str, expression: str, resource_type: str) -> SearchParameterRegistry:
    return SearchParameterRegistry(
        [
            SearchParameter(
                code="custom",
                resource_type=resource_type,
                type=type_,
                expression=expression,
                targets=(),
                url="https://fhir.careweave.example/SearchParameter/custom",
                description="A parameter defined in the test",
            )
        ]
    )


def test_numbers_keep_their_written_precision() -> None:
    registry = _custom_registry("number", "Appointment.minutesDuration", "Appointment")
    values = extract_index_values(example("Appointment"), registry)
    assert values.numbers == [NumberValue("custom", Decimal(40))]
    group = example("Group")
    registry = _custom_registry("number", "Group.quantity", "Group")
    assert extract_index_values(group, registry).numbers == [NumberValue("custom", Decimal(1))]
    location = example("Location")
    registry = _custom_registry("number", "Location.position.latitude", "Location")
    assert extract_index_values(location, registry).numbers == [
        NumberValue("custom", Decimal("53.7965"))
    ]


def test_money_is_a_quantity_in_its_currency() -> None:
    registry = _custom_registry("quantity", "Observation.extension.value", "Observation")
    observation = example("Observation")
    observation["extension"] = [
        {
            "url": "https://fhir.careweave.example/cost",
            "valueMoney": {"value": 12.5, "currency": "GBP"},
        }
    ]
    assert extract_index_values(observation, registry).quantities == [
        QuantityValue("custom", Decimal("12.5"), "urn:iso:std:iso:4217", "GBP", None)
    ]


def test_unknown_resource_type_yields_nothing(registry: SearchParameterRegistry) -> None:
    assert extract_index_values({"resourceType": "Basic", "id": "b"}, registry) == IndexValues()
    assert extract_index_values({"id": "no-type"}, registry) == IndexValues()


# --- tokens -----------------------------------------------------------------------------------


def test_identifier_type_text_is_token_text(registry: SearchParameterRegistry) -> None:
    patient = example("Patient")
    patient["identifier"].append(
        {"type": {"text": "Hospital number"}, "system": "https://trust.example/mrn", "value": "X1"}
    )
    assert TokenValue("identifier", "https://trust.example/mrn", "X1", "Hospital number") in (
        extract_index_values(patient, registry).tokens
    )


def test_group_characteristic_values(registry: SearchParameterRegistry) -> None:
    values = extract_index_values(example("Group"), registry)
    assert rows(values, "value") == [
        TokenValue("value", SNOMED, "925831000000107", "Moderate frailty"),
        TokenValue("value", None, None, "Moderate frailty"),
        TokenValue("value", None, "true"),
    ]


# --- referential integrity --------------------------------------------------------------------


def test_references_in_finds_every_relative_reference() -> None:
    resource = {
        "resourceType": "CarePlan",
        "id": "cp",
        "contained": [
            {
                "resourceType": "Goal",
                "id": "g1",
                "lifecycleStatus": "proposed",
                "description": {"text": "Stay at home"},
                "subject": {"reference": "Patient/pat-2"},
            }
        ],
        "extension": [
            {
                "url": "https://fhir.careweave.example/coordinator",
                "valueReference": {"reference": "Practitioner/prac-1/_history/4"},
            }
        ],
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/pat-1"},
        "author": {"reference": "https://elsewhere.example/fhir/Practitioner/9"},
        "careTeam": [
            {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
            {"reference": "CareTeam?identifier=CT-0001"},
            {"reference": "CareTeam/careteam-1"},
        ],
        "goal": [{"reference": "#g1"}],
        "activity": [
            {"reference": {"reference": "ServiceRequest/sr-1"}},
            {"reference": {"reference": "Patient/pat-1"}},
        ],
        "note": [{"text": "reference: Patient/pat-9 is only text"}],
    }
    assert references_in(resource) == [
        ("Patient", "pat-2"),
        ("Practitioner", "prac-1"),
        ("Patient", "pat-1"),
        ("CareTeam", "careteam-1"),
        ("ServiceRequest", "sr-1"),
    ]


def test_references_in_ignores_non_reference_objects() -> None:
    resource = {
        "resourceType": "Basic",
        "id": "b",
        "extension": [
            {"url": "x", "valueString": "Patient/pat-1"},
            {"url": "y", "extension": [{"url": "reference", "valueString": "Patient/pat-2"}]},
        ],
        "thing": {"reference": "Patient/pat-3", "unexpected": True},
    }
    assert references_in(resource) == []


# --- robustness -------------------------------------------------------------------------------

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["value", "system", "code", "start", "end", "reference", "text"]),
            children,
            max_size=4,
        ),
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(
    effective=st.text(max_size=40),
    value=st.one_of(st.integers(), st.decimals(allow_nan=False), st.floats(allow_nan=False)),
    unit_code=st.text(max_size=10),
    reference=st.text(max_size=60),
)
def test_odd_but_well_typed_values_never_crash(
    effective: str, value: Any, unit_code: str, reference: str
) -> None:
    observation = example("Observation")
    observation["effectiveDateTime"] = effective
    observation["valueQuantity"] = {"value": value, "system": UCUM, "code": unit_code}
    observation["subject"] = {"reference": reference}
    values = extract_index_values(observation, default_registry())
    for row in values.dates:
        assert row.start <= row.end
    for quantity in values.quantities:
        assert quantity.value.is_finite()
    for resource_type, resource_id in references_in(observation):
        assert resource_type[0].isupper()
        assert resource_id


@settings(max_examples=100, deadline=None)
@given(resource=st.dictionaries(st.sampled_from(["subject", "code", "note"]), _json_values))
def test_references_in_never_crashes(resource: dict[str, Any]) -> None:
    for resource_type, resource_id in references_in({"resourceType": "Observation", **resource}):
        assert resource_type[0].isupper()
        assert resource_id


_reference_text = st.one_of(
    st.text(alphabet="PatienObsrv/_histoy0129-.|,$\\?#:%é ", max_size=80),
    st.builds(
        "{}/{}".format,
        st.from_regex(r"[A-Za-z_]{0,66}", fullmatch=True),
        st.text(alphabet="abcXYZ019-._/|,$\\#é", max_size=70),
    ),
)


@settings(max_examples=400, deadline=None)
@given(literal=_reference_text)
def test_plain_local_references_are_read_as_the_search_reader_reads_them(literal: str) -> None:
    assert index_values._parse_reference("subject", literal) == index_values._read_reference(
        "subject", literal
    )


def test_the_direct_reading_of_a_local_reference() -> None:
    assert index_values._parse_reference("subject", "Patient/pat-1.2") == ReferenceValue(
        "subject", "Patient", "pat-1.2", None
    )
    assert index_values._LOCAL_REFERENCE.fullmatch("Patient/" + "x" * 65) is None
