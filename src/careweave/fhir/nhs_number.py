"""UK Core identifier systems and the NHS number check.

The check digit itself is left to the `nhs_number` library (a maintained implementation of the
NHS Data Dictionary's modulus 11 rule) rather than written again here. That library is lenient
about layout: it accepts "943 476 5919", "943-476-5919", surrounding whitespace and any Unicode
decimal digits. A FHIR ``Identifier.value`` for an NHS number must be the bare ten ASCII digits
(UK Core), so we check that form first and only then ask the library about the check digit.

The library also rejects numbers in the Scottish CHI range (010 100 0000 - 311 299 9999) whose
first six digits are not a DDMMYY date of birth, since no such CHI number can be issued; we keep
that rule. Synthetic test numbers (999 000 0000 - 999 999 9999) are checked like any others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nhs_number.validate import is_valid as _library_check

from careweave.fhir.errors import Issue

__all__ = [
    "NHS_NUMBER_SYSTEM",
    "ODS_ORGANIZATION_SYSTEM",
    "check_nhs_number_identifiers",
    "is_valid_nhs_number",
]

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
"""The identifier system of the UK Core Patient ``nhsNumber`` slice."""

ODS_ORGANIZATION_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
"""ODS organisation codes; the American "z" is part of the URI (the "s" spelling is a typo)."""

_TEN_DIGITS = re.compile(r"[0-9]{10}", re.ASCII)


def is_valid_nhs_number(value: str) -> bool:
    """Whether `value` is exactly ten ASCII digits whose last is the modulus 11 check digit."""
    return bool(_TEN_DIGITS.fullmatch(value)) and _library_check(value)


def check_nhs_number_identifiers(resource: Mapping[str, Any]) -> list[Issue]:
    """Report each NHS number identifier of `resource` whose value is not a valid NHS number.

    Returns an empty list when all are valid. Identifiers in other systems are not examined,
    and a malformed ``identifier`` element is left for structural validation to report. Each
    issue's expression points at the offending value, e.g. ``Patient.identifier[0].value``.
    """
    resource_type = resource.get("resourceType")
    root = resource_type if isinstance(resource_type, str) and resource_type else "Resource"
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return []
    issues: list[Issue] = []
    for index, identifier in enumerate(identifiers):
        if not isinstance(identifier, Mapping) or identifier.get("system") != NHS_NUMBER_SYSTEM:
            continue
        path = f"{root}.identifier[{index}].value"
        value = identifier.get("value")
        if value is None:
            issues.append(
                Issue("error", "required", "An NHS number identifier must have a value", (path,))
            )
        elif not isinstance(value, str) or not _TEN_DIGITS.fullmatch(value):
            issues.append(
                Issue(
                    "error",
                    "value",
                    f"{value!r} is not an NHS number: write it as exactly 10 digits "
                    "with no spaces or other characters",
                    (path,),
                )
            )
        elif not is_valid_nhs_number(value):
            issues.append(
                Issue(
                    "error",
                    "value",
                    f"{value!r} is not a valid NHS number: its check digit does not match",
                    (path,),
                )
            )
    return issues
