"""The population health pages (issue 8): the 65+ population by segment and its trend
(/population), one measure by deprivation, ethnicity, sex and age (/population/equity), and
case-finding, a worklist care staff can act on (/population/find-people), from which a person
goes to their summary or to an MDT meeting's list (/population/find-people/<id>/mdt).

Every page is a GET form or a link, so it can be bookmarked and works without JavaScript. The
figures come from the population projection that `careweave population refresh` keeps
(careweave.population.projection; where it is: `Settings.population_projection`, else beside
an SQLite store); without one, the pages say how to make it. What leaves direct care (the
dashboard, the equity tables, the count of people the user is not caring for) is published
with small numbers suppressed by careweave.population; the worklist names only people the
user has a legitimate relationship with, read through the guard and audited. Nothing here
computes a figure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import urlencode

import duckdb
from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from careweave.access.roles import CARE_ROLES, Role
from careweave.coordination import mdt
from careweave.coordination.record import may_read
from careweave.population.cambridge_multimorbidity import cambridge_code_lists
from careweave.population.case_finding import CaseFindingQuery
from careweave.population.charts import SEGMENT_WORDS, BarGroup, bar_chart, bars, count_words
from careweave.population.columnar import read_state
from careweave.population.dashboard import (
    PopulationOverview,
    equity_view,
    population_overview,
)
from careweave.population.efi import FRAILTY_CATEGORIES
from careweave.population.equity import DIMENSIONS, EQUITY_SCORES, EQUITY_WORDS, projection_words
from careweave.population.multimorbidity import ComplexThresholds
from careweave.population.named_worklist import NAMED_SHOWN, named_worklist, practices
from careweave.population.projection import ProjectionProblem, open_projection, projection_path
from careweave.settings import Settings
from careweave.web.coordination.context import (
    StaffPage,
    person_of,
    record_access,
    staff_page,
)
from careweave.web.pages import render, uk_date
from careweave.web.signed_in import FieldError, PageRefused, SignedIn, current_user
from careweave.web.wording import Directory, london_time

NOT_FOR_YOUR_ROLE: Final = (
    "Population health figures are for analysts, leaders of the place and care staff. If you "
    "need them for your work, ask your administrator to check the role on your account."
)
NOT_SHARED: Final = (
    "Finding people at risk uses their health records (conditions, medicines and hospital "
    "stays), which are not shared with your role."
)
FRAILTY_WORDS: Final = {
    "fit": "Fit",
    "mild": "Mild frailty",
    "moderate": "Moderate frailty",
    "severe": "Severe frailty",
}
ONLY_WORDS: Final = {
    "lives_alone": "Live alone",
    "care_home": "Live in a care home",
    "polypharmacy": "Take 10 or more repeat medicines",
    "complex_multimorbidity": "Have complex multimorbidity",
    "end_of_life": "Are recognised as nearing the end of life",
}
"""Who a worklist can be kept to; `only_words` says by which definition of complex
multimorbidity."""
MAX_MONTHS: Final = 120
MAX_DAYS: Final = 730
MAX_CONDITIONS: Final = 30
TICKED: Final = "yes"
_SCORE: Final = re.compile(r"\d{1,2}(\.\d{1,2})?|\.\d{1,2}")


def population_reader(
    request: Request, signed_in: Annotated[SignedIn, Depends(current_user)]
) -> StaffPage:
    """Analysts and care staff: the dashboard and equity pages publish only suppressed
    figures, for planning; others are refused with a page saying why."""
    if signed_in.user.role is not Role.ANALYST and signed_in.user.role not in CARE_ROLES:
        raise PageRefused(403, NOT_FOR_YOUR_ROLE)
    return StaffPage(
        signed_in, record_access(request, signed_in), Directory(request.app.state.store)
    )


Reader = Annotated[StaffPage, Depends(population_reader)]
Staff = Annotated[StaffPage, Depends(staff_page)]


@dataclass(frozen=True)
class Missing:
    """Why there are no figures to show: no projection configured, or none made yet."""

    configured: bool


@contextmanager
def projection(request: Request) -> Iterator[tuple[Path, duckdb.DuckDBPyConnection] | Missing]:
    """The projection this server's store is kept in, opened read only for this request, or
    why there is none."""
    settings: Settings = request.app.state.settings
    try:
        path = projection_path(settings.database_url, settings.population_projection)
    except ProjectionProblem:
        yield Missing(configured=False)
        return
    try:
        con = open_projection(path)
    except ProjectionProblem:
        yield Missing(configured=True)
        return
    try:
        yield path, con
    finally:
        con.close()


@dataclass(frozen=True)
class Sees:
    """Which measures the user's role may see: the projection is drawn from records their
    role may not read, so a criterion or column about them is neither offered nor shown."""

    health: bool
    hospital: bool
    plans: bool


def sees(page: StaffPage) -> Sees:
    return Sees(
        health=may_read(page.access, "Condition"),
        hospital=may_read(page.access, "Encounter"),
        plans=may_read(page.access, "CarePlan"),
    )


def only_words(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """ONLY_WORDS, with complex multimorbidity as the projection measured it ("3 or more
    conditions in 3 or more body systems" unless the place chose other thresholds): the
    people found are those, and the person choosing should know who they will get."""
    thresholds = ComplexThresholds.from_state(read_state(con))
    words = dict(ONLY_WORDS)
    words["complex_multimorbidity"] += f" ({thresholds.describe()})"
    return words


def _whole_number(
    typed: Mapping[str, str], name: str, largest: int, what: str, errors: list[FieldError]
) -> int | None:
    text = typed.get(name, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= largest:
        errors.append(
            FieldError(name, f"Enter {what} as a whole number from 1 to {largest:,}, like 12")
        )
        return None
    return int(text)


def _score(typed: Mapping[str, str], name: str, errors: list[FieldError]) -> float | None:
    """A Cambridge Multimorbidity Score typed in the form (up to 2 decimals), or None."""
    text = typed.get(name, "").strip()
    if not text:
        return None
    top = cambridge_code_lists().top_hundredths
    if not _SCORE.fullmatch(text) or not 1 <= round(float(text) * 100) <= top:
        errors.append(
            FieldError(name, f"Enter the score as a number from 0.01 to {top / 100:.2f}, like 2.5")
        )
        return None
    return float(text)


def read_query(
    typed: Mapping[str, str],
    frailty: list[str],
    only: list[str],
    practice_choices: Mapping[str, str],
    seen: Sees,
) -> tuple[CaseFindingQuery | None, list[FieldError]]:
    """The case-finding question the form asks, or the problems with it in page order."""
    errors: list[FieldError] = []
    if seen.health and any(f not in FRAILTY_WORDS for f in frailty):
        errors.append(FieldError("frailty", "Choose frailty from the list"))
    months = (
        _whole_number(typed, "no_review_months", MAX_MONTHS, "the number of months", errors)
        if seen.plans
        else None
    )
    days = (
        _whole_number(typed, "admitted_days", MAX_DAYS, "the number of days", errors)
        if seen.hospital
        else None
    )
    conditions = (
        _whole_number(typed, "min_conditions", MAX_CONDITIONS, "the number of conditions", errors)
        if seen.health
        else None
    )
    cambridge = _score(typed, "min_cambridge", errors) if seen.health else None
    practice = typed.get("practice", "")
    if practice and practice not in practice_choices:
        errors.append(FieldError("practice", "Choose a practice from the list"))
    if seen.health and any(o not in ONLY_WORDS for o in only):
        errors.append(FieldError("only", "Choose who to look for from the list"))
    if errors:
        return None, errors
    chosen = set(only) if seen.health else set()

    def ticked(name: str) -> bool | None:
        return True if name in chosen else None

    query = CaseFindingQuery(
        frailty=frozenset(frailty) if seen.health else frozenset(),
        no_plan_review_months=months,
        admitted_within_days=days,
        practice=practice or None,
        min_long_term_conditions=conditions,
        min_cambridge_score=cambridge,
        complex_multimorbidity=ticked("complex_multimorbidity"),
        polypharmacy=ticked("polypharmacy"),
        care_home=ticked("care_home"),
        lives_alone=ticked("lives_alone"),
        end_of_life=ticked("end_of_life"),
    )
    if query == CaseFindingQuery(practice=query.practice):
        first = "frailty" if seen.health else "no_review_months" if seen.plans else "practice"
        return None, [
            FieldError(first, "Choose at least one thing to look for, such as frailty")
            if seen.health
            else FieldError(first, "Choose at least one thing to look for")
        ]
    return query, []


def _address(typed: Mapping[str, str], frailty: list[str], only: list[str]) -> str:
    """The worklist's address for these criteria (to come back to from another page)."""
    query = [("searched", TICKED)]
    query += [("frailty", f) for f in frailty]
    query += [(n, typed[n]) for n in ("no_review_months", "admitted_days", "practice") if typed[n]]
    query += [(n, typed[n]) for n in ("min_conditions", "min_cambridge") if typed[n]]
    query += [("only", o) for o in only]
    return "/population/find-people?" + urlencode(query)


def _segment_charts(overview: PopulationOverview) -> tuple[object, object]:
    now = bar_chart(
        "segments-now",
        f"People aged 65 and over by segment on {uk_date(overview.as_of)}",
        "A bar for each segment, its number of people written beside it; "
        "the table after the chart gives the same counts.",
        [BarGroup(None, bars(overview.now.counts))],
    )
    largest = max(
        (v for day in overview.trend for v in day.counts.values() if isinstance(v, int)),
        default=0,
    )
    groups = [
        BarGroup(
            words,
            bars(
                {uk_date(day.as_of): day.counts[segment] for day in overview.trend},
                words={},
                largest=largest,
            ),
        )
        for segment, words in SEGMENT_WORDS.items()
    ]
    trend = bar_chart(
        "segments-trend",
        "People aged 65 and over by segment, year by year",
        "For each segment, a bar for each day, oldest first, its number of people written "
        "beside it; the table after the chart gives the same counts.",
        groups,
    )
    return now, trend


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)

    def no_projection(page: StaffPage, missing: Missing, title: str) -> Response:
        return render(
            "population/no_projection.html",
            styled=styled,
            signed_in=page.signed_in,
            current_section="population",
            missing=missing,
            title=title,
        )

    @pages.get("/population")
    def overview(request: Request, page: Reader) -> Response:
        with projection(request) as opened:
            if isinstance(opened, Missing):
                return no_projection(page, opened, "Population health")
            path, con = opened
            found = population_overview(con, path)
            words = projection_words(con)
        now_chart, trend_chart = _segment_charts(found)
        return render(
            "population/overview.html",
            styled=styled,
            signed_in=page.signed_in,
            current_section="population",
            overview=found,
            now_chart=now_chart,
            trend_chart=trend_chart,
            segment_words=SEGMENT_WORDS,
            measures=words,
            refreshed=london_time(found.refreshed),
            count=count_words,
            care_staff=page.signed_in.user.role in CARE_ROLES,
        )

    @pages.get("/population/equity")
    def equity(request: Request, page: Reader, measure: str = "") -> Response:
        chosen = measure[:64] or next(iter(EQUITY_WORDS))
        errors = [] if chosen in EQUITY_WORDS else [FieldError("measure", "Choose a measure")]
        with projection(request) as opened:
            if isinstance(opened, Missing):
                return no_projection(page, opened, "Equity")
            path, con = opened
            choices = projection_words(con)
            view = equity_view(con, path, chosen) if not errors else None
        return render(
            "population/equity.html",
            status_code=400 if errors else 200,
            styled=styled,
            signed_in=page.signed_in,
            current_section="population",
            errors=errors,
            measures=choices,
            chosen=chosen,
            view=view,
            dimension_words={name: words for name, (words, _, _) in DIMENSIONS.items()},
            refreshed=london_time(view.refreshed) if view else "",
            count=count_words,
            scores=EQUITY_SCORES,
        )

    @pages.get("/population/find-people")
    def find_people(
        request: Request,
        page: Staff,
        frailty: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI's default
        only: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI's default
    ) -> Response:
        seen = sees(page)
        if not (seen.health or seen.hospital):
            raise PageRefused(403, NOT_SHARED)
        asked = request.query_params.get("searched") == TICKED
        frailty = [f[:16] for f in frailty[:8]]
        only = [o[:32] for o in only[:8]]
        with projection(request) as opened:
            if isinstance(opened, Missing):
                return no_projection(page, opened, "Find people at risk")
            _, con = opened
            choices = practices(con)
            who = only_words(con)
            own = page.signed_in.user.organisation_id or ""
            if asked:
                typed = {
                    name: request.query_params.get(name, "")[:64]
                    for name in (
                        "no_review_months",
                        "admitted_days",
                        "practice",
                        "min_conditions",
                        "min_cambridge",
                    )
                }
            else:
                # The example question, at the user's own practice if they are in one.
                typed = {
                    "no_review_months": "12",
                    "admitted_days": "90",
                    "practice": own if own in choices else "",
                    "min_conditions": "",
                    "min_cambridge": "",
                }
                frailty = ["moderate", "severe"]
            query, errors = read_query(typed, frailty, only, choices, seen) if asked else (None, [])
            found = named_worklist(page.access, con, query) if query else None
        names = {
            p.person.practice_id: page.directory.organisation(p.person.practice_id)
            for p in (found.people if found else ())
            if p.person.practice_id
        }
        return render(
            "population/find_people.html",
            status_code=400 if errors else 200,
            styled=styled,
            signed_in=page.signed_in,
            current_section="find-people",
            errors=errors,
            typed=typed,
            frailty=frailty,
            only=only,
            seen=seen,
            frailty_words=FRAILTY_WORDS,
            frailty_choices={k: FRAILTY_WORDS[k] for k in FRAILTY_CATEGORIES},
            only_words=who,
            practices={"": "Any practice", **choices},
            found=found,
            names=names,
            named_shown=NAMED_SHOWN,
            back=_address(typed, frailty, only),
            count=count_words,
            cambridge_top=f"{cambridge_code_lists().top_hundredths / 100:.2f}",
        )

    @pages.get("/population/find-people/{patient_id}/mdt")
    def choose_meeting(page: Staff, patient_id: str, back: str = "") -> Response:
        person = person_of(page, patient_id)
        principal = page.access.principal
        meetings = [
            summary.meeting
            for summary in mdt.my_meetings(page.access).upcoming
            if summary.meeting.status == "booked" and mdt.takes_part(principal, summary.meeting)
        ]
        search = person.nhs_number or person.name
        return render(
            "population/add_to_mdt.html",
            styled=styled,
            signed_in=page.signed_in,
            current_section="find-people",
            person=person,
            meetings=meetings,
            add_to={
                m.id: f"/mdt/{m.id}/people/add?"
                + urlencode({"q": search, "patient": person.patient_id})
                for m in meetings
            },
            back=back if back.startswith("/population/find-people?") else "",
            london_time=london_time,
        )

    return pages
