"""FHIR R4 REST interactions: thin handlers that read the request, call the store, and answer.

Blocking work runs in Starlette's thread pool so the event loop keeps serving, and that
includes finding the caller: a bearer token is looked up in the database (and a refusal is an
audited commit). Handlers that take no body are plain functions, which FastAPI runs in the
pool whole, so a read authenticates, checks and fetches in one hop; handlers that read a body
find the caller first (`caller_access`), so nobody unauthenticated has their body read, and
read it only up to the body limit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from careweave.access.guard import CareRecordAccess
from careweave.api.auth import access_of, caller_access
from careweave.api.capability import capability_statement
from careweave.api.paging import forward_links, page_cursor, page_size
from careweave.api.requests import base_url, if_match, prefer, read_body, read_json_body
from careweave.api.responses import FHIR_JSON, FhirResponse, outcome_response, version_headers
from careweave.fhir.conditional_read import not_modified
from careweave.fhir.errors import (
    InvalidSearch,
    Issue,
    MalformedRequest,
    NotFound,
    UnknownResourceType,
    UnsupportedMediaType,
    VersionConflict,
)
from careweave.fhir.json_patch import JSON_PATCH
from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES, is_fhir_id
from careweave.fhir.search_query import (
    CURSOR_PARAMETER,
    SUBSET_PARAMETERS,
    Handling,
    SearchQuery,
    parse_read_subset,
    parse_search,
)
from careweave.fhir.search_values import DateRange, SearchValueError, parse_fhir_date_range
from careweave.fhir.subsetting import Subset, subset_json
from careweave.settings import Settings
from careweave.store.patching import conditional_patch_in, patch_in
from careweave.store.repository import (
    FhirStore,
    HistoryPage,
    StoredResource,
    StoreTransaction,
    WriteResult,
    format_instant,
    parse_history_cursor,
)
from careweave.store.search import SearchPage

_RESOURCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}},
}
_OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}


def _documented(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": schema}}}


router = APIRouter(
    prefix="/fhir/R4",
    default_response_class=FhirResponse,
    responses={
        200: _documented("A FHIR resource or Bundle", _RESOURCE_SCHEMA),
        "4XX": _documented("An OperationOutcome saying what is wrong", _OUTCOME_SCHEMA),
        "5XX": _documented("An OperationOutcome: the server failed", _OUTCOME_SCHEMA),
    },
)
_TYPES = frozenset(SUPPORTED_RESOURCE_TYPES)
_JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {FHIR_JSON: {"schema": _RESOURCE_SCHEMA}},
    }
}
_FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
    }
}
_CREATED: dict[int | str, dict[str, Any]] = {201: _documented("Created", _RESOURCE_SCHEMA)}
_JSON_PATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            JSON_PATCH: {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["op", "path"],
                        "properties": {"op": {"type": "string"}, "path": {"type": "string"}},
                    },
                }
            }
        },
    }
}
_PATCHED: dict[int | str, dict[str, Any]] = {
    200: _documented("The patched resource", _RESOURCE_SCHEMA)
}
ResourceType = Annotated[
    str,
    Path(
        description="A supported resource type",
        json_schema_extra={"enum": list(SUPPORTED_RESOURCE_TYPES)},
    ),
]
ResourceId = Annotated[
    str, Path(description="Logical id", json_schema_extra={"pattern": "^[A-Za-z0-9\\-\\.]{1,64}$"})
]
VersionId = Annotated[
    str, Path(description="Version id", json_schema_extra={"pattern": "^[0-9]+$"})
]


def _store(request: Request) -> FhirStore:
    store: FhirStore = request.app.state.store
    return store


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _check_type(resource_type: ResourceType) -> str:
    if resource_type not in _TYPES:
        raise UnknownResourceType(
            f"'{resource_type}' is not a resource type this server supports; see /fhir/R4/metadata"
        )
    return resource_type


def _check_id(resource_type: str, resource_id: str) -> None:
    """An id FHIR cannot have names no resource: say so before asking the database."""
    if not is_fhir_id(resource_id):
        raise NotFound(f"{resource_type}/{resource_id!r} is not known (not a valid FHIR id)")


def _version(value: str) -> int:
    if not value.isdigit():
        raise MalformedRequest(f"A version id is a whole number, not '{value}'")
    return int(value)


@router.get("/metadata")
async def metadata(request: Request) -> FhirResponse:
    return FhirResponse(capability_statement(base_url(request), _store(request).registry))


@router.post("", openapi_extra=_JSON_BODY)
@router.post("/", include_in_schema=False)
async def transaction_or_batch(request: Request) -> FhirResponse:
    access = await caller_access(request)
    body = await read_json_body(request, _settings(request).max_body_bytes)
    result = await run_in_threadpool(access.bundle, body)
    base = base_url(request)
    for entry in result["entry"]:
        if "fullUrl" in entry:
            entry["fullUrl"] = f"{base}/{entry['fullUrl']}"
    return FhirResponse(result)


@router.get("/_history")
def system_history(request: Request) -> FhirResponse:
    return _history(request, None, None)


@router.get("/{resource_type}")
def search_type(request: Request, resource_type: ResourceType) -> FhirResponse:
    _check_type(resource_type)
    return _search(request, resource_type, list(request.query_params.multi_items()))


@router.post("/{resource_type}/_search", openapi_extra=_FORM_BODY)
async def search_post(request: Request, resource_type: ResourceType) -> FhirResponse:
    _check_type(resource_type)
    await caller_access(request)  # before the body: nobody unauthenticated has it read
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    params = list(request.query_params.multi_items())
    if mime == "application/x-www-form-urlencoded":
        body = await read_body(request, _settings(request).max_body_bytes)
        params += parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    elif mime:
        raise UnsupportedMediaType(
            "POST _search takes application/x-www-form-urlencoded parameters"
        )
    return await run_in_threadpool(_search, request, resource_type, params)


@router.get("/{resource_type}/_history")
def type_history(request: Request, resource_type: ResourceType) -> FhirResponse:
    return _history(request, _check_type(resource_type), None)


@router.post("/{resource_type}", openapi_extra=_JSON_BODY, responses=_CREATED)
async def create(request: Request, resource_type: ResourceType) -> FhirResponse:
    _check_type(resource_type)
    access = await caller_access(request)
    body = await read_json_body(request, _settings(request).max_body_bytes)
    result = await run_in_threadpool(
        access.create,
        body,
        resource_type=resource_type,
        if_none_exist=request.headers.get("if-none-exist"),
    )
    return _write_response(request, result, 201 if result.created else 200)


@router.put("/{resource_type}", openapi_extra=_JSON_BODY, responses=_CREATED)
async def conditional_update(request: Request, resource_type: ResourceType) -> FhirResponse:
    _check_type(resource_type)
    query = request.url.query
    if not query:
        raise MalformedRequest(
            "PUT to a type needs a condition, e.g. Patient?identifier=system|value"
        )
    access = await caller_access(request)
    body = await read_json_body(request, _settings(request).max_body_bytes)

    def run() -> WriteResult:
        return access.write(
            "update",
            f"{resource_type}?{query}",
            lambda tx: tx.conditional_update(resource_type, query, body),
        )

    result = await run_in_threadpool(run)
    return _write_response(request, result, 201 if result.created else 200)


@router.delete("/{resource_type}")
def conditional_delete(request: Request, resource_type: ResourceType) -> FhirResponse:
    """`DELETE Type?condition`: deletes the one match; several matches are a 412."""
    _check_type(resource_type)
    query = request.url.query
    if not query:
        raise MalformedRequest("DELETE on a type needs a condition, e.g. Flag?identifier=x|y")
    deleted: str | None = access_of(request).write(
        "delete", f"{resource_type}?{query}", lambda tx: tx.conditional_delete(resource_type, query)
    )
    message = f"{resource_type}/{deleted} is deleted" if deleted else "Nothing matched"
    return outcome_response(200, [Issue("information", "informational", message)])


@router.get("/{resource_type}/{resource_id}")
def read(request: Request, resource_type: ResourceType, resource_id: ResourceId) -> FhirResponse:
    _check_type(resource_type)
    access = access_of(request)
    _check_id(resource_type, resource_id)
    subset = _read_subset(request, resource_type)
    return _resource_response(request, access.read(resource_type, resource_id), subset)


@router.put("/{resource_type}/{resource_id}", openapi_extra=_JSON_BODY, responses=_CREATED)
async def update(
    request: Request, resource_type: ResourceType, resource_id: ResourceId
) -> FhirResponse:
    _check_type(resource_type)
    access = await caller_access(request)
    body = await read_json_body(request, _settings(request).max_body_bytes)
    result = await run_in_threadpool(
        access.update, resource_type, resource_id, body, if_match=if_match(request)
    )
    return _write_response(request, result, 201 if result.created else 200)


@router.patch("/{resource_type}/{resource_id}", openapi_extra=_JSON_PATCH_BODY, responses=_PATCHED)
async def patch(
    request: Request, resource_type: ResourceType, resource_id: ResourceId
) -> FhirResponse:
    """JSON Patch: the current version with the operations applied, stored as a new version."""
    _check_type(resource_type)
    _check_id(resource_type, resource_id)
    access = await caller_access(request)
    document = await read_json_body(request, _settings(request).max_body_bytes, JSON_PATCH)
    result = await run_in_threadpool(
        _patched, access, resource_type, resource_id, document, if_match(request)
    )
    return _write_response(request, result, 200)


@router.patch("/{resource_type}", openapi_extra=_JSON_PATCH_BODY, responses=_PATCHED)
async def conditional_patch(request: Request, resource_type: ResourceType) -> FhirResponse:
    """`PATCH Type?search`: the JSON Patch applied to the one resource the search finds."""
    _check_type(resource_type)
    query = request.url.query
    if not query:
        raise MalformedRequest("PATCH on a type needs a condition, e.g. Task?identifier=x|y")
    access = await caller_access(request)
    document = await read_json_body(request, _settings(request).max_body_bytes, JSON_PATCH)

    def work(tx: StoreTransaction) -> WriteResult:
        access.permit("update", resource_type)
        return conditional_patch_in(tx, resource_type, query, document)

    result = await run_in_threadpool(access.write, "patch", f"{resource_type}?{query}", work)
    return _write_response(request, result, 200)


_PATCH_ATTEMPTS = 3


def _patched(
    access: CareRecordAccess,
    resource_type: str,
    resource_id: str,
    document: Any,
    expected: int | None,
) -> WriteResult:
    """Read, apply and update in one of the user's write transactions, so the read is the
    user's (their permissions and what they may see) and the update applies only to the version
    read. With If-Match the client named the version it patched, so a change meanwhile is its
    412; without, the patch is applied again to what is there now, as a client would retry."""

    def work(tx: StoreTransaction) -> WriteResult:
        access.permit("update", resource_type)  # before reading: refused writers learn nothing
        return patch_in(tx, resource_type, resource_id, document, expected)

    for attempt in range(_PATCH_ATTEMPTS):
        try:
            return access.write("patch", f"{resource_type}/{resource_id}", work)
        except VersionConflict:
            if expected is not None or attempt == _PATCH_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@router.delete("/{resource_type}/{resource_id}")
def delete(request: Request, resource_type: ResourceType, resource_id: ResourceId) -> FhirResponse:
    _check_type(resource_type)
    access = access_of(request)
    _check_id(resource_type, resource_id)
    stored = access.delete(resource_type, resource_id, if_match=if_match(request))
    headers = {"ETag": f'W/"{stored.version_id}"'} if stored else {}
    return outcome_response(
        200,
        [Issue("information", "informational", f"{resource_type}/{resource_id} is deleted")],
        headers,
    )


_EVERYTHING_PARAMETERS = frozenset({"_type", "_since", "_count", CURSOR_PARAMETER})


@router.get("/Patient/{resource_id}/$everything")
def patient_everything(request: Request, resource_id: ResourceId) -> FhirResponse:
    """`Patient/[id]/$everything`: the person's record across organisations, as pages of a
    searchset Bundle (`_type`, `_since`, `_count`; not `start`/`end`, which would need each
    type's clinical date)."""
    _check_id("Patient", resource_id)
    access = access_of(request)
    params = request.query_params
    unknown = sorted(set(params) - _EVERYTHING_PARAMETERS)
    if unknown:
        raise InvalidSearch(f"$everything takes _type, _since and _count; not {', '.join(unknown)}")
    types: list[str] | None = None
    if "_type" in params:
        types = [t.strip() for t in params["_type"].split(",") if t.strip()]
        for name in types:
            _check_type(name)
    since = _date_parameter(params, "_since")
    settings = _settings(request)
    count = page_size(params, default=settings.default_page_size, maximum=settings.max_page_size)
    cursor_text = page_cursor(params)
    entity = f"Patient/{resource_id}/$everything"
    page = access.everything(
        resource_id,
        types,
        entity,
        since=since.start if since else None,
        count=count,
        cursor=int(cursor_text) if cursor_text else None,
    )
    base = base_url(request)
    echo = [(k, v) for k, v in params.multi_items() if k in {"_type", "_since"}]
    here = f"{base}/Patient/{resource_id}/$everything"
    links = forward_links(here, echo, count, page.next_cursor)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if page.matches:
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{rtype}/{rid}",
                "resource": orjson.Fragment(content),
                "search": {"mode": "match"},
            }
            for rtype, rid, content in page.matches
        ]
    return FhirResponse(bundle)


@router.get("/{resource_type}/{resource_id}/_history")
def instance_history(
    request: Request, resource_type: ResourceType, resource_id: ResourceId
) -> FhirResponse:
    _check_id(_check_type(resource_type), resource_id)
    return _history(request, resource_type, resource_id)


@router.get("/{resource_type}/{resource_id}/_history/{version_id}")
def vread(
    request: Request, resource_type: ResourceType, resource_id: ResourceId, version_id: VersionId
) -> FhirResponse:
    _check_type(resource_type)
    access = access_of(request)
    _check_id(resource_type, resource_id)
    version = _version(version_id)
    subset = _read_subset(request, resource_type)
    return _resource_response(request, access.vread(resource_type, resource_id, version), subset)


# -- helpers -------------------------------------------------------------------------------


def _handling(request: Request) -> Handling:
    return "strict" if prefer(request, "handling") == "strict" else "lenient"


def _read_subset(request: Request, resource_type: str) -> Subset | None:
    """What `_summary` or `_elements` keeps of a read resource; a read without a query string
    (nearly all) is not looked at further."""
    if not request.scope["query_string"]:
        return None
    params = request.query_params.multi_items()
    return parse_read_subset(resource_type, params, handling=_handling(request))


def _history_subsets(request: Request) -> Callable[[str], Subset | None]:
    """What `_summary` or `_elements` keeps of each version in a history, by resource type
    (a system history mixes types, whose elements differ), by the rules of a read."""
    params = request.query_params.multi_items()
    if not any(name.partition(":")[0] in SUBSET_PARAMETERS for name, _ in params):
        return lambda _resource_type: None
    handling = _handling(request)

    @functools.cache
    def subset(resource_type: str) -> Subset | None:
        return parse_read_subset(resource_type, params, handling=handling)

    if request.path_params.get("resource_type"):
        subset(request.path_params["resource_type"])  # a bad value is a 400 before any read
    return subset


def _resource_response(
    request: Request, stored: StoredResource, subset: Subset | None = None
) -> FhirResponse:
    headers = request.headers
    if ("if-none-match" in headers or "if-modified-since" in headers) and not_modified(
        stored.version_id,
        stored.last_updated,
        if_none_match=headers.get("if-none-match"),
        if_modified_since=headers.get("if-modified-since"),
    ):
        return FhirResponse(
            None, status_code=304, headers=version_headers(stored, base_url(request))
        )
    content: str | bytes | None = stored.content
    if subset is not None and content is not None:
        content = subset_json(content, subset)
    return FhirResponse(raw=content, headers=version_headers(stored, base_url(request)))


def _write_response(request: Request, result: WriteResult, status: int) -> FhirResponse:
    base = base_url(request)
    stored = result.stored
    headers = version_headers(stored, base)
    headers["Location"] = headers.pop("Content-Location")
    wanted = prefer(request, "return") or "representation"
    if wanted == "minimal":
        return FhirResponse(None, status_code=status, headers=headers)
    if wanted == "OperationOutcome":
        verb = "created" if result.created else ("updated" if result.changed else "already exists")
        return FhirResponse(
            {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "information",
                        "code": "informational",
                        "diagnostics": f"{stored.reference} {verb} (version {stored.version_id})",
                    }
                ],
            },
            status_code=status,
            headers=headers,
        )
    return FhirResponse(raw=stored.content, status_code=status, headers=headers)


def _search(request: Request, resource_type: str, params: list[tuple[str, str]]) -> FhirResponse:
    settings = _settings(request)
    store = _store(request)
    access = access_of(request)
    query = parse_search(
        resource_type,
        params,
        store.registry,
        handling=_handling(request),
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
    )
    entity = f"{resource_type}?{urlencode(params)}"
    page = access.search(query, entity)
    return FhirResponse(searchset(base_url(request), query, page))


def _page_link(base: str, query: SearchQuery, relation: str, cursor: str | None) -> dict[str, str]:
    params = [(k, v) for k, v in query.echo if k != "_count"]
    params.append(("_count", str(query.count)))
    if cursor is not None:
        params.append((CURSOR_PARAMETER, cursor))
    return {"relation": relation, "url": f"{base}/{query.resource_type}?{urlencode(params)}"}


def _shown(content: str, subset: Subset | None) -> orjson.Fragment:
    """A resource for a Bundle entry: the stored JSON as it is, unless a subset is asked for."""
    return orjson.Fragment(content if subset is None else subset_json(content, subset))


def searchset(base: str, query: SearchQuery, page: SearchPage) -> dict[str, Any]:
    """The searchset Bundle of one page. `_summary` cuts matches and included resources alike;
    `_elements` names elements of the searched type, so it cuts the matches only."""
    subset = query.subset
    included_subset = subset if subset is not None and subset.applies_to_included else None
    links = [_page_link(base, query, "self", query.cursor)]
    if page.matches or query.cursor is None:
        links.append(_page_link(base, query, "first", None))
    if page.previous_cursor:
        links.append(_page_link(base, query, "previous", page.previous_cursor))
    if page.next_cursor:
        links.append(_page_link(base, query, "next", page.next_cursor))
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{base}/{rt}/{rid}",
            "resource": _shown(content, subset),
            "search": {"mode": "match"},
        }
        for rt, rid, content in page.matches
    ]
    entries += [
        {
            "fullUrl": f"{base}/{rt}/{rid}",
            "resource": _shown(content, included_subset),
            "search": {"mode": "include"},
        }
        for rt, rid, content in page.included
    ]
    warnings = [f"Unknown search parameter '{name}' was ignored" for name in query.ignored]
    warnings += [
        f"_elements: {query.resource_type} has no top-level element '{name}'; it was ignored"
        for name in query.ignored_elements
    ]
    if warnings:
        entries.append(
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {"severity": "warning", "code": "not-supported", "diagnostics": text}
                        for text in warnings
                    ],
                },
                "search": {"mode": "outcome"},
            }
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = links
    if entries:
        bundle["entry"] = entries
    return bundle


def _date_parameter(params: Mapping[str, str], name: str) -> DateRange | None:
    """A date parameter of a history or $everything (`_since`, `_at`) as the range it names."""
    if name not in params:
        return None
    try:
        return parse_fhir_date_range(params[name])
    except SearchValueError as exc:
        raise InvalidSearch(f"{name}: {exc}") from None


def _history(request: Request, resource_type: str | None, resource_id: str | None) -> FhirResponse:
    settings = _settings(request)
    access = access_of(request)
    params = request.query_params
    count = page_size(params, default=settings.default_page_size, maximum=settings.max_page_size)
    since = _date_parameter(params, "_since")
    at = _date_parameter(params, "_at")
    cursor = parse_history_cursor(params[CURSOR_PARAMETER]) if CURSOR_PARAMETER in params else None
    shown = _history_subsets(request)
    path = "/".join(p for p in (resource_type, resource_id, "_history") if p)
    page: HistoryPage = access.history(
        resource_type,
        resource_id,
        path,
        since=since.start if since else None,
        at=(at.start, at.end) if at else None,
        count=count,
        cursor=cursor,
    )
    base = base_url(request)
    path = f"{base}/{path}"
    echo = [(k, v) for k, v in params.multi_items() if k in {"_since", "_at", *SUBSET_PARAMETERS}]
    links = forward_links(path, echo, count, page.next_cursor)
    entries = []
    for version in page.versions:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{version.reference}"}
        if version.content is not None:
            entry["resource"] = _shown(version.content, shown(version.resource_type))
        entry["request"] = {
            "method": version.method,
            "url": version.resource_type if version.method == "POST" else version.reference,
        }
        if version.method == "DELETE":
            status = "204 No Content"
        else:
            status = "201 Created" if version.version_id == 1 else "200 OK"
        entry["response"] = {
            "status": status,
            "etag": f'W/"{version.version_id}"',
            "lastModified": format_instant(version.last_updated),
        }
        entries.append(entry)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history", "link": links}
    if entries:
        bundle["entry"] = entries
    return FhirResponse(bundle)
