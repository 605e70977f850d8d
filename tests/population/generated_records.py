"""Hypothesis strategies for whole person records that stress every rule a measure applies:
statuses that count and that do not, dates on both sides of each window's edges (and partial
dates, times in other zones, missing dates), several entries on the same day, deaths, care
plans with and without reviews. Used to check the SQL engine against the Python reference, as
OpenSAFELY checks its engines against its in-memory one."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from careweave.coordination.codes import (
    CARE_PLAN_CATEGORY,
    LAST_REVIEWED_EXTENSION,
    NEXT_REVIEW_EXTENSION,
    SECTION_EXTENSION,
)
from careweave.population.cambridge_multimorbidity import (
    cambridge_code_lists,
    diagnosis_lists,
    medicine_lists,
)
from careweave.population.clinical_frailty_scale import CFS_CODE
from careweave.population.efi import efi_code_list
from careweave.population.flatten import (
    ETHNIC_CATEGORY_EXTENSION,
    ETHNIC_CATEGORY_SYSTEMS,
    LSOA_EXTENSION,
)
from careweave.population.medicines import THERAPY_TYPE
from careweave.population.multimorbidity import long_term_condition_list
from careweave.population.person_measures import (
    HOUSEHOLD_COMPOSITION,
    IMD_DECILE_EXTENSION,
    LIVING_ARRANGEMENTS,
    SOCIAL_CARE,
    V3_ACT_CODE,
)
from careweave.population.record import CONDITION_VERIFICATION, SNOMED

AS_OF_DAYS = (date(2026, 3, 31), date(2025, 12, 31), date(2024, 2, 29))
EDGE_OFFSETS = (-1825, -1824, -731, -730, -366, -365, -364, -90, -89, -1, 0, 1, 2)

_CAMBRIDGE = cambridge_code_lists()
CODES = sorted(
    {
        *efi_code_list().deficits_of,
        *long_term_condition_list().condition_of,
        *(c for lst in diagnosis_lists() for c in sorted(_CAMBRIDGE.codes_in(lst))[:2]),
        "22298006",
        "1234567",
    }
)
MEDICINES = (
    *(f"39{n:03d}11000001100" for n in range(14)),
    *sorted({min(_CAMBRIDGE.codes_in(lst)) for lst in medicine_lists()}),
)
"""Made-up medicine codes, and one code of each of the Cambridge score's medicine lists."""


def days_near(as_of: date) -> st.SearchStrategy[date]:
    """Mostly the days at the edges of the windows (the year, 90 days, the day itself)."""
    edges = st.sampled_from([as_of + timedelta(days=o) for o in EDGE_OFFSETS])
    anywhere = st.dates(date(2010, 1, 1), date(2028, 12, 31))
    return st.one_of(edges, edges, edges, anywhere)


def fhir_dates(as_of: date) -> st.SearchStrategy[str]:
    """A FHIR date or dateTime near the edges: full, partial, or a time in some zone."""

    def written(day: date, form: int) -> str:
        return [
            day.isoformat(),
            day.isoformat(),
            day.isoformat()[:4],
            day.isoformat()[:7],
            f"{day.isoformat()}T23:30:00Z",
            f"{day.isoformat()}T00:30:00+01:00",
            f"{day.isoformat()}T12:00:00",
        ][form]

    forms = st.one_of(st.just(0), st.integers(0, 6))
    return st.builds(written, days_near(as_of), forms)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def concept(code: str, system: str = SNOMED) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _without_none(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if v is not None}


@st.composite
def patient(draw: st.DrawFn, as_of: date) -> dict[str, Any]:
    born = draw(st.dates(date(1915, 1, 1), as_of))
    address: dict[str, Any] = {"use": draw(st.sampled_from(["home", None, "work"]))}
    extensions = []
    if draw(st.booleans()):
        extensions.append({"url": IMD_DECILE_EXTENSION, "valueInteger": draw(st.integers(0, 11))})
    if draw(st.booleans()):
        extensions.append({"url": LSOA_EXTENSION, "valueString": "E01000001"})
    if extensions:
        address["extension"] = extensions
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "birthDate": draw(
            st.sampled_from([born.isoformat(), born.isoformat()[:4], born.isoformat()[:7]])
        ),
        "gender": draw(st.sampled_from(["female", "male", "other", "unknown", None])),
        "address": [_without_none(address)],
        "generalPractitioner": [{"reference": "Organization/prac1"}],
    }
    if draw(st.booleans()):
        system = draw(st.sampled_from(ETHNIC_CATEGORY_SYSTEMS))
        code = draw(st.sampled_from(["A", "H", "M", "R", "Z", "99", "CA", "LB"]))
        resource["extension"] = [
            {"url": ETHNIC_CATEGORY_EXTENSION, "valueCodeableConcept": concept(code, system)}
        ]
    death = draw(st.integers(0, 5))
    if death == 0:
        resource["deceasedDateTime"] = draw(fhir_dates(as_of))
    elif death == 1:
        resource["deceasedBoolean"] = draw(st.booleans())
    return _without_none(resource)


@st.composite
def condition(draw: st.DrawFn, as_of: date) -> dict[str, Any]:
    verification = draw(
        st.sampled_from([None, "confirmed", "unconfirmed", "refuted", "entered-in-error"])
    )
    codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=2))
    return _without_none(
        {
            "resourceType": "Condition",
            "code": {"coding": [{"system": SNOMED, "code": c} for c in codes]},
            "verificationStatus": concept(verification, CONDITION_VERIFICATION)
            if verification
            else None,
            "recordedDate": draw(maybe(fhir_dates(as_of))),
            "onsetDateTime": draw(maybe(fhir_dates(as_of))),
        }
    )


@st.composite
def observation(draw: st.DrawFn, as_of: date) -> dict[str, Any]:
    kind = draw(st.integers(0, 2))
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": draw(
            st.sampled_from(["final", "amended", "preliminary", "entered-in-error", "cancelled"])
        ),
        "effectiveDateTime": draw(maybe(fhir_dates(as_of))),
        "issued": draw(maybe(st.just(f"{as_of.isoformat()}T09:00:00Z"))),
    }
    if kind == 0:
        resource["code"] = concept(draw(st.sampled_from(CODES)))
    elif kind == 1:
        resource["code"] = concept(HOUSEHOLD_COMPOSITION)
        values = draw(st.lists(st.sampled_from([*LIVING_ARRANGEMENTS, "999999"]), max_size=2))
        resource["valueCodeableConcept"] = {
            "coding": [{"system": SNOMED, "code": v} for v in values]
        }
    else:
        resource["code"] = concept(CFS_CODE)
        resource["valueInteger"] = draw(st.sampled_from([0, 1, 5, 7, 9, 10, True]))
    return _without_none(resource)


@st.composite
def medicine(draw: st.DrawFn, as_of: date) -> dict[str, Any]:
    code = draw(st.sampled_from(MEDICINES))
    named = draw(st.integers(0, 4))
    medication = {"text": f" Medicine {code[-4:]} "} if named == 0 else concept(code)
    if draw(st.booleans()):
        form = draw(st.integers(0, 2))
        resource: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "status": draw(
                st.sampled_from(
                    ["active", "completed", "stopped", "on-hold", "entered-in-error", "intended"]
                )
            ),
            "medicationCodeableConcept": medication,
            "dateAsserted": draw(maybe(fhir_dates(as_of))),
        }
        if form == 0:
            resource["effectivePeriod"] = _without_none(
                {"start": draw(maybe(fhir_dates(as_of))), "end": draw(maybe(fhir_dates(as_of)))}
            )
        elif form == 1:
            resource["effectiveDateTime"] = draw(fhir_dates(as_of))
        return _without_none(resource)
    course = draw(st.sampled_from([None, "acute", "continuous", "seasonal"]))
    resource = {
        "resourceType": "MedicationRequest",
        "status": draw(st.sampled_from(["active", "completed", "stopped", "cancelled", "draft"])),
        "intent": draw(st.sampled_from(["order", "original-order", "plan", "proposal"])),
        "medicationCodeableConcept": medication,
        "authoredOn": draw(maybe(fhir_dates(as_of))),
        "courseOfTherapyType": concept(course, THERAPY_TYPE) if course else None,
    }
    if draw(st.booleans()):
        resource["dispenseRequest"] = {
            "validityPeriod": _without_none(
                {"start": draw(maybe(fhir_dates(as_of))), "end": draw(maybe(fhir_dates(as_of)))}
            )
        }
    return _without_none(resource)


@st.composite
def encounter(draw: st.DrawFn, as_of: date) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": draw(
            st.sampled_from(["finished", "in-progress", "planned", "cancelled", "entered-in-error"])
        ),
        "class": {
            "system": draw(st.sampled_from([V3_ACT_CODE, V3_ACT_CODE, "http://example.org/x"])),
            "code": draw(st.sampled_from(["IMP", "ACUTE", "NONAC", "EMER", "AMB", "HH"])),
        },
        "period": {"start": draw(fhir_dates(as_of))},
    }


@st.composite
def episode(draw: st.DrawFn, as_of: date) -> dict[str, Any]:
    kinds = draw(
        st.lists(
            st.sampled_from(["care-home", "nursing-home", "home-care"]), min_size=1, max_size=2
        )
    )
    return {
        "resourceType": "EpisodeOfCare",
        "status": draw(st.sampled_from(["active", "finished", "planned", "cancelled", "waitlist"])),
        "type": [concept(k, SOCIAL_CARE) for k in kinds],
        "period": _without_none(
            {"start": draw(maybe(fhir_dates(as_of))), "end": draw(maybe(fhir_dates(as_of)))}
        ),
    }


@st.composite
def carer(draw: st.DrawFn, as_of: date) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "relationship": [
            concept(
                draw(st.sampled_from(["unpaid-carer", "main-unpaid-carer", "neighbour"])),
                SOCIAL_CARE,
            )
        ],
        "active": draw(st.sampled_from([True, False, None])),
    }
    if draw(st.booleans()):
        resource["period"] = _without_none(
            {"start": draw(maybe(fhir_dates(as_of))), "end": draw(maybe(fhir_dates(as_of)))}
        )
    return _without_none(resource)


@st.composite
def care_plan(draw: st.DrawFn, as_of: date) -> dict[str, Any]:
    system, code = CARE_PLAN_CATEGORY
    extensions = []
    if draw(st.booleans()):
        extensions.append(
            {"url": NEXT_REVIEW_EXTENSION, "valueDate": draw(days_near(as_of)).isoformat()}
        )
    if draw(st.booleans()):
        extensions.append(
            {"url": LAST_REVIEWED_EXTENSION, "valueDate": draw(days_near(as_of)).isoformat()}
        )
    notes = []
    if draw(st.booleans()):
        section = draw(st.sampled_from(["anticipatory", "about-me"]))
        notes.append(
            {"extension": [{"url": SECTION_EXTENSION, "valueCode": section}], "text": "Wishes"}
        )
    return _without_none(
        {
            "resourceType": "CarePlan",
            "extension": extensions or None,
            "status": draw(st.sampled_from(["active", "active", "completed", "draft"])),
            "intent": "plan",
            "category": [concept(code, system) if draw(st.booleans()) else concept("x", system)],
            "created": draw(maybe(st.builds(date.isoformat, days_near(as_of)))),
            "meta": {
                "lastUpdated": draw(
                    st.sampled_from(["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"])
                )
            },
            "note": notes or None,
        }
    )


ENTRY_KINDS = (condition, observation, medicine, encounter, episode, carer, care_plan)


@st.composite
def person_record(draw: st.DrawFn, as_of: date, patient_id: str) -> list[dict[str, Any]]:
    """A Patient and up to 25 resources about them, ids unique to the person."""
    entries = draw(st.lists(st.one_of(*(kind(as_of) for kind in ENTRY_KINDS)), max_size=25))
    record = [dict(draw(patient(as_of)), id=patient_id)]
    for number, entry in enumerate(entries):
        field = (
            "patient" if entry["resourceType"] in ("EpisodeOfCare", "RelatedPerson") else "subject"
        )
        record.append(
            {**entry, "id": f"{patient_id}-{number}", field: {"reference": f"Patient/{patient_id}"}}
        )
    return record


@st.composite
def place(draw: st.DrawFn) -> tuple[date, list[list[dict[str, Any]]]]:
    """An as-of day and 1 to 12 people's records."""
    as_of = draw(st.sampled_from(AS_OF_DAYS))
    people = draw(st.integers(1, 12))
    return as_of, [draw(person_record(as_of, f"pt{n}")) for n in range(people)]
