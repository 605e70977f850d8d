"""The access rules: from who is asking to what they may see (a Visibility) and do.

Kept pure (no database): the guard gathers the inputs (the principal, the sharing agreements
covering their organisation, their break-glass grants) and this module decides. That keeps the
rules in one readable place and lets the access-matrix test state them as a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from careweave.access.consent import category_objections, national_opt_out, objection_to
from careweave.access.principal import Principal
from careweave.access.roles import CARE_ROLES, Role
from careweave.access.scopes import Permission
from careweave.access.sharing import (
    CATEGORY_OF_TYPE,
    CATEGORY_TYPES,
    DIRECTORY_TYPES,
    PLATFORM_TYPES,
    SENSITIVE_CATEGORIES,
    SENSITIVE_SYSTEM,
    SharedView,
)
from careweave.fhir.errors import Forbidden
from careweave.fhir.index_values import PARTICIPANT_MEMBER, PARTICIPANT_UNTIL
from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES
from careweave.store.visibility import LinkRule, PatientSet, Visibility
from careweave.uk_time import today, uk_day_span

# Task and ServiceRequest statuses that no longer tie the person to the team they were for.
CLOSED_TASK_STATUSES = ("completed", "cancelled", "rejected", "failed", "entered-in-error")
OPEN_REFERRAL_STATUSES = ("draft", "active", "on-hold")
# Encounter statuses while the person is still there (R4 encounter-status).
INPATIENT_STATUSES = ("arrived", "triaged", "in-progress", "onleave")

INTERACTION_PERMISSION: Mapping[str, Permission] = {
    "read": "r",
    "vread": "r",
    "history": "r",
    "search": "s",
    "create": "c",
    "update": "u",
    "delete": "d",
}

_COORDINATION = CATEGORY_TYPES["coordination"]
WRITABLE_TYPES: Mapping[Role, frozenset[str]] = {
    Role.GP: frozenset(CATEGORY_OF_TYPE),
    Role.NURSE: frozenset(CATEGORY_OF_TYPE),
    Role.DISCHARGE_COORDINATOR: _COORDINATION
    | {"Patient", "RelatedPerson", "Encounter", "DocumentReference", "Provenance"},
    Role.CARE_COORDINATOR: _COORDINATION
    | {"Patient", "RelatedPerson", "DocumentReference", "Provenance"},
    Role.SOCIAL_WORKER: _COORDINATION
    | {"Patient", "RelatedPerson", "DocumentReference", "Provenance"},
    Role.CARE_HOME_STAFF: _COORDINATION | {"Observation", "Provenance"},
    Role.LINK_WORKER: _COORDINATION | {"Provenance"},
    Role.VOLUNTEER: frozenset({"Task", "Communication", "Appointment"}),
    Role.ANALYST: frozenset(),
    Role.ADMINISTRATOR: DIRECTORY_TYPES | PLATFORM_TYPES,
    # A person adds "what matters to me", questions, and their own consent choices.
    Role.PATIENT: frozenset({"Communication", "QuestionnaireResponse", "Consent", "Goal"}),
    Role.CARER: frozenset({"Communication", "QuestionnaireResponse"}),
    Role.SYSTEM: frozenset(SUPPORTED_RESOURCE_TYPES) - {"AuditEvent"},
}
"""What each role may create, update and delete (it must also be able to see the result).
Two more writes are allowed record by record (`checked_per_record`, then `check_change`):
an organisation's staff update its own directory entries, and a person refers themselves to
social prescribing."""

OWN_ORGANISATION_TYPES: frozenset[str] = frozenset({"HealthcareService"})
"""Directory entries an organisation's own staff keep up to date: those who run a service know
first when its times or contacts change, and a stale entry is flagged to them. They may update
(change details and opening times, record a check, record a closure) an entry whose
`providedBy` is their organisation, and no other; adding or removing entries stays with
administrators."""

ENTRY_KEEPERS: frozenset[Role] = CARE_ROLES
"""Who, at the organisation that provides a service, may update its entry: any of its staff
who work with people (a small charity's volunteers often keep its listing); not analysts."""

SELF_REFERRAL_CODE: tuple[str, str] = ("http://snomed.info/sct", "871731000000106")
"""SNOMED CT |Referral to social prescribing service| (careweave.coordination.referrals holds
the same code; tests/social_prescribing/test_self_referral.py checks they agree)."""

PERSON_CREATES: frozenset[str] = frozenset({"ServiceRequest", "Task"})
"""What a person (role patient) may create beyond WRITABLE_TYPES: only a referral of
themselves to the social prescribing service the place takes self-referrals for, and its
`fulfill` Task (`check_change`). Nothing else of either type, and never an update."""
_FULFIL: tuple[str, str] = ("http://hl7.org/fhir/CodeSystem/task-code", "fulfill")

PERSON_CATEGORIES: Mapping[Role, frozenset[str]] = {
    Role.PATIENT: frozenset(CATEGORY_TYPES) - {"governance"},
    Role.CARER: frozenset({"demographics", "coordination"}),
}
"""What a person sees of their own record, and a carer of the record of the person they
care for once the person has consented to the carer seeing their plan
(careweave.access.consent.carer_consent_of)."""

CARER_WITHOUT_CONSENT_TYPES: frozenset[str] = CATEGORY_TYPES["demographics"] | {
    "CareTeam",
    "Appointment",
}
"""What a carer sees before the person consents: who the person is, who is in their care
team (to know whom to call) and their appointments (to help them get there). Not the plan,
referrals, messages or assessments: those are the person's to share."""


def relationship_rules(principal: Principal, on: date | None = None) -> tuple[LinkRule, ...]:
    """The legitimate relationships through which a member of staff reaches a person on the
    day `on` (today in the UK when not given).

    A care team participant counts through the UK day their `period.end` names and not after
    (cover set until Friday opens the record until Friday is over in England); a participant
    with no end counts while the team is active."""
    organisation = principal.organisation_id
    if organisation is None:
        return ()
    org = ("Organization", organisation)
    people: list[tuple[str, str]] = [org]
    if principal.practitioner_role_id:
        people.append(("PractitionerRole", principal.practitioner_role_id))
    if principal.practitioner_id:
        people.append(("Practitioner", principal.practitioner_id))
    teams = tuple(people)
    assigned = tuple(p for p in people if p[0] != "Practitioner")
    rules = [
        LinkRule("Patient", "_id", "general-practitioner", (org,)),
        LinkRule("Patient", "_id", "organization", (org,)),
        LinkRule(
            "CareTeam",
            "patient",
            PARTICIPANT_MEMBER,
            teams,
            statuses=("active",),
            ends_param=PARTICIPANT_UNTIL,
            ended_by=uk_day_span(on or today())[0],
        ),
        LinkRule("ServiceRequest", "subject", "performer", assigned, OPEN_REFERRAL_STATUSES),
        LinkRule("Task", "patient", "owner", assigned, closed_statuses=CLOSED_TASK_STATUSES),
        LinkRule("EpisodeOfCare", "patient", "organization", (org,), statuses=("active",)),
        # The hospital a person is in: its discharge team plans the discharge from admission.
        LinkRule("Encounter", "patient", "service-provider", (org,), statuses=INPATIENT_STATUSES),
    ]
    # The named care manager (a social worker, say) of an episode another organisation
    # provides; R4 allows a Practitioner or a PractitionerRole there.
    individuals = tuple(p for p in people if p[0] != "Organization")
    if individuals:
        rules.append(
            LinkRule("EpisodeOfCare", "patient", "care-manager", individuals, statuses=("active",))
        )
    return tuple(rules)


def _types_of(categories: frozenset[str]) -> frozenset[str]:
    return frozenset(t for c in categories for t in CATEGORY_TYPES.get(c, ()))


def reads_agreements(principal: Principal) -> bool:
    """Whether what `principal` may see turns on the sharing agreements: not for a
    platform-wide system client, a person or carer, an administrator or an analyst, whose
    reach no agreement widens or narrows. Their requests then need not read the agreements,
    a query on every request of an integration that otherwise costs as much as the read it
    asked for."""
    if principal.role is Role.SYSTEM:
        return principal.organisation_id is not None
    return principal.role not in (Role.PATIENT, Role.CARER, Role.ADMINISTRATOR, Role.ANALYST)


def visibility_for(
    principal: Principal,
    view: SharedView,
    break_glass_patients: frozenset[str] = frozenset(),
    *,
    carer_consented: bool = False,
    on: date | None = None,
) -> Visibility | None:
    """What `principal` may see; None means everything (a platform-wide system client).
    `carer_consented`: for a carer, whether the person has consented to them seeing the plan.
    `on`: the day the relationships are judged on (today in the UK when not given)."""
    role = principal.role
    if role is Role.SYSTEM:
        if principal.organisation_id is None:
            return None
        # An integration for one organisation sees what its organisation's records reach,
        # under the agreements, as a care coordinator would (the broadest non-clinical role).
        role = Role.CARE_COORDINATOR
    if role in (Role.PATIENT, Role.CARER):
        own = frozenset({principal.patient_id}) if principal.patient_id else frozenset()
        types = _types_of(PERSON_CATEGORIES[role])
        if role is Role.CARER and not carer_consented:
            types = CARER_WITHOUT_CONSENT_TYPES
        return Visibility(
            readable_types=types | (DIRECTORY_TYPES - {"Group"}),
            patients=PatientSet(ids=own),
            unlinked_records=False,
        )
    if role is Role.ADMINISTRATOR:
        # No direct care role: the directory they keep, and the platform's subscriptions.
        return Visibility(readable_types=DIRECTORY_TYPES | PLATFORM_TYPES, patients=PatientSet())
    if role is Role.ANALYST or not view.agreements:
        # No direct care role, or no agreement covering the organisation: the directory only.
        return Visibility(readable_types=DIRECTORY_TYPES, patients=PatientSet())
    categories = view.categories
    hidden = frozenset(
        (SENSITIVE_SYSTEM, code) for code in SENSITIVE_CATEGORIES if code not in view.sensitive
    )
    organisation = principal.organisation_id
    objections = (objection_to(organisation),) if organisation else ()
    return Visibility(
        readable_types=_types_of(categories) | DIRECTORY_TYPES,
        patients=PatientSet(
            ids=break_glass_patients,
            rules=relationship_rules(principal, on),
            excluded=objections,
        ),
        hidden_labels=hidden,
        label_objections=category_objections(organisation) if organisation else None,
    )


def planning_visibility() -> Visibility:
    """What a planning or research output (population analytics, an extract) may draw on:
    every record except those of people with a national data opt-out. Not direct care, so no
    relationship is needed, and what it produces must leave the platform de-identified or
    aggregated (careweave.population does that)."""
    return Visibility(
        readable_types=frozenset(CATEGORY_OF_TYPE) | DIRECTORY_TYPES,
        patients=PatientSet(everyone=True, excluded=(national_opt_out(),)),
        unlinked_records=False,
    )


def runs_the_platform(principal: Principal) -> bool:
    """Administrators and platform-wide integrations (a system client for no one
    organisation): the only ones who read and write PLATFORM_TYPES."""
    if principal.role is Role.SYSTEM:
        return principal.organisation_id is None
    return principal.role is Role.ADMINISTRATOR


def check_permitted(principal: Principal, interaction: str, resource_type: str) -> None:
    """Scopes and role together: a token never grants more than its user's role allows."""
    permission = INTERACTION_PERMISSION[interaction]
    if not principal.scopes.allows(resource_type, permission):
        raise Forbidden(
            f"Your access token's scopes do not allow {interaction} on {resource_type} "
            f"(it holds: {principal.scopes})"
        )
    if resource_type in PLATFORM_TYPES and not runs_the_platform(principal):
        raise Forbidden(
            f"{resource_type} records are kept by administrators and platform-wide "
            "integrations only"
        )
    if permission in ("c", "u", "d"):
        if resource_type == "AuditEvent":
            raise Forbidden("The audit trail is written by careweave itself and cannot be changed")
        if resource_type not in WRITABLE_TYPES.get(
            principal.role, frozenset()
        ) and not checked_per_record(principal, interaction, resource_type):
            raise Forbidden(
                f"The {principal.role.value} role may not {interaction} {resource_type} records"
            )


def checked_per_record(principal: Principal, interaction: str, resource_type: str) -> bool:
    """Whether `interaction` on `resource_type`, which the role may not do to every record of
    the type, is allowed for some: then `check_change` decides for each record written."""
    if resource_type in WRITABLE_TYPES.get(principal.role, frozenset()):
        return False
    if interaction == "update" and resource_type in OWN_ORGANISATION_TYPES:
        return principal.role in ENTRY_KEEPERS and principal.organisation_id is not None
    if interaction == "create" and resource_type in PERSON_CREATES:
        return principal.role is Role.PATIENT and principal.patient_id is not None
    return False


def provider_of(entry: Mapping[str, Any] | None) -> str | None:
    """The Organization id a HealthcareService is `providedBy` (None when it names none)."""
    provided_by = (entry or {}).get("providedBy")
    reference = provided_by.get("reference") if isinstance(provided_by, Mapping) else None
    if not isinstance(reference, str) or not reference.startswith("Organization/"):
        return None
    return reference.removeprefix("Organization/")


def may_update_entry(principal: Principal, provider_id: str | None) -> bool:
    """Whether the principal may update a directory entry provided by `provider_id`: the same
    answer `check_change` gives when they try (pages use it to offer the forms)."""
    try:
        check_permitted(principal, "update", "HealthcareService")
    except Forbidden:
        return False
    if not checked_per_record(principal, "update", "HealthcareService"):
        return True
    return provider_id is not None and provider_id == principal.organisation_id


def check_change(
    principal: Principal,
    interaction: str,
    resource_type: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    *,
    self_referral_to: str | None = None,
    focus: Mapping[str, Any] | None = None,
) -> None:
    """The record-by-record part of a write `checked_per_record` let through; Forbidden, with
    the reason in words, when this record is not one the principal may write.

    `before` is the record as it is (None: there is none yet), `after` what it would become.
    `self_referral_to` is the Organization id of the service the place takes self-referrals
    for (None: the place takes none). `focus` is the ServiceRequest a person's Task is for."""
    if not checked_per_record(principal, interaction, resource_type):
        return
    if resource_type in OWN_ORGANISATION_TYPES:
        _check_own_entry(principal, before, after)
    else:
        _check_self_referral(principal, resource_type, after, self_referral_to, focus)


def _check_own_entry(
    principal: Principal, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> None:
    own = principal.organisation_id
    if before is None:
        raise Forbidden(
            "Only an administrator can add a service to the directory; you can change the "
            "entries of your own organisation's services"
        )
    if provider_of(before) != own:
        raise Forbidden(
            f"{before.get('name') or 'This service'} is run by another organisation: only its "
            "own staff, or an administrator, can change its directory entry"
        )
    if provider_of(after) != own:
        raise Forbidden(
            "A directory entry cannot be moved to another organisation by its staff; ask an "
            "administrator"
        )


def _reference(value: Any) -> str | None:
    reference = value.get("reference") if isinstance(value, Mapping) else None
    return reference if isinstance(reference, str) else None


def _references_in(value: Any) -> set[str]:
    """Every `reference` a resource makes, however deeply nested: a person's own referral may
    name no one and nothing else (another person's record in `supportingInfo` would show in the
    link worker's list and would tell the person whether that record exists)."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                found.add(item)
            else:
                found |= _references_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references_in(item)
    return found


def _is_self_referral(request: Mapping[str, Any] | None, person: str, service: str) -> bool:
    """A ServiceRequest that is the person's own referral of themselves to `service`."""
    if request is None or request.get("resourceType") not in (None, "ServiceRequest"):
        return False
    codings = (request.get("code") or {}).get("coding") or ()
    performers: list[Any] = list(request.get("performer") or ())
    return bool(
        any(
            isinstance(c, Mapping) and (c.get("system"), c.get("code")) == SELF_REFERRAL_CODE
            for c in codings
        )
        and request.get("status") == "active"
        and request.get("intent") == "order"
        and _reference(request.get("subject")) == person
        and _reference(request.get("requester")) == person
        and len(performers) == 1
        and _reference(performers[0]) == service
    )


def _check_self_referral(
    principal: Principal,
    resource_type: str,
    after: Mapping[str, Any],
    self_referral_to: str | None,
    focus: Mapping[str, Any] | None,
) -> None:
    if self_referral_to is None:
        raise Forbidden(
            "People cannot refer themselves to social prescribing here: ask your GP practice "
            "or someone in your care team to refer you"
        )
    person = f"Patient/{principal.patient_id}"
    service = f"Organization/{self_referral_to}"
    refused = Forbidden(
        f"A person may only create their own referral of themselves to the social prescribing "
        f"service ({service}), not this {resource_type}"
    )
    allowed = {person, service}
    if resource_type == "Task":
        allowed.add(str(_reference(after.get("focus")) or ""))
    stray = sorted(_references_in(after) - allowed)
    if stray or after.get("contained"):
        raise Forbidden(
            "A person's own referral may point only to themselves and the social prescribing "
            f"service ({service}), not to {', '.join(stray) or 'records contained in it'}"
        )
    if resource_type == "ServiceRequest":
        if not _is_self_referral(after, person, service):
            raise refused
        return
    codings = (after.get("code") or {}).get("coding") or ()
    fulfil = any(
        isinstance(c, Mapping) and (c.get("system"), c.get("code")) == _FULFIL for c in codings
    )
    if not (
        fulfil
        and after.get("status") == "requested"
        and _reference(after.get("for")) == person
        and _reference(after.get("requester")) == person
        and _reference(after.get("owner")) == service
        and str(_reference(after.get("focus")) or "").startswith("ServiceRequest/")
        and _is_self_referral(focus, person, service)
    ):
        raise refused
