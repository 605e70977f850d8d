"""Which resource types a token's scopes open, as the access rules ask on every request."""

from __future__ import annotations

from typing import get_args

import pytest

from careweave.access.scopes import Permission, Scopes
from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES

EVERY_TYPE = frozenset(SUPPORTED_RESOURCE_TYPES)


@pytest.mark.parametrize(
    ("text", "permission", "expected"),
    [
        ("system/*.cruds", "r", EVERY_TYPE),
        ("user/*.rs", "c", frozenset()),
        ("patient/Observation.rs", "r", frozenset({"Observation"})),
        ("patient/Observation.rs", "u", frozenset()),
        ("system/Patient.r system/Condition.rs", "r", frozenset({"Patient", "Condition"})),
        ("system/Patient.r system/Condition.rs", "s", frozenset({"Condition"})),
        ("user/*.read openid fhirUser", "s", EVERY_TYPE),
        ("user/*.read", "d", frozenset()),
    ],
)
def test_types_allowed_are_the_types_the_scopes_name(
    text: str, permission: Permission, expected: frozenset[str]
) -> None:
    assert Scopes.parse(text).types_allowed(permission) == expected


@pytest.mark.parametrize(
    "text",
    [
        "system/*.cruds",
        "patient/*.rs user/Observation.c",
        "user/Patient.cruds user/CarePlan.rs system/Task.u",
    ],
)
def test_types_allowed_agrees_with_asking_type_by_type(text: str) -> None:
    scopes = Scopes.parse(text)
    permission: Permission
    for permission in get_args(Permission):
        by_type = {t for t in SUPPORTED_RESOURCE_TYPES if scopes.allows(t, permission)}
        assert scopes.types_allowed(permission) == by_type


def test_each_token_gets_the_answer_for_its_own_scopes() -> None:
    """The answer is kept per set of scopes: equal scopes parsed apart share it, different
    scopes asked one after the other never get each other's."""
    narrow, wide = Scopes.parse("patient/Observation.rs"), Scopes.parse("system/*.rs")
    for _ in range(2):
        assert narrow.types_allowed("r") == {"Observation"}
        assert wide.types_allowed("r") == EVERY_TYPE
    assert Scopes.parse("patient/Observation.rs").types_allowed("r") == {"Observation"}
