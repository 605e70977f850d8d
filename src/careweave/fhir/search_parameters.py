"""The FHIR R4 search parameters careweave indexes, taken from HL7's own definitions.

Search must mean what the specification says, so every parameter here comes from the official
R4 (4.0.1) SearchParameter resources (see ``data/README.md`` for where the file comes from and
how to regenerate it) and is evaluated with its own FHIRPath expression by `fhirpathpy`.

What a reader must know:

* Many definitions are shared by several resource types, with one expression joining a path per
  type (``AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | ...``).
  Each `SearchParameter` here belongs to one resource type and keeps only that type's part.
* fhirpathpy does not implement ``resolve()``. The only form our types use is
  ``X.where(resolve() is T)``, which keeps references whose target is a T. We evaluate ``X``
  and then keep the references whose type is T, read from the reference itself (or, for a
  ``#contained`` reference, from the contained resource), which is what ``resolve()`` would
  have looked at. Any other use of ``resolve()`` is refused when the registry is built.
* ``Resource.meta.tag`` and the other Resource-level expressions are rewritten to start with the
  concrete type (``Patient.meta.tag``), because fhirpathpy matches the leading type name
  literally and would otherwise find nothing.
* Only parameter types the store can index are kept (token, string, date, reference, uri,
  number, quantity): composite and special parameters are left out so the server never
  advertises a search it cannot answer. ``_id`` and ``_lastUpdated`` are answered from the
  resource table's own columns, and ``_text``, ``_content``, ``_query``, ``_list``, ``_has``,
  ``_type`` and ``_filter`` have no definition-backed expression here, so none of them appears.
* Evaluation is the slow part of every write, so nothing is evaluated that cannot yield: each
  top-level union part is evaluated on its own and skipped when the JSON properties it
  navigates through are absent (`presence_steps`), and parts shared by several parameters are
  evaluated once per resource (`EvaluationMemo`). fhirpathpy stays the only evaluator; these
  checks only decide when its answer is known to be empty.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as fhirpath_models

from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES

__all__ = [
    "EXCLUDED_CODES",
    "INDEXED_PARAMETER_TYPES",
    "SUPPORTED_RESOURCE_TYPES",
    "EvaluationMemo",
    "EvaluationPart",
    "SearchParameter",
    "SearchParameterRegistry",
    "Typed",
    "UnsupportedExpressionError",
    "default_registry",
    "expression_for_type",
    "presence_steps",
    "reference_target_type",
    "split_union",
]

INDEXED_PARAMETER_TYPES = frozenset(
    {"token", "string", "date", "reference", "uri", "number", "quantity"}
)
"""Search parameter types with an index table in the store."""

EXCLUDED_CODES = frozenset(
    {
        "_id",
        "_lastUpdated",
        "_text",
        "_content",
        "_query",
        "_list",
        "_has",
        "_type",
        "_filter",
        "phonetic",
    }
)
"""Codes never taken from the definitions: store columns, searches with no expression, and
`phonetic`, which needs a phonetic algorithm the store does not have (so it is not offered)."""

DATA_FILE = "search-parameters-r4.json"

_MODEL: dict[str, Any] = fhirpath_models["r4"]
_CHOICE_TYPES: Mapping[str, list[str]] = _MODEL["choiceTypePaths"]
_ABSTRACT_BASES = ("Resource", "DomainResource")

_RESOLVE_FILTER = re.compile(r"\.where\(\s*resolve\(\)\s+is\s+([A-Z][A-Za-z]+)\s*\)")
_PART_HEAD = re.compile(r"\(*([A-Z][A-Za-z]+)")
_STEP = re.compile(
    r"""
      \.ofType\((?P<of_type>[A-Za-z]+)\)
    | \.where\([^()]*\)
    | \.(?P<member>[a-z][A-Za-z0-9]*)
    | \)
    """,
    re.VERBOSE,
)
_PATH_TYPES: Mapping[str, str] = _MODEL["path2Type"]
_REFERENCE_TYPE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[^/]+)?$")


class UnsupportedExpressionError(ValueError):
    """A definition's FHIRPath uses something careweave cannot evaluate faithfully.

    Raised when the registry is built, so an upgrade of the definitions that brings in a new
    construct fails at start-up and in the tests instead of silently indexing the wrong values.
    """


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression on its top-level ``|`` operators.

    Bars inside parentheses, quoted strings or backtick-delimited identifiers are left alone, so
    ``(A.b | A.c).where(x = '|')`` stays one part.
    """
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    index = 0
    while index < len(expression):
        char = expression[index]
        if quote is not None:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "'`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(expression[start:index].strip())
            start = index + 1
        index += 1
    parts.append(expression[start:].strip())
    return [part for part in parts if part]


def _part_type(part: str) -> str:
    """The type name a union part starts from: ``(Observation.value...)`` -> ``Observation``."""
    head = part.lstrip("(").split(".", 1)[0]
    return head.strip()


def expression_for_type(expression: str, resource_type: str) -> str:
    """Keep the parts of a shared expression that apply to `resource_type`.

    Parts starting from ``Resource`` or ``DomainResource`` apply to every type.
    """
    parts = [
        part
        for part in split_union(expression)
        if _part_type(part) in (resource_type, *_ABSTRACT_BASES)
    ]
    return " | ".join(parts)


def _evaluable_form(expression: str, resource_type: str) -> tuple[str, str | None]:
    """Rewrite an expression so fhirpathpy can evaluate it.

    Returns the rewritten expression and the target type that ``where(resolve() is T)`` would
    have kept, or None when the expression has no such filter.
    """
    parts = split_union(expression)
    rewritten: list[str] = []
    filters: set[str | None] = set()
    for part in parts:
        found = _RESOLVE_FILTER.findall(part)
        if len(found) > 1:
            raise UnsupportedExpressionError(f"{expression!r}: more than one resolve() in one path")
        filters.add(found[0] if found else None)
        part = _RESOLVE_FILTER.sub("", part)
        stripped = part.lstrip("(")
        for base in _ABSTRACT_BASES:
            if stripped.startswith(base + "."):
                part = part[: len(part) - len(stripped)] + resource_type + stripped[len(base) :]
        rewritten.append(part)
    result = " | ".join(rewritten)
    if "resolve(" in result:
        raise UnsupportedExpressionError(
            f"{expression!r}: resolve() is only supported as where(...)"
        )
    if len(filters) > 1:
        raise UnsupportedExpressionError(
            f"{expression!r}: parts disagree on the referenced type, so one filter cannot apply"
        )
    return result, filters.pop() if filters else None


Presence = tuple[frozenset[str], ...]
"""JSON property names, step by step, of which one per step must exist for a path to yield."""


def presence_steps(part: str, resource_type: str) -> Presence | None:
    """The properties a union part navigates through before any filter, or None if unknown.

    Only a part built from member steps, ``ofType(T)``, ``where(...)`` and grouping parentheses
    qualifies: each of those maps an empty input to an empty output, so if no property along
    the path exists the part yields nothing and need not be evaluated. Anything else (for
    example ``Patient.deceased.exists() and ...``, which is false rather than empty when
    ``deceased`` is absent) gives None and is always evaluated. Choice elements become their
    JSON names using the R4 model fhirpathpy ships: ``Observation.value.ofType(Quantity)`` needs
    ``valueQuantity``, and ``Observation.effective`` any of ``effectiveDateTime``,
    ``effectivePeriod`` and so on. Steps after a ``where`` or an unmappable ``ofType`` are not
    followed, which only makes the check less selective, never wrong.
    """
    head = _PART_HEAD.match(part)
    if head is None or head.group(1) != resource_type:
        return None
    tokens: list[re.Match[str]] = []
    position = head.end()
    while position < len(part):
        token = _STEP.match(part, position)
        if token is None:
            return None
        tokens.append(token)
        position = token.end()

    steps: list[frozenset[str]] = []
    type_path = resource_type
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.group(0) == ")":
            continue
        name = token.group("member")
        if name is None:
            break
        path = f"{type_path}.{name}"
        choices = _CHOICE_TYPES.get(path)
        if not choices:
            steps.append(frozenset({name}))
            type_path = _PATH_TYPES.get(path, path)
            continue
        following = tokens[index] if index < len(tokens) else None
        if following is not None and following.group("of_type"):
            wanted = following.group("of_type")
            typed = wanted[0].upper() + wanted[1:]
            steps.append(frozenset({name + typed} if typed in choices else ()))
            type_path = wanted
            index += 1
            continue
        steps.append(frozenset(name + choice for choice in choices))
        break
    return tuple(steps)


def _present(resource: Mapping[str, Any], steps: Presence) -> bool:
    """Whether some value exists at the end of `steps` (lists are walked element by element)."""
    current: list[Any] = [resource]
    for keys in steps:
        found: list[Any] = []
        for node in current:
            if not isinstance(node, Mapping):
                continue
            for key in keys:
                value = node.get(key)
                if isinstance(value, list):
                    found.extend(value)
                elif value is not None:
                    found.append(value)
        if not found:
            return False
        current = found
    return True


def reference_target_type(reference: Mapping[str, Any], resource: Mapping[str, Any]) -> str | None:
    """The resource type a Reference points at, as far as the reference itself says.

    A ``#id`` reference is looked up among the resource's contained resources. A conditional
    reference (``Patient?identifier=...``) or one given only by ``identifier`` names no
    resolvable target, so it has no type here even if ``Reference.type`` is set: ``resolve()``
    could not resolve it either.
    """
    literal = reference.get("reference")
    if not isinstance(literal, str):
        return None
    if literal.startswith("#"):
        for contained in resource.get("contained") or ():
            if isinstance(contained, Mapping) and contained.get("id") == literal[1:]:
                kind = contained.get("resourceType")
                return kind if isinstance(kind, str) else None
        return None
    if "?" in literal:
        return None
    match = _REFERENCE_TYPE.search(literal)
    return match.group(1) if match else None


def _node_type(node: Any) -> str | None:
    """The FHIR type fhirpathpy inferred for a result, or None for backbone elements."""
    if isinstance(node, ResourceNode):
        path = node.path
        if isinstance(path, str) and "." not in path:
            return path
        return None
    if isinstance(node, bool):
        return "boolean"
    if isinstance(node, str):
        return "string"
    return None


CompiledPath = Callable[..., list[Any]]
Typed = tuple[str | None, Any]
EvaluationMemo = dict[str, list[Any]]
"""Results of union parts already evaluated on one resource, keyed by the part's FHIRPath."""


@dataclass(frozen=True)
class EvaluationPart:
    """One top-level union part of an expression, evaluated on its own.

    Evaluating the parts separately lets each be skipped when the properties it starts from are
    absent (`presence`), and lets parameters that share a part (``Observation.subject`` for both
    ``subject`` and ``patient``) evaluate it once per resource.
    """

    expression: str
    presence: Presence | None


@dataclass(frozen=True)
class SearchParameter:
    """One search parameter as it applies to one resource type.

    `expression` is the official FHIRPath for `resource_type` alone. The derived fields say how
    it is evaluated: `evaluated_expression` is the form fhirpathpy can run (``resolve()``
    filters taken out, ``Resource.`` replaced by the type), `reference_filter` is the type that
    ``where(resolve() is T)`` keeps, and `parts` are its union parts with their presence checks.
    """

    code: str
    resource_type: str
    type: str
    expression: str
    targets: tuple[str, ...]
    url: str
    description: str
    evaluated_expression: str = field(init=False, compare=False, repr=False)
    reference_filter: str | None = field(init=False, compare=False, repr=False)
    parts: tuple[EvaluationPart, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        evaluated, reference_filter = _evaluable_form(self.expression, self.resource_type)
        parts = tuple(
            EvaluationPart(part, presence_steps(part, self.resource_type))
            for part in split_union(evaluated)
        )
        object.__setattr__(self, "evaluated_expression", evaluated)
        object.__setattr__(self, "reference_filter", reference_filter)
        object.__setattr__(self, "parts", parts)

    @functools.cached_property
    def _compiled(self) -> tuple[CompiledPath, ...]:
        """Parse once, on first use: parsing every parameter up front would slow start-up."""
        return tuple(
            fhirpathpy.compile(part.expression, model=_MODEL, options={"returnRawData": True})
            for part in self.parts
        )

    def compile(self) -> None:
        """Parse the expression now, raising if fhirpathpy cannot; used by the tests."""
        _ = self._compiled

    def evaluate_typed(
        self, resource: Mapping[str, Any], memo: EvaluationMemo | None = None
    ) -> list[Typed]:
        """Evaluate against `resource`, giving each value with the FHIR type fhirpathpy inferred.

        The type (``Coding``, ``Period``, ``canonical``, ``Age``, ...) tells the indexer how to
        read a value; it is None for backbone elements or when no type is known. Pass the same
        `memo` for every parameter of one resource to share parts between parameters.
        """
        results: list[Typed] = []
        for part, compiled in zip(self.parts, self._compiled, strict=True):
            if part.presence is not None and not _present(resource, part.presence):
                continue
            nodes = memo.get(part.expression) if memo is not None else None
            if nodes is None:
                nodes = compiled(resource)
                if memo is not None:
                    memo[part.expression] = nodes
            for node in nodes:
                value = node.data if isinstance(node, ResourceNode) else node
                if value is None:
                    continue
                if self.reference_filter is not None and (
                    not isinstance(value, Mapping)
                    or reference_target_type(value, resource) != self.reference_filter
                ):
                    continue
                typed = (_node_type(node), value)
                if len(self.parts) > 1 and typed in results:
                    continue  # a FHIRPath union holds each value once
                results.append(typed)
        return results

    def evaluate(self, resource: Mapping[str, Any]) -> list[Any]:
        """The values the expression selects from `resource`, as plain JSON-shaped data."""
        return [value for _, value in self.evaluate_typed(resource)]


class SearchParameterRegistry:
    """Search parameters by resource type and code, built from the R4 definitions."""

    def __init__(self, parameters: Iterable[SearchParameter]) -> None:
        by_type: dict[str, dict[str, SearchParameter]] = {}
        for parameter in parameters:
            codes = by_type.setdefault(parameter.resource_type, {})
            if parameter.code in codes:
                raise ValueError(
                    f"two definitions of {parameter.resource_type} search parameter "
                    f"{parameter.code!r}: {codes[parameter.code].url} and {parameter.url}"
                )
            codes[parameter.code] = parameter
        self._by_type: dict[str, Mapping[str, SearchParameter]] = {
            resource_type: MappingProxyType(dict(sorted(codes.items())))
            for resource_type, codes in sorted(by_type.items())
        }

    @classmethod
    def from_bundle(
        cls,
        bundle: Mapping[str, Any],
        resource_types: Iterable[str] = SUPPORTED_RESOURCE_TYPES,
    ) -> SearchParameterRegistry:
        """Build the registry for `resource_types` from a Bundle of SearchParameter resources."""
        wanted = tuple(resource_types)
        parameters: list[SearchParameter] = []
        for entry in bundle.get("entry", ()):
            definition = entry["resource"]
            code = definition["code"]
            if code in EXCLUDED_CODES or definition["type"] not in INDEXED_PARAMETER_TYPES:
                continue
            shared_expression = definition.get("expression")
            if not shared_expression:
                continue
            bases = definition["base"]
            for resource_type in wanted:
                if resource_type not in bases and not any(b in bases for b in _ABSTRACT_BASES):
                    continue
                expression = expression_for_type(shared_expression, resource_type)
                if not expression:
                    raise UnsupportedExpressionError(
                        f"{definition['url']} names {resource_type} as a base but its "
                        f"expression has no part for it: {shared_expression!r}"
                    )
                parameters.append(
                    SearchParameter(
                        code=code,
                        resource_type=resource_type,
                        type=definition["type"],
                        expression=expression,
                        targets=tuple(definition.get("target", ())),
                        url=definition["url"],
                        description=definition.get("description", ""),
                    )
                )
        return cls(parameters)

    @classmethod
    def load(cls) -> SearchParameterRegistry:
        """Build the registry from the packaged definitions, ``data/search-parameters-r4.json``."""
        text = resources.files("careweave.fhir").joinpath("data", DATA_FILE).read_text("utf-8")
        return cls.from_bundle(json.loads(text))

    def for_type(self, resource_type: str) -> Mapping[str, SearchParameter]:
        """Code -> parameter for `resource_type`; empty for a type careweave does not serve."""
        return self._by_type.get(resource_type, MappingProxyType({}))

    def get(self, resource_type: str, code: str) -> SearchParameter | None:
        """The parameter `code` of `resource_type`, or None when there is no such parameter."""
        return self.for_type(resource_type).get(code)

    def resource_types(self) -> tuple[str, ...]:
        """The resource types that have search parameters, sorted."""
        return tuple(self._by_type)


@functools.cache
def default_registry() -> SearchParameterRegistry:
    """The registry built from the packaged definitions, read once per process."""
    return SearchParameterRegistry.load()
