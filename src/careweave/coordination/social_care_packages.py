"""Care packages: the care and support the council arranges to meet a person's eligible needs,
with its hours a week, provider, start and review dates (docs/care-coordination.md, "Social
care").

A package is a ServiceRequest (what is arranged, from whom, how many hours a week, from when,
reviewed when) and an EpisodeOfCare (the provider's service running), written together in one
transaction, exactly as the synthetic place writes its home care packages, so the summary and
the social care page read both the same way. The episode's `careManager` is the social worker
(a Practitioner, the target the R4 care-manager search parameter indexes), which also keeps
their relationship with the person while the package runs.

The types are careweave's local codes (SOCIAL_CARE): no SNOMED CT concepts for these services
were found checked in a public codelist. The Yorkshire and Humber care record (Interweave) has
a draft regional CodeSystem of social care service types (reablement, long-term residential or
nursing care, home support, day support, equipment, direct payment); a mapping to it would be
the step towards a regional standard.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination.codes import coding, has_code
from careweave.coordination.record import (
    find,
    if_none_exist,
    now_instant,
    read,
    read_or_none,
    reference_to,
    referenced_id,
    submission_identifier,
    today,
    version_of,
)
from careweave.coordination.social_care_rules import (
    CARE_PACKAGE_REVIEW_EXTENSION,
    SOCIAL_CARE,
    InvalidSocialCare,
    Problem,
    actor,
    check_recorder,
    day_of,
    text_problems,
    token_problems,
)
from careweave.coordination.summary import PersonRecord, Source, concept_text, source_of
from careweave.fhir.errors import NotFound, VersionConflict
from careweave.fhir.resource_types import is_fhir_id
from careweave.store.repository import StoreTransaction

UCUM: Final = "http://unitsofmeasure.org"
HOURS_PER_WEEK: Final = {"unit": "hours per week", "system": UCUM, "code": "h/wk"}
"""As the synthetic place writes hours (careweave.synth.clinical_codes.HOURS_PER_WEEK)."""
PACKAGE_CATEGORY: Final = "care-package"
MAXIMUM_HOURS: Final = 168.0
OPEN_STATUSES: Final = frozenset({"draft", "active", "on-hold"})
"""ServiceRequest statuses of a package still arranged."""
_OPEN_EPISODES: Final = frozenset({"planned", "waitlist", "active", "onhold"})


@dataclass(frozen=True)
class PackageType:
    """A kind of care package; `hours` says whether hours a week must be given."""

    code: str
    name: str
    hint: str
    hours: bool
    care_home: bool = False

    def concept(self) -> dict[str, Any]:
        return {"coding": [coding(SOCIAL_CARE, self.code, self.name)], "text": self.name}


PACKAGE_TYPES: Final[tuple[PackageType, ...]] = (
    # The synthetic place's code and words for home care (clinical_codes.HOME_CARE_SERVICE).
    PackageType(
        "home-care",
        "Home care (domiciliary care)",
        "Care workers visit the person at home, for example for personal care and meals",
        hours=True,
    ),
    PackageType(
        "reablement",
        "Reablement",
        "Short-term support at home to regain skills and confidence, often after hospital",
        hours=True,
    ),
    PackageType("day-care", "Day care", "A day centre or other day opportunities", hours=True),
    # care-home and nursing-home are the synthetic place's episode types of a care-home place.
    PackageType(
        "care-home", "Residential care", "A place in a care home", hours=False, care_home=True
    ),
    PackageType(
        "nursing-home",
        "Nursing care",
        "A place in a care home with nursing",
        hours=False,
        care_home=True,
    ),
    PackageType(
        "direct-payment",
        "Direct payment",
        "The person arranges their own support with a direct payment (give the hours it pays "
        "for, if any)",
        hours=False,
    ),
    PackageType(
        "equipment-telecare",
        "Equipment or telecare",
        "Equipment and adaptations, or a personal alarm and sensors",
        hours=False,
    ),
)
PACKAGE_TYPE_BY_CODE: Final[Mapping[str, PackageType]] = {t.code: t for t in PACKAGE_TYPES}


def package_type_of(concept: Any) -> PackageType | None:
    """The package type a ServiceRequest.code or EpisodeOfCare.type names, if one of ours."""
    for kind in PACKAGE_TYPES:
        if has_code(concept, SOCIAL_CARE, kind.code):
            return kind
    return None


# -- checking what a form says --------------------------------------------------------------------


def parse_hours(text: str, *, required: bool) -> tuple[float | None, list[Problem]]:
    """Hours a week as typed ("10", "7.5"); None when left blank and not `required`."""
    value = text.strip()
    if not value:
        if required:
            return None, [Problem("hours", "Enter the hours of care a week")]
        return None, []
    try:
        hours = float(value)
    except ValueError:
        return None, [Problem("hours", "Hours a week must be a number, like 10 or 7.5")]
    if not math.isfinite(hours) or hours <= 0 or hours > MAXIMUM_HOURS:
        return None, [Problem("hours", "Hours a week must be more than 0 and no more than 168")]
    return round(hours, 2), []


def _review_problems(start: date | None, review: date | None) -> list[Problem]:
    if review is None:
        return [Problem("review", "Enter the review date")]
    if start is not None and review <= start:
        return [Problem("review", "Review date must be after the start date")]
    return []


@dataclass(frozen=True)
class PackageRequest:
    """A new care package as a form gives it."""

    type_code: str
    hours: str
    provider_id: str
    start: date | None
    review: date | None


def check_package(
    access: CareRecordAccess, asked: PackageRequest
) -> tuple[float | None, list[Problem]]:
    """The hours a week, and everything wrong with the package (empty when it can be made)."""
    problems: list[Problem] = []
    kind = PACKAGE_TYPE_BY_CODE.get(asked.type_code)
    if kind is None:
        problems.append(Problem("type", "Select the type of care package"))
    hours, hour_problems = parse_hours(asked.hours, required=kind is not None and kind.hours)
    problems += hour_problems
    if not asked.provider_id.strip():
        problems.append(Problem("provider", "Select the provider"))
    elif not is_fhir_id(asked.provider_id) or (
        read_or_none(access, "Organization", asked.provider_id) is None
    ):
        problems.append(Problem("provider", "Select a provider from the list"))
    if asked.start is None:
        problems.append(Problem("start", "Enter the start date"))
    problems += _review_problems(asked.start, asked.review)
    return hours, problems


# -- writing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageSaved:
    service_request_id: str
    episode_id: str | None
    created: bool


def _quantity(hours: float) -> dict[str, Any]:
    return {"value": hours, **HOURS_PER_WEEK}


def _review_extension(review: date) -> dict[str, Any]:
    return {"url": CARE_PACKAGE_REVIEW_EXTENSION, "valueDate": review.isoformat()}


def record_package(
    access: CareRecordAccess, patient_id: str, asked: PackageRequest, token: str
) -> PackageSaved:
    """Arrange a care package for the person: its ServiceRequest and EpisodeOfCare in one
    transaction. The same form sent twice (its one-time `token`) finds the first package.

    InvalidSocialCare says what is wrong; Forbidden that the asker does not record social care
    or has no relationship with the person (nothing is saved either way)."""
    check_recorder(access)
    hours, problems = check_package(access, asked)
    problems += token_problems(token)
    if problems:
        raise InvalidSocialCare(problems)
    assert asked.start is not None and asked.review is not None
    start = asked.start.isoformat()
    kind = PACKAGE_TYPE_BY_CODE[asked.type_code]
    requester = actor(access)
    provider_org = read(access, "Organization", asked.provider_id)
    provider = {"reference": reference_to(provider_org)}
    if isinstance(provider_org.get("name"), str):
        provider["display"] = provider_org["name"]
    subject = {"reference": f"Patient/{patient_id}"}
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [submission_identifier(token)],
        "extension": [_review_extension(asked.review)],
        "status": "active",
        "intent": "order",
        "category": [
            {
                "coding": [coding(SOCIAL_CARE, PACKAGE_CATEGORY, "Care package")],
                "text": "Care package",
            }
        ],
        "code": kind.concept(),
        "subject": subject,
        "occurrencePeriod": {"start": start},
        "authoredOn": now_instant(),
        "requester": requester,
        "performer": [provider],
    }
    if hours is not None:
        request["quantityQuantity"] = _quantity(hours)
    practitioner_id = access.principal.practitioner_id

    def work(tx: StoreTransaction) -> PackageSaved:
        made = tx.create(request, if_none_exist=if_none_exist(token))
        request_id = made.stored.id
        if not made.created:
            earlier = made.stored.as_dict()
            if referenced_id(earlier.get("subject"), "Patient") != patient_id:
                raise InvalidSocialCare(
                    [Problem(None, "This form has already been used: open it again")]
                )
        episode: dict[str, Any] = {
            "resourceType": "EpisodeOfCare",
            "identifier": [submission_identifier(token)],
            "status": "active",
            "type": [kind.concept()],
            "patient": subject,
            "managingOrganization": provider,
            "period": {"start": start},
            "referralRequest": [{"reference": f"ServiceRequest/{request_id}"}],
        }
        if practitioner_id:
            episode["careManager"] = {
                "reference": f"Practitioner/{practitioner_id}",
                "display": requester.get("display"),
            }
        running = tx.create(episode, if_none_exist=if_none_exist(token))
        return PackageSaved(request_id, running.stored.id, made.created)

    return access.write("create", "ServiceRequest", work)


def _review_of(request: Mapping[str, Any]) -> date | None:
    for ext in request.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == CARE_PACKAGE_REVIEW_EXTENSION:
            return day_of(ext.get("valueDate") or ext.get("valueDateTime"))
    return None


def _hours_of(request: Mapping[str, Any]) -> float | None:
    """Hours a week, when the quantity is in hours a week (as the summary reads it)."""
    quantity = request.get("quantityQuantity")
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    unit = f"{quantity.get('code', '')} {quantity.get('unit', '')}".lower()
    if "wk" not in unit and "week" not in unit:
        return None
    return float(quantity["value"])


def _start_of(request: Mapping[str, Any]) -> date | None:
    period = request.get("occurrencePeriod")
    if isinstance(period, dict):
        return day_of(period.get("start"))
    return day_of(request.get("occurrenceDateTime"))


def _package_in(tx: StoreTransaction, patient_id: str, request_id: str) -> dict[str, Any]:
    """The package's ServiceRequest, read in the transaction; NotFound when it is not a care
    package of this person."""
    request = tx.read("ServiceRequest", request_id).as_dict()
    if referenced_id(request.get("subject"), "Patient") != patient_id or (
        package_type_of(request.get("code")) is None
    ):
        raise NotFound(f"ServiceRequest/{request_id} is not known")
    return request


class PackageEnded(InvalidSocialCare):
    def __init__(self) -> None:
        super().__init__([Problem(None, "This care package has ended, so it cannot be changed")])


def change_package(
    access: CareRecordAccess,
    patient_id: str,
    request_id: str,
    hours_text: str,
    review: date | None,
    version: int,
) -> None:
    """Change a running package's hours a week and review date.

    `version` is the ServiceRequest version the form showed: someone else's change since then
    raises VersionConflict and saves nothing (unless it already made exactly this change)."""
    check_recorder(access)

    def work(tx: StoreTransaction) -> None:
        request = _package_in(tx, patient_id, request_id)
        kind = package_type_of(request.get("code"))
        hours, problems = parse_hours(hours_text, required=kind is not None and kind.hours)
        problems += _review_problems(_start_of(request), review)
        if problems:
            raise InvalidSocialCare(problems)
        assert review is not None
        if _hours_of(request) == hours and _review_of(request) == review:
            return
        if version_of(request) != version:
            raise VersionConflict(f"ServiceRequest/{request_id} has changed")
        if request.get("status") not in OPEN_STATUSES:
            raise PackageEnded()
        changed = copy.deepcopy(request)
        if hours is None:
            changed.pop("quantityQuantity", None)
        else:
            changed["quantityQuantity"] = _quantity(hours)
        others = [
            e
            for e in changed.get("extension") or ()
            if not (isinstance(e, dict) and e.get("url") == CARE_PACKAGE_REVIEW_EXTENSION)
        ]
        changed["extension"] = [*others, _review_extension(review)]
        tx.update("ServiceRequest", request_id, changed, if_match=version)

    access.write("update", f"ServiceRequest/{request_id}", work)


def end_package(
    access: CareRecordAccess,
    patient_id: str,
    request_id: str,
    end: date | None,
    reason: str,
    version: int,
) -> None:
    """End a package on `end`: the ServiceRequest completed with its end date, and its running
    EpisodeOfCare finished, in one transaction (stale `version`: VersionConflict)."""
    check_recorder(access)
    author = actor(access)

    def work(tx: StoreTransaction) -> None:
        request = _package_in(tx, patient_id, request_id)
        start = _start_of(request)
        problems = text_problems(reason, "reason", "why the package ended", required=False)
        if end is None:
            problems.insert(0, Problem("end", "Enter the date the package ended"))
        elif end > today():
            problems.insert(0, Problem("end", "End date must be today or in the past"))
        elif start is not None and end < start:
            problems.insert(0, Problem("end", "End date must be on or after the start date"))
        if problems:
            raise InvalidSocialCare(problems)
        assert end is not None
        period = request.get("occurrencePeriod")
        ended_on = day_of(period.get("end")) if isinstance(period, dict) else None
        if request.get("status") == "completed" and ended_on == end:
            return
        if version_of(request) != version:
            raise VersionConflict(f"ServiceRequest/{request_id} has changed")
        if request.get("status") not in OPEN_STATUSES:
            raise PackageEnded()
        changed = copy.deepcopy(request)
        changed["status"] = "completed"
        changed.pop("occurrenceDateTime", None)
        occurrence = changed.get("occurrencePeriod")
        changed["occurrencePeriod"] = {**(occurrence if isinstance(occurrence, dict) else {})}
        changed["occurrencePeriod"]["end"] = end.isoformat()
        words = reason.strip()
        note = f"Package ended: {words}" if words else "Package ended"
        changed.setdefault("note", []).append(
            {"authorReference": author, "time": now_instant(), "text": note}
        )
        tx.update("ServiceRequest", request_id, changed, if_match=version)
        for episode_id in tx.find_ids(
            "EpisodeOfCare", f"incoming-referral=ServiceRequest/{request_id}", limit=20
        ):
            episode = tx.read("EpisodeOfCare", episode_id).as_dict()
            if episode.get("status") not in _OPEN_EPISODES:
                continue
            finished = copy.deepcopy(episode)
            finished["status"] = "finished"
            finished.setdefault("period", {})["end"] = end.isoformat()
            tx.update("EpisodeOfCare", episode_id, finished, if_match=version_of(episode))

    access.write("update", f"ServiceRequest/{request_id}", work)


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CarePackage:
    """A care package, running or past, as the social care page shows it."""

    service_request_id: str | None
    """None for a care-home place recorded as an EpisodeOfCare only."""
    episode_id: str | None
    type_code: str | None
    description: str
    hours_per_week: float | None
    provider: str | None
    start: date | None
    end: date | None
    review: date | None
    current: bool
    care_home: bool
    status: str
    source: Source
    version: int
    """The ServiceRequest's version (the episode's when there is no request)."""

    def review_overdue(self, on: date) -> bool:
        return self.current and self.review is not None and self.review < on

    @property
    def hours_apply(self) -> bool:
        kind = PACKAGE_TYPE_BY_CODE.get(self.type_code or "")
        return kind is None or not kind.care_home


def _provider(reference: Any, directory: Mapping[str, dict[str, Any]]) -> str | None:
    if not isinstance(reference, dict):
        return None
    org_id = referenced_id(reference, "Organization")
    found = directory.get(f"Organization/{org_id}", {}) if org_id else {}
    name = found.get("name") if isinstance(found.get("name"), str) else reference.get("display")
    return name if isinstance(name, str) and name.strip() else org_id


def _period(resource: Mapping[str, Any], element: str) -> tuple[date | None, date | None]:
    period = resource.get(element)
    if not isinstance(period, dict):
        return None, None
    return day_of(period.get("start")), day_of(period.get("end"))


def _package(
    request: Mapping[str, Any] | None,
    episode: Mapping[str, Any] | None,
    directory: Mapping[str, dict[str, Any]],
    on: date,
) -> CarePackage:
    main = request if request is not None else episode
    assert main is not None
    kind = package_type_of(request.get("code") if request else None) or package_type_of(
        episode.get("type") if episode else None
    )
    start, end = _period(request, "occurrencePeriod") if request else (None, None)
    episode_start, episode_end = _period(episode, "period") if episode else (None, None)
    start = start or (request and day_of(request.get("occurrenceDateTime"))) or episode_start
    end = end or episode_end
    if request is not None:
        running = request.get("status") in OPEN_STATUSES and (
            episode is None or episode.get("status") in _OPEN_EPISODES
        )
        status = str(request.get("status"))
    else:
        assert episode is not None
        running = episode.get("status") in _OPEN_EPISODES
        status = str(episode.get("status"))
    provider = None
    if request is not None:
        provider = next(
            (p for ref in request.get("performer") or () if (p := _provider(ref, directory))),
            None,
        )
    if provider is None and episode is not None:
        provider = _provider(episode.get("managingOrganization"), directory)
    description = (
        kind.name
        if kind
        else concept_text(request.get("code") if request else None)
        or concept_text(episode.get("type") if episode else None)
        or "Care package"
    )
    return CarePackage(
        service_request_id=str(request["id"]) if request else None,
        episode_id=str(episode["id"]) if episode else None,
        type_code=kind.code if kind else None,
        description=description,
        hours_per_week=_hours_of(request) if request else None,
        provider=provider,
        start=start,
        end=end,
        review=_review_of(request) if request else None,
        current=running and (end is None or end >= on),
        care_home=kind.care_home if kind else False,
        status=status,
        source=source_of(main, directory),
        version=version_of(dict(main)),
    )


def packages_from(record: PersonRecord, on: date) -> list[CarePackage]:
    """The person's care packages in their record: each package ServiceRequest with the
    episode that runs it, and care-home places (or other packages) recorded as an episode
    only. Referrals and the episodes they started are not packages. Running ones first, newest
    first; then past ones, most recently ended first."""
    requests = {
        str(r["id"]): r
        for r in record.of("ServiceRequest")
        if r.get("status") != "entered-in-error" and package_type_of(r.get("code"))
    }
    episodes_of: dict[str, list[dict[str, Any]]] = {}
    alone: list[dict[str, Any]] = []
    for episode in record.of("EpisodeOfCare"):
        if episode.get("status") == "entered-in-error":
            continue
        linked = [
            rid
            for ref in episode.get("referralRequest") or ()
            if (rid := referenced_id(ref, "ServiceRequest")) and rid in requests
        ]
        for rid in linked:
            episodes_of.setdefault(rid, []).append(episode)
        if not linked and package_type_of(episode.get("type")):
            alone.append(episode)
    packages = []
    for rid, request in requests.items():
        linked_episodes = sorted(
            episodes_of.get(rid, []),
            key=lambda e: (e.get("status") in _OPEN_EPISODES, str(e.get("period", {}))),
        )
        chosen = linked_episodes[-1] if linked_episodes else None
        packages.append(_package(request, chosen, record.directory, on))
    packages += [_package(None, e, record.directory, on) for e in alone]
    current = sorted(
        (p for p in packages if p.current), key=lambda p: p.start or date.min, reverse=True
    )
    past = sorted(
        (p for p in packages if not p.current),
        key=lambda p: p.end or p.start or date.min,
        reverse=True,
    )
    return current + past


def package_of(access: CareRecordAccess, patient_id: str, request_id: str) -> CarePackage:
    """One of the person's care packages, for its page (NotFound when it is not theirs or not
    a care package)."""
    request = read(access, "ServiceRequest", request_id)
    if referenced_id(request.get("subject"), "Patient") != patient_id or (
        package_type_of(request.get("code")) is None
    ):
        raise NotFound(f"ServiceRequest/{request_id} is not known")
    episodes = find(
        access, "EpisodeOfCare", [("incoming-referral", f"ServiceRequest/{request_id}")]
    )
    running = [e for e in episodes if e.get("status") in _OPEN_EPISODES]
    episode = (running or episodes)[-1] if episodes else None
    directory: dict[str, dict[str, Any]] = {}
    for ref in [*(request.get("performer") or ()), request.get("requester")]:
        for kind in ("Organization", "PractitionerRole"):
            rid = referenced_id(ref, kind)
            found = read_or_none(access, kind, rid) if rid else None
            if found is not None:
                directory[reference_to(found)] = found
                org_id = referenced_id(found.get("organization"), "Organization")
                org = read_or_none(access, "Organization", org_id) if org_id else None
                if org is not None:
                    directory[reference_to(org)] = org
    return _package(request, episode, directory, today())
