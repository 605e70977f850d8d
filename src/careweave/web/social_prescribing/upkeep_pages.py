"""Keeping the directory up to date: an organisation's entries not checked for six months, and
the forms that record a check, change an entry or record that a service has closed.

Every change is a new version of the HealthcareService, written through the signed-in user's
guard (careweave.social_prescribing.directory_records), so the access rules decide who may make
it: administrators change any entry, and the staff of the organisation that provides a
service (HealthcareService.providedBy) change their own organisation's entries and no one
else's (careweave.access.policy.check_change, for every transport). Each organisation's staff
see their own stale entries here. Opening times are one line per day of the week
(careweave.social_prescribing.opening_times), so the form stays within the posted-field limit
and reads as people say their times. Every form carries the version it was read at: a change
someone made meanwhile is shown, with what the user typed kept to apply again, never
overwritten. A closed service keeps its history.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.access.policy import may_update_entry
from careweave.coordination.record import find, today
from careweave.fhir.errors import Forbidden
from careweave.social_prescribing.connections import ONWARD_CONNECTION
from careweave.social_prescribing.directory import CommunityService, Cost
from careweave.social_prescribing.directory_codes import (
    ACCESSIBILITY,
    COST_KINDS,
    DAY_NAMES,
    DAYS,
    NEEDS,
    REFERRAL_METHODS,
)
from careweave.social_prescribing.directory_records import (
    close_service,
    read_service,
    record_checked,
    update_service,
)
from careweave.social_prescribing.directory_staleness import stale_by_organisation, stale_from
from careweave.social_prescribing.opening_times import (
    MAX_DAY_TEXT,
    day_lines,
    sessions_from_days,
)
from careweave.social_prescribing.problems import ChangedSinceRead, ServiceNotFound
from careweave.store.repository import StoreTransaction
from careweave.web.coordination.context import StaffPage
from careweave.web.coordination.form_fields import form_version, read_date, typed_date
from careweave.web.pages import render
from careweave.web.signed_in import FieldError, PageRefused, posted_form, require_csrf
from careweave.web.social_prescribing.common import (
    NOT_FOUND,
    AnyStaff,
    checked_id,
    directory_index,
    is_administrator,
)
from careweave.web.social_prescribing.directory_pages import last_checked_words

Form = Annotated[dict[str, str], Depends(posted_form)]

CHANGED: Final = "Someone else changed this entry since you opened it"
NO_CHANGES: Final = (
    "Only staff of the organisation that runs this service, or a careweave administrator, can "
    "change its directory entry. Tell them what needs changing, or that it has been checked."
)
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_WEBSITE: Final = re.compile(r"https?://[^\s/]+\.[^\s]*", re.IGNORECASE)
COST_CHOICES: Final[Mapping[str, str]] = {"": "Not recorded", **COST_KINDS}
DETAIL_FIELDS: Final = (
    "name",
    "description",
    "eligibility",
    "cost",
    "amount",
    "cost_detail",
    "phone",
    "email",
    "website",
    "contact_name",
    "contact_title",
)
LIMITS: Final[Mapping[str, tuple[int, str]]] = {
    "name": (200, "The name"),
    "description": (2000, "What it offers"),
    "eligibility": (500, "Who it is for"),
    "cost_detail": (200, "The words about the cost"),
    "phone": (40, "The phone number"),
    "email": (200, "The email address"),
    "website": (500, "The website"),
    "contact_name": (100, "The contact's name"),
    "contact_title": (100, "The contact's job title"),
}


def may_change(page: StaffPage, organisation_id: str | None) -> bool:
    """Whether the user may change the entries of services `organisation_id` provides (the
    guard asks the same question of every write)."""
    return may_update_entry(page.access.principal, organisation_id)


def _may_change(page: StaffPage, service: CommunityService) -> None:
    """Offer a form only to someone who may change this entry."""
    if not may_change(page, service.organisation_id):
        raise PageRefused(403, NO_CHANGES)


def _text(value: str | None) -> str:
    return value or ""


def details_typed(service: CommunityService) -> dict[str, str]:
    """An entry's details as the details form shows them."""
    cost = service.cost
    amount = "" if cost is None or cost.amount is None else f"{cost.amount:.2f}"
    return {
        "version": str(service.version or ""),
        "name": service.name,
        "description": _text(service.description),
        "eligibility": _text(service.eligibility),
        "cost": cost.kind if cost else "",
        "amount": amount,
        "cost_detail": _text(cost.detail if cost else None),
        "phone": _text(service.phone),
        "email": _text(service.email),
        "website": _text(service.website),
        "contact_name": _text(service.contact_name),
        "contact_title": _text(service.contact_title),
    }


def read_details(
    form: Mapping[str, str], current: CommunityService
) -> tuple[CommunityService, list[FieldError]]:
    """The entry with the details form's changes, or the errors to show."""
    typed = {name: form.get(name, "").strip() for name in DETAIL_FIELDS}
    errors: list[FieldError] = []
    if not typed["name"]:
        errors.append(FieldError("name", "Enter the service's name"))
    for name, (limit, what) in LIMITS.items():
        if len(typed[name]) > limit:
            errors.append(FieldError(name, f"{what} must be {limit:,} characters or fewer"))
    if typed["cost"] not in COST_CHOICES:
        errors.append(FieldError("cost", "Select what it costs from the list"))
    amount: Decimal | None = None
    if typed["amount"]:
        try:
            amount = Decimal(typed["amount"].removeprefix("£").replace(",", ""))
            if amount < 0 or amount != amount.quantize(Decimal("0.01")) or amount > 10000:
                raise InvalidOperation
        except InvalidOperation:
            errors.append(FieldError("amount", "Enter the amount in pounds, for example 4.50"))
            amount = None
        if typed["cost"] != "charge":
            errors.append(FieldError("amount", "Only give an amount for a service that charges"))
    if typed["email"] and not _EMAIL.fullmatch(typed["email"]):
        errors.append(
            FieldError(
                "email", "Enter an email address in the correct format, like name@example.org"
            )
        )
    if typed["website"] and not _WEBSITE.fullmatch(typed["website"]):
        errors.append(FieldError("website", "Enter a website starting with https:// or http://"))
    if errors:
        return current, errors
    kind = typed["cost"]
    cost = Cost(kind, amount, typed["cost_detail"] or None) if kind else None
    changed = replace(
        current,
        name=typed["name"],
        description=typed["description"] or None,
        eligibility=typed["eligibility"] or None,
        cost=cost,
        phone=typed["phone"] or None,
        email=typed["email"] or None,
        website=typed["website"] or None,
        contact_name=typed["contact_name"] or None,
        contact_title=typed["contact_title"] or None,
    )
    return changed, []


def ticked(form: Mapping[str, str], prefix: str, vocabulary: Mapping[str, str]) -> list[str]:
    return [code for code in vocabulary if form.get(f"{prefix}-{code}") == "yes"]


def open_connections(page: StaffPage, service_id: str) -> int | None:
    """How many open connections to the service the user can see (None: their role sees no
    referrals, so cannot know)."""
    system, code = ONWARD_CONNECTION
    try:
        found = find(
            page.access,
            "ServiceRequest",
            [
                ("performer", f"HealthcareService/{service_id}"),
                ("category", f"{system}|{code}"),
                ("status", "active"),
            ],
        )
    except Forbidden:
        return None
    return len(found)


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)
    checked = [Depends(require_csrf)]

    def current_service(request: Request, service_id: str) -> CommunityService:
        service = directory_index(request).current().services.get(checked_id(service_id))
        if service is None:
            raise PageRefused(404, NOT_FOUND)
        return service

    def show(page: StaffPage, template: str, *, status_code: int = 200, **context: Any) -> Response:
        return render(
            f"social_prescribing/{template}",
            status_code=status_code,
            styled=styled,
            signed_in=page.signed_in,
            current_section="directory",
            **context,
        )

    def write(
        page: StaffPage, service_id: str, work: Callable[[StoreTransaction], CommunityService]
    ) -> CommunityService:
        try:
            return page.access.write("update", f"HealthcareService/{service_id}", work)
        except ServiceNotFound:
            raise PageRefused(404, NOT_FOUND) from None

    # -- stale entries ---------------------------------------------------------------------------

    @pages.get("/directory/upkeep")
    def upkeep(
        request: Request, page: AnyStaff, organisation: str = "", done: str = ""
    ) -> Response:
        directory = directory_index(request).current()
        day = today()
        stale = stale_by_organisation(directory, day)
        own = page.signed_in.user.organisation_id
        admin = is_administrator(page)
        chosen = organisation if admin else (own or "")
        if organisation and not admin and organisation != own:
            raise PageRefused(404, NOT_FOUND)
        entries = next((s for s in stale if s.organisation_id == chosen), None)
        runs_services = any(s.organisation_id == chosen for s in directory.services.values())
        return show(
            page,
            "upkeep.html",
            stale=stale if admin and not chosen else [],
            entries=entries,
            chosen=chosen,
            chosen_name=(
                directory.organisations[chosen].name if chosen in directory.organisations else ""
            ),
            runs_services=runs_services,
            admin=admin,
            may_change=bool(chosen) and may_change(page, chosen),
            today=day,
            stale_from=stale_from,
            last_checked_words=last_checked_words,
            done="The entry is recorded as checked and still correct" if done == "checked" else "",
        )

    @pages.post("/directory/services/{service_id}/checked", dependencies=checked)
    def record_check(request: Request, page: AnyStaff, form: Form, service_id: str) -> Response:
        service = current_service(request, service_id)
        try:
            write(
                page,
                service.id,
                lambda tx: record_checked(tx, service.id, today(), if_match=form_version(form)),
            )
        except ChangedSinceRead:
            raise PageRefused(
                409,
                f"{CHANGED}. Open the entry again to see what it says now, then record the check "
                "if it is still right.",
            ) from None
        if form.get("from") == "upkeep":
            organisation = service.organisation_id if is_administrator(page) else ""
            query = f"organisation={organisation}&" if organisation else ""
            return RedirectResponse(f"/directory/upkeep?{query}done=checked", status_code=303)
        return RedirectResponse(f"/directory/services/{service.id}?done=checked", status_code=303)

    # -- the details -----------------------------------------------------------------------------

    def details_page(
        page: StaffPage,
        service: CommunityService,
        typed: dict[str, str],
        *,
        errors: list[FieldError] | None = None,
        now: CommunityService | None = None,
        status_code: int = 200,
    ) -> Response:
        return show(
            page,
            "service_edit.html",
            status_code=status_code,
            service=service,
            typed=typed,
            errors=errors or [],
            now=now,
            cost_choices=COST_CHOICES,
        )

    @pages.get("/directory/services/{service_id}/edit")
    def edit_details(request: Request, page: AnyStaff, service_id: str) -> Response:
        service = current_service(request, service_id)
        _may_change(page, service)
        return details_page(page, service, details_typed(service))

    @pages.post("/directory/services/{service_id}/edit", dependencies=checked)
    def save_details(request: Request, page: AnyStaff, form: Form, service_id: str) -> Response:
        service = current_service(request, service_id)
        _may_change(page, service)
        typed = {name: form.get(name, "")[:2100] for name in ("version", "checked", *DETAIL_FIELDS)}
        _, errors = read_details(form, service)
        if errors:
            return details_page(page, service, typed, errors=errors, status_code=400)
        checked_on = today() if form.get("checked") == "yes" else None

        def work(tx: StoreTransaction) -> CommunityService:
            changed, _ = read_details(form, read_service(tx, service.id))
            return update_service(tx, changed, checked_on=checked_on, if_match=form_version(form))

        try:
            write(page, service.id, work)
        except ChangedSinceRead:
            now = directory_index(request).current().services[service.id]
            typed["version"] = str(now.version or "")
            return details_page(
                page, now, typed, errors=[FieldError(None, CHANGED)], now=now, status_code=409
            )
        return RedirectResponse(f"/directory/services/{service.id}?done=changed", status_code=303)

    # -- what it offers; accessibility and how to refer ------------------------------------------

    def choices_page(
        page: StaffPage,
        service: CommunityService,
        part: str,
        chosen: dict[str, list[str]],
        version: str,
        *,
        errors: list[FieldError] | None = None,
        now: CommunityService | None = None,
        status_code: int = 200,
    ) -> Response:
        return show(
            page,
            "service_choices.html",
            status_code=status_code,
            service=service,
            part=part,
            chosen=chosen,
            version=version,
            errors=errors or [],
            now=now,
            needs=NEEDS,
            accessibility=ACCESSIBILITY,
            methods=REFERRAL_METHODS,
        )

    def chosen_of(service: CommunityService) -> dict[str, list[str]]:
        return {
            "need": list(service.needs),
            "access": sorted(service.accessibility),
            "method": list(service.referral_methods),
        }

    def save_choices(
        request: Request, page: StaffPage, form: dict[str, str], service_id: str, part: str
    ) -> Response:
        service = current_service(request, service_id)
        _may_change(page, service)
        chosen = {
            "need": ticked(form, "need", NEEDS),
            "access": ticked(form, "access", ACCESSIBILITY),
            "method": ticked(form, "method", REFERRAL_METHODS),
        }
        if part == "offers" and not chosen["need"]:
            errors = [FieldError("need", "Select at least one thing the service helps with")]
            return choices_page(
                page, service, part, chosen, form.get("version", ""), errors=errors, status_code=400
            )

        def work(tx: StoreTransaction) -> CommunityService:
            now = read_service(tx, service.id)
            if part == "offers":
                changed = replace(now, needs=tuple(chosen["need"]))
            else:
                changed = replace(
                    now,
                    accessibility=frozenset(chosen["access"]),
                    referral_methods=tuple(chosen["method"]),
                )
            return update_service(tx, changed, if_match=form_version(form))

        try:
            write(page, service.id, work)
        except ChangedSinceRead:
            now = directory_index(request).current().services[service.id]
            return choices_page(
                page,
                now,
                part,
                chosen,
                str(now.version or ""),
                errors=[FieldError(None, CHANGED)],
                now=now,
                status_code=409,
            )
        return RedirectResponse(f"/directory/services/{service.id}?done=changed", status_code=303)

    @pages.get("/directory/services/{service_id}/offers")
    def edit_offers(request: Request, page: AnyStaff, service_id: str) -> Response:
        service = current_service(request, service_id)
        _may_change(page, service)
        return choices_page(page, service, "offers", chosen_of(service), str(service.version))

    @pages.post("/directory/services/{service_id}/offers", dependencies=checked)
    def save_offers(request: Request, page: AnyStaff, form: Form, service_id: str) -> Response:
        return save_choices(request, page, form, service_id, "offers")

    @pages.get("/directory/services/{service_id}/access")
    def edit_access(request: Request, page: AnyStaff, service_id: str) -> Response:
        service = current_service(request, service_id)
        _may_change(page, service)
        return choices_page(page, service, "access", chosen_of(service), str(service.version))

    @pages.post("/directory/services/{service_id}/access", dependencies=checked)
    def save_access(request: Request, page: AnyStaff, form: Form, service_id: str) -> Response:
        return save_choices(request, page, form, service_id, "access")

    # -- opening times ---------------------------------------------------------------------------

    def times_page(
        page: StaffPage,
        service: CommunityService,
        typed: dict[str, str],
        *,
        errors: list[FieldError] | None = None,
        now: CommunityService | None = None,
        status_code: int = 200,
    ) -> Response:
        return show(
            page,
            "service_times.html",
            status_code=status_code,
            service=service,
            typed=typed,
            errors=errors or [],
            now=now,
            days=DAY_NAMES,
        )

    def times_typed(service: CommunityService) -> dict[str, str]:
        lines = day_lines(service.opening_times)
        return {"version": str(service.version or ""), **{f"times-{d}": lines[d] for d in DAYS}}

    @pages.get("/directory/services/{service_id}/times")
    def edit_times(request: Request, page: AnyStaff, service_id: str) -> Response:
        service = current_service(request, service_id)
        _may_change(page, service)
        return times_page(page, service, times_typed(service))

    @pages.post("/directory/services/{service_id}/times", dependencies=checked)
    def save_times(request: Request, page: AnyStaff, form: Form, service_id: str) -> Response:
        service = current_service(request, service_id)
        _may_change(page, service)
        typed = {
            "version": form.get("version", "")[:12],
            "checked": form.get("checked", "")[:4],
            **{f"times-{d}": form.get(f"times-{d}", "")[: MAX_DAY_TEXT * 2] for d in DAYS},
        }
        openings, problems = sessions_from_days({d: typed[f"times-{d}"] for d in DAYS})
        if problems:
            errors = [FieldError(f"times-{p.day}", p.message) for p in problems]
            return times_page(page, service, typed, errors=errors, status_code=400)
        checked_on = today() if typed["checked"] == "yes" else None

        def work(tx: StoreTransaction) -> CommunityService:
            changed = replace(read_service(tx, service.id), opening_times=openings)
            return update_service(tx, changed, checked_on=checked_on, if_match=form_version(form))

        try:
            write(page, service.id, work)
        except ChangedSinceRead:
            now = directory_index(request).current().services[service.id]
            typed["version"] = str(now.version or "")
            return times_page(
                page, now, typed, errors=[FieldError(None, CHANGED)], now=now, status_code=409
            )
        return RedirectResponse(f"/directory/services/{service.id}?done=changed", status_code=303)

    # -- closing ---------------------------------------------------------------------------------

    def close_page(
        page: StaffPage,
        service: CommunityService,
        typed: dict[str, str],
        *,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        day = today()
        return show(
            page,
            "service_close.html",
            status_code=status_code,
            service=service,
            typed=typed,
            errors=errors or [],
            connections=open_connections(page, service.id),
            example=f"{day.day} {day.month} {day.year}",
        )

    @pages.get("/directory/services/{service_id}/close")
    def ask_to_close(request: Request, page: AnyStaff, service_id: str) -> Response:
        service = current_service(request, service_id)
        _may_change(page, service)
        if not service.active:
            return RedirectResponse(f"/directory/services/{service.id}", status_code=303)
        return close_page(page, service, {"version": str(service.version or "")})

    @pages.post("/directory/services/{service_id}/close", dependencies=checked)
    def close(request: Request, page: AnyStaff, form: Form, service_id: str) -> Response:
        service = current_service(request, service_id)
        _may_change(page, service)
        typed = {"version": form.get("version", "")[:12], **typed_date(form, "closed_on")}
        closed_on, problem = read_date(form, "closed_on", "Date it closed", not_after=today())
        if problem is not None or closed_on is None:
            errors = [problem or FieldError("closed_on", "Enter the date it closed")]
            return close_page(page, service, typed, errors=errors, status_code=400)
        day: date = closed_on
        try:
            write(
                page,
                service.id,
                lambda tx: close_service(tx, service.id, day, if_match=form_version(form)),
            )
        except ChangedSinceRead:
            now = directory_index(request).current().services[service.id]
            typed["version"] = str(now.version or "")
            message = f"{CHANGED}. Check it below, then record the closure again if it is right"
            return close_page(page, now, typed, errors=[FieldError(None, message)], status_code=409)
        return RedirectResponse(f"/directory/services/{service.id}?done=closed", status_code=303)

    return pages
