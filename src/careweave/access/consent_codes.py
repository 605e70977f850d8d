"""The category codes careweave's Consent resources carry (careweave.access.consent says what
each means).

Apart from consent.py, which turns Consents in the store into access rules, so that code which
only writes or names them (care coordination's codes, the synthetic place generator) does not
load the store, SQLAlchemy and the FHIR validator to spell a category.
"""

from __future__ import annotations

from typing import Final

CONSENT_CATEGORY_SYSTEM: Final = "https://fhir.careweave.example/CodeSystem/consent-category"
OBJECTION: Final = "objection"
NATIONAL_DATA_OPT_OUT: Final = "ndoo"
CARER_ACCESS: Final = "carer-access"
