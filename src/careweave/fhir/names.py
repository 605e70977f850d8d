"""What a person is called and their NHS number, read from a Patient or RelatedPerson.

Shared by the pages and the coordination domain, which both name people the same way.
"""

from __future__ import annotations

from typing import Any

from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM


def person_name(resource: dict[str, Any]) -> str | None:
    """The name a Patient or RelatedPerson is usually called by, or None if it has none."""
    names = [n for n in resource.get("name") or () if isinstance(n, dict)]
    usual = [n for n in names if n.get("use") in ("usual", "official")] or names
    for name in usual:
        if isinstance(name.get("text"), str) and name["text"].strip():
            return str(name["text"]).strip()
        given = [g for g in name.get("given") or () if isinstance(g, str)]
        family = name.get("family")
        text = " ".join([*given, family if isinstance(family, str) else ""]).strip()
        if text:
            return text
    return None


def nhs_number_of(resource: dict[str, Any]) -> str | None:
    for identifier in resource.get("identifier") or ():
        if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER_SYSTEM:
            value = identifier.get("value")
            return str(value) if value else None
    return None
