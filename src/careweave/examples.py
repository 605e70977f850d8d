"""One realistic, valid FHIR R4 example of each resource type careweave serves.

The examples describe one person's joined-up care in an English place: Margaret Thompson
(NHS number 999 000 0018, a synthetic number), her GP practice (ODS code A12345), her GP, her
daughter, her frailty and diabetes, and the care plan, referral and tasks around them. Every
reference points at another example by the ids below, and `all_examples` lists them so that a
resource comes after everything it refers to: a store that checks referential integrity can load
them in that order. Codes are SNOMED CT, LOINC or HL7 code systems, used as UK Core does.

Tests get deep copies (`example`, `all_examples`), so a test that edits its copy cannot change
what another test sees.
"""

from __future__ import annotations

import copy
from typing import Any

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
GMC = "https://fhir.hl7.org.uk/Id/gmc-number"
LOCAL = "https://fhir.careweave.example/Id"
QUESTIONNAIRE_URL = "https://fhir.careweave.example/Questionnaire/prisma-7"

PATIENT_REF = {"reference": "Patient/pat-1", "display": "Margaret Thompson"}
GP_REF = {"reference": "Practitioner/prac-1", "display": "Dr Amina Khan"}
PRACTICE_REF = {"reference": "Organization/org-1", "display": "Riverside Medical Practice"}
ENCOUNTER_REF = {"reference": "Encounter/enc-1"}


def _snomed(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display}


_ORGANIZATION: dict[str, Any] = {
    "resourceType": "Organization",
    "id": "org-1",
    "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Organization"]},
    "identifier": [{"system": ODS, "value": "A12345"}],
    "active": True,
    "type": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                    "code": "prov",
                    "display": "Healthcare Provider",
                }
            ]
        }
    ],
    "name": "Riverside Medical Practice",
    "alias": ["Riverside Surgery"],
    "telecom": [{"system": "phone", "value": "0113 496 0000", "use": "work"}],
    "address": [
        {
            "use": "work",
            "line": ["1 River Street"],
            "city": "Leeds",
            "district": "West Yorkshire",
            "postalCode": "LS1 4AP",
            "country": "GB",
        }
    ],
}

_LOCATION: dict[str, Any] = {
    "resourceType": "Location",
    "id": "loc-1",
    "identifier": [{"system": f"{LOCAL}/location", "value": "RIV-MAIN"}],
    "status": "active",
    "name": "Riverside Medical Practice, main site",
    "type": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                    "code": "FMC",
                    "display": "Family Medicine Clinic",
                }
            ],
            "text": "GP surgery",
        }
    ],
    "address": {
        "line": ["1 River Street"],
        "city": "Leeds",
        "postalCode": "LS1 4AP",
        "country": "GB",
    },
    "physicalType": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                "code": "bu",
                "display": "Building",
            }
        ]
    },
    "position": {"longitude": -1.5491, "latitude": 53.7965},
    "managingOrganization": PRACTICE_REF,
}

_PRACTITIONER: dict[str, Any] = {
    "resourceType": "Practitioner",
    "id": "prac-1",
    "identifier": [{"system": GMC, "value": "7123456"}],
    "active": True,
    "name": [{"use": "official", "family": "Khan", "given": ["Amina"], "prefix": ["Dr"]}],
    "telecom": [
        {"system": "phone", "value": "0113 496 0001", "use": "work"},
        {"system": "email", "value": "amina.khan@nhs.example", "use": "work"},
    ],
    "address": [{"use": "work", "line": ["1 River Street"], "city": "Leeds"}],
    "gender": "female",
    "qualification": [{"code": {"text": "MBChB MRCGP"}}],
}

_PRACTITIONER_ROLE: dict[str, Any] = {
    "resourceType": "PractitionerRole",
    "id": "role-1",
    "identifier": [{"system": f"{LOCAL}/practitioner-role", "value": "RIV-GP-001"}],
    "active": True,
    "period": {"start": "2015-09-01"},
    "practitioner": GP_REF,
    "organization": PRACTICE_REF,
    "code": [_snomed("62247001", "General practitioner")],
    "specialty": [_snomed("394814009", "General practice")],
    "location": [{"reference": "Location/loc-1"}],
    "telecom": [{"system": "phone", "value": "0113 496 0001", "use": "work"}],
}

_HEALTHCARE_SERVICE: dict[str, Any] = {
    "resourceType": "HealthcareService",
    "id": "hcs-1",
    "identifier": [{"system": f"{LOCAL}/service", "value": "SOCPRESC-LEEDS"}],
    "active": True,
    "providedBy": PRACTICE_REF,
    "category": [{"text": "Social prescribing"}],
    "type": [_snomed("871731000000106", "Referral to social prescribing service")],
    "location": [{"reference": "Location/loc-1"}],
    "name": "Riverside social prescribing link worker service",
    "comment": "Link workers help people connect with community groups and services.",
    "telecom": [{"system": "email", "value": "linkworkers@riverside.example"}],
}

_PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "pat-1",
    "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]},
    "identifier": [{"system": NHS_NUMBER, "value": "9990000018"}],
    "active": True,
    "name": [
        {
            "use": "official",
            "family": "Thompson",
            "given": ["Margaret", "Elizabeth"],
            "prefix": ["Mrs"],
        }
    ],
    "telecom": [
        {"system": "phone", "value": "0113 496 0123", "use": "home"},
        {"system": "email", "value": "margaret.thompson@example.org", "use": "home"},
    ],
    "gender": "female",
    "birthDate": "1941-03-14",
    "deceasedBoolean": False,
    "address": [
        {
            "use": "home",
            "line": ["12 Acacia Avenue"],
            "city": "Leeds",
            "district": "West Yorkshire",
            "postalCode": "LS6 2AB",
            "country": "GB",
        }
    ],
    "maritalStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                "code": "W",
                "display": "Widowed",
            }
        ]
    },
    "communication": [
        {
            "language": {
                "coding": [{"system": "urn:ietf:bcp:47", "code": "en-GB", "display": "English"}]
            },
            "preferred": True,
        }
    ],
    "generalPractitioner": [PRACTICE_REF, GP_REF],
    "managingOrganization": PRACTICE_REF,
}

_RELATED_PERSON: dict[str, Any] = {
    "resourceType": "RelatedPerson",
    "id": "rp-1",
    "identifier": [{"system": f"{LOCAL}/carer", "value": "CARER-0001"}],
    "active": True,
    "patient": PATIENT_REF,
    "relationship": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                    "code": "DAU",
                    "display": "natural daughter",
                }
            ],
            "text": "Daughter and main carer",
        }
    ],
    "name": [{"family": "Wilson", "given": ["Susan"]}],
    "telecom": [
        {"system": "phone", "value": "07700 900123", "use": "mobile"},
        {"system": "email", "value": "susan.wilson@example.org"},
    ],
    "gender": "female",
    "birthDate": "1968-07-02",
    "address": [{"line": ["4 Elm Close"], "city": "Leeds", "postalCode": "LS16 5QR"}],
}

_GROUP: dict[str, Any] = {
    "resourceType": "Group",
    "id": "group-1",
    "identifier": [{"system": f"{LOCAL}/caseload", "value": "RIV-FRAILTY-2024"}],
    "active": True,
    "type": "person",
    "actual": True,
    "code": {"text": "Moderate or severe frailty caseload"},
    "name": "Riverside frailty caseload",
    "quantity": 1,
    "managingEntity": PRACTICE_REF,
    "characteristic": [
        {
            "code": {"text": "Frailty"},
            "valueCodeableConcept": _snomed("925831000000107", "Moderate frailty"),
            "exclude": False,
        },
        {"code": {"text": "Housebound"}, "valueBoolean": True, "exclude": False},
    ],
    "member": [{"entity": PATIENT_REF, "period": {"start": "2024-01-15"}}],
}

_EPISODE_OF_CARE: dict[str, Any] = {
    "resourceType": "EpisodeOfCare",
    "id": "eoc-1",
    "identifier": [{"system": f"{LOCAL}/episode", "value": "EOC-2024-0001"}],
    "status": "active",
    "statusHistory": [{"status": "active", "period": {"start": "2024-01-15"}}],
    "type": [{"text": "Integrated care for frailty"}],
    "patient": PATIENT_REF,
    "managingOrganization": PRACTICE_REF,
    "period": {"start": "2024-01-15"},
    "careManager": GP_REF,
}

_ENCOUNTER: dict[str, Any] = {
    "resourceType": "Encounter",
    "id": "enc-1",
    "identifier": [{"system": f"{LOCAL}/encounter", "value": "ENC-2024-0042"}],
    "status": "finished",
    "class": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "AMB",
        "display": "ambulatory",
    },
    "type": [_snomed("11429006", "Consultation")],
    "subject": PATIENT_REF,
    "episodeOfCare": [{"reference": "EpisodeOfCare/eoc-1"}],
    "participant": [{"individual": GP_REF, "period": {"start": "2024-02-01T10:00:00Z"}}],
    "period": {"start": "2024-02-01T10:00:00Z", "end": "2024-02-01T10:30:00Z"},
    "reasonCode": [_snomed("248279007", "Frailty")],
    "location": [{"location": {"reference": "Location/loc-1"}, "status": "completed"}],
    "serviceProvider": PRACTICE_REF,
}

_CONDITION: dict[str, Any] = {
    "resourceType": "Condition",
    "id": "cond-1",
    "identifier": [{"system": f"{LOCAL}/problem", "value": "PROB-0001"}],
    "clinicalStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active",
            }
        ]
    },
    "verificationStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "confirmed",
            }
        ]
    },
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                    "code": "problem-list-item",
                }
            ]
        }
    ],
    "severity": _snomed("6736007", "Moderate"),
    "code": _snomed("44054006", "Diabetes mellitus type 2"),
    "subject": PATIENT_REF,
    "encounter": ENCOUNTER_REF,
    "onsetDateTime": "2009-06",
    "recordedDate": "2009-06-22",
    "recorder": GP_REF,
    "asserter": GP_REF,
}

_OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "obs-1",
    "meta": {"tag": [{"system": f"{LOCAL}/source", "code": "gp-record"}]},
    "identifier": [{"system": f"{LOCAL}/observation", "value": "OBS-0001"}],
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                    "display": "Vital Signs",
                }
            ]
        }
    ],
    "code": {
        "coding": [
            {"system": SNOMED, "code": "27113001", "display": "Body weight"},
            {"system": LOINC, "code": "29463-7", "display": "Body weight"},
        ],
        "text": "Body weight",
    },
    "subject": PATIENT_REF,
    "encounter": ENCOUNTER_REF,
    "effectiveDateTime": "2024-02-01T10:15:00Z",
    "issued": "2024-02-01T10:20:00Z",
    "performer": [GP_REF],
    "valueQuantity": {"value": 61.4, "unit": "kg", "system": UCUM, "code": "kg"},
    "method": {"text": "Seated scales"},
}

_ALLERGY_INTOLERANCE: dict[str, Any] = {
    "resourceType": "AllergyIntolerance",
    "id": "ai-1",
    "identifier": [{"system": f"{LOCAL}/allergy", "value": "ALG-0001"}],
    "clinicalStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "code": "active",
            }
        ]
    },
    "verificationStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                "code": "confirmed",
            }
        ]
    },
    "type": "allergy",
    "category": ["medication"],
    "criticality": "high",
    "code": _snomed("91936005", "Allergy to penicillin"),
    "patient": PATIENT_REF,
    "encounter": ENCOUNTER_REF,
    "onsetDateTime": "1975",
    "recordedDate": "2010-04-12",
    "recorder": GP_REF,
    "asserter": PATIENT_REF,
    "lastOccurrence": "1998-08",
    "reaction": [
        {
            "substance": _snomed("764146007", "Penicillin"),
            "manifestation": [_snomed("271807003", "Eruption of skin")],
            "onset": "1998-08-03",
            "severity": "moderate",
            "exposureRoute": _snomed("26643006", "Oral route"),
        }
    ],
}

_MEDICATION_STATEMENT: dict[str, Any] = {
    "resourceType": "MedicationStatement",
    "id": "ms-1",
    "identifier": [{"system": f"{LOCAL}/medication", "value": "MED-0001"}],
    "status": "active",
    "category": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/medication-statement-category",
                "code": "community",
            }
        ]
    },
    "medicationCodeableConcept": _snomed("109081006", "Metformin"),
    "subject": PATIENT_REF,
    "context": ENCOUNTER_REF,
    "effectivePeriod": {"start": "2009-07-01"},
    "dateAsserted": "2024-02-01",
    "informationSource": GP_REF,
    "reasonReference": [{"reference": "Condition/cond-1"}],
    "dosage": [
        {
            "text": "500 mg twice a day with meals",
            "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [
                {"doseQuantity": {"value": 500, "unit": "mg", "system": UCUM, "code": "mg"}}
            ],
        }
    ],
}

_GOAL: dict[str, Any] = {
    "resourceType": "Goal",
    "id": "goal-1",
    "identifier": [{"system": f"{LOCAL}/goal", "value": "GOAL-0001"}],
    "lifecycleStatus": "active",
    "achievementStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                "code": "in-progress",
            }
        ]
    },
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/goal-category",
                    "code": "behavioral",
                }
            ]
        }
    ],
    "description": {"text": "Keep walking to the shops independently"},
    "subject": PATIENT_REF,
    "startDate": "2024-02-01",
    "target": [{"measure": {"text": "Walks to the shops unaided"}, "dueDate": "2024-08-01"}],
    "expressedBy": PATIENT_REF,
    "addresses": [{"reference": "Condition/cond-1"}],
}

_CARE_TEAM: dict[str, Any] = {
    "resourceType": "CareTeam",
    "id": "careteam-1",
    "identifier": [{"system": f"{LOCAL}/care-team", "value": "CT-0001"}],
    "status": "active",
    "category": [
        {
            "coding": [
                {
                    "system": LOINC,
                    "code": "LA28865-6",
                    "display": "Longitudinal care-coordination focused care team",
                }
            ]
        }
    ],
    "name": "Margaret Thompson's care team",
    "subject": PATIENT_REF,
    "encounter": ENCOUNTER_REF,
    "period": {"start": "2024-02-01"},
    "participant": [
        {"role": [_snomed("62247001", "General practitioner")], "member": GP_REF},
        {"role": [{"text": "Main carer"}], "member": {"reference": "RelatedPerson/rp-1"}},
    ],
    "managingOrganization": [PRACTICE_REF],
}

_SERVICE_REQUEST: dict[str, Any] = {
    "resourceType": "ServiceRequest",
    "id": "sr-1",
    "identifier": [{"system": f"{LOCAL}/referral", "value": "REF-2024-0007"}],
    "status": "active",
    "intent": "order",
    "category": [_snomed("3457005", "Patient referral")],
    "priority": "routine",
    "code": _snomed("871731000000106", "Referral to social prescribing service"),
    "orderDetail": [{"text": "Interested in a walking group and lunch club"}],
    "subject": PATIENT_REF,
    "encounter": ENCOUNTER_REF,
    "occurrencePeriod": {"start": "2024-02-05", "end": "2024-03-31"},
    "authoredOn": "2024-02-01T10:25:00Z",
    "requester": GP_REF,
    "performerType": {"text": "Social prescribing link worker"},
    "performer": [{"reference": "HealthcareService/hcs-1"}],
    "reasonReference": [{"reference": "Condition/cond-1"}],
}

_CARE_PLAN: dict[str, Any] = {
    "resourceType": "CarePlan",
    "id": "careplan-1",
    "identifier": [{"system": f"{LOCAL}/care-plan", "value": "CP-0001"}],
    "instantiatesUri": ["https://www.england.nhs.uk/personalisedcare/"],
    "status": "active",
    "intent": "plan",
    "category": [_snomed("734163000", "Care plan")],
    "title": "Care and support plan",
    "subject": PATIENT_REF,
    "encounter": ENCOUNTER_REF,
    "period": {"start": "2024-02-01", "end": "2025-01-31"},
    "created": "2024-02-01",
    "author": GP_REF,
    "careTeam": [{"reference": "CareTeam/careteam-1"}],
    "addresses": [{"reference": "Condition/cond-1"}],
    "goal": [{"reference": "Goal/goal-1"}],
    "activity": [
        {"reference": {"reference": "ServiceRequest/sr-1"}},
        {
            "detail": {
                "kind": "Appointment",
                "code": _snomed("710825005", "Assessment of health and social care needs"),
                "status": "scheduled",
                "scheduledTiming": {
                    "event": ["2024-05-01T10:00:00Z", "2024-11-01T10:00:00Z"],
                },
                "performer": [GP_REF],
                "description": "Review the plan with Margaret and her daughter",
            }
        },
    ],
}

_TASK: dict[str, Any] = {
    "resourceType": "Task",
    "id": "task-1",
    "identifier": [{"system": f"{LOCAL}/task", "value": "TASK-0001"}],
    "basedOn": [{"reference": "CarePlan/careplan-1"}],
    "groupIdentifier": {"system": f"{LOCAL}/task-group", "value": "REF-2024-0007"},
    "status": "requested",
    "businessStatus": {"text": "Awaiting link worker contact"},
    "intent": "order",
    "priority": "routine",
    "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
    "description": "Contact Margaret to arrange a first social prescribing conversation",
    "focus": {"reference": "ServiceRequest/sr-1"},
    "for": PATIENT_REF,
    "encounter": ENCOUNTER_REF,
    "executionPeriod": {"start": "2024-02-02"},
    "authoredOn": "2024-02-01T10:26:00Z",
    "lastModified": "2024-02-01T10:26:00Z",
    "requester": GP_REF,
    "performerType": [{"text": "Social prescribing link worker"}],
    "owner": {"reference": "HealthcareService/hcs-1"},
}

_APPOINTMENT: dict[str, Any] = {
    "resourceType": "Appointment",
    "id": "appt-1",
    "identifier": [{"system": f"{LOCAL}/appointment", "value": "APPT-0001"}],
    "status": "booked",
    "serviceType": [_snomed("710825005", "Assessment of health and social care needs")],
    "appointmentType": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v2-0276",
                "code": "ROUTINE",
                "display": "Routine appointment",
            }
        ]
    },
    "reasonReference": [{"reference": "Condition/cond-1"}],
    "description": "Care plan review",
    "start": "2024-05-01T10:00:00Z",
    "end": "2024-05-01T10:40:00Z",
    "minutesDuration": 40,
    "created": "2024-02-01",
    "basedOn": [{"reference": "ServiceRequest/sr-1"}],
    "participant": [
        {"actor": PATIENT_REF, "required": "required", "status": "accepted"},
        {"actor": GP_REF, "required": "required", "status": "accepted"},
        {"actor": {"reference": "Location/loc-1"}, "status": "accepted"},
    ],
}

_COMMUNICATION: dict[str, Any] = {
    "resourceType": "Communication",
    "id": "comm-1",
    "identifier": [{"system": f"{LOCAL}/communication", "value": "COMM-0001"}],
    "basedOn": [{"reference": "ServiceRequest/sr-1"}],
    "status": "completed",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/communication-category",
                    "code": "notification",
                }
            ]
        }
    ],
    "subject": PATIENT_REF,
    "encounter": ENCOUNTER_REF,
    "sent": "2024-02-01T11:00:00Z",
    "received": "2024-02-01T11:05:00Z",
    "recipient": [{"reference": "RelatedPerson/rp-1"}],
    "sender": GP_REF,
    "payload": [{"contentString": "Margaret has been referred to the social prescribing team."}],
}

_CONSENT: dict[str, Any] = {
    "resourceType": "Consent",
    "id": "consent-1",
    "identifier": [{"system": f"{LOCAL}/consent", "value": "CONSENT-0001"}],
    "status": "active",
    "scope": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                "code": "patient-privacy",
            }
        ]
    },
    "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Consent"}]}],
    "patient": PATIENT_REF,
    "dateTime": "2024-02-01T10:28:00Z",
    "performer": [PATIENT_REF],
    "organization": [PRACTICE_REF],
    "policyRule": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
    },
    "provision": {
        "type": "permit",
        "period": {"start": "2024-02-01", "end": "2025-01-31"},
        "actor": [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                        }
                    ]
                },
                "reference": {"reference": "CareTeam/careteam-1"},
            }
        ],
        "action": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                        "code": "access",
                    }
                ]
            }
        ],
        "purpose": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                "code": "TREAT",
            }
        ],
    },
}

_QUESTIONNAIRE: dict[str, Any] = {
    "resourceType": "Questionnaire",
    "id": "q-1",
    "url": QUESTIONNAIRE_URL,
    "identifier": [{"system": f"{LOCAL}/questionnaire", "value": "PRISMA-7"}],
    "version": "1.0.0",
    "name": "PRISMA7",
    "title": "PRISMA-7 frailty screening questionnaire",
    "status": "active",
    "date": "2023-11-01",
    "publisher": "careweave example",
    "description": "Seven yes/no questions used to screen older people for frailty.",
    "jurisdiction": [
        {"coding": [{"system": "urn:iso:std:iso:3166", "code": "GB", "display": "United Kingdom"}]}
    ],
    "code": [_snomed("445414007", "Frailty screening")["coding"][0]],
    "item": [
        {"linkId": "1", "text": "Are you older than 85 years?", "type": "boolean"},
        {"linkId": "2", "text": "Are you male?", "type": "boolean"},
        {
            "linkId": "3",
            "text": "In general, do you have any health problems that limit your activities?",
            "type": "boolean",
        },
    ],
}

_QUESTIONNAIRE_RESPONSE: dict[str, Any] = {
    "resourceType": "QuestionnaireResponse",
    "id": "qr-1",
    "identifier": {"system": f"{LOCAL}/questionnaire-response", "value": "QR-0001"},
    "questionnaire": QUESTIONNAIRE_URL,
    "status": "completed",
    "subject": PATIENT_REF,
    "encounter": ENCOUNTER_REF,
    "authored": "2024-02-01T10:10:00Z",
    "author": GP_REF,
    "source": PATIENT_REF,
    "item": [
        {"linkId": "1", "answer": [{"valueBoolean": False}]},
        {"linkId": "2", "answer": [{"valueBoolean": False}]},
        {"linkId": "3", "answer": [{"valueBoolean": True}]},
    ],
}

_DOCUMENT_REFERENCE: dict[str, Any] = {
    "resourceType": "DocumentReference",
    "id": "docref-1",
    "masterIdentifier": {"system": f"{LOCAL}/document", "value": "DOC-0001"},
    "identifier": [{"system": f"{LOCAL}/document-version", "value": "DOC-0001-1"}],
    "status": "current",
    "docStatus": "final",
    "type": _snomed("371531000", "Report of clinical encounter"),
    "category": [_snomed("734163000", "Care plan")],
    "subject": PATIENT_REF,
    "date": "2024-02-01T12:00:00Z",
    "author": [GP_REF],
    "custodian": PRACTICE_REF,
    "description": "Summary of the frailty review and care plan",
    "securityLabel": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                    "code": "N",
                }
            ]
        }
    ],
    "content": [
        {
            "attachment": {
                "contentType": "text/plain",
                "language": "en-GB",
                "data": "RnJhaWx0eSByZXZpZXc6IGNhcmUgcGxhbiBhZ3JlZWQu",
                "title": "Frailty review summary",
                "creation": "2024-02-01T12:00:00Z",
            }
        }
    ],
    "context": {
        "encounter": [ENCOUNTER_REF],
        "period": {"start": "2024-02-01T10:00:00Z", "end": "2024-02-01T10:30:00Z"},
        "related": [{"reference": "CarePlan/careplan-1"}],
    },
}

_FLAG: dict[str, Any] = {
    "resourceType": "Flag",
    "id": "flag-1",
    "identifier": [{"system": f"{LOCAL}/flag", "value": "FLAG-0001"}],
    "status": "active",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/flag-category",
                    "code": "safety",
                    "display": "Safety",
                }
            ]
        }
    ],
    "code": _snomed("129839007", "At risk for falls"),
    "subject": PATIENT_REF,
    "period": {"start": "2024-02-01"},
    "encounter": ENCOUNTER_REF,
    "author": GP_REF,
}

_LIST: dict[str, Any] = {
    "resourceType": "List",
    "id": "list-1",
    "identifier": [{"system": f"{LOCAL}/list", "value": "LIST-0001"}],
    "status": "current",
    "mode": "working",
    "title": "Problem list",
    "code": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/list-example-use-codes",
                "code": "problems",
            }
        ]
    },
    "subject": PATIENT_REF,
    "encounter": ENCOUNTER_REF,
    "date": "2024-02-01T12:05:00Z",
    "source": GP_REF,
    "entry": [
        {"date": "2009-06-22", "item": {"reference": "Condition/cond-1"}},
        {"date": "2010-04-12", "item": {"reference": "AllergyIntolerance/ai-1"}},
    ],
}

_PROVENANCE: dict[str, Any] = {
    "resourceType": "Provenance",
    "id": "prov-1",
    "target": [{"reference": "CarePlan/careplan-1"}, PATIENT_REF],
    "occurredDateTime": "2024-02-01T10:30:00Z",
    "recorded": "2024-02-01T10:31:00Z",
    "policy": ["https://fhir.careweave.example/policy/direct-care"],
    "location": {"reference": "Location/loc-1"},
    "activity": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                "code": "CREATE",
            }
        ]
    },
    "agent": [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "code": "author",
                    }
                ]
            },
            "who": GP_REF,
            "onBehalfOf": PRACTICE_REF,
        }
    ],
    "entity": [{"role": "source", "what": {"reference": "Encounter/enc-1"}}],
}

_AUDIT_EVENT: dict[str, Any] = {
    "resourceType": "AuditEvent",
    "id": "audit-1",
    "type": {
        "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
        "code": "rest",
        "display": "RESTful Operation",
    },
    "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
    "action": "R",
    "period": {"start": "2024-02-01T10:05:00Z", "end": "2024-02-01T10:05:01Z"},
    "recorded": "2024-02-01T10:05:01Z",
    "outcome": "0",
    "purposeOfEvent": [
        {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}
            ]
        }
    ],
    "agent": [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                        "code": "humanuser",
                    }
                ]
            },
            "role": [{"text": "General practitioner"}],
            "who": GP_REF,
            "altId": "akhan",
            "name": "Dr Amina Khan",
            "requestor": True,
            "policy": ["https://fhir.careweave.example/policy/direct-care"],
            "network": {"address": "10.0.0.12", "type": "2"},
        }
    ],
    "source": {
        "site": "careweave",
        "observer": PRACTICE_REF,
        "type": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
            }
        ],
    },
    "entity": [
        {
            "what": PATIENT_REF,
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
                "display": "Person",
            },
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
            "name": "Margaret Thompson",
        }
    ],
}

_SUBSCRIPTION: dict[str, Any] = {
    "resourceType": "Subscription",
    "id": "sub-1",
    "status": "off",
    "contact": [{"system": "email", "value": "integration@community-trust.example.org"}],
    "reason": "Tell the community nursing system when a person is admitted to hospital",
    "criteria": "Encounter?class=IMP",
    "channel": {
        "type": "rest-hook",
        "endpoint": "https://community-trust.example.org/fhir",
        "payload": "application/fhir+json",
        "header": ["Authorization: Bearer example-token"],
    },
}

_IN_DEPENDENCY_ORDER: tuple[dict[str, Any], ...] = (
    _ORGANIZATION,
    _LOCATION,
    _PRACTITIONER,
    _PRACTITIONER_ROLE,
    _HEALTHCARE_SERVICE,
    _PATIENT,
    _RELATED_PERSON,
    _GROUP,
    _EPISODE_OF_CARE,
    _ENCOUNTER,
    _CONDITION,
    _OBSERVATION,
    _ALLERGY_INTOLERANCE,
    _MEDICATION_STATEMENT,
    _GOAL,
    _CARE_TEAM,
    _SERVICE_REQUEST,
    _CARE_PLAN,
    _TASK,
    _APPOINTMENT,
    _COMMUNICATION,
    _CONSENT,
    _QUESTIONNAIRE,
    _QUESTIONNAIRE_RESPONSE,
    _DOCUMENT_REFERENCE,
    _FLAG,
    _LIST,
    _PROVENANCE,
    _AUDIT_EVENT,
    _SUBSCRIPTION,
)


def all_examples() -> list[dict[str, Any]]:
    """Deep copies of every example, each after the resources it refers to."""
    return copy.deepcopy(list(_IN_DEPENDENCY_ORDER))


def example(resource_type: str) -> dict[str, Any]:
    """A deep copy of the example of `resource_type`."""
    for resource in _IN_DEPENDENCY_ORDER:
        if resource["resourceType"] == resource_type:
            return copy.deepcopy(resource)
    raise KeyError(f"no example {resource_type}")
