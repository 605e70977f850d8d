"""Carers as partners: recording them, and the person's consent that opens the care plan to
their carer's sign-in (and closes it again), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from careweave.access.consent import carer_consent_of
from careweave.coordination.care_plan import care_plan_of
from careweave.coordination.care_plan_actions import create_plan
from careweave.coordination.care_team import team_of
from careweave.coordination.carers import (
    CarerDetails,
    CarerProblem,
    carers_of,
    check_details,
    give_consent,
    record_carer,
    stop_caring,
    update_carer,
    withdraw_consent,
)
from careweave.coordination.record import find, new_submission_token, today
from careweave.fhir.errors import VersionConflict
from tests.coordination.place import Place
from tests.coordination.test_care_plan import care_team

SUSAN = CarerDetails("Susan", "Example", "DAU", "07700 900456", "susan@example.org", True)


def plan_and_team(place: Place) -> None:
    care_team(place)
    create_plan(place.access("cara.coord"), "mary", new_submission_token())


def test_details_are_checked_field_by_field() -> None:
    problems = check_details(CarerDetails("", " ", "AUNTIE", "12ab", "no-at-sign", False))
    assert [p.field for p in problems] == ["given", "family", "relationship", "phone", "email"]
    assert check_details(SUSAN) == []
    assert check_details(CarerDetails("Jo", "Bloggs", "NBOR", "", "", False)) == []


def test_a_recorded_carer_is_a_related_person_marked_as_an_unpaid_carer(place: Place) -> None:
    cara = place.access("cara.coord")
    token = new_submission_token()
    made = record_carer(cara, "mary", SUSAN, token)
    assert record_carer(cara, "mary", SUSAN, token) == made  # a resubmitted form
    related = find(cara, "RelatedPerson", [("patient", "Patient/mary")])
    assert sorted(r["id"] for r in related) == sorted(["carl", made])
    susan = next(c for c in carers_of(cara, "mary") if c.related_person_id == made)
    assert (susan.name, susan.relationship, susan.unpaid_carer, susan.main_carer) == (
        "Susan Example",
        "Daughter",
        True,
        True,
    )
    assert (susan.phone, susan.email, susan.since, susan.consent) == (
        "07700 900456",
        "susan@example.org",
        today(),
        None,
    )
    # The main carer is listed first; Carl (no codes, from elsewhere) after.
    assert [c.related_person_id for c in carers_of(cara, "mary")] == [made, "carl"]
    with pytest.raises(CarerProblem):
        record_carer(cara, "mary", CarerDetails("", "X", "SON", "", "", False), token + "1")


def test_a_change_from_a_stale_form_is_refused_and_others_are_kept(place: Place) -> None:
    cara = place.access("cara.coord")
    made = record_carer(cara, "mary", SUSAN, new_submission_token())
    shown = next(c for c in carers_of(cara, "mary") if c.related_person_id == made)
    moved = CarerDetails("Susan", "Newname", "DAU", "01632 960111", "", False)
    update_carer(cara, "mary", made, moved, shown.version_id)
    changed = next(c for c in carers_of(cara, "mary") if c.related_person_id == made)
    assert (changed.family, changed.phone, changed.email, changed.main_carer) == (
        "Newname",
        "01632 960111",
        None,
        False,
    )
    with pytest.raises(VersionConflict):
        update_carer(cara, "mary", made, SUSAN, shown.version_id)
    with pytest.raises(CarerProblem):
        update_carer(cara, "joe", made, SUSAN, changed.version_id)  # not Joe's carer


def test_the_carer_sees_the_team_but_not_the_plan_until_the_person_consents(
    place: Place,
) -> None:
    plan_and_team(place)
    carl = place.access("carl")
    assert team_of(carl, "mary") is not None  # whom to call, consent or not
    assert care_plan_of(carl, "mary") is None
    assert find(carl, "CarePlan", [("patient", "Patient/mary")]) == []
    assert carer_consent_of(place.store, "mary", "carl") is None

    give_consent(place.access("mary"), "mary", "carl", new_submission_token())
    carl = place.access("carl")  # a new request
    plan = care_plan_of(carl, "mary")
    assert plan is not None
    consent = carer_consent_of(place.store, "mary", "carl")
    assert consent is not None and consent["performer"] == [{"reference": "Patient/mary"}]

    assert withdraw_consent(place.access("mary"), "mary", "carl")
    assert not withdraw_consent(place.access("mary"), "mary", "carl")
    assert care_plan_of(place.access("carl"), "mary") is None


def test_only_an_active_permitting_consent_for_that_carer_counts(place: Place) -> None:
    mary = place.access("mary")
    consent_id = give_consent(mary, "mary", "carl", new_submission_token())
    assert carer_consent_of(place.store, "mary", "carl") is not None
    assert carer_consent_of(place.store, "mary", "someone-else") is None
    assert carer_consent_of(place.store, "joe", "carl") is None
    stored = place.store.read("Consent", consent_id).as_dict()
    ended = {**stored, "provision": {**stored["provision"], "period": {"end": "2020-01-01"}}}
    place.put(ended)
    assert carer_consent_of(place.store, "mary", "carl") is None
    denied = {**stored, "provision": {**stored["provision"], "type": "deny"}}
    place.put(denied)
    assert carer_consent_of(place.store, "mary", "carl") is None
    place.put({**stored, "provision": {**stored["provision"], "period": {"end": "2999-01-01"}}})
    assert carer_consent_of(place.store, "mary", "carl") is not None


def test_staff_record_consent_on_the_persons_behalf_and_stopping_caring_withdraws_it(
    place: Place,
) -> None:
    plan_and_team(place)
    cara = place.access("cara.coord")
    consent_id = give_consent(
        cara, "mary", "carl", new_submission_token(), recorded_by_organisation="riverside"
    )
    # Giving it again (a second click) finds the one given.
    assert give_consent(cara, "mary", "carl", new_submission_token()) == consent_id
    stored = place.store.read("Consent", consent_id).as_dict()
    assert stored["organization"] == [{"reference": "Organization/riverside"}]
    assert stored["provision"]["period"]["start"] == today().isoformat()
    carl_shown = next(c for c in carers_of(cara, "mary") if c.related_person_id == "carl")
    assert carl_shown.consent is not None and carl_shown.consent.consent_id == consent_id

    stop_caring(cara, "mary", "carl", carl_shown.version_id)
    after = next(c for c in carers_of(cara, "mary") if c.related_person_id == "carl")
    assert not after.active and after.consent is None
    assert place.store.read("Consent", consent_id).as_dict()["status"] == "inactive"
    assert carer_consent_of(place.store, "mary", "carl") is None
    with pytest.raises(CarerProblem):
        give_consent(cara, "mary", "carl", new_submission_token())


def test_a_consent_period_ending_yesterday_closes_the_plan(place: Place) -> None:
    plan_and_team(place)
    consent_id = give_consent(place.access("mary"), "mary", "carl", new_submission_token())
    assert care_plan_of(place.access("carl"), "mary") is not None
    stored = place.store.read("Consent", consent_id).as_dict()
    yesterday = (today() - timedelta(days=1)).isoformat()
    stored["provision"]["period"]["end"] = yesterday
    place.put(stored)
    assert care_plan_of(place.access("carl"), "mary") is None


def test_the_day_consent_was_given_is_the_uk_day_of_its_instant(place: Place) -> None:
    """Consent.dateTime is a UTC instant: agreeing at 00:30 BST on 11 June is 23:30 UTC on 10
    June, and the carers page must say 11 June, the day the person agreed."""
    consent_id = give_consent(place.access("mary"), "mary", "carl", new_submission_token())
    stored = place.store.read("Consent", consent_id).as_dict()
    place.put({**stored, "dateTime": "2026-06-10T23:30:00Z"})
    carl = next(
        c for c in carers_of(place.access("cara.coord"), "mary") if c.related_person_id == "carl"
    )
    assert carl.consent is not None
    assert carl.consent.given_on == date(2026, 6, 11)


def test_the_carers_page_and_the_access_rules_agree_on_a_consent_ending_with_a_month(
    place: Place,
) -> None:
    """A consent whose period ends with a month alone ("2026-06") runs to its last day. The
    carers page showed such a consent as agreed for ever, while the access rules had closed
    it; both now read it with access.consent.carer_consent_in_force."""
    plan_and_team(place)
    consent_id = give_consent(place.access("mary"), "mary", "carl", new_submission_token())
    for month, in_force in ((today() - timedelta(days=40), False), (today(), True)):
        stored = place.store.read("Consent", consent_id).as_dict()
        stored["provision"]["period"]["end"] = f"{month:%Y-%m}"
        place.put(stored)
        carl = next(
            c
            for c in carers_of(place.access("cara.coord"), "mary")
            if c.related_person_id == "carl"
        )
        assert (carl.consent is not None) is in_force, month
        assert (care_plan_of(place.access("carl"), "mary") is not None) is in_force, month
