"""What a signed-in person can go on to from the home page, by role."""

from __future__ import annotations

from dataclasses import dataclass

from careweave.access.accounts import UserAccount
from careweave.access.roles import CLINICAL_ROLES, Role


@dataclass(frozen=True)
class HomeLink:
    href: str
    text: str
    description: str


def home_links(user: UserAccount) -> list[HomeLink]:
    """The governance pages this user may use (each page checks again for itself)."""
    links = []
    if user.role in (Role.PATIENT, Role.CARER) and user.patient_id:
        yours = "your" if user.role is Role.PATIENT else "their"
        links.append(
            HomeLink(
                "/my-care",
                "Your care" if user.role is Role.PATIENT else "The care of the person you care for",
                f"Who is in {yours} care team and how to contact them, {yours} appointments, "
                f"and {yours} care and support plan.",
            )
        )
    if user.role is Role.PATIENT and user.patient_id:
        links.append(
            HomeLink(
                "/my-record/access",
                "Who has looked at your record",
                "See who has looked at or changed your health and care record, and when.",
            )
        )
    if user.role is Role.CARER and user.patient_id:
        links.append(
            HomeLink(
                "/my-record/access",
                "Who has looked at the record of the person you care for",
                "See who has looked at or changed their health and care record, and when.",
            )
        )
    if user.caldicott_guardian:
        links.append(
            HomeLink(
                "/governance/review",
                "Review access to records",
                "Review emergency (break-glass) access and unusual access at your organisation.",
            )
        )
    if user.role in CLINICAL_ROLES:
        links.append(
            HomeLink(
                "/break-glass",
                "Get emergency access to a record",
                "Open the record of someone whose care you are not part of, in an emergency.",
            )
        )
    return links
