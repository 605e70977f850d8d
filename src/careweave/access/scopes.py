"""SMART on FHIR scopes (v2 `patient/Observation.rs`, and v1 `user/*.read` read as v2).

A token's scopes cap what it may do; they never add to what its user's role and relationships
allow (careweave.access.guard takes the intersection).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES

Context = Literal["patient", "user", "system"]
Permission = Literal["c", "r", "u", "d", "s"]
PERMISSIONS = "cruds"
_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.([a-z]+)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
# Launch and identity scopes a SMART client may ask for; they grant no data access here.
_NON_DATA = frozenset({"openid", "fhirUser", "profile", "offline_access", "online_access"})


class ScopeError(ValueError):
    """A scope string careweave cannot read; the message says which part and why."""


@dataclass(frozen=True)
class Scope:
    context: Context
    resource_type: str  # a resource type, or "*" for all
    permissions: frozenset[str]

    def __str__(self) -> str:
        letters = "".join(p for p in PERMISSIONS if p in self.permissions)
        return f"{self.context}/{self.resource_type}.{letters}"


def _parse_one(text: str) -> Scope:
    match = _SCOPE.match(text)
    if not match:
        raise ScopeError(
            f"'{text}' is not a SMART scope; write context/Type.permissions, "
            "e.g. patient/Observation.rs, user/*.cruds or system/*.rs"
        )
    context, resource_type, letters = match.groups()
    if resource_type != "*" and resource_type not in SUPPORTED_RESOURCE_TYPES:
        raise ScopeError(f"'{text}': {resource_type} is not a resource type careweave serves")
    letters = _V1.get(letters, letters)
    if any(letter not in PERMISSIONS for letter in letters) or list(letters) != sorted(
        letters, key=PERMISSIONS.index
    ):
        raise ScopeError(
            f"'{text}': permissions are letters from 'cruds' in that order (c create, r read, "
            "u update, d delete, s search), or v1 'read'/'write'"
        )
    return Scope(context, resource_type, frozenset(letters))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Scopes:
    """The data scopes a token holds; launch/identity scopes are kept only for display."""

    granted: tuple[Scope, ...]
    other: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Scopes:
        granted: list[Scope] = []
        other: list[str] = []
        for part in text.split():
            if part in _NON_DATA or part.startswith("launch"):
                other.append(part)
            else:
                granted.append(_parse_one(part))
        if not granted:
            raise ScopeError("No data scope given, e.g. 'user/*.rs' or 'system/*.cruds'")
        return cls(tuple(granted), tuple(other))

    @classmethod
    def everything(cls, context: Context = "user") -> Scopes:
        """What a person signed in to the web app holds: their role and relationships decide."""
        return cls((Scope(context, "*", frozenset(PERMISSIONS)),))

    def allows(self, resource_type: str, permission: Permission) -> bool:
        return any(
            permission in scope.permissions and scope.resource_type in ("*", resource_type)
            for scope in self.granted
        )

    def types_allowed(self, permission: Permission) -> frozenset[str]:
        """The resource types careweave serves on which these scopes allow `permission`.

        Every API request asks this of its token's scopes, freshly parsed, so the answer is
        kept per distinct set of scopes rather than worked out type by type each time."""
        return _types_allowed(self, permission)

    def contexts(self) -> frozenset[str]:
        return frozenset(scope.context for scope in self.granted)

    def narrowed_to(self, context: Context) -> Scopes:
        """Only the scopes of one context (e.g. patient/ scopes for a person's own record)."""
        return Scopes(tuple(s for s in self.granted if s.context == context), self.other)

    def __str__(self) -> str:
        return " ".join([*(str(scope) for scope in self.granted), *self.other])


@lru_cache(maxsize=1024)
def _types_allowed(scopes: Scopes, permission: Permission) -> frozenset[str]:
    return frozenset(t for t in SUPPORTED_RESOURCE_TYPES if scopes.allows(t, permission))
