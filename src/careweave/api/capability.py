"""The CapabilityStatement, built from what the server really does.

Resource types come from the validator's supported list and search parameters from the same
registry the store indexes with, so the statement cannot claim a parameter that is not indexed.
"""

from __future__ import annotations

from typing import Any

from careweave import __version__
from careweave.fhir.search_parameters import SearchParameterRegistry
from careweave.fhir.validation import SUPPORTED_RESOURCE_TYPES

_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
_BUILTIN_PARAMETERS = (
    ("_id", "token", "http://hl7.org/fhir/SearchParameter/Resource-id", "Logical id"),
    (
        "_lastUpdated",
        "date",
        "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
        "When the resource version last changed",
    ),
)


def _audit_trail(registry: SearchParameterRegistry) -> dict[str, Any]:
    """AuditEvent is careweave's own tamper-evident trail: read and search only."""
    params = registry.for_type("AuditEvent")
    return {
        "type": "AuditEvent",
        "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
        "documentation": "careweave's hash-chained audit trail, written by the server itself. "
        "A person or their carer reads the entries about their own record; a Caldicott "
        "guardian reads their organisation's; a platform-wide integration reads all.",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {
                "name": name,
                "definition": params[name].url,
                "type": params[name].type,
                "documentation": doc,
            }
            for name, doc in (
                ("patient", "Entries about this person's record"),
                ("agent", "Entries by people acting for this Organization"),
                ("altid", "Entries by this username"),
                ("date", "When (eq, ge, gt, le, lt prefixes)"),
            )
        ],
    }


SUBSCRIPTION_CHANNELS_EXTENSION = (
    "https://fhir.careweave.example/StructureDefinition/subscription-channel-types"
)
_SUBSCRIPTIONS = (
    "FHIR R4 Subscriptions for other systems, kept by administrators and platform-wide "
    "integrations. Channel type rest-hook only, to an http or https endpoint: with no payload "
    "careweave POSTs to the endpoint with no body; with payload application/fhir+json it PUTs "
    "the matching resource to [endpoint]/[type]/[id]. channel.header entries are sent with "
    "each request. criteria is a search of a type careweave serves (e.g. "
    "'Encounter?class=IMP'); a Subscription created with status 'requested' is checked (422 "
    "when its criteria or channel cannot be served) and made 'active'. Failed deliveries are "
    "retried with backoff (30 s, 2 min, 10 min, 1 h, then every 6 h); after 10 failures the "
    "Subscription is set to 'error' with the reason in 'error'."
)


def capability_statement(base: str, registry: SearchParameterRegistry) -> dict[str, Any]:
    resources = []
    for resource_type in SUPPORTED_RESOURCE_TYPES:
        params = [
            {"name": name, "definition": url, "type": kind, "documentation": doc}
            for name, kind, url, doc in _BUILTIN_PARAMETERS
        ]
        params += [
            {"name": p.code, "definition": p.url, "type": p.type, "documentation": p.description}
            for p in sorted(registry.for_type(resource_type).values(), key=lambda p: p.code)
        ]
        reference_params = [
            p for p in registry.for_type(resource_type).values() if p.type == "reference"
        ]
        if resource_type == "AuditEvent":
            resources.append(_audit_trail(registry))
            continue
        documented: dict[str, Any] = (
            {"documentation": _SUBSCRIPTIONS} if resource_type == "Subscription" else {}
        )
        operations: dict[str, Any] = {}
        if resource_type == "Patient":
            operations["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                    "documentation": "GET Patient/[id]/$everything: the person and every "
                    "resource in their compartment the caller may see, in pages; _type, _since "
                    "and _count (not start or end).",
                }
            ]
        resources.append(
            {
                "type": resource_type,
                "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
                **documented,
                "interaction": [{"code": code} for code in _INTERACTIONS],
                "versioning": "versioned-update",
                "readHistory": True,
                "conditionalRead": "full-support",
                "updateCreate": True,
                "conditionalCreate": True,
                "conditionalUpdate": True,
                "conditionalDelete": "single",
                "referencePolicy": ["literal", "enforced", "local"],
                "searchInclude": sorted(f"{resource_type}:{p.code}" for p in reference_params),
                "searchRevInclude": sorted(
                    f"{other}:{p.code}"
                    for other in SUPPORTED_RESOURCE_TYPES
                    for p in registry.for_type(other).values()
                    if p.type == "reference" and resource_type in p.targets
                ),
                "searchParam": params,
                **operations,
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "careweave",
        "kind": "instance",
        "software": {"name": "careweave", "version": __version__},
        "implementation": {"description": "careweave FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "extension": [
                    {"url": SUBSCRIPTION_CHANNELS_EXTENSION, "valueCode": "rest-hook"},
                ],
                "mode": "server",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ],
                            "text": "Bearer tokens with SMART on FHIR v2 scopes",
                        }
                    ],
                    "description": "Every request but this statement needs "
                    "'Authorization: Bearer <token>'. An administrator issues tokens with "
                    "`careweave token issue --scope SCOPES [--user USER]`; a token grants no "
                    "more than its scopes and its user's role, legitimate relationships, the "
                    "information-sharing agreements and the person's consent allow. Records "
                    "a caller may not see answer 404 as if they did not exist.",
                },
                "resource": resources,
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch"},
                    {"code": "history-system"},
                ],
            }
        ],
    }
