"""Transaction and batch Bundles (FHIR R4 http.html#transaction).

A transaction is all-or-nothing: every entry runs on one database transaction, `urn:uuid:`
fullUrls get their ids before anything is written so entries may refer to each other, and
conditional references (`Patient?identifier=...`) are resolved to the one resource they match.
A batch runs each entry on its own transaction and reports each entry's outcome.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from careweave.fhir.conditional_read import not_modified
from careweave.fhir.errors import (
    FhirError,
    InvalidResource,
    Issue,
    MalformedRequest,
    NotFound,
)
from careweave.fhir.json_patch import JSON_PATCH
from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES, is_fhir_id
from careweave.store.patching import patch_in
from careweave.store.repository import (
    FhirStore,
    StoredResource,
    StoreTransaction,
    format_instant,
)

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}


@dataclass(frozen=True)
class EntryRequest:
    index: int
    method: str
    resource_type: str
    resource_id: str | None
    version_id: int | None
    query: str | None
    if_match: int | None
    if_none_exist: str | None
    full_url: str | None
    resource: dict[str, Any] | None
    patch: list[Any] | None = None
    """A PATCH's JSON Patch, read from the Binary the entry carries."""
    if_none_match: str | None = None
    """A GET's `ifNoneMatch` (an ETag such as W/"3"): 304 when the resource is still that."""
    if_modified_since: str | None = None
    """A GET's `ifModifiedSince` (a FHIR instant): 304 when it has not changed since then."""


class EntryError(FhirError):
    """An entry of a transaction failed; says which, keeping the original status and code."""

    def __init__(self, index: int, cause: FhirError) -> None:
        issues = [
            Issue(
                i.severity,
                i.code,
                f"Bundle.entry[{index}]: {i.diagnostics}",
                i.expression or (f"Bundle.entry[{index}]",),
            )
            for i in cause.issues
        ]
        super().__init__(issues[0].diagnostics, issues=issues)
        self.status = cause.status
        self.code = cause.code


OpenTransaction = Callable[[], AbstractContextManager[StoreTransaction]]


def process_bundle(
    store: FhirStore, bundle: object, *, transaction: OpenTransaction | None = None
) -> dict[str, Any]:
    """Run a transaction or batch Bundle and return its response Bundle.

    `transaction` opens each database transaction; the access layer passes one that holds the
    user's visibility and permissions, so every entry is checked like a single request.
    """
    opener = transaction or store.transaction
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidResource("POST to the base URL needs a Bundle", expression=["Bundle"])
    kind = bundle.get("type")
    if kind not in {"transaction", "batch"}:
        raise InvalidResource(
            f"Bundle.type must be transaction or batch, not {kind!r}", expression=["Bundle.type"]
        )
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raise InvalidResource("Bundle.entry must be a list", expression=["Bundle.entry"])
    if kind == "transaction":
        return _transaction(opener, raw_entries)
    return _batch(opener, raw_entries)


def _transaction(opener: OpenTransaction, raw_entries: list[Any]) -> dict[str, Any]:
    requests = [_entry_request(i, e) for i, e in enumerate(raw_entries)]
    responses: dict[int, dict[str, Any]] = {}
    with opener() as tx:
        aliases = _assign_ids(tx, requests)
        resolved = [_with_references_resolved(tx, r, aliases) for r in requests]
        for request in sorted(resolved, key=lambda r: (_ORDER[r.method], r.index)):
            try:
                responses[request.index] = _run(tx, request, aliases)
            except FhirError as exc:
                raise EntryError(request.index, exc) from exc
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [responses[i] for i in range(len(requests))],
    }


def _batch(opener: OpenTransaction, raw_entries: list[Any]) -> dict[str, Any]:
    entries = []
    for index, raw in enumerate(raw_entries):
        try:
            request = _entry_request(index, raw)
            with opener() as tx:
                request = _with_references_resolved(tx, request, {})
                entry = _run(tx, request, {})
            entries.append(entry)  # only once its transaction has committed
        except FhirError as exc:
            entries.append(
                {"response": {"status": str(exc.status), "outcome": operation_outcome(exc.issues)}}
            )
    return {"resourceType": "Bundle", "type": "batch-response", "entry": entries}


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": i.severity,
                "code": i.code,
                "diagnostics": i.diagnostics,
                **({"expression": list(i.expression)} if i.expression else {}),
            }
            for i in issues
        ],
    }


def _entry_request(index: int, raw: object) -> EntryRequest:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise MalformedRequest(f"{where} must be an object", expression=[where])
    request = raw.get("request")
    if not isinstance(request, dict):
        raise InvalidResource(f"{where}.request is required", expression=[f"{where}.request"])
    method = request.get("method")
    url = request.get("url")
    if method not in _ORDER or method == "HEAD":
        raise InvalidResource(
            f"{where}.request.method must be GET, POST, PUT, PATCH or DELETE, not {method!r}",
            expression=[f"{where}.request.method"],
        )
    if not isinstance(url, str) or not url:
        raise InvalidResource(
            f"{where}.request.url is required", expression=[f"{where}.request.url"]
        )
    path, _, query = url.partition("?")
    parts = [p for p in urlsplit(path).path.split("/") if p]
    if not parts or parts[0] not in SUPPORTED_RESOURCE_TYPES:
        raise InvalidResource(
            f"{where}.request.url '{url}' does not name a supported resource type",
            expression=[f"{where}.request.url"],
        )
    resource_id = parts[1] if len(parts) > 1 else None
    if resource_id is not None and not is_fhir_id(resource_id):
        raise InvalidResource(
            f"{where}.request.url '{url}' does not hold a valid FHIR id",
            expression=[f"{where}.request.url"],
        )
    if query and "\x00" in query:
        raise InvalidResource(
            f"{where}.request.url contains a NUL character", expression=[f"{where}.request.url"]
        )
    version_id = None
    if len(parts) == 4 and parts[2] == "_history" and parts[3].isdigit():
        version_id = int(parts[3])
    elif len(parts) > 2:
        raise InvalidResource(
            f"{where}.request.url '{url}' is not supported", expression=[f"{where}.request.url"]
        )
    body = raw.get("resource")
    if method in {"POST", "PUT"}:
        if not isinstance(body, dict):
            raise InvalidResource(
                f"{where}.resource is required for {method}", expression=[f"{where}.resource"]
            )
        if body.get("resourceType") != parts[0]:
            raise InvalidResource(
                f"{where}.resource is a {body.get('resourceType')!r} but the url names {parts[0]}",
                expression=[f"{where}.resource.resourceType"],
            )
    patch = None
    if method == "PATCH":
        if resource_id is None or version_id is not None:
            raise InvalidResource(
                f"{where}.request.url must be Type/id for a PATCH, not '{url}'",
                expression=[f"{where}.request.url"],
            )
        patch = _json_patch_of(where, body)
    if_match = request.get("ifMatch")
    return EntryRequest(
        index=index,
        method=method,
        resource_type=parts[0],
        resource_id=resource_id,
        version_id=version_id,
        query=query or None,
        if_match=parse_if_match(if_match) if if_match else None,
        if_none_exist=request.get("ifNoneExist"),
        full_url=raw.get("fullUrl"),
        resource=body if isinstance(body, dict) else None,
        patch=patch,
        if_none_match=_text_or_none(request.get("ifNoneMatch")),
        if_modified_since=_http_date(request.get("ifModifiedSince")),
    )


def _json_patch_of(where: str, body: object) -> list[Any]:
    """A Bundle's PATCH carries its JSON Patch as a Binary (FHIR R4 http.html#patch)."""
    if (
        not isinstance(body, dict)
        or body.get("resourceType") != "Binary"
        or body.get("contentType") != JSON_PATCH
        or not isinstance(body.get("data"), str)
    ):
        raise InvalidResource(
            f"{where}.resource must be a Binary with contentType {JSON_PATCH} and the patch, "
            "base64-encoded, in data",
            expression=[f"{where}.resource"],
        )
    try:
        document = orjson.loads(base64.b64decode(body["data"], validate=True))
    except (binascii.Error, orjson.JSONDecodeError):
        raise InvalidResource(
            f"{where}.resource.data is not a base64-encoded JSON Patch",
            expression=[f"{where}.resource.data"],
        ) from None
    if not isinstance(document, list):
        raise InvalidResource(
            f"{where}.resource.data is not a JSON Patch (an array of operations)",
            expression=[f"{where}.resource.data"],
        )
    return document


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _http_date(value: object) -> str | None:
    """`ifModifiedSince` is a FHIR instant; the conditional read takes an HTTP date."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None  # as HTTP does with a date it cannot read: the condition is ignored
    if moment.tzinfo is None:
        return None
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_if_match(value: str) -> int:
    """`W/"3"` (or `"3"`, or `3`) -> 3."""
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise MalformedRequest(f'If-Match must look like W/"3", not {value!r}')
    return int(text)


def _assign_ids(tx: StoreTransaction, requests: list[EntryRequest]) -> dict[str, str]:
    """`urn:uuid:` fullUrl -> `Type/id`, decided before anything is written.

    A conditional create whose condition already matches one resource maps to that resource,
    so entries referring to it point at what is really there.
    """
    aliases: dict[str, str] = {}
    for r in requests:
        if r.full_url and r.full_url.startswith(("urn:uuid:", "urn:oid:")):
            if r.method == "POST":
                existing: list[str] = []
                if r.if_none_exist:
                    try:
                        existing = tx.find_ids(r.resource_type, r.if_none_exist)
                    except FhirError as exc:
                        raise EntryError(r.index, exc) from exc
                chosen = existing[0] if len(existing) == 1 else str(uuid.uuid4())
                aliases[r.full_url] = f"{r.resource_type}/{chosen}"
            elif r.method == "PUT" and r.resource_id:
                aliases[r.full_url] = f"{r.resource_type}/{r.resource_id}"
    return aliases


def _with_references_resolved(
    tx: StoreTransaction, request: EntryRequest, aliases: dict[str, str]
) -> EntryRequest:
    if request.resource is None and request.patch is None:
        return request

    def resolve(reference: str) -> str:
        if reference in aliases:
            return aliases[reference]
        head, sep, query = reference.partition("?")
        if sep and head in SUPPORTED_RESOURCE_TYPES:
            matches = tx.find_ids(head, query)
            if len(matches) != 1:
                raise InvalidResource(
                    f"Bundle.entry[{request.index}]: the conditional reference '{reference}' "
                    f"matches {len(matches) or 'no'} resources; it must match exactly one",
                    expression=[f"Bundle.entry[{request.index}].resource"],
                )
            return f"{head}/{matches[0]}"
        return reference

    if request.patch is not None:  # its values may refer to what the transaction creates
        return replace(request, patch=_rewrite_references(request.patch, resolve))
    return replace(request, resource=_rewrite_references(request.resource, resolve))


def _rewrite_references(value: Any, resolve: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                out[key] = resolve(item)
            else:
                out[key] = _rewrite_references(item, resolve)
        return out
    if isinstance(value, list):
        return [_rewrite_references(item, resolve) for item in value]
    return value


def _run(tx: StoreTransaction, r: EntryRequest, aliases: dict[str, str]) -> dict[str, Any]:
    if r.method == "POST":
        assert r.resource is not None
        assigned = aliases.get(r.full_url or "")
        result = tx.create(
            r.resource,
            resource_type=r.resource_type,
            if_none_exist=r.if_none_exist,
            resource_id=assigned.split("/", 1)[1] if assigned else None,
        )
        return _write_entry(result.stored, 201 if result.created else 200)
    if r.method == "PUT":
        assert r.resource is not None
        if r.resource_id is None:
            if not r.query:
                raise InvalidResource("PUT needs Type/id or Type?condition in request.url")
            result = tx.conditional_update(r.resource_type, r.query, r.resource)
        else:
            result = tx.update(r.resource_type, r.resource_id, r.resource, if_match=r.if_match)
        return _write_entry(result.stored, 201 if result.created else 200)
    if r.method == "PATCH":
        assert r.resource_id is not None and r.patch is not None
        patched = patch_in(tx, r.resource_type, r.resource_id, r.patch, r.if_match)
        return _write_entry(patched.stored, 200)
    if r.method == "DELETE":
        if r.resource_id is None:
            tx.conditional_delete(r.resource_type, r.query or "")
        else:
            with contextlib.suppress(NotFound):  # deleting what is not there is a no-op
                tx.delete(r.resource_type, r.resource_id, if_match=r.if_match)
        return {"response": {"status": "204 No Content"}}
    if r.resource_id is None:
        raise InvalidResource("Searches inside a Bundle are not supported; search with GET instead")
    if r.version_id is not None:
        stored = tx.vread(r.resource_type, r.resource_id, r.version_id)
    else:
        stored = tx.read(r.resource_type, r.resource_id)
    if (r.if_none_match or r.if_modified_since) and not_modified(
        stored.version_id,
        stored.last_updated,
        if_none_match=r.if_none_match,
        if_modified_since=r.if_modified_since,
    ):
        return {
            "response": {
                "status": "304 Not Modified",
                "etag": f'W/"{stored.version_id}"',
                "lastModified": format_instant(stored.last_updated),
            }
        }
    return _write_entry(stored, 200)


def _write_entry(stored: StoredResource, status: int) -> dict[str, Any]:
    return {
        "fullUrl": stored.reference,
        "resource": stored.as_dict(),
        "response": {
            "status": _STATUS_TEXT[status],
            "location": f"{stored.reference}/_history/{stored.version_id}",
            "etag": f'W/"{stored.version_id}"',
            "lastModified": format_instant(stored.last_updated),
        },
    }
