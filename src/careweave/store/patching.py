"""Patch a resource inside a write transaction: the one way both the patch interaction and a
Bundle's PATCH entry change part of a record.

The read and the update share the transaction, so the patch applies to the version read, and
the update names that version, so a change committed meanwhile on PostgreSQL is a 412 rather
than a lost update. With `expected` (the client's If-Match) a different current version is a
412 before anything is applied.
"""

from __future__ import annotations

from typing import Any

from careweave.fhir.errors import NotFound, VersionConflict
from careweave.fhir.json_patch import apply_json_patch
from careweave.store.repository import StoreTransaction, WriteResult


def patch_in(
    tx: StoreTransaction,
    resource_type: str,
    resource_id: str,
    document: Any,
    expected: int | None = None,
) -> WriteResult:
    """Apply the JSON Patch `document` to the current version and store the result."""
    stored = tx.read(resource_type, resource_id)
    if expected is not None and stored.version_id != expected:
        raise VersionConflict(
            f"{resource_type}/{resource_id} is at version {stored.version_id}, not {expected}"
        )
    body = apply_json_patch(stored.as_dict(), document)
    return tx.update(resource_type, resource_id, body, if_match=stored.version_id)


def conditional_patch_in(
    tx: StoreTransaction, resource_type: str, query_string: str, document: Any
) -> WriteResult:
    """`PATCH Type?query`: patch the one match; none is 404 and several 412 (FHIR R4
    http.html#patch), since a patch has nothing to create a resource from."""
    match = tx.find_one(resource_type, query_string, undone="patched")
    if match is None:
        raise NotFound(f"No {resource_type} matches '{query_string}', so there is nothing to patch")
    return patch_in(tx, resource_type, match, document)
