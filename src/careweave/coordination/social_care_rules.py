"""What social care recording shares: its code system, who may record it, how a refusal is
said, and the checks every social care form needs (docs/care-coordination.md, "Social care").

Care Act 2014 needs assessments (s9), carer's assessments (s10) and the care and support the
council arranges are the local authority's statutory work, so only social workers record them
here, even though the access rules let other roles (a GP) write the same resource types. Anyone
with access to the person's record reads them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.access.roles import Role
from careweave.coordination.codes import CAREWEAVE_CODES, CAREWEAVE_EXTENSIONS
from careweave.fhir.errors import Forbidden
from careweave.uk_time import uk_day

SOCIAL_CARE: Final = CAREWEAVE_CODES + "social-care"
"""careweave's local code system of social care concepts, shared with the synthetic place
(careweave.synth.clinical_codes.SOCIAL_CARE) and the summary (careweave.coordination.summary):
home-care, care-home, nursing-home, care-act-assessment, unpaid-carer and the package types
of careweave.coordination.social_care_packages."""
CARE_ACT_ELIGIBILITY: Final = CAREWEAVE_CODES + "care-act-eligibility"
"""The determination an assessment reaches: `eligible` or `not-eligible`."""
CARE_PACKAGE_REVIEW_EXTENSION: Final = CAREWEAVE_EXTENSIONS + "care-package-review"
"""The review date of a care package ServiceRequest (valueDate); the summary reads it too."""

RECORDING_ROLES: Final = frozenset({Role.SOCIAL_WORKER})
"""Who records assessments and care packages: the council's social workers."""
MAXIMUM_TEXT_LENGTH: Final = 2000
_TOKEN: Final = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with what a form asked for; `field` is the form field it is about."""

    field: str | None
    message: str


class InvalidSocialCare(Exception):  # noqa: N818 - a refusal shown to the person who asked
    """The change cannot be made as asked; nothing was saved."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = tuple(problems)


def may_record(access: CareRecordAccess, *resource_types: str) -> bool:
    """Whether the signed-in person records social care: a social worker whose role and
    scopes allow creating `resource_types`."""
    if access.principal.role not in RECORDING_ROLES:
        return False
    try:
        for resource_type in resource_types:
            access.permit("create", resource_type)
    except Forbidden:
        return False
    return True


def check_recorder(access: CareRecordAccess) -> None:
    """Forbidden (nothing saved) unless the asker is someone who records social care."""
    if access.principal.role not in RECORDING_ROLES:
        raise Forbidden(
            "Care Act assessments and care packages are recorded by the council's social "
            "workers; your role can read them but not record them"
        )


def actor(access: CareRecordAccess) -> dict[str, Any]:
    """A Reference to the social worker acting: their post (PractitionerRole)."""
    principal = access.principal
    if principal.practitioner_role_id:
        return {
            "reference": f"PractitionerRole/{principal.practitioner_role_id}",
            "display": principal.display_name,
        }
    raise InvalidSocialCare(
        [
            Problem(
                None,
                "Your account is not linked to a post in the staff directory, so nothing can "
                "be recorded as yours. Ask your administrator to check it.",
            )
        ]
    )


def token_problems(token: str) -> list[Problem]:
    """A create form's one-time token must be one the app made (new_submission_token)."""
    if _TOKEN.fullmatch(token):
        return []
    return [Problem(None, "This form was not sent as expected: open it again and retry")]


def text_problems(text: str, field: str, what: str, *, required: bool) -> list[Problem]:
    """`what` is said in the message: "Enter {what}" / "{What} must be ... or fewer"."""
    value = text.strip()
    if required and not value:
        return [Problem(field, f"Enter {what}")]
    if len(value) > MAXIMUM_TEXT_LENGTH:
        return [
            Problem(
                field,
                f"{what[0].upper()}{what[1:]} must be {MAXIMUM_TEXT_LENGTH:,} characters or fewer",
            )
        ]
    return []


day_of = uk_day
"""The UK day of a FHIR date or dateTime; None when absent or malformed (a record from
another system must not break the page): careweave.uk_time.uk_day, under the name the social
care modules use."""
