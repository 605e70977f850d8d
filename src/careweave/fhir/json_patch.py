"""Apply a JSON Patch (RFC 6902) to a stored resource, as FHIR R4's patch interaction asks.

A coordinator's system changing one field of a shared record (a Task's status, a CarePlan
activity's progress) should not have to send the whole resource back, and would risk
overwriting what another organisation changed meanwhile if it did. `jsonpatch` applies the
operations; this module says what may not be patched and turns every failure into a FHIR error
naming the operation: a patch that is not a list of operations is 400, one that cannot apply
(a path that is not there, a failed ``test``) is 422, as is one that would change what the
resource is (``resourceType``, ``id``). ``meta.versionId`` and ``meta.lastUpdated`` belong to
the store, which sets them again on the update that follows.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from careweave.fhir.errors import InvalidResource, MalformedRequest

JSON_PATCH = "application/json-patch+json"
_OPERATIONS = frozenset({"add", "remove", "replace", "move", "copy", "test"})


def _check_document(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, list) or not document:
        raise MalformedRequest(
            "A JSON Patch is a non-empty JSON array of operations, e.g. "
            '[{"op": "replace", "path": "/status", "value": "completed"}]'
        )
    for index, operation in enumerate(document):
        where = f"operation {index}"
        if not isinstance(operation, dict):
            raise MalformedRequest(f"JSON Patch {where} is not an object")
        if operation.get("op") not in _OPERATIONS:
            raise MalformedRequest(
                f"JSON Patch {where}: 'op' must be one of {', '.join(sorted(_OPERATIONS))}, "
                f"not {operation.get('op')!r}"
            )
        for key in ("path", "from") if operation["op"] in {"move", "copy"} else ("path",):
            if not isinstance(operation.get(key), str):
                raise MalformedRequest(f"JSON Patch {where} ({operation['op']}) needs '{key}'")
        if operation["op"] in {"add", "replace", "test"} and "value" not in operation:
            raise MalformedRequest(f"JSON Patch {where} ({operation['op']}) needs 'value'")
    return document


def apply_json_patch(resource: dict[str, Any], document: Any) -> dict[str, Any]:
    """The resource as `document` leaves it; `resource` itself is not changed."""
    operations = _check_document(document)
    try:
        patched = jsonpatch.JsonPatch(operations).apply(copy.deepcopy(resource))
    except jsonpatch.JsonPatchTestFailed as exc:
        raise InvalidResource(f"The patch's test failed, so nothing was changed: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise InvalidResource(f"The patch cannot be applied to this resource: {exc}") from None
    if not isinstance(patched, dict):
        raise InvalidResource("The patch replaces the whole resource with something else")
    for key in ("resourceType", "id"):
        if patched.get(key) != resource.get(key):
            raise InvalidResource(
                f"A patch may not change '{key}' ({resource.get(key)!r} to {patched.get(key)!r})"
            )
    meta = patched.get("meta")
    if isinstance(meta, dict):
        for key in ("versionId", "lastUpdated"):
            meta.pop(key, None)
        if not meta:
            del patched["meta"]
    return patched
