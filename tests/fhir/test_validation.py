"""Validation of resources as FHIR R4: what passes, and where each kind of failure is reported."""

import copy
import json
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careweave.fhir.errors import InvalidResource, Issue, MalformedRequest, RequestMismatch
from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM
from careweave.fhir.validation import (
    SUPPORTED_RESOURCE_TYPES,
    _elements,
    findings,
    library_issues,
    validate_resource,
)

PATIENT_REF = {"reference": "Patient/p1"}
CONCEPT = {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}], "text": "BP"}

MINIMAL: dict[str, dict[str, Any]] = {
    "AllergyIntolerance": {"patient": PATIENT_REF},
    "Appointment": {"status": "booked", "participant": [{"status": "accepted"}]},
    "AuditEvent": {
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110"},
        "recorded": "2024-03-05T10:00:00Z",
        "agent": [{"requestor": True}],
        "source": {"observer": {"reference": "Device/server"}},
    },
    "CarePlan": {"status": "active", "intent": "plan", "subject": PATIENT_REF},
    "CareTeam": {"status": "active"},
    "Communication": {"status": "completed"},
    "Condition": {"subject": PATIENT_REF},
    "Consent": {
        "status": "active",
        "scope": {"text": "patient privacy"},
        "category": [{"text": "information sharing"}],
    },
    "DocumentReference": {
        "status": "current",
        "content": [{"attachment": {"contentType": "text/plain", "data": "aGVsbG8="}}],
    },
    "Encounter": {
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
    },
    "EpisodeOfCare": {"status": "active", "patient": PATIENT_REF},
    "Flag": {"status": "active", "code": {"text": "Lives alone"}, "subject": PATIENT_REF},
    "Goal": {
        "lifecycleStatus": "active",
        "description": {"text": "Walk to the shops"},
        "subject": PATIENT_REF,
    },
    "Group": {"type": "person", "actual": True},
    "HealthcareService": {"name": "Falls clinic"},
    "List": {"status": "current", "mode": "working"},
    "Location": {"name": "Ward 3"},
    "MedicationStatement": {
        "status": "active",
        "subject": PATIENT_REF,
        "medicationCodeableConcept": {"text": "Paracetamol 500mg tablets"},
    },
    "Observation": {"status": "final", "code": CONCEPT},
    "Organization": {"name": "Leeds GP Practice"},
    "Patient": {"active": True},
    "Practitioner": {"name": [{"family": "Jones"}]},
    "PractitionerRole": {"active": True},
    "Provenance": {
        "target": [PATIENT_REF],
        "recorded": "2024-03-05T10:00:00.123+00:00",
        "agent": [{"who": {"reference": "Practitioner/pr1"}}],
    },
    "Questionnaire": {"status": "active"},
    "QuestionnaireResponse": {"status": "completed"},
    "RelatedPerson": {"patient": PATIENT_REF},
    "ServiceRequest": {"status": "active", "intent": "order", "subject": PATIENT_REF},
    "Subscription": {
        "status": "off",
        "reason": "x",
        "criteria": "Patient",
        "channel": {"type": "rest-hook"},
    },
    "Task": {"status": "requested", "intent": "order"},
}

UK_CORE_PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {
        "versionId": "1",
        "lastUpdated": "2024-03-05T10:00:00Z",
        "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"],
    },
    "text": {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">Ann Smith</div>',
    },
    "extension": [
        {
            "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland",
                        "code": "A",
                    }
                ]
            },
        }
    ],
    "identifier": [
        {
            "extension": [
                {
                    "url": "https://fhir.hl7.org.uk/StructureDefinition/"
                    "Extension-UKCore-NHSNumberVerificationStatus",
                    "valueCodeableConcept": {"coding": [{"code": "01"}]},
                }
            ],
            "system": NHS_NUMBER_SYSTEM,
            "value": "9990000018",
        }
    ],
    "active": True,
    "name": [
        {
            "use": "official",
            "family": "Smith",
            "given": ["Ann", "Marie"],
            "_given": [
                None,
                {
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier",
                            "valueCode": "CL",
                        }
                    ]
                },
            ],
        }
    ],
    "telecom": [{"system": "phone", "value": "0113 496 0000", "use": "home", "rank": 1}],
    "gender": "female",
    "birthDate": "1940-02-29",
    "_birthDate": {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1940-02-29T06:30:00+00:00",
            }
        ]
    },
    "deceasedBoolean": False,
    "address": [{"line": ["1 High Street"], "city": "Leeds", "postalCode": "LS1 1AA"}],
    "contained": [{"resourceType": "Organization", "id": "gp", "name": "Leeds GP Practice"}],
    "managingOrganization": {"reference": "#gp"},
}

BLOOD_PRESSURE: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "subject": PATIENT_REF,
    "effectiveDateTime": "2024-03-05T10:00:00+00:00",
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {
                "value": 132,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        },
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
            "valueQuantity": {"value": 81.5, "comparator": "<", "unit": "mmHg"},
        },
    ],
}

QUESTIONNAIRE: dict[str, Any] = {
    "resourceType": "Questionnaire",
    "status": "active",
    "url": "https://example.org/Questionnaire/what-matters",
    "item": [
        {
            "linkId": "1",
            "type": "group",
            "text": "About you",
            "item": [
                {"linkId": "1.1", "type": "boolean", "text": "Do you live alone?"},
                {
                    "linkId": "1.2",
                    "type": "string",
                    "text": "Who helps you?",
                    "enableWhen": [{"question": "1.1", "operator": "=", "answerBoolean": False}],
                },
            ],
        }
    ],
}


def resource_of(resource_type: str) -> dict[str, Any]:
    return {"resourceType": resource_type, **copy.deepcopy(MINIMAL[resource_type])}


def problems(resource: object, **kwargs: str) -> list[Issue]:
    with pytest.raises(InvalidResource) as raised:
        validate_resource(resource, **kwargs)
    assert raised.value.status == 422
    return raised.value.issues


def expressions(resource: object) -> list[str]:
    return [path for issue in problems(resource) for path in issue.expression]


def test_supported_types_are_sorted_and_complete() -> None:
    assert list(SUPPORTED_RESOURCE_TYPES) == sorted(MINIMAL)


@pytest.mark.parametrize("resource_type", SUPPORTED_RESOURCE_TYPES)
def test_minimal_resource_of_every_supported_type_is_valid(resource_type: str) -> None:
    resource = resource_of(resource_type)
    assert validate_resource(resource, expected_type=resource_type) is resource


@pytest.mark.parametrize("resource", [UK_CORE_PATIENT, BLOOD_PRESSURE, QUESTIONNAIRE])
def test_realistic_resources_are_returned_unchanged(resource: dict[str, Any]) -> None:
    before = copy.deepcopy(resource)
    assert validate_resource(resource) is resource
    assert resource == before


def test_update_with_matching_type_and_id_is_valid() -> None:
    assert validate_resource(UK_CORE_PATIENT, expected_type="Patient", expected_id="p1")


# --- the envelope ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [[UK_CORE_PATIENT], "Patient", None, 3])
def test_a_body_that_is_not_an_object_is_malformed(body: object) -> None:
    with pytest.raises(MalformedRequest, match="must be a JSON object") as raised:
        validate_resource(body)
    assert raised.value.status == 400
    assert raised.value.issues[0].code == "structure"


@pytest.mark.parametrize("body", [{}, {"id": "p1"}, {"resourceType": 1}, {"resourceType": ""}])
def test_a_body_without_a_resource_type_is_malformed(body: object) -> None:
    with pytest.raises(MalformedRequest, match="resourceType"):
        validate_resource(body)


@pytest.mark.parametrize(
    ("resource_type", "message"),
    [
        ("Foo", "not a FHIR resource type"),
        ("patient", "not a FHIR resource type"),
        ("DomainResource", "not a FHIR resource type"),
        ("HumanName", "not a FHIR resource type"),
        ("Claim", "not a resource type this server supports"),
        ("Bundle", "not a resource type this server supports"),
    ],
)
def test_unknown_or_unsupported_types_are_not_supported(resource_type: str, message: str) -> None:
    (issue,) = problems({"resourceType": resource_type})
    assert issue.code == "not-supported"
    assert message in issue.diagnostics


def mismatch(resource: object, **kwargs: str) -> list[Issue]:
    with pytest.raises(RequestMismatch) as raised:
        validate_resource(resource, **kwargs)
    assert raised.value.status == 400
    return raised.value.issues


def test_type_must_match_the_url() -> None:
    (issue,) = mismatch(UK_CORE_PATIENT, expected_type="Observation")
    assert issue.expression == ("Patient.resourceType",)
    assert "Observation" in issue.diagnostics


@pytest.mark.parametrize(("body_id", "shown"), [("p2", "'p2'"), (None, "no id")])
def test_id_must_match_the_url(body_id: str | None, shown: str) -> None:
    resource = resource_of("Patient") | ({"id": body_id} if body_id else {})
    (issue,) = mismatch(resource, expected_id="p1")
    assert issue.expression == ("Patient.id",)
    assert shown in issue.diagnostics


# --- each kind of failure, at its path -------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_type", "extra", "path", "code"),
    [
        # unknown elements, at any depth
        ("Patient", {"foo": 1}, "Patient.foo", "structure"),
        ("Patient", {"name": [{"family": "x", "foo": 1}]}, "Patient.name[0].foo", "structure"),
        ("Patient", {"fhir_comments": "x"}, "Patient.fhir_comments", "structure"),
        ("Observation", {"valueFoo": "x"}, "Observation.valueFoo", "structure"),
        # primitives of the wrong JSON type, including those the library would coerce
        ("Patient", {"active": "yes"}, "Patient.active", "structure"),
        ("Patient", {"active": 1}, "Patient.active", "structure"),
        ("Patient", {"name": [{"family": 1}]}, "Patient.name[0].family", "structure"),
        ("Patient", {"name": [{"given": "Ann"}]}, "Patient.name[0].given", "invalid"),
        ("Patient", {"name": {"family": "Smith"}}, "Patient.name", "invalid"),
        ("Patient", {"telecom": [{"rank": "1"}]}, "Patient.telecom[0].rank", "structure"),
        ("Observation", {"valueInteger": "5"}, "Observation.valueInteger", "structure"),
        ("Observation", {"valueInteger": True}, "Observation.valueInteger", "structure"),
        ("Observation", {"valueInteger": 1.5}, "Observation.valueInteger", "structure"),
        ("Observation", {"valueBoolean": 0}, "Observation.valueBoolean", "structure"),
        (
            "Observation",
            {"valueQuantity": {"value": "5.4"}},
            "Observation.valueQuantity.value",
            "structure",
        ),
        (
            "Observation",
            {"valueQuantity": {"value": True}},
            "Observation.valueQuantity.value",
            "structure",
        ),
        # bad dates, times and other primitive forms
        ("Patient", {"birthDate": "2024-02-30"}, "Patient.birthDate", "value"),
        ("Patient", {"birthDate": "2023-02-29"}, "Patient.birthDate", "value"),
        ("Patient", {"birthDate": "2024-13"}, "Patient.birthDate", "value"),
        ("Patient", {"birthDate": "05/03/2024"}, "Patient.birthDate", "value"),
        ("Patient", {"birthDate": 20240305}, "Patient.birthDate", "structure"),
        (
            "Observation",
            {"effectiveDateTime": "2024-03-05T10:00"},  # a time needs a time zone
            "Observation.effectiveDateTime",
            "value",
        ),
        (
            "Observation",
            {"effectiveDateTime": "2024-03-05T10:00:00+25:00"},
            "Observation.effectiveDateTime",
            "value",
        ),
        ("Observation", {"issued": "2024-03-05"}, "Observation.issued", "value"),
        ("Patient", {"id": "bad id!"}, "Patient.id", "value"),
        ("Patient", {"id": "x" * 65}, "Patient.id", "value"),
        ("Patient", {"photo": [{"data": "not base64!"}]}, "Patient.photo[0].data", "value"),
        # codes from a required binding the model lists in full
        ("Patient", {"gender": "banana"}, "Patient.gender", "code-invalid"),
        ("Patient", {"gender": "Female"}, "Patient.gender", "code-invalid"),
        ("Appointment", {"status": "done"}, "Appointment.status", "code-invalid"),
        # FHIR has no empty elements: no null, {}, [] or ""
        ("Patient", {"active": None}, "Patient.active", "structure"),
        ("Patient", {"name": []}, "Patient.name", "structure"),
        ("Patient", {"name": [{}]}, "Patient.name[0]", "structure"),
        ("Patient", {"telecom": [{}]}, "Patient.telecom[0]", "structure"),
        ("Patient", {"name": [{"family": ""}]}, "Patient.name[0].family", "structure"),
        ("Patient", {"name": [{"given": [""]}]}, "Patient.name[0].given[0]", "structure"),
        ("Patient", {"implicitRules": ""}, "Patient.implicitRules", "structure"),
        ("Patient", {"meta": {}}, "Patient.meta", "structure"),
        ("Patient", {"name": [None]}, "Patient.name", "invalid"),
        # choice types
        (
            "Observation",
            {"valueQuantity": {"value": 5}, "valueString": "five"},
            "Observation.value[x]",
            "structure",
        ),
        (
            "Patient",
            {"deceasedBoolean": True, "deceasedDateTime": "2024-03-05T10:00:00Z"},
            "Patient.deceased[x]",
            "structure",
        ),
        # extensions
        ("Patient", {"extension": [{"valueString": "x"}]}, "Patient.extension[0].url", "required"),
        ("Patient", {"extension": [{"url": "http://x"}]}, "Patient.extension[0]", "invariant"),
        (
            "Patient",
            {
                "extension": [
                    {
                        "url": "http://x",
                        "valueString": "x",
                        "extension": [{"url": "y", "valueBoolean": True}],
                    }
                ]
            },
            "Patient.extension[0]",
            "invariant",
        ),
        (
            "Patient",
            {"extension": [{"url": "http://x", "valueString": "x", "valueInteger": 1}]},
            "Patient.extension[0].value[x]",
            "structure",
        ),
        # primitive extensions (_element)
        ("Patient", {"_active": {}}, "Patient.active", "structure"),
        ("Patient", {"_active": {"foo": 1}}, "Patient.active.foo", "structure"),
        (
            "Patient",
            {"name": [{"given": ["Ann"], "_given": [{"foo": 1}]}]},
            "Patient.name[0].given[0].foo",
            "structure",
        ),
        (
            "Patient",
            {"name": [{"given": ["Ann", "Marie"], "_given": [None]}]},
            "Patient.name[0].given",
            "structure",
        ),
        (
            "Patient",
            {"name": [{"given": ["Ann", None]}]},
            "Patient.name[0].given[1]",
            "structure",
        ),
        # contained resources
        (
            "Patient",
            {"contained": [{"resourceType": "Organization", "id": "o", "bogus": 1}]},
            "Patient.contained[0].bogus",
            "structure",
        ),
        (
            "Patient",
            {"contained": [{"resourceType": "Foo"}]},
            "Patient.contained[0]",
            "not-supported",
        ),
        ("Patient", {"contained": [{"resourceType": 5}]}, "Patient.contained[0]", "structure"),
        ("Patient", {"contained": [{"id": "x"}]}, "Patient.contained[0]", "structure"),
        (
            "Patient",
            {
                "contained": [
                    {
                        "resourceType": "Organization",
                        "id": "o",
                        "contained": [{"resourceType": "Location", "id": "l"}],
                    }
                ]
            },
            "Patient.contained[0].contained",
            "invariant",
        ),
        # the UK Core NHS number rule
        (
            "Patient",
            {"identifier": [{"system": NHS_NUMBER_SYSTEM, "value": "9990000019"}]},
            "Patient.identifier[0].value",
            "value",
        ),
    ],
)
def test_each_failure_is_reported_at_its_path(
    resource_type: str, extra: dict[str, Any], path: str, code: str
) -> None:
    issues = problems(resource_of(resource_type) | extra)
    assert [(issue.expression, issue.code) for issue in issues] == [((path,), code)]
    assert all(issue.severity == "error" and issue.diagnostics for issue in issues)


EXTENSION_URL = "https://fhir.careweave.example/StructureDefinition/note"


def with_extension_value(key: str, value: object) -> dict[str, Any]:
    return resource_of("Patient") | {"extension": [{"url": EXTENSION_URL, key: value}]}


# Checks that the library's pydantic models made before validation stopped running them.
@pytest.mark.parametrize(
    ("resource", "path", "code"),
    [
        # an array where one value belongs, one value where an array belongs
        (resource_of("Patient") | {"name": "Bob"}, "Patient.name", "invalid"),
        (resource_of("Patient") | {"active": [True]}, "Patient.active", "invalid"),
        (
            resource_of("Patient") | {"maritalStatus": [{"text": "x"}]},
            "Patient.maritalStatus",
            "invalid",
        ),
        (resource_of("Patient") | {"_active": [{"id": "a"}]}, "Patient.active", "invalid"),
        (
            resource_of("Patient") | {"name": [{"given": ["Ann"], "_given": {"id": "a"}}]},
            "Patient.name[0].given",
            "invalid",
        ),
        (
            resource_of("Patient") | {"contained": {"resourceType": "Location", "name": "x"}},
            "Patient.contained",
            "invalid",
        ),
        # a primitive where an object belongs
        (resource_of("Patient") | {"maritalStatus": "x"}, "Patient.maritalStatus", "structure"),
        (resource_of("Observation") | {"code": "x"}, "Observation.code", "structure"),
        (resource_of("Patient") | {"_active": "x"}, "Patient.active", "structure"),
        (resource_of("Patient") | {"contained": ["x"]}, "Patient.contained[0]", "structure"),
        # an object where a primitive belongs
        (resource_of("Patient") | {"gender": {"code": "female"}}, "Patient.gender", "structure"),
        (with_extension_value("valueUrl", 5), "Patient.extension[0].valueUrl", "structure"),
        # integers in range
        (
            resource_of("Patient") | {"multipleBirthInteger": 2**31},
            "Patient.multipleBirthInteger",
            "value",
        ),
        (
            resource_of("Patient") | {"multipleBirthInteger": -(2**31) - 1},
            "Patient.multipleBirthInteger",
            "value",
        ),
        (resource_of("Patient") | {"telecom": [{"rank": 0}]}, "Patient.telecom[0].rank", "value"),
        (
            with_extension_value("valueUnsignedInt", -1),
            "Patient.extension[0].valueUnsignedInt",
            "value",
        ),
        # decimals, codes, ids, strings, URIs
        (
            resource_of("Observation") | {"valueQuantity": {"value": float("nan")}},
            "Observation.valueQuantity.value",
            "value",
        ),
        (resource_of("Patient") | {"language": "en  GB"}, "Patient.language", "value"),
        (resource_of("Patient") | {"language": "en "}, "Patient.language", "value"),
        (resource_of("Patient") | {"id": "abc\n"}, "Patient.id", "value"),
        (
            resource_of("Patient") | {"name": [{"family": "\u00a0"}]},
            "Patient.name[0].family",
            "value",
        ),
        (
            resource_of("Patient") | {"name": [{"family": "Sm\ud800ith"}]},
            "Patient.name[0].family",
            "value",
        ),
        (
            with_extension_value("valueOid", "urn:oid:1.02"),
            "Patient.extension[0].valueOid",
            "value",
        ),
        (
            resource_of("Patient") | {"implicitRules": "http://example.org/my rules"},
            "Patient.implicitRules",
            "value",
        ),
        # uuid: version 4, and as FHIR writes it
        (
            with_extension_value("valueUuid", "urn:uuid:c757873d-ec9a-1326-a141-556f43239520"),
            "Patient.extension[0].valueUuid",
            "value",
        ),
        (
            with_extension_value("valueUuid", "c757873d-ec9a-4326-a141-556f43239520"),
            "Patient.extension[0].valueUuid",
            "value",
        ),
        (
            with_extension_value("valueUuid", "urn:uuid:C757873D-EC9A-4326-A141-556F43239520"),
            "Patient.extension[0].valueUuid",
            "value",
        ),
        # base64 outside ASCII, times and instants
        (
            with_extension_value("valueBase64Binary", "\u00e9t\u00e9"),
            "Patient.extension[0].valueBase64Binary",
            "value",
        ),
        (with_extension_value("valueTime", "10:00"), "Patient.extension[0].valueTime", "value"),
        (with_extension_value("valueTime", "24:00:00"), "Patient.extension[0].valueTime", "value"),
        (
            with_extension_value("valueInstant", "2024-03-05T10:00:00"),
            "Patient.extension[0].valueInstant",
            "value",
        ),
        (
            resource_of("Patient") | {"deceasedDateTime": "2023-02-29T10:00:00Z"},
            "Patient.deceasedDateTime",
            "value",
        ),
        # an _element stands in for a required value only when it carries extensions
        (
            {k: v for k, v in resource_of("Observation").items() if k != "status"}
            | {"_status": {"id": "s1"}},
            "Observation.status",
            "required",
        ),
        # and never for a required choice
        (
            resource_of("Questionnaire")
            | {
                "item": [
                    {
                        "linkId": "2",
                        "type": "boolean",
                        "enableWhen": [
                            {
                                "question": "1",
                                "operator": "exists",
                                "_answerBoolean": {
                                    "extension": [{"url": EXTENSION_URL, "valueString": "x"}]
                                },
                            }
                        ],
                    }
                ]
            },
            "Questionnaire.item[0].enableWhen[0].answer[x]",
            "required",
        ),
        # a contained resource of no concrete type
        (
            resource_of("Patient") | {"contained": [{"resourceType": "Resource", "id": "r"}]},
            "Patient.contained[0]",
            "not-supported",
        ),
    ],
)
def test_what_the_library_used_to_catch_is_reported_at_its_path(
    resource: dict[str, Any], path: str, code: str
) -> None:
    issues = problems(resource)
    assert [(issue.expression, issue.code) for issue in issues] == [((path,), code)]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("valueDate", "0001-01-01"),
        ("valueDate", "2000-02-29"),
        ("valueDateTime", "2016-12-31T23:59:60Z"),  # a leap second
        ("valueDateTime", "2024-03-05T10:00:00.123456789+14:00"),
        ("valueInstant", "2024-03-05T10:00:00-00:00"),
        ("valueTime", "23:59:60.5"),
        ("valueString", "   "),  # the library's string pattern allows whitespace alone
        ("valueString", "Anne\u00a0Marie"),
        ("valueDecimal", 1e-7),
        ("valueDecimal", 10**30),
        ("valueInteger", -(2**31)),
        ("valuePositiveInt", 2**31 - 1),
        ("valueUuid", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"),
        ("valueOid", "urn:oid:2.16.840.1.113883"),
        ("valueBase64Binary", "aGVs bG8="),
        ("valueCode", "a b"),
        ("valueId", "A.b-9"),
        ("valueCanonical", "https://example.org/Questionnaire/q|1.0"),
    ],
)
def test_corner_values_of_each_type_are_valid(key: str, value: object) -> None:
    resource = with_extension_value(key, value)
    assert validate_resource(resource) is resource
    assert library_issues(resource) == []


def test_messages_say_what_the_value_should_be() -> None:
    def diagnostics(resource: dict[str, Any]) -> str:
        (issue,) = problems(resource)
        return issue.diagnostics

    assert diagnostics(resource_of("Patient") | {"name": "Bob"}) == (
        "Expected an array for name, got 'Bob'"
    )
    assert diagnostics(resource_of("Patient") | {"active": [True]}) == (
        "Expected a single value for active, not an array"
    )
    assert diagnostics(resource_of("Patient") | {"maritalStatus": "x"}) == (
        "Expected a JSON object (CodeableConcept), got 'x'"
    )
    assert diagnostics(resource_of("Patient") | {"language": "en  GB"}) == (
        "'en  GB' is not a valid FHIR code"
    )
    assert diagnostics(resource_of("Patient") | {"telecom": [{"rank": 0}]}) == (
        "0 is out of range for a FHIR positiveInt (1 to 2147483647)"
    )
    assert diagnostics(
        with_extension_value("valueUuid", "urn:uuid:c757873d-ec9a-1326-a141-556f43239520")
    ) == ("'urn:uuid:c757873d-ec9a-1326-a141-556f43239520' is not a version 4 UUID")
    observation = {k: v for k, v in resource_of("Observation").items() if k != "status"}
    assert diagnostics(observation | {"_status": {"id": "s1"}}) == "status is required"


def test_the_library_oracle_reports_what_pydantic_reports() -> None:
    assert library_issues(resource_of("Patient")) == []
    (issue,) = library_issues(resource_of("Patient") | {"birthDate": "2023-02-29"})
    assert issue.expression == ("Patient.birthDate",)
    (crash,) = library_issues(with_extension_value("valueUrl", 5))
    assert crash.code == "exception"  # the library raises AttributeError here, and rejects


def test_findings_mark_our_own_rules() -> None:
    resource = resource_of("Patient") | {"active": "yes", "birthDate": "2023-02-29"}
    marked = {finding.issue.expression: finding.beyond_library for finding in findings(resource)}
    assert marked == {("Patient.active",): True, ("Patient.birthDate",): False}


def test_diagnostics_name_the_bad_value() -> None:
    def diagnostics(extra: dict[str, Any]) -> str:
        (issue,) = problems(resource_of("Patient") | extra)
        return issue.diagnostics

    assert diagnostics({"birthDate": "2024-02-30"}) == "'2024-02-30' is not a valid FHIR date"
    assert diagnostics({"active": "yes"}) == "Expected true or false, got 'yes'"
    assert "female, male, other, unknown" in diagnostics({"gender": "banana"})
    assert diagnostics({"foo": 1}) == "Unknown element 'foo' at Patient"


@pytest.mark.parametrize(
    ("resource_type", "missing"),
    [
        ("Observation", ["Observation.code", "Observation.status"]),
        ("CarePlan", ["CarePlan.intent", "CarePlan.status", "CarePlan.subject"]),
        ("MedicationStatement", ["MedicationStatement.medication[x]"]),
        ("Encounter", ["Encounter.class", "Encounter.status"]),
    ],
)
def test_missing_required_elements_are_all_reported(resource_type: str, missing: list[str]) -> None:
    resource = resource_of(resource_type)
    for path in missing:
        resource.pop(path.split(".")[1], None)
    resource.pop("medicationCodeableConcept", None)
    issues = problems(resource)
    assert sorted(path for issue in issues for path in issue.expression) == missing
    assert {issue.code for issue in issues} == {"required"}


def test_required_primitive_may_be_given_by_extension_alone() -> None:
    resource = resource_of("Observation")
    del resource["status"]
    resource["_status"] = {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                "valueCode": "unknown",
            }
        ]
    }
    assert validate_resource(resource) is resource


def test_every_problem_is_reported_at_once() -> None:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "code": {"text": "x", "foo": 1},
        "valueQuantity": {"value": "5"},
        "effectiveDateTime": "yesterday",
    }
    assert sorted(expressions(resource)) == [
        "Observation.code.foo",
        "Observation.effectiveDateTime",
        "Observation.status",
        "Observation.valueQuantity.value",
    ]


def test_one_issue_per_path() -> None:
    resource = resource_of("Patient") | {"name": [{"family": 1, "given": [2]}]}
    assert expressions(resource) == ["Patient.name[0].family", "Patient.name[0].given[0]"]


def test_error_carries_a_summary_message() -> None:
    with pytest.raises(InvalidResource, match="Patient is not valid FHIR R4: 2 problems"):
        validate_resource({"resourceType": "Patient", "foo": 1, "active": "no"})


# --- the library choice ----------------------------------------------------------------------


def r4_element_types() -> dict[str, str]:
    """The element paths and types of FHIR R4 (4.0.1) as fhirpathpy ships them."""
    path = Path(fhirpathpy.__file__).parent / "models" / "r4" / "path2Type.json"
    types: dict[str, str] = json.loads(path.read_text())
    return types


def r4b_element_types(model: Any, prefix: str, resource_type: str) -> dict[str, str]:
    """Element paths of an R4B model, descending into its backbone elements only."""
    found: dict[str, str] = {}
    for json_name, element in _elements(model).items():
        if json_name.startswith("_"):
            continue
        path = f"{prefix}.{json_name}"
        name = element.model.__name__ if element.model is not None else ""
        if element.kind == "complex" and name.startswith(resource_type) and name != resource_type:
            if path.count(".") < 6:  # Questionnaire.item.item... recurses
                found |= r4b_element_types(element.model, path, resource_type)
        else:
            found[path] = {"complex": name, "resource": "Resource"}.get(element.kind, element.kind)
    return found


R4_PRIMITIVES = {
    "boolean": {"boolean"},
    "integer": {"integer", "positiveInt", "unsignedInt"},
    "decimal": {"decimal"},
}


@pytest.mark.parametrize("resource_type", SUPPORTED_RESOURCE_TYPES)
def test_r4b_models_have_the_r4_elements_and_types(resource_type: str) -> None:
    r4 = r4_element_types()
    mine = r4b_element_types(get_fhir_model_class(resource_type), resource_type, resource_type)
    # fhirpathpy lists elements reused by contentReference (e.g. Questionnaire.item.item) only
    # at their first definition, so only paths it knows are compared by type.
    r4_paths = {path for path in r4 if path.split(".")[0] == resource_type}
    assert r4_paths <= set(mine)
    for path, kind in mine.items():
        if path not in r4:
            continue
        expected = r4[path]
        if kind in R4_PRIMITIVES:
            assert expected in R4_PRIMITIVES[kind], path
        elif kind == "string":
            assert expected[0].islower() or expected.startswith("System."), path
            assert expected not in {"boolean", "integer", "positiveInt", "unsignedInt"}, path
        else:
            assert expected == kind, path


# --- robustness ------------------------------------------------------------------------------

NAMES = [
    "resourceType", "id", "meta", "extension", "_active", "active", "url", "valueString",
    "valueQuantity", "value", "name", "family", "given", "_given", "identifier", "system",
    "code", "coding", "text", "status", "_status", "contained", "reference", "subject",
    "component", "item", "linkId", "Patient", "Organization", "Foo",
]  # fmt: skip
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
    | st.sampled_from(NAMES),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES), inner),
    max_leaves=20,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["Patient", "Observation", "Questionnaire", "CarePlan"]),
    st.dictionaries(st.sampled_from(NAMES), json_values, max_size=5),
)
def test_any_json_is_either_valid_or_an_invalid_resource(
    resource_type: str, body: dict[str, Any]
) -> None:
    resource = body | {"resourceType": resource_type}
    try:
        outcome: object = validate_resource(resource)
    except InvalidResource as error:
        outcome = error.issues
    assert outcome is resource or (isinstance(outcome, list) and outcome)
