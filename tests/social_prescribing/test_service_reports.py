"""Service reports on a small hand-built record with the numbers it must give, the small-number
suppression of what is published, and the planning read they come from (analysts only, without
people who opted out), on SQLite and PostgreSQL.

The record (period 1 January to 31 March 2026, service `spn`), ages on 31 March 2026:

  p1  F 75 White (A)   IMD 1   referred r1 (5 Jan: loneliness, low mood; reached 2.0 days
                               later; lunch club attended, walking declined; SWEMWBS 14 -> 21,
                               ONS4 3,4,5,8 -> 6,6,6,4) and r5 (1 Mar: housing; waiting)
  p2  M 70 Asian (H)   IMD 2   self-referred r2 (20 Jan: money; reached 1.5 days later by a
                               conversation; benefits advice waiting; SWEMWBS 17 -> 25)
  p3  F 86 Not stated  IMD 1   r3 (10 Feb: loneliness; rejected); r6 (30 Dec 2025: outside)
  p4  F 65 White (C)   IMD 5   r4 (1 Feb, aged 64: physical inactivity; reached 10.0 days later)
  p5  M 80 no ethnicity, no IMD; p8 F 70 White (A) IMD 10: not referred
  p6  died 15 January 2026 (not in the place's 65+ on 31 March); p7 aged 36
  r7 went to another service; r8 was entered in error.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from careweave.access.consent import CONSENT_CATEGORY_SYSTEM, NATIONAL_DATA_OPT_OUT
from careweave.coordination import codes
from careweave.fhir.errors import Forbidden
from careweave.population.person_measures import IMD_DECILE_EXTENSION
from careweave.population.suppression import HIDDEN
from careweave.population.suppression import UNDER_THRESHOLD as SUPPRESSED
from careweave.social_prescribing.connections import ONWARD_CONNECTION
from careweave.social_prescribing.directory_codes import NEED_SYSTEM
from careweave.social_prescribing.pathway_codes import (
    COMMUNICATION_SYSTEM,
    OUTCOME_SYSTEM,
    REASON_SYSTEM,
)
from careweave.social_prescribing.pathway_problems import PathwayProblem
from careweave.social_prescribing.service_figures import Breakdown, figures_from, nearest_rank
from careweave.social_prescribing.service_reports import (
    planning_records,
    publish,
    service_report,
    suppress_group,
)
from careweave.social_prescribing.wellbeing import Ons4, Swemwbs, ons4_response, swemwbs_response
from tests.coordination.place import PEOPLE, Place, person
from tests.social_prescribing.pathway_place import ANALYST, LINK_WORKER, SERVICE_ORG

START, END = date(2026, 1, 1), date(2026, 3, 31)
ETHNICITY = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
ETHNIC_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"
GP = {"reference": "PractitionerRole/prr-ann", "display": "Dr Ann Example"}


def patient(
    pid: str,
    born: str,
    gender: str,
    imd: int | None = None,
    ethnic: str | None = None,
    died: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "birthDate": born,
        "gender": gender,
        "name": [{"given": [pid.upper()], "family": "Example"}],
    }
    if imd is not None:
        body["address"] = [
            {
                "use": "home",
                "postalCode": "QX1 1AA",
                "extension": [{"url": IMD_DECILE_EXTENSION, "valueInteger": imd}],
            }
        ]
    if ethnic is not None:
        body["extension"] = [
            {
                "url": ETHNICITY,
                "valueCodeableConcept": {"coding": [{"system": ETHNIC_SYSTEM, "code": ethnic}]},
            }
        ]
    if died is not None:
        body["deceasedDateTime"] = died
    return body


def referral(
    rid: str,
    pid: str,
    when: str,
    reasons: tuple[str, ...],
    *,
    to: str = SERVICE_ORG,
    self_referral: bool = False,
    status: str = "active",
) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "category": [codes.concept(*codes.REFERRAL_CATEGORY, "Patient referral")],
        "code": codes.concept(
            *codes.SOCIAL_PRESCRIBING_REFERRAL, "Referral to social prescribing service"
        ),
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": when,
        "requester": {"reference": f"Patient/{pid}"} if self_referral else GP,
        "performer": [{"reference": f"Organization/{to}"}],
        "reasonCode": [codes.concept(REASON_SYSTEM, r) for r in reasons],
    }


def task(tid: str, focus: str, pid: str, status: str, outcome: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Task",
        "id": tid,
        "status": status,
        "intent": "order",
        "code": codes.concept(*codes.FULFIL),
        "focus": {"reference": f"ServiceRequest/{focus}"},
        "for": {"reference": f"Patient/{pid}"},
        "authoredOn": "2026-01-01T00:00:00Z",
    }
    if outcome is not None:
        body["businessStatus"] = codes.concept(OUTCOME_SYSTEM, outcome)
    return body


def contact(cid: str, rid: str, pid: str, kind: str, sent: str) -> dict[str, Any]:
    return {
        "resourceType": "Communication",
        "id": cid,
        "status": "completed",
        "basedOn": [{"reference": f"ServiceRequest/{rid}"}],
        "category": [codes.concept(COMMUNICATION_SYSTEM, kind)],
        "subject": {"reference": f"Patient/{pid}"},
        "sent": sent,
    }


def connection(sid: str, rid: str, pid: str, needs: tuple[str, ...]) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": sid,
        "status": "active",
        "intent": "order",
        "basedOn": [{"reference": f"ServiceRequest/{rid}"}],
        "category": [
            codes.concept(*codes.REFERRAL_CATEGORY),
            codes.concept(*ONWARD_CONNECTION),
            *(codes.concept(NEED_SYSTEM, n) for n in needs),
        ],
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": "2026-02-01T10:00:00Z",
    }


def answers(qid: str, rid: str, pid: str, when: str, scored: Ons4 | Swemwbs) -> dict[str, Any]:
    build = ons4_response if isinstance(scored, Ons4) else swemwbs_response
    body = build(pid, scored, authored=when, author=GP, referral_id=rid)  # type: ignore[arg-type]
    return {**body, "id": qid}


def record() -> list[dict[str, Any]]:
    return [
        patient("p1", "1950-06-01", "female", 1, "A"),
        patient("p2", "1956-01-15", "male", 2, "H"),
        patient("p3", "1940-02-01", "female", 1, "Z"),
        patient("p4", "1961-03-10", "female", 5, "C"),
        patient("p5", "1945-05-05", "male"),
        patient("p6", "1930-01-01", "female", 3, "A", died="2026-01-15"),
        patient("p7", "1990-01-01", "male", 4, "A"),
        patient("p8", "1955-07-07", "female", 10, "A"),
        referral("r1", "p1", "2026-01-05T09:00:00Z", ("loneliness", "low-mood")),
        referral("r2", "p2", "2026-01-20T10:00:00Z", ("financial-worries",), self_referral=True),
        referral("r3", "p3", "2026-02-10T12:00:00Z", ("loneliness",)),
        referral("r4", "p4", "2026-02-01T08:00:00Z", ("physical-inactivity",)),
        referral("r5", "p1", "2026-03-01T12:00:00Z", ("housing",)),
        referral("r6", "p3", "2025-12-30T12:00:00Z", ("loneliness",)),
        referral("r7", "p2", "2026-02-15T12:00:00Z", ("loneliness",), to="riverside"),
        referral("r8", "p1", "2026-02-20T12:00:00Z", ("bereavement",), status="entered-in-error"),
        task("t1", "r1", "p1", "completed"),
        task("t2", "r2", "p2", "in-progress"),
        task("t3", "r3", "p3", "rejected"),
        task("t4", "r4", "p4", "accepted"),
        task("t5", "r5", "p1", "requested"),
        task("t6", "r6", "p3", "accepted"),
        contact("m1", "r1", "p1", "first-contact", "2026-01-07T09:00:00Z"),
        contact("m2", "r1", "p1", "conversation", "2026-01-10T09:00:00Z"),
        contact("m3", "r2", "p2", "conversation", "2026-01-21T22:00:00Z"),
        contact("m4", "r4", "p4", "first-contact", "2026-02-11T08:00:00Z"),
        contact("m5", "r6", "p3", "first-contact", "2026-01-02T08:00:00Z"),
        connection("c1", "r1", "p1", ("lunch-club", "befriending")),
        connection("c2", "r1", "p1", ("physical-activity",)),
        connection("c3", "r2", "p2", ("benefits-advice",)),
        connection("c4", "r6", "p3", ("befriending",)),
        task("ct1", "c1", "p1", "completed", "attended"),
        task("ct2", "c2", "p1", "cancelled", "declined"),
        task("ct3", "c3", "p2", "requested", "waiting"),
        task("ct4", "c4", "p3", "completed", "attended"),
        answers("q1", "r1", "p1", "2026-01-10T09:00:00Z", Swemwbs((2,) * 7)),
        answers("q2", "r1", "p1", "2026-03-20T09:00:00Z", Swemwbs((3,) * 7)),
        answers("q3", "r1", "p1", "2026-01-10T09:00:00Z", Ons4(3, 4, 5, 8)),
        answers("q4", "r1", "p1", "2026-03-20T09:00:00Z", Ons4(6, 6, 6, 4)),
        answers("q5", "r2", "p2", "2026-01-22T09:00:00Z", Swemwbs((3, 3, 3, 2, 2, 2, 2))),
        answers("q6", "r2", "p2", "2026-03-01T09:00:00Z", Swemwbs((4, 4, 4, 4, 3, 3, 3))),
        answers("q7", "r2", "p2", "2026-01-22T09:00:00Z", Ons4(5, 5, 5, 5)),
        answers("q8", "r4", "p4", "2026-02-11T09:00:00Z", Swemwbs((4,) * 7)),
    ]


def test_the_figures_of_the_hand_built_record() -> None:
    figures = figures_from(record(), SERVICE_ORG, START, END)
    assert (figures.referrals_in, figures.self_referrals) == (5, 1)
    assert figures.triage == {"taken on": 3, "not taken on": 1, "waiting": 1, "withdrawn": 0}
    assert (figures.reached, figures.not_reached_yet) == (3, 2)
    assert (figures.days_to_first_contact_median, figures.days_to_first_contact_p90) == (2.0, 10.0)
    assert {code: n for code, n in figures.reasons.items() if n} == {
        "loneliness": 2,
        "low-mood": 1,
        "financial-worries": 1,
        "physical-inactivity": 1,
        "housing": 1,
    }
    assert figures.connections_by_need == {
        "befriending": {"attended": 1},
        "lunch-club": {"attended": 1},
        "physical-activity": {"declined": 1},
        "benefits-advice": {"waiting": 1},
    }
    assert {code: n for code, n in figures.connections_by_outcome.items() if n} == {
        "attended": 1,
        "declined": 1,
        "waiting": 1,
    }
    assert figures.swemwbs_change.n == 2
    assert figures.swemwbs_change.mean == pytest.approx(((19.25 - 15.32) + (22.35 - 16.88)) / 2)
    assert {item: (c.n, c.mean) for item, c in figures.ons4_change.items()} == {
        "life-satisfaction": (1, 3.0),
        "worthwhile": (1, 2.0),
        "happiness": (1, 1.0),
        "anxiety": (1, -4.0),
    }
    assert figures.referred_under_65 == 1
    seen = {b.name: b for b in figures.breakdowns}
    assert seen["Age band"].referred == {
        "65-69": 0, "70-74": 1, "75-79": 1, "80-84": 0, "85 and over": 1,
    }  # fmt: skip
    assert seen["Age band"].population == {
        "65-69": 1, "70-74": 2, "75-79": 1, "80-84": 1, "85 and over": 1,
    }  # fmt: skip
    assert seen["Sex"].referred == {"Female": 2, "Male": 1, "Other": 0, "Not known": 0}
    assert seen["Sex"].population == {"Female": 4, "Male": 2, "Other": 0, "Not known": 0}
    assert {g: n for g, n in seen["Ethnic group"].referred.items() if n} == {
        "White": 1,
        "Asian or Asian British": 1,
        "Not stated": 1,
    }
    assert {g: n for g, n in seen["Ethnic group"].population.items() if n} == {
        "White": 3,
        "Asian or Asian British": 1,
        "Not stated": 1,
        "Not known": 1,
    }
    assert {g: n for g, n in seen["IMD decile"].referred.items() if n} == {"1": 2, "2": 1}
    assert {g: n for g, n in seen["IMD decile"].population.items() if n} == {
        "1": 2, "2": 1, "5": 1, "10": 1, "Not known": 1,
    }  # fmt: skip


def test_a_period_must_not_end_before_it_starts() -> None:
    with pytest.raises(PathwayProblem, match="must end on or after"):
        figures_from([], SERVICE_ORG, END, START)


def test_nearest_rank_percentiles() -> None:
    assert nearest_rank([1.5, 2.0, 10.0], 90) == 10.0
    assert nearest_rank([float(d) for d in range(1, 11)], 90) == 9.0
    assert nearest_rank([float(d) for d in range(1, 21)], 90) == 18.0
    assert nearest_rank([4.0], 90) == 4.0


def test_small_numbers_are_suppressed_with_the_one_beside_them() -> None:
    # The one beside it is hidden as "*": it is not under 10, only hidden to protect "c".
    assert suppress_group({"a": 25, "b": 12, "c": 3}) == {
        "a": "25",
        "b": HIDDEN,
        "c": SUPPRESSED,
    }
    assert suppress_group({"a": 25, "b": 12, "c": 0}) == {
        "a": "25",
        "b": HIDDEN,
        "c": SUPPRESSED,
    }
    # Two already hidden: neither can be worked out alone.
    assert suppress_group({"a": 25, "b": 12, "c": 3, "d": 4}) == {
        "a": "25",
        "b": "12",
        "c": SUPPRESSED,
        "d": SUPPRESSED,
    }
    assert suppress_group({"a": 10, "b": 11}) == {"a": "10", "b": "11"}


def test_the_small_record_publishes_almost_nothing() -> None:
    report = publish(figures_from(record(), SERVICE_ORG, START, END))
    assert (report.referrals_in, report.self_referrals) == (SUPPRESSED, SUPPRESSED)
    assert report.triage == {
        "taken on": SUPPRESSED,
        "not taken on": SUPPRESSED,
        "waiting": SUPPRESSED,
        "withdrawn": SUPPRESSED,  # 0 is under 10 too
    }
    assert report.days_to_first_contact_median is None
    assert report.days_to_first_contact_p90 is None
    assert report.swemwbs_change.n == SUPPRESSED and report.swemwbs_change.mean is None
    assert report.reasons["carer-stress"] == SUPPRESSED
    ages = report.breakdowns[0]
    assert all(row.ratio is None and row.referred_percent is None for row in ages.rows)


def test_a_larger_service_publishes_its_figures_and_ratios() -> None:
    people = [
        patient(f"x{i}", "1950-01-01" if i % 2 else "1940-01-01", "female", 1 + i % 2)
        for i in range(40)
    ]
    referrals = [
        referral(f"rx{i}", f"x{i}", f"2026-01-{i + 1:02d}T09:00:00Z", ("loneliness",))
        for i in range(12)
    ]
    reached = [
        contact(f"mx{i}", f"rx{i}", f"x{i}", "first-contact", f"2026-02-{i + 1:02d}T09:00:00Z")
        for i in range(12)
    ]  # each reached 31 days after the referral
    figures = figures_from([*people, *referrals, *reached], SERVICE_ORG, START, END)
    assert (figures.days_to_first_contact_median, figures.days_to_first_contact_p90) == (31.0, 31.0)
    report = publish(figures)
    assert (report.referrals_in, report.reasons["loneliness"]) == ("12", "12")
    assert (report.days_to_first_contact_median, report.days_to_first_contact_p90) == (
        "31.0",
        "31.0",
    )
    imd = {b.name: b for b in report.breakdowns}["IMD decile"]
    rows = {row.group: row for row in imd.rows}
    # Referred: 6 in decile 1 and 6 in decile 2 (both "<10"); the place: 20 and 20.
    assert (rows["1"].referred, rows["1"].population, rows["1"].population_percent) == (
        SUPPRESSED,
        "20",
        "50.0",
    )
    assert rows["1"].ratio is None  # built on a suppressed count


def test_ratios_show_who_is_referred_less_than_their_share() -> None:
    breakdown = Breakdown("IMD decile", ("1", "10"), {"1": 10, "10": 20}, {"1": 500, "10": 500})
    figures = replace(figures_from([], SERVICE_ORG, START, END), breakdowns=(breakdown,))
    rows = {row.group: row for row in publish(figures).breakdowns[0].rows}
    assert (rows["1"].referred_percent, rows["1"].population_percent, rows["1"].ratio) == (
        "33.3",
        "50.0",
        "0.67",
    )
    assert rows["10"].ratio == "1.33"


@pytest.fixture
def stored_record(sp_place: Place) -> Place:
    for resource in record():
        sp_place.store.update(resource["resourceType"], resource["id"], resource)
    return sp_place


def test_the_report_reads_the_store_as_a_planning_output(stored_record: Place) -> None:
    analyst = stored_record.access(ANALYST)
    from_store = figures_from(planning_records(analyst), SERVICE_ORG, START, END)
    everyone = [*record(), *(person(pid) for pid in PEOPLE)]  # the place's own people too
    assert from_store == figures_from(everyone, SERVICE_ORG, START, END)
    report = service_report(analyst, SERVICE_ORG, START, END)
    assert report.referrals_in == SUPPRESSED
    assert report.connections_by_need["lunch-club"]["attended"] == SUPPRESSED

    # Direct care staff cannot make it: it is not about anyone's care.
    with pytest.raises(Forbidden, match="analysts or platform integrations"):
        service_report(stored_record.access(LINK_WORKER), SERVICE_ORG, START, END)

    # Someone who opted out of planning uses is left out of it altogether.
    stored_record.store.update(
        "Consent",
        "ndoo-p2",
        {
            "resourceType": "Consent",
            "id": "ndoo-p2",
            "status": "active",
            "scope": {"coding": [{"code": "patient-privacy"}]},
            "category": [
                {"coding": [{"system": CONSENT_CATEGORY_SYSTEM, "code": NATIONAL_DATA_OPT_OUT}]}
            ],
            "patient": {"reference": "Patient/p2"},
            "provision": {"type": "deny"},
        },
    )
    without = figures_from(planning_records(stored_record.access(ANALYST)), SERVICE_ORG, START, END)
    assert (without.referrals_in, without.self_referrals) == (4, 0)
    assert without.swemwbs_change.n == 1
    males = [
        {b.name: b for b in f.breakdowns}["Sex"].population["Male"] for f in (from_store, without)
    ]
    assert males == [4, 3]  # p2, p5, Joe and Sid; then without p2
