"""A person's choices about sharing, recorded as FHIR Consent and turned into access rules.

Two kinds of Consent matter here (docs/access-model.md shows examples):

* an objection to sharing with an organisation: status active, scope patient-privacy, category
  `objection`, provision.type deny, provision.actor the Organization; with a
  provision.securityLabel it objects only to that sensitive category reaching them;
* the national data opt-out: status active, category `ndoo`: the person is left out of
  planning and research outputs (population analytics, exports) but not out of direct care;
* consent for a carer to see the care plan: status active, category `carer-access`,
  provision.type permit, provision.actor the carer's RelatedPerson. Without it a carer's
  sign-in sees who the person is, their care team and appointments, not the plan.

The rules are evaluated by the database at query time (careweave.store.visibility), so a Consent
takes effect the moment it is saved, with no cache to go stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson

from careweave.access.consent_codes import CARER_ACCESS as CARER_ACCESS
from careweave.access.consent_codes import CONSENT_CATEGORY_SYSTEM as CONSENT_CATEGORY_SYSTEM
from careweave.access.consent_codes import NATIONAL_DATA_OPT_OUT as NATIONAL_DATA_OPT_OUT
from careweave.access.consent_codes import OBJECTION as OBJECTION
from careweave.access.sharing import SENSITIVE_SYSTEM
from careweave.fhir.search_query import CURSOR_PARAMETER, parse_search
from careweave.store.repository import FhirStore
from careweave.store.visibility import LabelObjections, LinkRule
from careweave.uk_time import last_uk_day, today


def objection_to(organisation_id: str) -> LinkRule:
    """Patients who object to their whole record reaching `organisation_id`."""
    return LinkRule(
        resource_type="Consent",
        patient_param="patient",
        link_param="actor",
        targets=(("Organization", organisation_id),),
        statuses=("active",),
        has_tokens=(("category", OBJECTION),),
        lacks_param="security-label",
    )


def national_opt_out() -> LinkRule:
    """Patients with an active national data opt-out (left out of planning and research)."""
    return LinkRule(
        resource_type="Consent",
        patient_param="patient",
        link_param="",
        targets=(),
        statuses=("active",),
        has_tokens=(("category", NATIONAL_DATA_OPT_OUT),),
    )


def category_objections(organisation_id: str) -> LabelObjections:
    """The patients who object to a sensitive category (a security label) reaching the
    organisation: the Consent's securityLabel names the category."""
    return LabelObjections(
        system=SENSITIVE_SYSTEM,
        rules=(
            LinkRule(
                resource_type="Consent",
                patient_param="patient",
                link_param="actor",
                targets=(("Organization", organisation_id),),
                statuses=("active",),
                has_tokens=(("category", OBJECTION),),
            ),
        ),
    )


def opted_out_patients(store: FhirStore) -> set[str]:
    """Ids of everyone with an active national data opt-out: leave them out of planning and
    research outputs (population analytics, exports)."""
    params = [
        ("category", f"{CONSENT_CATEGORY_SYSTEM}|{NATIONAL_DATA_OPT_OUT}"),
        ("status", "active"),
        ("_count", "1000"),
    ]
    found: set[str] = set()
    cursor: str | None = None
    while True:
        paging = [(CURSOR_PARAMETER, cursor)] if cursor else []
        page = store.search(parse_search("Consent", [*params, *paging], store.registry))
        for _, _, content in page.matches:
            reference = str((orjson.loads(content).get("patient") or {}).get("reference", ""))
            if reference.startswith("Patient/"):
                found.add(reference.removeprefix("Patient/"))
        cursor = page.next_cursor
        if cursor is None:
            return found


def carer_consent_of(
    store: FhirStore, patient_id: str, related_person_id: str, *, on: date | None = None
) -> dict[str, object] | None:
    """The person's active consent for this carer to see their care plan on the day `on`
    (today in the UK when not given), or None.

    Read as the platform (not through the guard): the carer may not see Consents themselves
    until it exists, and the answer decides what they may see. A Consent that does not
    permit, or whose provision.period has ended, does not count (`carer_consent_in_force`)."""
    params = [
        ("patient", f"Patient/{patient_id}"),
        ("category", f"{CONSENT_CATEGORY_SYSTEM}|{CARER_ACCESS}"),
        ("actor", f"RelatedPerson/{related_person_id}"),
        ("status", "active"),
        ("_count", "20"),
    ]
    page = store.search(parse_search("Consent", params, store.registry))
    day = on or today()
    for _, _, content in page.matches:
        consent = orjson.loads(content)
        if carer_consent_in_force(consent, day):
            return dict(consent)
    return None


def carer_consent_in_force(consent: Mapping[str, Any], on: date) -> bool:
    """Whether an active carer-access Consent permits on the day `on`: what the access rules
    act on, and what the carers page must show, so the two never disagree.

    A period ending 10 June counts through 10 June in England (not only until midnight UTC,
    01:00 BST on 11 June); an end given as a moment ends on the UK day of that moment; a month
    or year alone runs to its last day. An end that cannot be read does not leave the consent
    open: it does not count."""
    provision = consent.get("provision") or {}
    if provision.get("type", "permit") != "permit":
        return False
    written_end = (provision.get("period") or {}).get("end")
    if written_end is None:
        return True
    end = last_uk_day(written_end)
    return end is not None and end >= on
