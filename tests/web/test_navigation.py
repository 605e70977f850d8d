"""The header menu offers each role the parts of careweave it can use."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from careweave.access.accounts import UserAccount
from careweave.access.roles import CARE_ROLES, Role
from careweave.web.navigation import NON_CLINICAL_ROLES, navigation_for


def account(role: Role) -> UserAccount:
    return UserAccount(
        pk=1,
        username="someone",
        display_name="Some One",
        role=role,
        organisation_id="riverside",
        practitioner_id=None,
        practitioner_role_id=None,
        patient_id="mary" if role in (Role.PATIENT, Role.CARER) else None,
        related_person_id=None,
        caldicott_guardian=False,
        disabled=False,
        has_password=True,
        failed_sign_ins=0,
        locked_until=None,
        created=datetime(2026, 1, 1, tzinfo=UTC),
    )


def sections(role: Role) -> list[str]:
    return [item.section for item in navigation_for(account(role))]


@pytest.mark.parametrize("role", sorted(CARE_ROLES, key=str))
def test_finding_people_at_risk_is_offered_to_clinical_care_roles_only(role: Role) -> None:
    menu = sections(role)
    assert "caseload" in menu
    assert ("find-people" in menu) is (role not in NON_CLINICAL_ROLES)


def test_analysts_start_from_population_health() -> None:
    assert sections(Role.ANALYST)[0] == "population"
    for role in (Role.PATIENT, Role.CARER, Role.ADMINISTRATOR):
        assert "population" not in sections(role)
        assert "find-people" not in sections(role)
