"""The roles people act in, and what each role needs to see and change to do its job.

A role grants data *categories* (what kind of information) and the resource types it may write.
Whether a category reaches a given user also depends on the information-sharing agreement that
covers their organisation (careweave.access.sharing): the effective view is the intersection.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    GP = "gp"
    NURSE = "nurse"
    CARE_COORDINATOR = "care-coordinator"
    LINK_WORKER = "link-worker"
    SOCIAL_WORKER = "social-worker"
    DISCHARGE_COORDINATOR = "discharge-coordinator"
    CARE_HOME_STAFF = "care-home-staff"
    VOLUNTEER = "volunteer"
    ANALYST = "analyst"
    ADMINISTRATOR = "administrator"
    PATIENT = "patient"
    CARER = "carer"
    # An integration (API client without a person), acting for an organisation or the platform.
    SYSTEM = "system"


STAFF_ROLES: frozenset[Role] = frozenset(
    {
        Role.GP,
        Role.NURSE,
        Role.CARE_COORDINATOR,
        Role.LINK_WORKER,
        Role.SOCIAL_WORKER,
        Role.DISCHARGE_COORDINATOR,
        Role.CARE_HOME_STAFF,
        Role.VOLUNTEER,
        Role.ANALYST,
        Role.ADMINISTRATOR,
    }
)
CARE_ROLES: frozenset[Role] = STAFF_ROLES - {Role.ANALYST, Role.ADMINISTRATOR}
"""Staff who work with people's records day to day (the coordination pages are theirs)."""
# Roles whose holders may break the glass: registered clinicians and those who act for them in
# an emergency (an emergency override is a clinical judgement).
CLINICAL_ROLES: frozenset[Role] = frozenset(
    {Role.GP, Role.NURSE, Role.DISCHARGE_COORDINATOR, Role.CARE_HOME_STAFF}
)


def parse_role(text: str) -> Role:
    """The role named `text`, or ValueError listing the roles there are."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise ValueError(f"'{text}' is not a role; the roles are: {known}") from None
