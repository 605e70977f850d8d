"""FHIR resources for the place itself: Organization and Location.

Types are coded where an HL7 code system has a fitting code (organization-type for
organisations, v3 RoleCode for locations) and always carry the words people use as `text`,
since a council's adult social care service has no code of its own in either.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from careweave.synth.model import ODS_ORGANIZATION, ODS_SITE, UK_CORE_PROFILE
from careweave.synth.place import OrganisationRecord, PlaceDirectory, Site
from careweave.synth.workforce import practitioner_resource, practitioner_role_resource

ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

_ORGANIZATION_TYPE_DISPLAY = MappingProxyType(
    {
        "prov": "Healthcare Provider",
        "dept": "Hospital Department",
        "govt": "Government",
        "pay": "Payer",
        "cg": "Community Group",
    }
)

ORGANISATION_KINDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "icb": ("pay", "Integrated care board"),
        "pcn": ("prov", "Primary care network"),
        "gp-practice": ("prov", "GP practice"),
        "community-trust": ("prov", "Community health NHS trust"),
        "acute-trust": ("prov", "Acute NHS trust"),
        "discharge-team": ("dept", "Integrated discharge team"),
        "council": ("govt", "Local authority adult social care"),
        "hospice": ("prov", "Hospice"),
        "care-home-nursing": ("prov", "Care home with nursing"),
        "care-home-residential": ("prov", "Care home without nursing (residential)"),
        "home-care": ("prov", "Home care provider (domiciliary care agency)"),
        "voluntary": ("cg", "Voluntary and community sector organisation"),
    }
)
"""Organisation kind -> (organization-type code, what people call it)."""

LOCATION_KINDS: Mapping[str, tuple[str | None, str, str]] = MappingProxyType(
    {
        "gp-surgery": ("PC", "Primary care clinic", "GP surgery"),
        "hospital": ("HOSP", "Hospital", "Acute hospital"),
        "community-hospital": ("HOSP", "Hospital", "Community hospital"),
        "care-home": ("NCCF", "Nursing or custodial care facility", "Care home"),
        "hospice": (None, "", "Hospice"),
        "council-office": (None, "", "Council offices"),
    }
)
"""Location kind -> (v3 RoleCode code or None, its display, what people call it)."""


def _type(code: str | None, system: str, display: str, text: str) -> dict[str, Any]:
    if code is None:
        return {"text": text}
    return {"coding": [{"system": system, "code": code, "display": display}], "text": text}


def organization_resource(record: OrganisationRecord) -> dict[str, Any]:
    organisation = record.organisation
    code, text = ORGANISATION_KINDS[record.kind]
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": organisation.id,
        "meta": {"profile": [UK_CORE_PROFILE + "Organization"]},
        "identifier": [{"system": ODS_ORGANIZATION, "value": organisation.ods_code}],
        "active": True,
        "type": [_type(code, ORGANIZATION_TYPE, _ORGANIZATION_TYPE_DISPLAY[code], text)],
        "name": organisation.name,
        "telecom": [{"system": "phone", "value": record.phone, "use": "work"}],
        "address": [record.address],
    }
    if record.part_of is not None:
        resource["partOf"] = record.part_of.reference
    return resource


def location_resource(site: Site) -> dict[str, Any]:
    code, display, text = LOCATION_KINDS[site.kind]
    return {
        "resourceType": "Location",
        "id": site.id,
        "meta": {"profile": [UK_CORE_PROFILE + "Location"]},
        "identifier": [{"system": ODS_SITE, "value": site.site_code}],
        "status": "active",
        "name": site.name,
        "mode": "instance",
        "type": [_type(code, ROLE_CODE, display, text)],
        "telecom": [{"system": "phone", "value": site.phone, "use": "work"}],
        "address": site.address,
        "position": {"longitude": site.longitude, "latitude": site.latitude},
        "managingOrganization": site.organisation.reference,
    }


def place_resources(directory: PlaceDirectory) -> Iterator[dict[str, Any]]:
    """Every resource of the place itself, each after those of its type it refers to."""
    for record in directory.organisations:
        yield organization_resource(record)
    for site in directory.sites:
        yield location_resource(site)
    for post in directory.staff:
        yield practitioner_resource(post)
    for post in directory.staff:
        yield practitioner_role_resource(post)
