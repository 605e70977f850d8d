"""The header menu: the parts of careweave a signed-in person goes between, by role."""

from __future__ import annotations

from dataclasses import dataclass

from careweave.access.accounts import UserAccount
from careweave.access.roles import CARE_ROLES, Role

NON_CLINICAL_ROLES = frozenset({Role.LINK_WORKER, Role.VOLUNTEER})
"""Care roles whose work is not clinical: finding people at risk reads health records (the
place's agreements normally share none with them), so the menu does not offer it; the page
itself still checks what the user's organisation is given."""


@dataclass(frozen=True)
class MenuItem:
    section: str
    href: str
    text: str


def navigation_for(user: UserAccount) -> list[MenuItem]:
    """The header menu for `user`; each page still checks for itself who may use it."""
    if user.role in CARE_ROLES:
        items = [
            MenuItem("caseload", "/caseload", "Caseload"),
            MenuItem("people", "/people", "Find a person"),
            MenuItem("discharge", "/discharge", "Discharge board"),
            MenuItem("mdt", "/mdt", "MDT meetings"),
            MenuItem("find-people", "/population/find-people", "Find people at risk"),
            MenuItem("notifications", "/notifications", "Notifications"),
            MenuItem("social-prescribing", "/social-prescribing", "Social prescribing"),
            MenuItem("directory", "/directory", "Community services"),
            MenuItem("home", "/home", "Home"),
        ]
        if user.role in NON_CLINICAL_ROLES:
            items = [item for item in items if item.section != "find-people"]
        return items
    if user.role is Role.ADMINISTRATOR:
        return [
            MenuItem("directory", "/directory", "Community services"),
            MenuItem("upkeep", "/directory/upkeep", "Directory entries to check"),
            MenuItem("home", "/home", "Home"),
        ]
    if user.role is Role.ANALYST:
        return [
            MenuItem("population", "/population", "Population health"),
            MenuItem("reports", "/social-prescribing/reports", "Social prescribing reports"),
            MenuItem("directory", "/directory", "Community services"),
            MenuItem("home", "/home", "Home"),
        ]
    if user.role in (Role.PATIENT, Role.CARER):
        return [
            MenuItem("my-care", "/my-care", "My care"),
            MenuItem("home", "/home", "Home"),
        ]
    return []
