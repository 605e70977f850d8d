"""Information-sharing agreements: which categories of a person's record reach which roles.

Staff are unsure what they may legally share; an agreement makes it explicit and the same for
everyone. careweave is a shared care record: what one party records is shared with the others
under the agreement, for direct care. An organisation that is party to no active agreement sees
no one's record (only the directory), whatever relationships its staff have.

An agreement's terms are JSON (kept in `sharing_agreement.terms`)::

    {"purpose": "direct-care",
     "lawfulBasis": "UK GDPR Article 6(1)(e) and Article 9(2)(h)",
     "parties": "all"  or  ["zzp001", "zzc001", ...],       # Organization ids
     "categories": {"gp": ["demographics", "conditions", ...], "social-worker": [...], ...},
     "sensitive": {"mental-health": ["gp", "nurse"], "safeguarding": ["gp", "social-worker"]}}

`categories` says, per role, which categories of data the role sees; `sensitive` says which
roles see resources labelled with each sensitive category (no role listed: nobody outside the
person themselves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import insert, or_, select, update

from careweave.access.roles import Role, parse_role
from careweave.store.access_tables import sharing_agreement
from careweave.store.database import Database, as_utc, stored_time

SENSITIVE_SYSTEM = "https://fhir.careweave.example/CodeSystem/sensitive-category"
SENSITIVE_CATEGORIES: tuple[str, ...] = (
    "sexual-health",
    "mental-health",
    "safeguarding",
    "substance-misuse",
    "gender-reassignment",
)

CATEGORY_TYPES: Mapping[str, frozenset[str]] = {
    "demographics": frozenset({"Patient", "RelatedPerson"}),
    "coordination": frozenset(
        {
            "CareTeam",
            "CarePlan",
            "Goal",
            "Task",
            "ServiceRequest",
            "EpisodeOfCare",
            "Appointment",
            "Communication",
            "Flag",
            "List",
            "QuestionnaireResponse",
            "Consent",
        }
    ),
    "conditions": frozenset({"Condition", "AllergyIntolerance"}),
    "medications": frozenset({"MedicationStatement"}),
    "observations": frozenset({"Observation"}),
    "encounters": frozenset({"Encounter"}),
    "documents": frozenset({"DocumentReference"}),
    "governance": frozenset({"Provenance"}),
}
"""Each category of a person's record and the resource types that hold it."""

DIRECTORY_TYPES: frozenset[str] = frozenset(
    {
        "Organization",
        "Location",
        "HealthcareService",
        "Practitioner",
        "PractitionerRole",
        "Questionnaire",
        "Group",
    }
)
"""Types not about one person: every signed-in member of staff may read them."""

PLATFORM_TYPES: frozenset[str] = frozenset({"Subscription"})
"""Types about how the platform runs, not about anyone's care: a Subscription says which
changes another system is sent and where (its channel headers may hold that system's
credentials). No agreement shares them and no category holds them: only administrators and
platform-wide integrations read and write them (careweave.access.policy)."""

CATEGORY_OF_TYPE: Mapping[str, str] = {
    resource_type: category for category, types in CATEGORY_TYPES.items() for resource_type in types
}

_ALL_CATEGORIES = tuple(CATEGORY_TYPES)
_CLINICAL = (
    "demographics",
    "coordination",
    "conditions",
    "medications",
    "observations",
    "encounters",
    "documents",
    "governance",
)

DEFAULT_TERMS: dict[str, Any] = {
    "purpose": "direct-care",
    "lawfulBasis": "UK GDPR Article 6(1)(e) and Article 9(2)(h); common law duty of "
    "confidentiality met by implied consent for direct care",
    "parties": "all",
    "categories": {
        Role.GP.value: list(_CLINICAL),
        Role.NURSE.value: list(_CLINICAL),
        Role.CARE_COORDINATOR.value: [
            "demographics",
            "coordination",
            "conditions",
            "medications",
            "encounters",
            "documents",
        ],
        Role.DISCHARGE_COORDINATOR.value: list(_CLINICAL),
        # Care Act assessments and safeguarding records are documents social workers write.
        Role.SOCIAL_WORKER.value: [
            "demographics",
            "coordination",
            "conditions",
            "medications",
            "documents",
        ],
        Role.CARE_HOME_STAFF.value: [
            "demographics",
            "coordination",
            "conditions",
            "medications",
            "observations",
        ],
        Role.LINK_WORKER.value: ["demographics", "coordination"],
        Role.VOLUNTEER.value: ["demographics", "coordination"],
    },
    "sensitive": {
        "sexual-health": [Role.GP.value, Role.NURSE.value],
        "mental-health": [Role.GP.value, Role.NURSE.value, Role.CARE_COORDINATOR.value],
        "safeguarding": [Role.GP.value, Role.SOCIAL_WORKER.value],
        "substance-misuse": [Role.GP.value, Role.NURSE.value],
        "gender-reassignment": [Role.GP.value],
    },
}
"""The agreement `make demo` loads for the synthetic place (an example, not advice)."""


class SharingTermsError(ValueError):
    """Terms careweave cannot use; the message says which part and why."""


@dataclass(frozen=True)
class SharingTerms:
    purpose: str
    lawful_basis: str
    parties: frozenset[str] | None  # None: every organisation on the platform
    categories: Mapping[Role, frozenset[str]]
    sensitive: Mapping[str, frozenset[Role]]

    def covers(self, organisation_id: str | None) -> bool:
        if organisation_id is None:
            return False
        return self.parties is None or organisation_id in self.parties


@dataclass(frozen=True)
class Agreement:
    name: str
    terms: SharingTerms
    starts: datetime
    ends: datetime | None

    def active_at(self, moment: datetime) -> bool:
        return self.starts <= moment and (self.ends is None or moment < self.ends)


@dataclass(frozen=True)
class SharedView:
    """What the agreements covering one organisation give one role."""

    categories: frozenset[str]
    sensitive: frozenset[str]
    agreements: tuple[str, ...]


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SharingTermsError(f"{where} must be a list of strings")
    return list(value)


def parse_terms(terms: Mapping[str, Any] | str) -> SharingTerms:
    """Check an agreement's terms; every problem is named so the author can fix it."""
    data = orjson.loads(terms) if isinstance(terms, str) else terms
    if not isinstance(data, Mapping):
        raise SharingTermsError("The terms must be a JSON object")
    unknown = set(data) - {"purpose", "lawfulBasis", "parties", "categories", "sensitive"}
    if unknown:
        raise SharingTermsError(f"Unknown term(s): {', '.join(sorted(unknown))}")
    purpose = data.get("purpose", "direct-care")
    if purpose != "direct-care":
        raise SharingTermsError(
            "careweave agreements cover direct care only ('purpose': 'direct-care'); planning "
            "and research use de-identified outputs that honour the national data opt-out"
        )
    lawful_basis = data.get("lawfulBasis")
    if not isinstance(lawful_basis, str) or not lawful_basis.strip():
        raise SharingTermsError("'lawfulBasis' must say the lawful basis for sharing")
    raw_parties = data.get("parties")
    parties: frozenset[str] | None
    if raw_parties == "all":
        parties = None
    else:
        parties = frozenset(_strings(raw_parties, "'parties' (or \"all\")"))
        if not parties:
            raise SharingTermsError("'parties' lists no organisation")
    categories: dict[Role, frozenset[str]] = {}
    raw_categories = data.get("categories")
    if not isinstance(raw_categories, Mapping):
        raise SharingTermsError("'categories' must map roles to lists of categories")
    for role_text, names in raw_categories.items():
        try:
            role = parse_role(role_text)
        except ValueError as exc:
            raise SharingTermsError(f"'categories': {exc}") from None
        listed = _strings(names, f"'categories' for {role_text}")
        wrong = [name for name in listed if name not in CATEGORY_TYPES]
        if wrong:
            raise SharingTermsError(
                f"'categories' for {role_text}: unknown {', '.join(wrong)}; the categories "
                f"are {', '.join(_ALL_CATEGORIES)}"
            )
        categories[role] = frozenset(listed)
    sensitive: dict[str, frozenset[Role]] = {}
    raw_sensitive = data.get("sensitive", {})
    if not isinstance(raw_sensitive, Mapping):
        raise SharingTermsError("'sensitive' must map sensitive categories to lists of roles")
    for category, roles in raw_sensitive.items():
        if category not in SENSITIVE_CATEGORIES:
            raise SharingTermsError(
                f"'sensitive': unknown category {category}; they are "
                f"{', '.join(SENSITIVE_CATEGORIES)}"
            )
        try:
            sensitive[category] = frozenset(
                parse_role(r) for r in _strings(roles, f"'sensitive' for {category}")
            )
        except ValueError as exc:
            raise SharingTermsError(f"'sensitive' for {category}: {exc}") from None
    return SharingTerms(purpose, lawful_basis.strip(), parties, categories, sensitive)


def save_agreement(
    database: Database,
    name: str,
    terms: Mapping[str, Any] | str,
    *,
    starts: datetime | None = None,
    ends: datetime | None = None,
) -> Agreement:
    """Add an agreement, or replace the terms of the one with this name."""
    parsed = parse_terms(terms)
    if not name.strip():
        raise SharingTermsError("An agreement needs a name")
    now = datetime.now(UTC)
    begin = starts or now
    if ends is not None and ends <= begin:
        raise SharingTermsError("An agreement must end after it starts")
    text = (
        terms
        if isinstance(terms, str)
        else orjson.dumps(terms, option=orjson.OPT_SORT_KEYS).decode()
    )
    values = {
        "terms": text,
        "starts": stored_time(begin),
        "ends": stored_time(ends) if ends else None,
        "loaded": stored_time(now),
    }
    with database.write() as conn:
        found = conn.execute(
            select(sharing_agreement.c.pk).where(sharing_agreement.c.name == name)
        ).first()
        if found is None:
            conn.execute(insert(sharing_agreement).values(name=name, **values))
        else:
            conn.execute(
                update(sharing_agreement).where(sharing_agreement.c.pk == found[0]).values(**values)
            )
    return Agreement(name, parsed, begin, ends)


@lru_cache(maxsize=64)
def _stored_terms(text: str) -> SharingTerms:
    """Terms as stored (checked when saved): every request reads the agreements, and parsing
    the same text again each time was work for nothing."""
    return parse_terms(text)


def active_agreements(database: Database, moment: datetime | None = None) -> list[Agreement]:
    at = stored_time(moment or datetime.now(UTC))
    a = sharing_agreement
    with database.read() as conn:
        rows = conn.execute(
            select(a.c.name, a.c.terms, a.c.starts, a.c.ends)
            .where(a.c.starts <= at, or_(a.c.ends.is_(None), a.c.ends > at))
            .order_by(a.c.name)
        ).all()
    return [
        Agreement(
            row[0],
            _stored_terms(row[1]),
            as_utc(row[2]),
            as_utc(row[3]) if row[3] is not None else None,
        )
        for row in rows
    ]


def shared_view(
    agreements: Sequence[Agreement], organisation_id: str | None, role: Role
) -> SharedView:
    """The union of what every agreement covering the organisation gives the role."""
    categories: set[str] = set()
    sensitive: set[str] = set()
    names: list[str] = []
    for agreement in agreements:
        if not agreement.terms.covers(organisation_id):
            continue
        names.append(agreement.name)
        categories |= agreement.terms.categories.get(role, frozenset())
        sensitive |= {c for c, roles in agreement.terms.sensitive.items() if role in roles}
    return SharedView(frozenset(categories), frozenset(sensitive), tuple(names))
