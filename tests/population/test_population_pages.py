"""The population health pages over HTTP, on SQLite and PostgreSQL, signed in through the form.

The place is the coordination tests' (tests/coordination/place.py: Riverside Surgery with Mary
and Joe, Hilltop Practice with Sid, their staff) with more older people at both practices,
each with a made-up record of frailty deficits and emergency admissions, and two at Riverside
with a national data opt-out. The projection is made from the store by the real refresh:

  Riverside  Joe (severe), Mary, r1, r2 (moderate): admitted in the last 90 days, no care plan
             r3-r5 moderate, not admitted; r6-r12 fit; o1, o2 moderate, admitted, opted out
  Hilltop    Sid (severe), h1-h6 (moderate): admitted in the last 90 days; h7-h11 fit

So 26 people aged 65 and over are counted (28 less the two who opted out), 12 with moderate
frailty, 2 with severe frailty (a count under 10).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from careweave.access.audit import who_accessed
from careweave.access.consent import CONSENT_CATEGORY_SYSTEM, NATIONAL_DATA_OPT_OUT
from careweave.coordination import mdt
from careweave.coordination.record import new_submission_token, today
from careweave.population.efi import CODED_DEFICITS
from careweave.population.multimorbidity import ComplexThresholds
from careweave.population.projection import full_refresh
from careweave.settings import Settings
from careweave.store.repository import FhirStore
from tests.coordination.place import Place, build_place
from tests.population.records import deficit_records, encounter
from tests.web.social_prescribing_place import error_summary, form_on, text_of
from tests.web.test_governance_pages import make_user

MODERATE = frozenset(CODED_DEFICITS[:10])
SEVERE = frozenset(CODED_DEFICITS[:14])
ANALYST = "ana.analyst"
FOUND = {"searched": "yes", "frailty": ["moderate", "severe"], "no_review_months": "12"}
ISSUE_QUESTION = {**FOUND, "admitted_days": "90"}


def _extra_person(place: Place, person_id: str, practice: str, n: int) -> None:
    place.put(
        {
            "resourceType": "Patient",
            "id": person_id,
            "name": [{"given": ["Person"], "family": person_id.upper()}],
            "gender": "female" if n % 2 else "male",
            "birthDate": f"19{35 + n % 15}-05-01",
            "generalPractitioner": [{"reference": f"Organization/{practice}"}],
        }
    )


def _record(place: Place, person_id: str, deficits: frozenset[str], admitted: int | None) -> None:
    entries: list[dict[str, Any]] = deficit_records(deficits)
    if admitted is not None:
        entries.append(encounter("IMP", today() - timedelta(days=admitted)))
    for k, entry in enumerate(entries):
        body = {**entry, "id": f"{person_id}-r{k}"}
        body["patient" if entry["resourceType"] == "EpisodeOfCare" else "subject"] = {
            "reference": f"Patient/{person_id}"
        }
        place.put(body)


def _opt_out(place: Place, person_id: str) -> None:
    place.put(
        {
            "resourceType": "Consent",
            "id": f"ndoo-{person_id}",
            "status": "active",
            "scope": {"coding": [{"code": "patient-privacy"}]},
            "category": [
                {"coding": [{"system": CONSENT_CATEGORY_SYSTEM, "code": NATIONAL_DATA_OPT_OUT}]}
            ],
            "patient": {"reference": f"Patient/{person_id}"},
            "provision": {"type": "deny"},
        }
    )


def add_older_people(place: Place) -> None:
    extra = [(f"r{n}", "riverside") for n in range(1, 13)]
    extra += [(f"h{n}", "hilltop") for n in range(1, 12)]
    extra += [("o1", "riverside"), ("o2", "riverside")]
    for n, (person_id, practice) in enumerate(extra):
        _extra_person(place, person_id, practice, n + 1)
    _record(place, "joe", SEVERE, 10)
    _record(place, "sid", SEVERE, 20)
    _record(place, "mary", MODERATE, 30)
    for person_id in ("r1", "r2", "h1", "h2", "h3", "h4", "h5", "h6", "o1", "o2"):
        _record(place, person_id, MODERATE, 40)
    for person_id in ("r3", "r4", "r5"):
        _record(place, person_id, MODERATE, None)
    _opt_out(place, "o1")
    _opt_out(place, "o2")
    make_user(place.store.database, ANALYST, "Ana Analyst", "analyst", organisation_id="riverside")


@pytest.fixture
def pages(store: FhirStore, database_url: str, tmp_path: Path) -> Iterator[Place]:
    """The place, its projection refreshed, and the app told where the projection is (a
    PostgreSQL store has nowhere to keep it by default)."""
    with ExitStack() as stack:
        place = build_place(store, database_url, stack)
        add_older_people(place)
        projection = tmp_path / "population.duckdb"
        full_refresh(store.database, projection, as_of=today())
        place.app.state.settings = replace(
            place.app.state.settings, population_projection=projection
        )
        yield place


def _rows(page: str) -> list[str]:
    """Each table row's text, single spaced."""
    return [
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())
        for row in re.findall(r"<tr\b.*?</tr>", page, re.S)
    ]


def _row(page: str, starts: str) -> str:
    found = [r for r in _rows(page) if r.startswith(starts)]
    assert found, f"no row starting {starts!r}"
    return found[0]


def test_the_dashboard_publishes_segments_and_their_trend_with_small_numbers_hidden(
    pages: Place,
) -> None:
    analyst = pages.sign_in(ANALYST)
    page = analyst.get("/population")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    # Everyone 65+ but the two who opted out, and the page says they are left out.
    assert "26 people aged 65 and over on" in text
    assert "<10 people are left out" in text
    assert "national data opt-out" in text
    assert f"on {today().day} {today():%B %Y}" in text  # as of the projection's day
    assert "last refreshed on" in text
    assert _row(page.text, "Segment Moderate frailty") == "Segment Moderate frailty People 12"
    assert _row(page.text, "Segment Severe frailty") == "Segment Severe frailty People <10"
    for row in _rows(page.text):
        if row.startswith("Segment ") and " People " in row:
            shown = row.rsplit(" People ", 1)[1]
            assert shown in ("<10", "*") or int(shown) >= 10, row
    # Each chart is an image labelled by its title and description, followed by its table.
    assert page.text.count('<svg role="img"') == 2
    for chart_id in ("segments-now", "segments-trend"):
        assert (
            f'<svg role="img" class="careweave-chart" '
            f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in page.text
        )
        assert f'<title id="{chart_id}-title">' in page.text
        assert f'<desc id="{chart_id}-desc">' in page.text
        after = page.text[page.text.index(f'id="{chart_id}-title"') :]
        assert after.index("</svg>") < after.index("<table") < after.index("<caption")
    trend = _row(page.text, "Segment Everyone aged 65 and over")
    assert trend.endswith("26")
    assert 'href="/population"' in page.text  # the analyst's menu
    assert "<script" not in page.text[page.text.find("<main") : page.text.find("</main>")]


def test_the_equity_page_breaks_a_measure_down_with_rates_and_intervals(pages: Place) -> None:
    analyst = pages.sign_in(ANALYST)
    page = analyst.get("/population/equity", params={"measure": "moderate_severe_frailty"})
    assert page.status_code == 200, page.text
    assert '<option value="moderate_severe_frailty" selected>' in page.text
    for caption in ("by IMD decile", "by ethnic group", "by sex", "by age band"):
        assert f"Moderate or severe frailty (eFI), {caption}" in html.unescape(page.text)
    # 14 of the 26 have moderate or severe frailty: shown with its rate and Wilson interval.
    everyone = _row(page.text, "IMD decile (1 = most deprived) All people aged 65 and over")
    assert "People 26 With the measure 14 Rate 53.8%" in everyone
    assert re.search(r"95% confidence interval 3\d\.\d% to 7\d\.\d%", everyone)
    # Groups under 10 are "<10", with no rate; nothing under 10 is shown as a number.
    female = _row(page.text, "Sex Female")
    assert "<10" in female or "*" in female
    assert "Rate Not shown" in female
    assert "<10 people are left out" in text_of(page.text)

    # The Cambridge score is a mean, to two decimals, with its interval in the same units.
    scores = analyst.get("/population/equity", params={"measure": "cambridge_score"})
    assert scores.status_code == 200, scores.text
    everyone = _row(scores.text, "IMD decile (1 = most deprived) All people aged 65 and over")
    found = re.search(
        r"Mean score (\d+\.\d\d) 95% confidence interval (-?\d+\.\d\d) to (\d+\.\d\d)", everyone
    )
    assert found, everyone
    mean, low, high = (float(v) for v in found.groups())
    assert low <= mean <= high and mean > 0
    assert "%" not in everyone.replace("95% confidence", "")  # a score, not a percentage

    unknown = analyst.get("/population/equity", params={"measure": "wealth"})
    assert unknown.status_code == 400
    assert "Choose a measure" in error_summary(unknown.text)


def test_the_pages_name_complex_multimorbidity_by_the_projection_s_thresholds(
    pages: Place,
) -> None:
    gp = pages.sign_in("ann.gp")
    analyst = pages.sign_in(ANALYST)
    harrison = "Have complex multimorbidity (3 or more conditions in 3 or more body systems)"
    assert harrison in text_of(gp.get("/population/find-people").text)
    projection = pages.app.state.settings.population_projection
    kingston = ComplexThresholds(4, 1)
    full_refresh(pages.store.database, projection, as_of=today(), complex_thresholds=kingston)
    form = text_of(gp.get("/population/find-people").text)
    assert "Have complex multimorbidity (4 or more conditions)" in form
    assert "body systems" not in form
    overview = html.unescape(analyst.get("/population").text)
    assert (
        '<option value="complex_multimorbidity">Complex multimorbidity (4+ conditions)</option>'
        in overview
    )
    equity = analyst.get("/population/equity", params={"measure": "complex_multimorbidity"})
    assert equity.status_code == 200, equity.text
    assert "Complex multimorbidity (4+ conditions), by IMD decile" in html.unescape(equity.text)
    assert "3+ body systems" not in html.unescape(equity.text)


def test_a_gp_finds_the_issue_question_and_sees_only_their_own_patients_by_name(
    pages: Place,
) -> None:
    gp = pages.sign_in("ann.gp")
    blank = gp.get("/population/find-people")
    assert blank.status_code == 200, blank.text
    # The form starts with the issue's question, at the GP's own practice.
    assert 'value="moderate" checked' in blank.text and 'value="severe" checked' in blank.text
    assert '<option value="riverside" selected>' in blank.text
    assert 'id="results"' not in blank.text

    page = gp.get("/population/find-people", params=ISSUE_QUESTION)
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    # Riverside's four, most frail first, each a link to their record with why they were found.
    names = re.findall(r'<a class="nhsuk-link" href="/people/([\w-]+)">', page.text)
    assert names == ["joe", "mary", "r1", "r2"]
    mary = _row(page.text, "Name Mary Example")
    assert "Frailty Moderate frailty (10 deficits)" in mary
    assert "Emergency admissions in the last year 1" in mary
    assert "Care plan reviewed No care plan" in mary
    assert re.search(r"Cambridge score \d+\.\d\d", mary)
    # Sid and Hilltop's six are not Ann's patients: counted, under 10, never named.
    assert "Sid" not in text and "PERSON H1" not in text
    assert "<10 other people aged 65 and over match, whose care you are not part of" in text
    # The two who opted out are not found, and the page says their care team still sees them.
    assert "PERSON O1" not in text
    assert "<10 people are left out. Their care teams still see their records as usual" in text
    # Naming them was a look at their records, in each one's audit trail.
    assert [e.event for e in who_accessed(pages.store.database, "mary") if e.username == "ann.gp"]
    assert not [e for e in who_accessed(pages.store.database, "sid") if e.username == "ann.gp"]

    hal = pages.sign_in("hal.gp").get(
        "/population/find-people", params={**ISSUE_QUESTION, "practice": ""}
    )
    names = re.findall(r'<a class="nhsuk-link" href="/people/([\w-]+)">', hal.text)
    assert names[0] == "sid" and set(names) == {"sid", *(f"h{n}" for n in range(1, 7))}
    assert "Mary" not in text_of(hal.text)


def test_criteria_are_checked_with_an_error_summary(pages: Place) -> None:
    gp = pages.sign_in("ann.gp")
    bad = gp.get(
        "/population/find-people",
        params={
            "searched": "yes",
            "frailty": ["moderate", "very"],
            "no_review_months": "twelve",
            "admitted_days": "0",
            "practice": "nowhere",
        },
    )
    assert bad.status_code == 400
    summary = error_summary(bad.text)
    assert "Choose frailty from the list" in summary
    assert "Enter the number of months as a whole number from 1 to 120" in summary
    assert "Enter the number of days as a whole number from 1 to 730" in summary
    assert "Choose a practice from the list" in summary
    assert '<a href="#no_review_months">' in bad.text
    assert 'id="admitted_days-error"' in bad.text and 'value="twelve"' in bad.text
    assert "<title>Error: Find people at risk" in bad.text
    assert 'id="results"' not in bad.text

    nothing = gp.get("/population/find-people", params={"searched": "yes"})
    assert nothing.status_code == 400
    assert "Choose at least one thing to look for" in error_summary(nothing.text)

    for score in ("16.34", "17", "2.555", "lots", "0"):
        refused = gp.get(
            "/population/find-people", params={"searched": "yes", "min_cambridge": score}
        )
        assert refused.status_code == 400, score
        assert "Enter the score as a number from 0.01 to 16.33, like 2.5" in error_summary(
            refused.text
        )
        assert f'value="{score}"' in refused.text
    # the top score is allowed, and the form's hint names it
    edge = gp.get("/population/find-people", params={"searched": "yes", "min_cambridge": "16.33"})
    assert edge.status_code == 200, edge.text
    assert "from 0 to 16.33. For example, 2.5." in edge.text


def test_people_are_found_by_their_cambridge_score(pages: Place) -> None:
    gp = pages.sign_in("ann.gp")
    everyone = gp.get("/population/find-people", params={**FOUND, "no_review_months": ""})
    scores = {
        name: float(score)
        for name, score in re.findall(
            r'href="/people/([\w-]+)">.*?Cambridge score </span>\s*(?:<span>)?([\d.]+)',
            everyone.text,
            re.S,
        )
    }
    assert scores and max(scores.values()) > 0
    top = max(scores.values())
    found = gp.get(
        "/population/find-people",
        params={**FOUND, "no_review_months": "", "min_cambridge": f"{top:.2f}"},
    )
    assert found.status_code == 200, found.text
    names = re.findall(r'<a class="nhsuk-link" href="/people/([\w-]+)">', found.text)
    assert names == [n for n, s in scores.items() if s >= top]
    assert "min_cambridge%3D" in found.text  # the way back from a person keeps the criterion


def schedule_riverside_mdt(place: Place) -> mdt.MeetingMade:
    """Ann's frailty MDT meeting next week, which people found can be added to."""
    return mdt.schedule_meeting(
        place.access("ann.gp"),
        mdt.MeetingRequest(
            title="Riverside frailty MDT",
            day=today() + timedelta(days=7),
            start_time="10:00",
            minutes="60",
            place="Riverside Surgery, meeting room",
        ),
        new_submission_token(),
    )


def test_from_the_worklist_a_person_goes_to_an_mdt_meeting(pages: Place) -> None:
    meeting = schedule_riverside_mdt(pages)
    gp = pages.sign_in("ann.gp")
    page = gp.get("/population/find-people", params=ISSUE_QUESTION)
    link = re.search(r'href="(/population/find-people/mary/mdt\?[^"]+)"', page.text)
    assert link
    choose = gp.get(html.unescape(link.group(1)))
    assert choose.status_code == 200, choose.text
    assert "Riverside frailty MDT" in text_of(choose.text)
    back = re.search(r'class="nhsuk-back-link__link" href="([^"]+)"', choose.text)
    assert back and html.unescape(back.group(1)).startswith("/population/find-people?searched=")
    add = re.search(rf'href="(/mdt/{meeting.appointment_id}/people/add\?[^"]+)"', choose.text)
    assert add
    address = html.unescape(add.group(1))
    assert parse_qs(urlsplit(address).query) == {"q": ["9990000018"], "patient": ["mary"]}
    form_page = gp.get(address)
    assert form_page.status_code == 200, form_page.text
    fields = form_on(form_page.text, f"/mdt/{meeting.appointment_id}/people/add")
    assert fields["patient"] == "mary"  # already chosen
    sent = gp.post(
        f"/mdt/{meeting.appointment_id}/people/add",
        data={**fields, "reason": "Found by case-finding: moderate frailty, admitted"},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    listed = gp.get(f"/mdt/{meeting.appointment_id}")
    assert "Mary Example" in text_of(listed.text)

    # Someone Ann has no relationship with cannot be reached this way.
    assert gp.get("/population/find-people/sid/mdt").status_code == 404


def test_who_may_see_the_pages(pages: Place) -> None:
    for username in ("mary", "carl"):
        client = pages.sign_in(username)
        assert client.get("/population").status_code == 403
        assert client.get("/population/find-people").status_code == 403
    analyst = pages.sign_in(ANALYST)
    refused = analyst.get("/population/find-people")
    assert refused.status_code == 403
    assert "This page is for staff who care for people" in text_of(refused.text)
    # A volunteer cares for people but sees no health records: no worklist drawn from them.
    volunteer = pages.sign_in("val.vol").get("/population/find-people")
    assert volunteer.status_code == 403
    assert "not shared with your role" in text_of(volunteer.text)
    # Care staff may read the dashboard (suppressed figures) and find it in their menu.
    nurse = pages.sign_in("nina.nurse")
    assert nurse.get("/population").status_code == 200
    assert 'href="/population/find-people"' in nurse.get("/caseload").text


def test_without_a_projection_the_pages_say_how_to_make_one(
    store: FhirStore, database_url: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        place = build_place(store, database_url, stack)
        make_user(store.database, ANALYST, "Ana Analyst", "analyst", organisation_id="riverside")
        settings: Settings = place.app.state.settings
        for projection in (None, tmp_path / "not-made-yet.duckdb"):
            place.app.state.settings = replace(settings, population_projection=projection)
            analyst: TestClient = place.sign_in(ANALYST)
            for path in ("/population", "/population/equity"):
                page = analyst.get(path)
                assert page.status_code == 200, page.text
                text = text_of(page.text)
                assert "There are no population health figures yet" in text
                if projection is None and database_url.startswith("postgresql"):
                    assert "CAREWEAVE_POPULATION_PROJECTION" in text
                else:
                    assert "careweave population refresh" in text
            gp = place.sign_in("ann.gp").get("/population/find-people")
            assert "There are no population health figures yet" in text_of(gp.text)
