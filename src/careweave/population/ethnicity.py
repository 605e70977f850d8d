"""NHS ethnic categories grouped as equity reports show them.

The record holds the NHS Data Dictionary ETHNIC CATEGORY (2001 Census based, UK Core
`UKCore-EthnicCategoryEngland`: one letter, see shared/standards.md section 9). Counts by the
17 categories are mostly too small to publish for one place, so equity breakdowns use the five
high-level groups of that list, and keep "Not stated" (Z: asked, and declined or did not
say) apart from "Not known" (99, no code, or a code outside the list: never asked), because
they mean different things for data quality.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

NOT_STATED: Final = "Not stated"
NOT_KNOWN: Final = "Not known"

ETHNIC_GROUP_OF: Final[Mapping[str, str]] = MappingProxyType(
    {
        **dict.fromkeys("ABC", "White"),
        **dict.fromkeys("DEFG", "Mixed or multiple ethnic groups"),
        **dict.fromkeys("HJKL", "Asian or Asian British"),
        **dict.fromkeys("MNP", "Black or Black British"),
        **dict.fromkeys("RS", "Other ethnic group"),
        "Z": NOT_STATED,
    }
)
"""Ethnic category code -> high-level group (the NHS list's own headings)."""

ETHNIC_GROUPS: Final = (
    "White",
    "Mixed or multiple ethnic groups",
    "Asian or Asian British",
    "Black or Black British",
    "Other ethnic group",
    NOT_STATED,
    NOT_KNOWN,
)
"""Every group a person can be in, in the order reports list them."""


def ethnic_group(category: str | None) -> str:
    """The high-level group of an ethnic category code; "Not known" when there is none."""
    if category is None:
        return NOT_KNOWN
    return ETHNIC_GROUP_OF.get(category, NOT_KNOWN)
