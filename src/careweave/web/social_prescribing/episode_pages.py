"""A person's social prescribing episode (/people/{id}/social-prescribing/{referral}): the
referral, triage, the first contact, the "what matters to me" conversation, the plan's goals in
their words, onward connections and their outcomes, wellbeing at the start and end, and ending
support, which sends the referrer the outcome.

Everyone who may see the referral sees the page; only the staff of the service it went to are
offered the link worker's steps (careweave.social_prescribing.pathway checks again on every
write). Forms that record something carry a one-time token, so sending one twice records it
once; triage, outcomes and ending carry the version of the Task the page showed, so a change
someone else made meanwhile is shown instead of overwritten. What the domain refuses (a
contact in the future, ending while a connection is open) comes back in the error summary
with what was typed kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination.mdt import SKIPPED_TIME
from careweave.coordination.record import UK, new_submission_token, read, read_or_none, today
from careweave.coordination.tasks import MAXIMUM_TEXT_LENGTH, sides_of
from careweave.social_prescribing.closing import close_episode, outcome_report_text
from careweave.social_prescribing.connections import (
    connect,
    connection_from,
    record_outcome,
    reroute,
)
from careweave.social_prescribing.directory import service_from
from careweave.social_prescribing.episode import Episode, episode_of
from careweave.social_prescribing.pathway import (
    accept_referral,
    agree_plan,
    record_first_contact,
    record_what_matters,
    reject_referral,
)
from careweave.social_prescribing.pathway_codes import (
    CONTACT_MODES,
    ENDINGS,
    FINAL_OUTCOMES,
    OUTCOMES,
    REASON_NEEDS,
    suggested_needs,
)
from careweave.social_prescribing.pathway_problems import ChangedMeanwhile, PathwayProblem
from careweave.uk_time import uk_moment
from careweave.web.coordination.context import StaffPage, may
from careweave.web.coordination.form_fields import form_version, read_date, typed_date
from careweave.web.signed_in import FieldError, PageRefused, posted_form, require_csrf
from careweave.web.social_prescribing.common import (
    NOT_FOUND,
    Page,
    PersonWithPostcode,
    checked_id,
    directory_index,
    is_service_staff,
    person_with_postcode,
    problem_errors,
    problem_status,
    uk_day_of,
)
from careweave.web.social_prescribing.directory_pages import finder_context
from careweave.web.social_prescribing.referral_pages import person_page
from careweave.web.social_prescribing.service_finder import read_search, run_search
from careweave.web.wording import london_time

Form = Annotated[dict[str, str], Depends(posted_form)]

DONE: Final = {
    "referred": "Your referral has been sent to the social prescribing service",
    "accepted": "You have accepted the referral",
    "contact": "The first contact has been recorded",
    "what-matters": "The conversation has been recorded",
    "goals": "The goals have been added to the plan",
    "connected": "The connection has been made. The service has been told",
    "rerouted": "The person has been connected to the new service instead",
    "wellbeing": "The wellbeing answers have been recorded",
    "outcome": "The outcome has been recorded",
}
HOW: Final[Mapping[str, str]] = {
    "in-person": "In person",
    "phone": "By phone",
    "video": "By video call",
}
GOAL_BOXES: Final = 3
CLOCK_GRACE: Final = timedelta(minutes=5)
_TIME: Final = re.compile(r"([01]?\d|2[0-3])[:.]([0-5]\d)")

assert set(HOW) == set(CONTACT_MODES)


def read_moment(
    form: Mapping[str, str], name: str, what: str, *, now: datetime | None = None
) -> tuple[datetime | None, list[FieldError]]:
    """A day (date input `name`) and a time (`name`-time) as a UK moment, or the errors.

    A time the clocks skip (01:30 on the last Sunday in March) is refused, as the MDT form
    refuses it, rather than quietly stored an hour later. So is a time still to come today:
    this records what happened (a few minutes' grace, for a clock that runs fast). `now` is
    the moment it is judged at (the real now when not given)."""
    now = now or datetime.now(UTC)
    day, problem = read_date(form, name, f"Date of the {what}", not_after=now.astimezone(UK).date())
    errors = [problem] if problem else []
    typed = form.get(f"{name}-time", "").strip()
    match = _TIME.fullmatch(typed)
    if not typed:
        errors.append(FieldError(f"{name}-time", f"Enter the time of the {what}"))
    elif match is None:
        errors.append(FieldError(f"{name}-time", "Enter a time written like 14:30"))
    if errors or day is None or match is None:
        return None, errors
    moment = uk_moment(day, int(match[1]), int(match[2]))
    if moment is None:
        return None, [FieldError(f"{name}-time", SKIPPED_TIME)]
    if moment > now + CLOCK_GRACE:
        return None, [FieldError(f"{name}-time", f"Time of the {what} must be in the past")]
    return moment, []


def now_typed(name: str) -> dict[str, str]:
    """A date and time input filled with now (UK), for recording what just happened."""
    now = datetime.now(UTC).astimezone(UK)
    return {
        f"{name}-day": str(now.day),
        f"{name}-month": str(now.month),
        f"{name}-year": str(now.year),
        f"{name}-time": f"{now:%H:%M}",
    }


def item_change_words(change: int | None, improved: bool | None) -> str:
    """An ONS4 change in words: never by colour alone."""
    if change is None:
        return "Not measured again yet"
    if change == 0:
        return "No change"
    better = "better" if improved else "worse"
    return f"{change:+d} ({better})"


def days_after(days: float | None) -> str:
    """How long after the referral the first contact was, as people say it."""
    if days is None:
        return "time not known"
    if days < 1:
        return "less than a day after the referral"
    whole = int(days)
    return f"{whole} day{'s' if whole != 1 else ''} after the referral"


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)
    checked = [Depends(require_csrf)]

    def episode_for(
        page: StaffPage, patient_id: str, referral_id: str
    ) -> tuple[PersonWithPostcode, Episode]:
        person = person_with_postcode(page, patient_id)
        episode = episode_of(page.access, checked_id(referral_id))
        if episode.patient_id != patient_id:
            raise PageRefused(404, NOT_FOUND)
        return person, episode

    def may_work(page: StaffPage, episode: Episode) -> bool:
        return is_service_staff(page, episode.service_organisation_id) and may(
            page, "update", "Task"
        )

    def base(patient_id: str, referral_id: str) -> str:
        return f"/people/{patient_id}/social-prescribing/{referral_id}"

    def done(patient_id: str, referral_id: str, what: str) -> RedirectResponse:
        return RedirectResponse(f"{base(patient_id, referral_id)}?done={what}", status_code=303)

    def show(
        page: StaffPage,
        person: PersonWithPostcode,
        episode: Episode,
        template: str,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        context.setdefault("errors", [])
        context.setdefault("typed", {})
        return person_page(
            page,
            person,
            template,
            styled=styled,
            status_code=status_code,
            episode=episode,
            base=base(episode.patient_id, episode.referral_id),
            organisation=page.directory.organisation,
            london_time=london_time,
            day_of=uk_day_of,
            how=HOW,
            maximum=MAXIMUM_TEXT_LENGTH,
            **context,
        )

    def require_work(page: StaffPage, episode: Episode) -> None:
        if not may_work(page, episode):
            raise PageRefused(
                403,
                "Only the social prescribing service the referral was sent to can do this.",
            )

    # -- the episode -----------------------------------------------------------------------------

    def episode_page(
        page: StaffPage,
        person: PersonWithPostcode,
        episode: Episode,
        *,
        done_key: str = "",
        errors: list[FieldError] | None = None,
        typed: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        return show(
            page,
            person,
            episode,
            "episode.html",
            status_code=status_code,
            done=DONE.get(done_key),
            errors=errors or [],
            typed=typed or {},
            may_work=may_work(page, episode),
            item_change_words=item_change_words,
            days_after=days_after,
            outcomes=OUTCOMES,
            endings=ENDINGS,
        )

    @pages.get("/people/{patient_id}/social-prescribing/{referral_id}")
    def show_episode(page: Page, patient_id: str, referral_id: str, done: str = "") -> Response:
        person, episode = episode_for(page, patient_id, referral_id)
        return episode_page(page, person, episode, done_key=done)

    @pages.post(
        "/people/{patient_id}/social-prescribing/{referral_id}/accept", dependencies=checked
    )
    def accept(page: Page, form: Form, patient_id: str, referral_id: str) -> Response:
        person, episode = episode_for(page, patient_id, referral_id)
        try:
            accept_referral(page.access, episode.referral_id, version=form_version(form))
        except PathwayProblem as exc:
            person, episode = episode_for(page, patient_id, referral_id)
            return episode_page(
                page, person, episode, errors=problem_errors(exc), status_code=problem_status(exc)
            )
        return done(patient_id, referral_id, "accepted")

    @pages.post(
        "/people/{patient_id}/social-prescribing/{referral_id}/reject", dependencies=checked
    )
    def reject(page: Page, form: Form, patient_id: str, referral_id: str) -> Response:
        person, episode = episode_for(page, patient_id, referral_id)
        typed = {"reason": form.get("reason", "")[: MAXIMUM_TEXT_LENGTH * 2]}
        try:
            reject_referral(
                page.access, episode.referral_id, typed["reason"], version=form_version(form)
            )
        except PathwayProblem as exc:
            person, episode = episode_for(page, patient_id, referral_id)
            return episode_page(
                page,
                person,
                episode,
                errors=problem_errors(exc, {"reason": "reject-reason"}),
                typed=typed,
                status_code=problem_status(exc),
            )
        return RedirectResponse("/social-prescribing?done=rejected", status_code=303)

    # -- a contact, a conversation, goals ---------------------------------------------------------

    def step_form(
        template: str,
        fields: tuple[str, ...],
        perform: Callable[[StaffPage, Episode, dict[str, str], datetime | None], object],
        done_key: str,
        *,
        moment: str | None = None,
        what: str = "",
        renames: Mapping[str, str] | None = None,
        extra: Callable[[dict[str, str]], list[FieldError]] | None = None,
        defaults: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        """A GET form and its POST for one of the link worker's steps."""
        path = "/people/{patient_id}/social-prescribing/{referral_id}/" + template.removesuffix(
            ".html"
        )

        def form_page(
            page: StaffPage,
            person: PersonWithPostcode,
            episode: Episode,
            typed: dict[str, str],
            errors: list[FieldError] | None = None,
            status_code: int = 200,
        ) -> Response:
            return show(
                page,
                person,
                episode,
                template,
                status_code=status_code,
                typed=typed,
                errors=errors or [],
                goal_boxes=range(1, GOAL_BOXES + 1),
            )

        @pages.get(path)
        def show_step(page: Page, patient_id: str, referral_id: str) -> Response:
            person, episode = episode_for(page, patient_id, referral_id)
            require_work(page, episode)
            typed = {"token": new_submission_token(), **(defaults() if defaults else {})}
            return form_page(page, person, episode, typed)

        @pages.post(path, dependencies=checked)
        def send_step(page: Page, form: Form, patient_id: str, referral_id: str) -> Response:
            person, episode = episode_for(page, patient_id, referral_id)
            require_work(page, episode)
            typed = {name: form.get(name, "")[: MAXIMUM_TEXT_LENGTH * 2] for name in fields}
            typed["token"] = form.get("token", "")[:64]
            errors: list[FieldError] = []
            at: datetime | None = None
            if moment is not None:
                typed.update(typed_date(form, moment))
                typed[f"{moment}-time"] = form.get(f"{moment}-time", "")[:8]
                at, errors = read_moment(form, moment, what)
            if extra is not None:
                errors += extra(typed)
            if not errors:
                try:
                    perform(page, episode, typed, at)
                except PathwayProblem as exc:
                    return form_page(
                        page,
                        person,
                        episode,
                        typed,
                        problem_errors(exc, dict(renames or {})),
                        problem_status(exc),
                    )
                return done(patient_id, referral_id, done_key)
            return form_page(page, person, episode, typed, errors, 400)

    def need_how(typed: dict[str, str]) -> list[FieldError]:
        if typed.get("how") not in HOW:
            return [FieldError("how", "Select how you were in touch")]
        return []

    def first_contact(
        page: StaffPage, episode: Episode, typed: dict[str, str], at: datetime | None
    ) -> object:
        assert at is not None
        return record_first_contact(
            page.access,
            episode.referral_id,
            at=at,
            how=typed["how"],
            note=typed["note"],
            token=typed["token"],
        )

    step_form(
        "first-contact.html",
        ("how", "note"),
        first_contact,
        "contact",
        moment="at",
        what="contact",
        renames={"at": "at"},
        extra=need_how,
        defaults=lambda: now_typed("at"),
    )

    def what_matters(
        page: StaffPage, episode: Episode, typed: dict[str, str], at: datetime | None
    ) -> object:
        assert at is not None
        return record_what_matters(
            page.access,
            episode.referral_id,
            held_at=at,
            how=typed["how"],
            what_matters=typed["what_matters"],
            notes=typed["notes"],
            token=typed["token"],
        )

    def need_words(typed: dict[str, str]) -> list[FieldError]:
        errors = need_how(typed)
        if not typed.get("what_matters", "").strip():
            errors.append(
                FieldError("what_matters", "Enter what matters to them, in their own words")
            )
        return errors

    step_form(
        "what-matters.html",
        ("how", "what_matters", "notes"),
        what_matters,
        "what-matters",
        moment="at",
        what="conversation",
        extra=need_words,
        defaults=lambda: now_typed("at"),
    )

    def goals(
        page: StaffPage, episode: Episode, typed: dict[str, str], at: datetime | None
    ) -> object:
        review_on = None
        if any(typed.get(f"review_on-{p}") for p in ("day", "month", "year")):
            review_on, _ = read_date(typed, "review_on", "Review date", not_before=today())
        return agree_plan(
            page.access,
            episode.referral_id,
            goals=[typed.get(f"goal-{n}", "") for n in range(1, GOAL_BOXES + 1)],
            review_on=review_on,
            token=typed["token"],
        )

    def check_goals(typed: dict[str, str]) -> list[FieldError]:
        _, problem = read_date(
            typed, "review_on", "Review date", required=False, not_before=today()
        )
        return [problem] if problem else []

    def goals_fields() -> tuple[str, ...]:
        return (
            *(f"goal-{n}" for n in range(1, GOAL_BOXES + 1)),
            "review_on-day",
            "review_on-month",
            "review_on-year",
        )

    step_form(
        "goals.html",
        goals_fields(),
        goals,
        "goals",
        renames={"goals": "goal-1"},
        extra=check_goals,
    )

    # -- connecting to a service -----------------------------------------------------------------

    def connect_page(
        request: Request,
        page: StaffPage,
        person: PersonWithPostcode,
        episode: Episode,
        *,
        errors: list[FieldError] | None = None,
        reroute_of: str = "",
        status_code: int = 200,
    ) -> Response:
        asked = read_search(request.query_params, person.postcode)
        if not asked.asked and not asked.needs:
            asked.needs = list(suggested_needs(list(episode.reasons)))
        if not request.query_params.get("searched") and asked.typed["postcode"]:
            asked.asked = True  # open the page with the person's nearest services listed
        run_search(directory_index(request), asked)
        moving = next((c for c in episode.connections if c.task_id == reroute_of), None)
        if reroute_of and (moving is None or not moving.open):
            raise PageRefused(404, NOT_FOUND)
        connected = {c.service_id for c in episode.open_connections if c.service_id}
        return show(
            page,
            person,
            episode,
            "connect.html",
            status_code=400
            if asked.errors and request.query_params.get("searched")
            else status_code,
            asked=asked,
            errors=[*(errors or []), *asked.errors],
            token=new_submission_token(),
            connected=connected,
            moving=moving,
            today=today(),
            reason_needs=REASON_NEEDS,
            **finder_context(),
        )

    @pages.get("/people/{patient_id}/social-prescribing/{referral_id}/connect")
    def show_connect(
        request: Request, page: Page, patient_id: str, referral_id: str, reroute: str = ""
    ) -> Response:
        person, episode = episode_for(page, patient_id, referral_id)
        require_work(page, episode)
        return connect_page(request, page, person, episode, reroute_of=reroute)

    @pages.post(
        "/people/{patient_id}/social-prescribing/{referral_id}/connect", dependencies=checked
    )
    def make_connection(
        request: Request, page: Page, form: Form, patient_id: str, referral_id: str
    ) -> Response:
        person, episode = episode_for(page, patient_id, referral_id)
        require_work(page, episode)
        service_id = form.get("service", "")[:64]
        moving = form.get("reroute", "")[:64]
        try:
            if moving:
                reroute(
                    page.access,
                    checked_id(moving),
                    service_id,
                    token=form.get("token", "")[:70],
                    version=form_version(form),
                )
            else:
                connect(
                    page.access, episode.referral_id, service_id, token=form.get("token", "")[:70]
                )
        except PathwayProblem as exc:
            return connect_page(
                request,
                page,
                person,
                episode,
                errors=[FieldError(None, exc.message)],
                reroute_of=moving,
                status_code=problem_status(exc),
            )
        return done(patient_id, referral_id, "rerouted" if moving else "connected")

    # -- an outcome ------------------------------------------------------------------------------

    def outcome_page(
        page: StaffPage,
        task_id: str,
        *,
        typed: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        task = read(page.access, "Task", checked_id(task_id))
        request_id = (task.get("focus") or {}).get("reference", "").removeprefix("ServiceRequest/")
        service_request = read_or_none(page.access, "ServiceRequest", request_id)
        if service_request is None:
            raise PageRefused(404, NOT_FOUND)
        performer = (service_request.get("performer") or [{}])[0]
        service_id = str(performer.get("reference", "")).removeprefix("HealthcareService/")
        resource = read_or_none(page.access, "HealthcareService", service_id)
        connection = connection_from(
            service_request, task, service_from(resource) if resource else None
        )
        if connection.patient_id is None:
            raise PageRefused(404, NOT_FOUND)
        person = person_with_postcode(page, connection.patient_id)
        sides = sides_of(
            page.access.principal,
            task,
            lambda role_id: read_or_none(page.access, "PractitionerRole", role_id),
            connection.organisation_id,
        )
        choices = {
            code: words
            for code, words in OUTCOMES.items()
            if code not in ("waiting", connection.outcome)
            and (code != "withdrawn" or sides.requesting)
            and not (code == "accepted" and connection.outcome != "waiting")
        }
        return person_page(
            page,
            person,
            "outcome.html",
            styled=styled,
            status_code=status_code,
            connection=connection,
            choices=choices,
            ended=connection.outcome in FINAL_OUTCOMES,
            may_record=(sides.receiving or sides.requesting) and may(page, "update", "Task"),
            requesting=sides.requesting,
            typed=typed or {"version": str(connection.version)},
            errors=errors or [],
            maximum=MAXIMUM_TEXT_LENGTH,
        )

    @pages.get("/social-prescribing/connections/{task_id}")
    def show_outcome(page: Page, task_id: str) -> Response:
        return outcome_page(page, task_id)

    @pages.post("/social-prescribing/connections/{task_id}", dependencies=checked)
    def save_outcome(page: Page, form: Form, task_id: str) -> Response:
        typed = {
            "outcome": form.get("outcome", "")[:16],
            "reason": form.get("reason", "")[: MAXIMUM_TEXT_LENGTH * 2],
            "version": form.get("version", "")[:12],
        }
        task = read(page.access, "Task", checked_id(task_id))
        requesting = sides_of(
            page.access.principal,
            task,
            lambda role_id: read_or_none(page.access, "PractitionerRole", role_id),
        ).requesting
        focus = (task.get("focus") or {}).get("reference", "").removeprefix("ServiceRequest/")
        service_request = read_or_none(page.access, "ServiceRequest", focus) or {}
        referral = next(
            (
                str(b.get("reference", "")).removeprefix("ServiceRequest/")
                for b in service_request.get("basedOn") or ()
                if isinstance(b, dict)
            ),
            "",
        )
        try:
            record_outcome(
                page.access,
                task_id,
                typed["outcome"],
                reason=typed["reason"],
                version=form_version(form),
            )
        except PathwayProblem as exc:
            if isinstance(exc, ChangedMeanwhile):
                current = read(page.access, "Task", task_id)
                typed["version"] = str((current.get("meta") or {}).get("versionId", ""))
            return outcome_page(
                page,
                task_id,
                typed=typed,
                errors=problem_errors(exc),
                status_code=problem_status(exc),
            )
        patient = str((task.get("for") or {}).get("reference", "")).removeprefix("Patient/")
        if requesting and referral and patient:
            return done(patient, referral, "outcome")
        return RedirectResponse("/social-prescribing?done=outcome", status_code=303)

    # -- ending support --------------------------------------------------------------------------

    def close_page(
        page: StaffPage,
        person: PersonWithPostcode,
        episode: Episode,
        typed: dict[str, str],
        *,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        ending = typed.get("ending") if typed.get("ending") in ENDINGS else "support-complete"
        preview = outcome_report_text(
            episode, str(ending), typed.get("summary", "").strip(), datetime.now(UTC)
        )
        return show(
            page,
            person,
            episode,
            "close.html",
            status_code=status_code,
            typed=typed,
            errors=errors or [],
            endings=ENDINGS,
            preview=preview,
        )

    @pages.get("/people/{patient_id}/social-prescribing/{referral_id}/close")
    def ask_to_close(page: Page, patient_id: str, referral_id: str) -> Response:
        person, episode = episode_for(page, patient_id, referral_id)
        require_work(page, episode)
        return close_page(page, person, episode, {"version": str(episode.version)})

    @pages.post("/people/{patient_id}/social-prescribing/{referral_id}/close", dependencies=checked)
    def close(page: Page, form: Form, patient_id: str, referral_id: str) -> Response:
        person, episode = episode_for(page, patient_id, referral_id)
        require_work(page, episode)
        typed = {
            "ending": form.get("ending", "")[:32],
            "summary": form.get("summary", "")[: MAXIMUM_TEXT_LENGTH * 2],
            "version": form.get("version", "")[:12],
        }
        try:
            close_episode(
                page.access,
                episode.referral_id,
                ending=typed["ending"],
                summary=typed["summary"],
                version=form_version(form),
            )
        except PathwayProblem as exc:
            if isinstance(exc, ChangedMeanwhile):
                # Shown as it is now: sending the form again applies it to this version.
                episode = episode_of(page.access, episode.referral_id)
                typed["version"] = str(episode.version)
            return close_page(
                page,
                person,
                episode,
                typed,
                errors=problem_errors(exc),
                status_code=problem_status(exc),
            )
        # Ending support ends the service's sight of the person: back to the list.
        return RedirectResponse("/social-prescribing?done=closed", status_code=303)

    return pages
