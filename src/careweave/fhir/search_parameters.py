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
  number, quantity, composite): special parameters are left out so the server never
  advertises a search it cannot answer. ``_id`` and ``_lastUpdated`` are answered from the
  resource table's own columns, and ``_text``, ``_content``, ``_query``, ``_list``, ``_has``,
  ``_type`` and ``_filter`` have no definition-backed expression here, so none of them appears.
* A composite parameter (``Observation`` ``code-value-quantity``) pairs values found in the same
  element: each union part of its expression is the resource itself or one list member of it
  (``Observation.component``), and its components' expressions are read relative to that
  element. They are evaluated as paths from the resource (``Observation.component.code``) on a
  copy of the resource holding only that one element, so the fast navigation serves them too
  (`CompositeSource`). Only list elements need rows of their own: a composite of the resource
  itself (``code-value-quantity``) holds when each component's own parameter (``code``,
  ``value-quantity``) matches, so it is answered from their rows, and one whose union parts are
  each another composite's single part (``combo-code-value-quantity`` is ``code-value-quantity``
  and ``component-code-value-quantity`` together) is answered from theirs (`_link_composites`).
* Evaluation is the slow part of every write, so each top-level union part is evaluated on its
  own and parts shared by several parameters are evaluated once per resource
  (`EvaluationMemo`).
* Almost every part is plain member navigation (``Patient.name.given``,
  ``Observation.value.ofType(Quantity)``, ``Patient.telecom.where(system='phone')``). Those are
  walked over the JSON by `NavigationPath`, which reproduces fhirpathpy's own rules (choice
  elements by their JSON names in the model's order, ``_name`` primitive-extension data,
  one-level list flattening, types from the R4 model fhirpathpy ships) at a small fraction of
  its cost. fhirpathpy remains the reference: ``tests/fhir/test_fast_paths.py`` checks every
  navigation against it on the examples and on generated resources, anything the navigation
  does not model (``exists()``, ``and``, other functions) is evaluated by fhirpathpy, and a
  navigation that meets a shape only fhirpathpy's rules settle (an object carrying
  ``resourceType``, say) hands that resource to fhirpathpy.
* The one kept part that is more than navigation, ``Patient.deceased.exists() and
  Patient.deceased != false``, is evaluated by fhirpathpy, except that when none of the
  properties it reads is present (`root_inputs`, worked out from fhirpathpy's parse) it gets
  the answer fhirpathpy gave, once, for a resource without them. Parts fhirpathpy evaluates
  are skipped when the JSON properties they navigate through are absent (`presence_steps`).
  Passing ``fast=False`` turns the walk and that shortcut off, so fhirpathpy evaluates every
  part; the tests and the benchmark use it to compare the two.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from types import MappingProxyType
from typing import Any

import fhirpathpy
from fhirpathpy import parser as fhirpath_parser
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as fhirpath_models

from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES

__all__ = [
    "COMPOSITE",
    "EXCLUDED_CODES",
    "INDEXED_PARAMETER_TYPES",
    "SUPPORTED_RESOURCE_TYPES",
    "CompositeComponent",
    "CompositeSource",
    "EvaluationMemo",
    "EvaluationPart",
    "NavigationPath",
    "SearchParameter",
    "SearchParameterRegistry",
    "Typed",
    "UnsupportedExpressionError",
    "composite_row_param",
    "default_registry",
    "evaluate_parts",
    "expression_for_type",
    "navigation_path",
    "presence_steps",
    "reference_target_type",
    "root_inputs",
    "split_union",
]

INDEXED_PARAMETER_TYPES = frozenset(
    {"token", "string", "date", "reference", "uri", "number", "quantity"}
)
"""Search parameter types with an index table in the store."""

COMPOSITE = "composite"
"""The type of a parameter whose value is a tuple of other types' values, found together in one
element; its rows go to its components' index tables, numbered so a search can pair them."""

MISDEFINED_COMPOSITES: Mapping[str, str] = MappingProxyType(
    {
        "http://hl7.org/fhir/SearchParameter/DocumentReference-relationship": (
            "its R4 definition pairs the expression 'code' with the reference parameter "
            "relatesto and 'target' with the token parameter relation, so as published it "
            "would match nothing"
        ),
    }
)
"""Composite definitions left out, with why: offering them would answer searches wrongly."""

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
_DEFINED_ELSEWHERE: Mapping[str, str] = _MODEL["pathsDefinedElsewhere"]
_TYPE_PARENTS: Mapping[str, str] = _MODEL["type2Parent"]
_NAVIGATION_HEAD = re.compile(r"(\(*)([A-Z][A-Za-z]+)")
_NAVIGATION_STEP = re.compile(
    r"""
      \.(?P<member>[a-z][A-Za-z0-9]*)(?![A-Za-z0-9(])
    | \.ofType\((?P<of_type>[A-Za-z]+)\)
    | \.where\(\s*(?P<where_member>[a-z][A-Za-z0-9]*)\s*=\s*'(?P<literal>[^'"\\]*)'\s*\)
    | (?P<close>\))
    """,
    re.VERBOSE,
)
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


CompiledPath = Callable[..., list[Any]]
Typed = tuple[str | None, Any]
"""A value an expression selected, with its FHIR type name (None for backbone elements)."""
EvaluationMemo = dict[str, list[Typed]]
"""Results of union parts already evaluated on one resource, keyed by the part's FHIRPath."""


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
    """Whether some value exists at the end of `steps` (lists are walked element by element).

    A property's ``_`` twin counts too: fhirpathpy yields primitive-extension data beside the
    values, so a part over ``birthDate`` is not empty when only ``_birthDate`` is there.
    """
    current: list[Any] = [resource]
    for keys in steps:
        found: list[Any] = []
        for node in current:
            if not isinstance(node, Mapping):
                continue
            for key in keys:
                for value in (node.get(key), node.get("_" + key)):
                    if isinstance(value, list):
                        found.extend(value)
                    elif value is not None:
                        found.append(value)
        if not found:
            return False
        current = found
    return True


Node = tuple[str, Any]
"""A value met while walking a resource, with the type path fhirpathpy would give it."""


class _UndecidedError(Exception):
    """A navigation met a shape whose result only fhirpathpy's own rules settle."""


def _is_object(value: Any) -> bool:
    """Whether fhirpathpy would treat `value` as an object: any Mapping (plain dicts first)."""
    kind = type(value)
    return kind is dict or (kind is not str and isinstance(value, Mapping))


def _gather(found: list[Node], path: str, value: Any) -> None:
    """Add `value` (a JSON value or a list of them) as nodes of type `path`, as fhirpathpy does.

    A list is flattened one level and keeps its nulls: fhirpathpy drops those only at the end,
    and a ``where`` counts them. An object carrying ``resourceType`` would take that as its type
    in fhirpathpy, which no path here foresees, so that resource goes to fhirpathpy.
    """
    if isinstance(value, list):
        for item in value:
            kind = type(item)
            if (
                kind is dict or (kind is not str and isinstance(item, Mapping))
            ) and "resourceType" in item:
                raise _UndecidedError
            found.append((path, item))
    elif value is not None:
        if _is_object(value) and "resourceType" in value:
            raise _UndecidedError
        found.append((path, value))


def _member_routes(path: str, key: str) -> tuple[tuple[str, str, str], ...]:
    """How fhirpathpy reads member `key` of an element of type `path`.

    Each route is (JSON property, its ``_`` primitive-extension property, the child's type
    path); a choice element has one route per type in the model's order, of which fhirpathpy
    takes the first whose property or ``_`` property is present. The type path goes through
    the same tables as fhirpathpy's: ``pathsDefinedElsewhere`` for re-used backbone elements,
    ``choiceTypePaths``, then ``path2Type``.
    """
    child = _DEFINED_ELSEWHERE.get(f"{path}.{key}", f"{path}.{key}")
    choices = _CHOICE_TYPES.get(child)
    if choices:
        return tuple(
            (key + choice, f"_{key}{choice}", _PATH_TYPES.get(child + choice, child + choice))
            for choice in choices
        )
    return ((key, f"_{key}", _PATH_TYPES.get(child, child)),)


class _Member:
    """A member step (``.name``): each node's property value, then its ``_name`` extension data."""

    __slots__ = ("by_length", "routes")

    def __init__(self, routes: Mapping[str, tuple[tuple[str, str, str], ...]], key: str) -> None:
        self.routes = routes
        self.by_length = key == "length"

    def apply(self, nodes: list[Node]) -> list[Node]:
        found: list[Node] = []
        for path, data in nodes:
            if not _is_object(data):
                if self.by_length:
                    raise _UndecidedError  # fhirpathpy reads .length of a non-object as len()
                continue
            routes = self.routes.get(path)
            if routes is None:
                raise _UndecidedError
            for key, extension_key, child in routes:
                value = data.get(key)
                extension = data.get(extension_key)
                if value is not None or extension is not None:
                    if value is not None:
                        _gather(found, child, value)
                    if extension is not None:
                        _gather(found, child, extension)
                    break
        return found


class _OfType:
    """An ``ofType(T)`` step: keeps the nodes whose type path is one of `accepted`."""

    __slots__ = ("accepted",)

    def __init__(self, accepted: frozenset[str]) -> None:
        self.accepted = accepted

    def apply(self, nodes: list[Node]) -> list[Node]:
        return [node for node in nodes if node[0] in self.accepted]


class _WhereEquals:
    """A ``where(member = 'literal')`` step, with fhirpathpy's equality.

    fhirpathpy's ``=`` is true only when the member yields exactly one item equal to the
    literal, and it counts ``_member`` extension data as an item: a ContactPoint whose
    ``system`` carries an extension is not kept by ``where(system='phone')``.
    """

    __slots__ = ("literal", "routes")

    def __init__(self, routes: Mapping[str, tuple[str, str]], literal: str) -> None:
        self.routes = routes
        self.literal = literal

    def apply(self, nodes: list[Node]) -> list[Node]:
        kept: list[Node] = []
        for node in nodes:
            path, data = node
            if not _is_object(data):
                continue
            keys = self.routes.get(path)
            if keys is None:
                raise _UndecidedError
            found: list[Node] = []
            _gather(found, path, data.get(keys[0]))
            _gather(found, path, data.get(keys[1]))
            if len(found) == 1 and found[0][1] == self.literal:
                kept.append(node)
        return kept


_Step = _Member | _OfType | _WhereEquals


def _descends_from(type_name: str, ancestor: str) -> bool:
    """fhirpathpy's type test when its model is set: walk ``type2Parent`` (or ``path2Type``)."""
    seen: set[str] = set()
    current: str | None = type_name
    while current and current not in seen:
        if current == ancestor:
            return True
        seen.add(current)
        current = _TYPE_PARENTS.get(current) or _PATH_TYPES.get(current)
    return False


def _accepted_types(paths: frozenset[str], wanted: str) -> frozenset[str] | None:
    """The type paths ``ofType(wanted)`` keeps, or None when fhirpathpy's answer is not fixed.

    fhirpathpy judges a node whose type path is not a type name by its value, and compares
    type names exactly or through the type hierarchy depending on whether an ``is``/``as`` has
    run in the process before (it keeps the model in a class attribute). Navigation is used
    only where neither matters.
    """
    accepted: set[str] = set()
    for path in paths:
        if "." in path:
            return None
        exact = path == wanted
        if exact != _descends_from(path, wanted):
            return None
        if exact:
            accepted.add(path)
    return frozenset(accepted)


@dataclass(frozen=True)
class NavigationPath:
    """A union part that is plain member navigation, evaluated over the JSON without fhirpathpy.

    Qualifying parts are the resource type followed by member steps, ``ofType(T)``,
    ``where(member = 'literal')`` and grouping parentheses (``navigation_path`` decides).
    `steps` is the reading of the expression, ``("member", name)``, ``("ofType", T)`` or
    ``("where", member, literal)``, kept so the tests can compare it with fhirpathpy's own parse.
    `properties` are the JSON property names each of those steps reads (a choice element's
    typed names and every ``_`` extension name included; none for ``ofType``): if none of the
    first step's is on the resource, the part yields nothing.
    """

    resource_type: str
    steps: tuple[tuple[str, ...], ...]
    properties: tuple[frozenset[str], ...]
    _plan: tuple[_Step, ...] = field(repr=False, compare=False)

    def evaluate(self, resource: Mapping[str, Any]) -> list[Typed] | None:
        """The typed results fhirpathpy would give, or None when fhirpathpy must decide."""
        if not _is_object(resource) or resource.get("resourceType") != self.resource_type:
            return None
        nodes: list[Node] = [(self.resource_type, resource)]
        try:
            for step in self._plan:
                nodes = step.apply(nodes)
                if not nodes:
                    return []
        except _UndecidedError:
            return None
        # A result reports its type path when that names a type (backbone elements have
        # none), and fhirpathpy leaves out nulls and bare {"extension": [...]} objects.
        return [
            (None if "." in path else path, value)
            for path, value in nodes
            if value is not None
            and not (isinstance(value, dict) and len(value) == 1 and "extension" in value)
        ]


def navigation_path(part: str, resource_type: str) -> NavigationPath | None:
    """Read a union part as a `NavigationPath`, or None when it is anything more.

    The types each step can meet are worked out here, from the same R4 model tables fhirpathpy
    uses, so evaluation is dictionary look-ups. A part is refused when a step would behave in
    a way the navigation does not reproduce: ``extension`` (fhirpathpy types it specially), a
    ``where`` on a choice or Quantity member, or an ``ofType`` whose answer would depend on the
    value or on fhirpathpy's global state (see `_accepted_types`).
    """
    head = _NAVIGATION_HEAD.match(part)
    if head is None or head.group(2) != resource_type:
        return None
    open_groups = len(head.group(1))
    paths = frozenset({resource_type})
    steps: list[tuple[str, ...]] = []
    properties: list[frozenset[str]] = []
    plan: list[_Step] = []
    position = head.end()
    while position < len(part):
        token = _NAVIGATION_STEP.match(part, position)
        if token is None:
            return None
        position = token.end()
        if token.group("close"):
            open_groups -= 1
            if open_groups < 0:
                return None
        elif (key := token.group("member")) is not None:
            if key == "extension":
                return None
            routes = {path: _member_routes(path, key) for path in sorted(paths)}
            plan.append(_Member(MappingProxyType(routes), key))
            steps.append(("member", key))
            properties.append(
                frozenset(name for route in routes.values() for step in route for name in step[:2])
            )
            paths = frozenset(child for route in routes.values() for _, _, child in route)
        elif (wanted := token.group("of_type")) is not None:
            accepted = _accepted_types(paths, wanted)
            if accepted is None:
                return None
            plan.append(_OfType(accepted))
            steps.append(("ofType", wanted))
            properties.append(frozenset())
            paths = accepted
        else:
            key, literal = token.group("where_member"), token.group("literal")
            keys: dict[str, tuple[str, str]] = {}
            for path in sorted(paths):
                routes_here = _member_routes(path, key)
                name, extension_name, child = routes_here[0]
                if key in ("extension", "length") or len(routes_here) != 1 or name != key:
                    return None
                if child in ("Quantity", "System.Quantity"):
                    return None  # fhirpathpy compares a Quantity as a UCUM quantity
                keys[path] = (name, extension_name)
            plan.append(_WhereEquals(MappingProxyType(keys), literal))
            steps.append(("where", key, literal))
            properties.append(frozenset(name for pair in keys.values() for name in pair))
    if open_groups != 0:
        return None
    return NavigationPath(resource_type, tuple(steps), tuple(properties), tuple(plan))


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


def _typed(nodes: Iterable[Any]) -> list[Typed]:
    """fhirpathpy's results as (FHIR type, value) pairs, nulls left out."""
    typed: list[Typed] = []
    for node in nodes:
        value = node.data if isinstance(node, ResourceNode) else node
        if value is not None:
            typed.append((_node_type(node), value))
    return typed


_parse_fhirpath: Callable[[str], dict[str, Any]] = fhirpath_parser.parse
"""fhirpathpy's parser (untyped in the library): an expression as its parse tree."""
_INPUT_ONLY_FUNCTIONS = frozenset({"exists", "empty", "not", "count", "first", "last"})
"""Functions whose answer depends on nothing but their input collection."""
_COMBINING_EXPRESSIONS = frozenset(
    {
        "AndExpression",
        "OrExpression",
        "XorExpression",
        "ImpliesExpression",
        "EqualityExpression",
        "InequalityExpression",
    }
)
_LITERALS = frozenset({"BooleanLiteral", "StringLiteral", "NumberLiteral"})


def root_inputs(expression: str, resource_type: str) -> frozenset[str] | None:
    """The resource properties `expression` can read, when fhirpathpy's parse shows them all.

    That is so when every path in it starts at the resource type followed by a member
    (``Patient.deceased...``) and the rest is members, argument-free functions that look only
    at their input (`_INPUT_ONLY_FUNCTIONS`), literals and logical or comparison operators. The
    answer then depends only on those properties (with a choice element's typed names and the
    ``_`` extension names), so when none is present it is fhirpathpy's answer for the bare
    resource. None when anything else appears: ``$this``, ``%resource``, a bare member, a
    function with arguments or one that looks further (``children()``, ``resolve()``...).
    """
    names: set[str] = set()

    def chain(node: Mapping[str, Any]) -> bool:
        links: list[Mapping[str, Any]] = []
        while node["type"] == "InvocationExpression":
            head, link = node["children"]
            links.append(link)
            node = head
        links.reverse()
        if node["type"] != "TermExpression":
            return False
        (term,) = node["children"]
        if term["type"] == "LiteralTerm" and not links:
            return all(child["type"] in _LITERALS for child in term["children"])
        if term["type"] != "InvocationTerm" or not links:
            return False
        (member,) = term["children"]
        if member["type"] != "MemberInvocation" or member["children"][0]["text"] != resource_type:
            return False
        first, *rest = links
        key = first["children"][0]["text"] if first["type"] == "MemberInvocation" else ""
        if not re.fullmatch(r"[a-z][A-Za-z0-9]*", key):
            return False
        names.update(name for route in _member_routes(resource_type, key) for name in route[:2])
        for link in rest:
            if link["type"] == "MemberInvocation":
                continue
            if link["type"] != "FunctionInvocation":
                return False
            (function,) = link["children"]
            if [child["type"] for child in function["children"]] != ["Identifier"]:
                return False
            if function["children"][0]["text"] not in _INPUT_ONLY_FUNCTIONS:
                return False
        return True

    def known(node: Mapping[str, Any]) -> bool:
        if node["type"] in _COMBINING_EXPRESSIONS:
            return all(known(child) for child in node["children"])
        return chain(node)

    tree = _parse_fhirpath(expression)
    (root,) = tree["children"]
    return frozenset(names) if known(root) else None


@dataclass(frozen=True)
class EvaluationPart:
    """One top-level union part of an expression, evaluated on its own.

    Evaluating the parts separately lets plain navigation skip fhirpathpy (`navigation`), lets
    the other parts be skipped when the properties they start from are absent (`presence`), and
    lets parameters that share a part (``Observation.subject`` for both ``subject`` and
    ``patient``) evaluate it once per resource.
    """

    expression: str
    resource_type: str
    presence: Presence | None = field(init=False, compare=False)
    navigation: NavigationPath | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "presence", presence_steps(self.expression, self.resource_type))
        object.__setattr__(self, "navigation", navigation_path(self.expression, self.resource_type))

    @functools.cached_property
    def compiled(self) -> CompiledPath:
        """fhirpathpy's compiled form, parsed on first use: most parts never need it."""
        return fhirpathpy.compile(self.expression, model=_MODEL, options={"returnRawData": True})

    @functools.cached_property
    def _inputs(self) -> frozenset[str] | None:
        """`root_inputs` of a part fhirpathpy evaluates; worked out on first use."""
        return root_inputs(self.expression, self.resource_type)

    @functools.cached_property
    def _answer_without_inputs(self) -> list[Typed]:
        """fhirpathpy's answer for a resource holding none of `_inputs`, asked once."""
        return _typed(self.compiled({"resourceType": self.resource_type}))

    def evaluate(self, resource: Mapping[str, Any], *, fast: bool = True) -> list[Typed]:
        """The part's values with their FHIR types, in fhirpathpy's order, nulls left out.

        With `fast` (the default) a navigation part is walked directly, and a part whose inputs
        are all absent gets fhirpathpy's answer for a resource without them (`root_inputs`);
        otherwise, or when the walk meets a shape it leaves to fhirpathpy, fhirpathpy evaluates
        the part on `resource`.
        """
        if fast:
            if self.navigation is not None:
                typed = self.navigation.evaluate(resource)
                if typed is not None:
                    return typed
            else:
                inputs = self._inputs
                if (
                    inputs is not None
                    and resource.get("resourceType") == self.resource_type
                    and not any(name in resource for name in inputs)
                ):
                    return list(self._answer_without_inputs)
        if self.presence is not None and not _present(resource, self.presence):
            return []
        return _typed(self.compiled(resource))


def evaluate_parts(
    parts: Iterable[EvaluationPart],
    resource: Mapping[str, Any],
    memo: EvaluationMemo,
    *,
    fast: bool = True,
) -> list[Typed]:
    """The values of union parts on `resource`, each part evaluated once per `memo`."""
    results: list[Typed] = []
    for part in parts:
        typed = memo.get(part.expression)
        if typed is None:
            typed = memo[part.expression] = part.evaluate(resource, fast=fast)
        results.extend(item for item in typed if item not in results)
    return results


def _root_properties(parts: Iterable[EvaluationPart]) -> frozenset[str] | None:
    """The resource's own properties the parts can read, when every part is navigation
    starting with a member step; None when that is not known."""
    names: set[str] = set()
    for part in parts:
        navigation = part.navigation
        if navigation is None or not navigation.steps or navigation.steps[0][0] != "member":
            return None
        names |= navigation.properties[0]
    return frozenset(names)


def _composite_roots(sources: Iterable[CompositeSource]) -> frozenset[str] | None:
    """The resource properties a composite reads (None when that is not known)."""
    names: set[str] = set()
    for source in sources:
        if source.member is not None:
            names.add(source.member)
            continue
        roots = _root_properties(part for parts in source.components for part in parts)
        if roots is None:
            return None
        names |= roots
    return frozenset(names)


@dataclass(frozen=True)
class CompositeComponent:
    """One part of a composite parameter's value: the type of the parameter its `definition`
    names, and its FHIRPath relative to each element the composite's expression selects."""

    definition: str
    type: str
    expression: str


@dataclass(frozen=True)
class CompositeSource:
    """Where a composite takes tuples from: one union part of its expression.

    `member` is None when the part is the resource itself, else the resource's member whose
    every element gives tuples of its own (``component`` for ``Observation.component``).
    `components` are, per component, the parts that evaluate it from the resource root; they
    run on a copy of the resource holding only the one element, so values pair up within it.
    `row_param` is the name its index rows carry (the parameter's code, with ``$0``, ``$1``,
    ... per component appended), shared with the composite whose only source this is, and
    `writes_rows` is False for the composite that reuses another's rows.
    """

    member: str | None
    components: tuple[tuple[EvaluationPart, ...], ...]
    kinds: tuple[str, ...]
    row_param: str
    writes_rows: bool
    plain_params: tuple[str, ...] = ()
    """For the resource itself, the codes of its components' own parameters (``code`` and
    ``value-quantity`` for ``code-value-quantity``). The element is then the whole resource,
    so a tuple matches when each of those matches: their rows answer it and it writes none."""

    @functools.cached_property
    def plan(self) -> tuple[tuple[int, str, str, tuple[EvaluationPart, ...]], ...]:
        """Per component, last first: its position, type, row `param` and parts. The last is
        the value, which most elements lack, so the indexer stops before making the code's
        rows for composites of the other kinds."""
        return tuple(
            (k, kind, composite_row_param(self.row_param, k), parts)
            for k, (kind, parts) in enumerate(zip(self.kinds, self.components, strict=True))
        )[::-1]


def composite_row_param(row_param: str, component: int) -> str:
    """The `param` of the index rows holding component `component` of a composite's tuples."""
    return f"{row_param}${component}"


_MEMBER_PART = re.compile(r"([A-Z][A-Za-z]+)\.([a-z][A-Za-z0-9]*)")


def _composite_source(
    code: str, part: str, resource_type: str, components: tuple[CompositeComponent, ...]
) -> CompositeSource:
    if part == resource_type:
        member = None
    else:
        matched = _MEMBER_PART.fullmatch(part)
        if matched is None or matched.group(1) != resource_type:
            raise UnsupportedExpressionError(
                f"composite {resource_type} {code!r}: {part!r} is neither the resource nor one "
                "of its members"
            )
        member = matched.group(2)
    evaluated: list[tuple[EvaluationPart, ...]] = []
    for component in components:
        full = " | ".join(f"{part}.{piece}" for piece in split_union(component.expression))
        expression, reference_filter = _evaluable_form(full, resource_type)
        if reference_filter is not None:
            raise UnsupportedExpressionError(f"composite {code!r}: resolve() in a component")
        evaluated.append(
            tuple(EvaluationPart(piece, resource_type) for piece in split_union(expression))
        )
    kinds = tuple(component.type for component in components)
    return CompositeSource(member, tuple(evaluated), kinds, code, writes_rows=True)


@dataclass(frozen=True)
class SearchParameter:
    """One search parameter as it applies to one resource type.

    `expression` is the official FHIRPath for `resource_type` alone. The derived fields say how
    it is evaluated: `evaluated_expression` is the form fhirpathpy can run (``resolve()``
    filters taken out, ``Resource.`` replaced by the type), `reference_filter` is the type that
    ``where(resolve() is T)`` keeps, and `parts` are its union parts with their presence checks
    and, for plain navigation, the `NavigationPath` that evaluates them without fhirpathpy.
    `root_properties`, when every part is navigation, are the resource properties it reads:
    with none of them present the parameter has no values, so the indexer need not ask.
    """

    code: str
    resource_type: str
    type: str
    expression: str
    targets: tuple[str, ...]
    url: str
    description: str
    components: tuple[CompositeComponent, ...] = ()
    """A composite's components, in order; empty for every other type."""
    evaluated_expression: str = field(init=False, compare=False, repr=False)
    reference_filter: str | None = field(init=False, compare=False, repr=False)
    parts: tuple[EvaluationPart, ...] = field(init=False, compare=False, repr=False)
    root_properties: frozenset[str] | None = field(init=False, compare=False, repr=False)
    sources: tuple[CompositeSource, ...] = field(init=False, compare=False, repr=False)
    """A composite's union parts, with how each is evaluated and stored; empty otherwise."""

    def __post_init__(self) -> None:
        evaluated, reference_filter = _evaluable_form(self.expression, self.resource_type)
        sources: tuple[CompositeSource, ...] = ()
        if self.type == COMPOSITE:
            # A composite has no values of its own: its sources give tuples.
            sources = tuple(
                _composite_source(self.code, part, self.resource_type, self.components)
                for part in split_union(evaluated)
            )
            if len(sources) > 1:  # own rows per source, unless another composite has them
                sources = tuple(
                    replace(source, row_param=f"{self.code}#{n}")
                    for n, source in enumerate(sources)
                )
            parts: tuple[EvaluationPart, ...] = ()
            roots = _composite_roots(sources)
        else:
            parts = tuple(
                EvaluationPart(part, self.resource_type) for part in split_union(evaluated)
            )
            roots = _root_properties(parts)
        object.__setattr__(self, "evaluated_expression", evaluated)
        object.__setattr__(self, "reference_filter", reference_filter)
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "root_properties", roots)
        object.__setattr__(self, "sources", sources)

    @property
    def row_params(self) -> tuple[str, ...]:
        """The `row_param` of each of a composite's sources."""
        return tuple(source.row_param for source in self.sources)

    def compile(self) -> None:
        """Parse every part with fhirpathpy now, raising if it cannot; used by the tests."""
        for part in self.parts:
            _ = part.compiled
        for source in self.sources:
            for component in source.components:
                for part in component:
                    _ = part.compiled

    def evaluate_typed(
        self,
        resource: Mapping[str, Any],
        memo: EvaluationMemo | None = None,
        *,
        fast: bool = True,
    ) -> list[Typed]:
        """Evaluate against `resource`, giving each value with the FHIR type fhirpathpy infers.

        The type (``Coding``, ``Period``, ``canonical``, ``Age``, ...) tells the indexer how to
        read a value; it is None for backbone elements or when no type is known. Pass the same
        `memo` for every parameter of one resource to share parts between parameters (and the
        same `fast` with it). ``fast=False`` evaluates every part with fhirpathpy.
        """
        results: list[Typed] = []
        for part in self.parts:
            typed = memo.get(part.expression) if memo is not None else None
            if typed is None:
                typed = part.evaluate(resource, fast=fast)
                if memo is not None:
                    memo[part.expression] = typed
            for kind, value in typed:
                if self.reference_filter is not None and (
                    not isinstance(value, Mapping)
                    or reference_target_type(value, resource) != self.reference_filter
                ):
                    continue
                if len(self.parts) > 1 and (kind, value) in results:
                    continue  # a FHIRPath union holds each value once
                results.append((kind, value))
        return results

    def evaluate(self, resource: Mapping[str, Any], *, fast: bool = True) -> list[Any]:
        """The values the expression selects from `resource`, as plain JSON-shaped data."""
        return [value for _, value in self.evaluate_typed(resource, fast=fast)]


def _link_composites(codes: Mapping[str, SearchParameter]) -> None:
    """Decide where each composite source's values are found, so none is stored twice.

    A source that is the resource itself is answered from its components' own parameters when
    the type has them (see `CompositeSource.plain_params`): ``code-value-quantity`` adds no rows
    to an Observation. A source of a many-source composite reads the rows of the single-source
    composite with the same element and components (``combo-code-value-quantity`` reads
    ``component-code-value-quantity``'s)."""
    by_url = {p.url: p for p in codes.values() if p.type != COMPOSITE}

    def answers(p: SearchParameter | None, component: CompositeComponent, parts: Any) -> bool:
        """`p` is the component's own parameter on the resource alone: of its type, and
        reading no property of the resource that the component's expression does not
        (``combo-code`` also reads ``component``, so it cannot stand in for ``code``)."""
        if p is None or p.type != component.type:
            return False
        theirs, ours = _root_properties(p.parts), _root_properties(parts)
        return theirs is not None and ours is not None and theirs <= ours

    def plain(
        source: CompositeSource, components: tuple[CompositeComponent, ...]
    ) -> CompositeSource:
        found = [by_url.get(component.definition) for component in components]
        if source.member is not None or not all(
            answers(p, c, parts)
            for p, c, parts in zip(found, components, source.components, strict=True)
        ):
            return source
        params = tuple(p.code for p in found if p is not None)
        return replace(source, plain_params=params, writes_rows=False)

    def shape(source: CompositeSource) -> tuple[object, ...]:
        return (
            source.member,
            source.kinds,
            tuple(tuple(p.expression for p in c) for c in source.components),
        )

    for parameter in codes.values():
        if parameter.type == COMPOSITE:
            linked = tuple(plain(source, parameter.components) for source in parameter.sources)
            object.__setattr__(parameter, "sources", linked)
    owners = {shape(p.sources[0]): p.sources[0] for p in codes.values() if len(p.sources) == 1}
    for parameter in codes.values():
        if len(parameter.sources) < 2:
            continue
        shared = tuple(
            replace(
                source,
                row_param=owners[shape(source)].row_param,
                plain_params=owners[shape(source)].plain_params,
                writes_rows=False,
            )
            if source.writes_rows and shape(source) in owners
            else source
            for source in parameter.sources
        )
        object.__setattr__(parameter, "sources", shared)
    for parameter in codes.values():
        if parameter.type == COMPOSITE:  # the indexer needs only the sources it writes
            writing = [source for source in parameter.sources if source.writes_rows]
            object.__setattr__(parameter, "root_properties", _composite_roots(writing))


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
        for codes in by_type.values():
            _link_composites(codes)
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
        types_by_url = {
            entry["resource"]["url"]: entry["resource"]["type"] for entry in bundle.get("entry", ())
        }
        for entry in bundle.get("entry", ()):
            definition = entry["resource"]
            code = definition["code"]
            if code in EXCLUDED_CODES:
                continue
            components: tuple[CompositeComponent, ...] = ()
            if definition["type"] == COMPOSITE:
                if definition["url"] in MISDEFINED_COMPOSITES:
                    continue
                components = tuple(
                    CompositeComponent(
                        c["definition"], types_by_url.get(c["definition"], ""), c["expression"]
                    )
                    for c in definition.get("component", ())
                )
                if not components or any(c.type not in INDEXED_PARAMETER_TYPES for c in components):
                    continue  # a component the store cannot index: the pair cannot be searched
            elif definition["type"] not in INDEXED_PARAMETER_TYPES:
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
                        components=components,
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
