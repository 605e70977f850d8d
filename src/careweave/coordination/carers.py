"""Unpaid carers as partners in care (docs/care-coordination.md, "Carers").

A carer is a `RelatedPerson` of the person: their relationship (an HL7 v3 RoleCode), the
careweave code `unpaid-carer` (the same concept the synthetic place writes), and
`main-unpaid-carer` for the one who does most of the caring. Their needs are in the carer's
assessment (careweave.coordination.social_care).

Whether the carer may see the person's care plan is the person's choice, held as a Consent
(careweave.access.consent.CARER_ACCESS) that the access rules read on every request: giving it
opens the plan to the carer's sign-in at their next page, withdrawing it closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from careweave.access.consent import carer_consent_in_force
from careweave.access.guard import CareRecordAccess
from careweave.coordination.codes import (
    CARER_ACCESS,
    CAREWEAVE_CODES,
    CONSENT_CATEGORY,
    CONSENT_SCOPE,
    concept,
    has_code,
)
from careweave.coordination.record import (
    find,
    if_none_exist,
    may_read,
    now_instant,
    read,
    referenced_id,
    submission_identifier,
    today,
    version_of,
)
from careweave.fhir.errors import NotFound, VersionConflict
from careweave.fhir.names import person_name
from careweave.store.repository import StoreTransaction
from careweave.uk_time import uk_day

V3_ROLE_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
SOCIAL_CARE: Final = CAREWEAVE_CODES + "social-care"
"""The synthetic place's system for social care concepts (careweave.synth.clinical_codes)."""
UNPAID_CARER: Final = "unpaid-carer"
MAIN_CARER: Final = "main-unpaid-carer"
V3_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

RELATIONSHIPS: Final[dict[str, str]] = {
    "SPS": "Husband, wife or civil partner",
    "DOMPART": "Partner",
    "DAU": "Daughter",
    "SON": "Son",
    "CHILDINLAW": "Son-in-law or daughter-in-law",
    "SIB": "Brother or sister",
    "GRNDCHILD": "Grandchild",
    "FAMMEMB": "Other family member",
    "FRND": "Friend",
    "NBOR": "Neighbour",
}
"""The relationships a form offers: HL7 v3 RoleCode codes, in the words people use."""
MAXIMUM_NAME_LENGTH: Final = 100
MAXIMUM_PHONE_LENGTH: Final = 30
MAXIMUM_EMAIL_LENGTH: Final = 200


class CarerProblem(Exception):  # noqa: N818 - a refusal the user is shown, with why
    """Something about the carer that stops the change; `field` is the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class CarerConsent:
    """The person's consent for one carer to see their care plan."""

    consent_id: str
    version_id: int
    given_on: date | None


@dataclass(frozen=True)
class Carer:
    related_person_id: str
    version_id: int
    name: str
    given: str
    family: str
    relationship_code: str | None
    relationship: str | None  # in words
    unpaid_carer: bool
    main_carer: bool
    phone: str | None
    email: str | None
    since: date | None
    active: bool
    consent: CarerConsent | None


@dataclass(frozen=True)
class CarerDetails:
    """What a form says about a carer, checked by `check_details`."""

    given: str
    family: str
    relationship_code: str
    phone: str
    email: str
    main_carer: bool


def check_details(details: CarerDetails) -> list[CarerProblem]:
    """Every problem with a carer's details, so a form can show them all at once."""
    problems = []
    if not details.given.strip():
        problems.append(CarerProblem("Enter the carer's first name", "given"))
    elif len(details.given) > MAXIMUM_NAME_LENGTH:
        problems.append(
            CarerProblem(f"First name must be {MAXIMUM_NAME_LENGTH} characters or fewer", "given")
        )
    if not details.family.strip():
        problems.append(CarerProblem("Enter the carer's last name", "family"))
    elif len(details.family) > MAXIMUM_NAME_LENGTH:
        problems.append(
            CarerProblem(f"Last name must be {MAXIMUM_NAME_LENGTH} characters or fewer", "family")
        )
    if details.relationship_code not in RELATIONSHIPS:
        problems.append(
            CarerProblem("Select how the carer is related to the person", "relationship")
        )
    phone = details.phone.strip()
    if phone and (
        len(phone) > MAXIMUM_PHONE_LENGTH
        or not all(c.isdigit() or c in " +()-" for c in phone)
        or sum(c.isdigit() for c in phone) < 10
    ):
        problems.append(
            CarerProblem("Enter a phone number, like 01632 960 001 or 07700 900 982", "phone")
        )
    email = details.email.strip()
    if email and (len(email) > MAXIMUM_EMAIL_LENGTH or "@" not in email.strip("@") or " " in email):
        problems.append(
            CarerProblem(
                "Enter an email address in the correct format, like name@example.com", "email"
            )
        )
    return problems


def _is_carer(related: dict[str, Any], code: str) -> bool:
    return has_code(related.get("relationship") or [], SOCIAL_CARE, code)


def _holds_any(relationship: Any, codes: set[tuple[str, str]]) -> bool:
    return any(has_code(relationship, system, code) for system, code in codes)


def _family_relationship(related: dict[str, Any]) -> tuple[str | None, str | None]:
    """The carer's relationship to the person: its v3 RoleCode and words ("Daughter"), else
    the first relationship written only in words (another system's "Son"), else none."""
    for relationship in related.get("relationship") or ():
        for coding in relationship.get("coding") or ():
            if coding.get("system") == V3_ROLE_CODE:
                code = str(coding.get("code"))
                words = RELATIONSHIPS.get(code) or relationship.get("text") or coding.get("display")
                return code, str(words).capitalize() if words else None
    texts = [
        str(r.get("text"))
        for r in related.get("relationship") or ()
        if r.get("text")
        and not _holds_any(r, {(SOCIAL_CARE, UNPAID_CARER), (SOCIAL_CARE, MAIN_CARER)})
    ]
    return None, (texts[0] if texts else None)


def _telecom(related: dict[str, Any], system: str) -> str | None:
    for telecom in related.get("telecom") or ():
        if telecom.get("system") == system and telecom.get("value"):
            return str(telecom["value"])
    return None


def carer_consents(access: CareRecordAccess, patient_id: str) -> dict[str, CarerConsent]:
    """The person's active consents for carers to see the plan, by RelatedPerson id."""
    consents: dict[str, CarerConsent] = {}
    found = find(
        access,
        "Consent",
        [
            ("patient", f"Patient/{patient_id}"),
            ("category", f"{CONSENT_CATEGORY}|{CARER_ACCESS}"),
            ("status", "active"),
        ],
    )
    on = today()
    for consent in found:
        if not carer_consent_in_force(consent, on):
            continue
        for actor in (consent.get("provision") or {}).get("actor") or ():
            carer = referenced_id(actor.get("reference"), "RelatedPerson")
            if carer:
                consents[carer] = CarerConsent(
                    str(consent["id"]), version_of(consent), uk_day(consent.get("dateTime"))
                )
    return consents


def carer_from(related: dict[str, Any], consent: CarerConsent | None) -> Carer:
    names = related.get("name") or [{}]
    name = names[0]
    code, relationship = _family_relationship(related)
    period = related.get("period") or {}
    ended = uk_day(period.get("end"))
    return Carer(
        related_person_id=str(related["id"]),
        version_id=version_of(related),
        name=person_name(related) or "Name not recorded",
        given=" ".join(name.get("given") or ()),
        family=str(name.get("family") or ""),
        relationship_code=code,
        relationship=relationship,
        unpaid_carer=_is_carer(related, UNPAID_CARER) or _is_carer(related, MAIN_CARER),
        main_carer=_is_carer(related, MAIN_CARER),
        phone=_telecom(related, "phone"),
        email=_telecom(related, "email"),
        since=uk_day(period.get("start")),
        active=related.get("active") is not False and (ended is None or ended >= today()),
        consent=consent,
    )


def carers_of(access: CareRecordAccess, patient_id: str) -> list[Carer]:
    """The person's carers and other people around them (RelatedPerson), current first, then
    by name; with whether each may see the plan (when the asker may see Consents)."""
    related = find(access, "RelatedPerson", [("patient", f"Patient/{patient_id}")])
    consents = carer_consents(access, patient_id) if may_read(access, "Consent") else {}
    carers = [carer_from(r, consents.get(str(r["id"]))) for r in related]
    return sorted(carers, key=lambda c: (not c.active, not c.main_carer, c.name.lower()))


def carer_of(access: CareRecordAccess, patient_id: str, related_person_id: str) -> Carer:
    """One carer of the person's; NotFound for someone else's RelatedPerson."""
    related = read(access, "RelatedPerson", related_person_id)
    if referenced_id(related.get("patient"), "Patient") != patient_id:
        raise NotFound(f"RelatedPerson/{related_person_id} is not related to this person")
    consents = carer_consents(access, patient_id) if may_read(access, "Consent") else {}
    return carer_from(related, consents.get(related_person_id))


def _relationships(details: CarerDetails) -> list[dict[str, Any]]:
    relationships = [
        concept(V3_ROLE_CODE, details.relationship_code, RELATIONSHIPS[details.relationship_code]),
        concept(SOCIAL_CARE, UNPAID_CARER, "Unpaid carer"),
    ]
    if details.main_carer:
        relationships.append(concept(SOCIAL_CARE, MAIN_CARER, "Main unpaid carer"))
    return relationships


def _telecoms(details: CarerDetails) -> list[dict[str, str]]:
    telecoms = []
    if details.phone.strip():
        telecoms.append({"system": "phone", "value": details.phone.strip()})
    if details.email.strip():
        telecoms.append({"system": "email", "value": details.email.strip()})
    return telecoms


def _checked(details: CarerDetails) -> None:
    problems = check_details(details)
    if problems:
        raise problems[0]


def record_carer(
    access: CareRecordAccess, patient_id: str, details: CarerDetails, token: str
) -> str:
    """Record a new unpaid carer; the form's one-time token makes a resubmission find the
    first. Returns the RelatedPerson id."""
    _checked(details)
    body: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "identifier": [submission_identifier(token)],
        "active": True,
        "patient": {"reference": f"Patient/{patient_id}"},
        "relationship": _relationships(details),
        "name": [
            {"use": "usual", "given": details.given.split(), "family": details.family.strip()}
        ],
        "period": {"start": today().isoformat()},
    }
    if telecoms := _telecoms(details):
        body["telecom"] = telecoms
    made = access.create(body, if_none_exist=if_none_exist(token))
    return made.stored.id


def _kept(related: dict[str, Any]) -> list[dict[str, Any]]:
    """Relationships a form does not manage (from another system), kept on an edit."""
    managed = {(V3_ROLE_CODE, c) for c in RELATIONSHIPS} | {
        (SOCIAL_CARE, UNPAID_CARER),
        (SOCIAL_CARE, MAIN_CARER),
    }
    return [r for r in related.get("relationship") or () if not _holds_any(r, managed)]


def update_carer(
    access: CareRecordAccess,
    patient_id: str,
    related_person_id: str,
    details: CarerDetails,
    version_id: int,
) -> None:
    """Change a carer's details, refusing if someone changed them since the form was shown."""
    _checked(details)
    related = read(access, "RelatedPerson", related_person_id)
    if referenced_id(related.get("patient"), "Patient") != patient_id:
        raise CarerProblem("This person is not one of their carers")
    if version_of(related) != version_id:
        raise VersionConflict(
            f"RelatedPerson/{related_person_id} is at version {version_of(related)}, "
            f"not {version_id}"
        )
    related["relationship"] = _relationships(details) + _kept(related)
    names = related.get("name") or [{}]
    names[0] = {
        **names[0],
        "given": details.given.split(),
        "family": details.family.strip(),
    }
    related["name"] = names
    other = [t for t in related.get("telecom") or () if t.get("system") not in ("phone", "email")]
    related["telecom"] = _telecoms(details) + other
    if not related["telecom"]:
        del related["telecom"]
    access.update("RelatedPerson", related_person_id, related, if_match=version_id)


def stop_caring(
    access: CareRecordAccess, patient_id: str, related_person_id: str, version_id: int
) -> None:
    """Record that the carer no longer cares for the person: the RelatedPerson ends today and
    any consent to see the plan is withdrawn in the same transaction, so a former carer's
    sign-in stops seeing the plan at once."""
    related = read(access, "RelatedPerson", related_person_id)
    if referenced_id(related.get("patient"), "Patient") != patient_id:
        raise CarerProblem("This person is not one of their carers")
    if version_of(related) != version_id:
        raise VersionConflict(f"RelatedPerson/{related_person_id} changed meanwhile")
    consent = carer_consents(access, patient_id).get(related_person_id)
    related["active"] = False
    related["period"] = {**(related.get("period") or {}), "end": today().isoformat()}

    def work(tx: StoreTransaction) -> None:
        tx.update("RelatedPerson", related_person_id, related, if_match=version_id)
        if consent is not None:
            _withdraw(tx, consent)

    access.write("update", f"RelatedPerson/{related_person_id}", work)


def give_consent(
    access: CareRecordAccess,
    patient_id: str,
    related_person_id: str,
    token: str,
    *,
    recorded_by_organisation: str | None = None,
) -> str:
    """Record the person's consent for the carer to see their care plan: the person is the
    performer (it is their choice), the recording organisation is named when staff record
    it on the person's behalf. Returns the Consent id (an existing one when already given)."""
    carer = carer_of(access, patient_id, related_person_id)
    if not carer.active:
        raise CarerProblem(f"{carer.name} is no longer recorded as caring for this person")
    if carer.consent is not None:
        return carer.consent.consent_id
    body: dict[str, Any] = {
        "resourceType": "Consent",
        "identifier": [submission_identifier(token)],
        "status": "active",
        "scope": concept(CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
        "category": [concept(CONSENT_CATEGORY, CARER_ACCESS, "Carer may see the care plan")],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": now_instant(),
        "performer": [{"reference": f"Patient/{patient_id}"}],
        "policyRule": concept(V3_ACT_CODE, "OPTIN", "opt-in"),
        "provision": {
            "type": "permit",
            "period": {"start": today().isoformat()},
            "actor": [
                {
                    "role": concept(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "IRCP",
                        "information recipient",
                    ),
                    "reference": {
                        "reference": f"RelatedPerson/{related_person_id}",
                        "display": carer.name,
                    },
                }
            ],
        },
    }
    if recorded_by_organisation:
        body["organization"] = [{"reference": f"Organization/{recorded_by_organisation}"}]
    return access.create(body, if_none_exist=if_none_exist(token)).stored.id


def _withdraw(tx: StoreTransaction, consent: CarerConsent) -> None:
    current = tx.read("Consent", consent.consent_id)
    body = current.as_dict()
    body["status"] = "inactive"
    provision = body.setdefault("provision", {})
    provision["period"] = {**(provision.get("period") or {}), "end": today().isoformat()}
    tx.update("Consent", consent.consent_id, body, if_match=consent.version_id)


def withdraw_consent(access: CareRecordAccess, patient_id: str, related_person_id: str) -> bool:
    """Withdraw the person's consent for the carer to see their plan (the Consent becomes
    inactive, ending today). False when there was none to withdraw."""
    consent = carer_consents(access, patient_id).get(related_person_id)
    if consent is None:
        return False
    access.write("update", f"Consent/{consent.consent_id}", lambda tx: _withdraw(tx, consent))
    return True
