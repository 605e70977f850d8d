"""Reading and writing a person's record through the guard, the way the coordination modules
need it: whole result sets rather than pages, resources as dicts, and today's date in the UK.

Every read here goes through `CareRecordAccess`, so it is filtered by the asker's access rules
and audited like an API request; nothing in careweave.coordination reads the store directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from careweave.access.guard import CareRecordAccess
from careweave.fhir.errors import Gone, NotFound
from careweave.fhir.search_query import CURSOR_PARAMETER, parse_search
from careweave.uk_time import UK as UK
from careweave.uk_time import today as today

FORM_SUBMISSION_SYSTEM: Final = "https://fhir.careweave.example/Id/form-submission"
"""Identifier system of the one-time token a web form carries, so that submitting the same
form twice finds the first result (a conditional create) instead of making a duplicate."""
MAX_RESULTS: Final = 5000
PAGE_SIZE: Final = 500


class TooManyResults(Exception):  # noqa: N818 - a limit reached, shown to the user as such
    """A search matched more than a page of the app can sensibly show; narrow it."""


def find(
    access: CareRecordAccess,
    resource_type: str,
    params: Sequence[tuple[str, str]],
    *,
    limit: int = MAX_RESULTS,
) -> list[dict[str, Any]]:
    """Every `resource_type` matching `params` that the asker may see, following the pages,
    as dicts; more than `limit` raises TooManyResults rather than silently cutting the list."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    entity = f"{resource_type}?" + "&".join(f"{name}={value}" for name, value in params)
    while True:
        page_params = [*params, ("_count", str(min(PAGE_SIZE, limit + 1)))]
        if cursor:
            page_params.append((CURSOR_PARAMETER, cursor))
        query = parse_search(resource_type, page_params, access.store.registry, max_count=PAGE_SIZE)
        page = access.search(query, entity)
        found += [_loads(content) for _, _, content in page.matches]
        if len(found) > limit:
            raise TooManyResults(f"More than {limit} {resource_type} records match")
        cursor = page.next_cursor
        if cursor is None:
            return found


def find_with_includes(
    access: CareRecordAccess, resource_type: str, params: Sequence[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """One page (up to PAGE_SIZE) of matches and the resources `_include`d with them, keyed
    by "Type/id", for pages that show a list with what each item refers to."""
    query = parse_search(
        resource_type,
        [*params, ("_count", str(PAGE_SIZE))],
        access.store.registry,
        max_count=PAGE_SIZE,
    )
    entity = f"{resource_type}?" + "&".join(f"{name}={value}" for name, value in params)
    page = access.search(query, entity)
    matches = [_loads(content) for _, _, content in page.matches]
    included = {f"{rt}/{rid}": _loads(content) for rt, rid, content in page.included}
    for match in matches:
        included.setdefault(f"{match['resourceType']}/{match['id']}", match)
    return matches, included


def read(access: CareRecordAccess, resource_type: str, resource_id: str) -> dict[str, Any]:
    """The current version of a resource the asker may see (NotFound/Gone otherwise), with
    its meta.versionId for a later `If-Match`."""
    return access.read(resource_type, resource_id).as_dict()


def read_or_none(
    access: CareRecordAccess, resource_type: str, resource_id: str
) -> dict[str, Any] | None:
    """As `read`, but None for a resource that is missing, deleted or hidden from the asker."""
    try:
        return read(access, resource_type, resource_id)
    except (NotFound, Gone):
        return None


def reference_to(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def referenced_id(reference: Any, resource_type: str) -> str | None:
    """The id in a Reference to `resource_type` ("Patient/p1" gives "p1"), else None."""
    if not isinstance(reference, dict):
        return None
    text = reference.get("reference")
    if not isinstance(text, str):
        return None
    kind, _, rid = text.partition("/")
    return rid if kind == resource_type and rid and "/" not in rid else None


def version_of(resource: dict[str, Any]) -> int:
    """The resource's meta.versionId as a number (what a form sends back for If-Match)."""
    return int(resource.get("meta", {}).get("versionId", 0))


def may_read(access: CareRecordAccess, resource_type: str) -> bool:
    """Whether the asker may see `resource_type` at all (a page leaves out what they cannot,
    rather than showing an empty list as if there were nothing)."""
    visibility = access.visibility
    return visibility is None or visibility.may_read_type(resource_type)


def now_instant() -> str:
    """Now as a FHIR dateTime in UTC, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_submission_token() -> str:
    """A fresh one-time token for a form that creates something."""
    return uuid.uuid4().hex


def submission_identifier(token: str) -> dict[str, str]:
    return {"system": FORM_SUBMISSION_SYSTEM, "value": token}


def if_none_exist(token: str) -> str:
    """The conditional-create query that finds what an earlier submission of a form made."""
    return f"identifier={FORM_SUBMISSION_SYSTEM}|{token}"


def _loads(content: str) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(content)
    return value
