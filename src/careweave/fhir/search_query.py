"""Read a FHIR search request (the query string or a `_search` form) into a checked query.

Every value is parsed here, before any SQL is built, so a search value of the wrong form is a
400 OperationOutcome that names it, and the store only ever sees well-formed values. Unknown
parameters are collected (lenient handling, reported back to the client) or rejected (strict).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from careweave.fhir.errors import InvalidSearch
from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES
from careweave.fhir.search_parameters import COMPOSITE, SearchParameter, SearchParameterRegistry
from careweave.fhir.search_values import (
    CompositeSearch,
    SearchValueError,
    parse_date_search,
    parse_number_search,
    parse_quantity_search,
    parse_reference_search,
    parse_token_search,
    split_on_unescaped,
    split_search_values,
    unescape_search_value,
)
from careweave.fhir.subsetting import (
    Subset,
    Summary,
    element_names,
    parse_summary,
    subset_of,
)

RESULT_PARAMETERS = frozenset(
    {
        "_count",
        "_sort",
        "_include",
        "_revinclude",
        "_total",
        "_summary",
        "_elements",
        "_format",
        "_pretty",
    }
)
"""Parameters that shape the result rather than filter it."""

SUBSET_PARAMETERS = frozenset({"_summary", "_elements"})
"""The result parameters that a read or vread takes too: they cut each resource returned."""

CURSOR_PARAMETER = "_cursor"
"""Our own paging parameter: an opaque keyset position carried in `next`/`previous` links."""

HAS_PREFIX = "_has:"
"""Reverse chaining: `_has:Type:reference:parameter` keeps resources that some `Type`, found
by `parameter`, refers to through its `reference` parameter."""

BUILTIN_TYPES = {"_id": "token", "_lastUpdated": "date"}
"""Parameters answered from the resource table itself rather than from index tables."""

MODIFIERS = {
    "string": {"exact", "contains", "missing"},
    "token": {"not", "text", "missing"},
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "uri": {"missing"},
    "reference": {"missing"},
}

Handling = Literal["lenient", "strict"]


@dataclass(frozen=True)
class Filter:
    """One search parameter occurrence: its values are ORed; separate filters are ANDed."""

    name: str
    type: str
    param: SearchParameter | None
    modifier: str | None
    values: tuple[object, ...]
    target_type: str | None = None
    chained: Filter | None = None
    """For a chain (`subject:Patient.name=x`) the filter on the resource referred to, of
    `target_type`; for `_has` (type "has") the filter on the resources of `target_type` that
    refer to this one through `param`."""


@dataclass(frozen=True)
class SortKey:
    name: str
    type: str
    param: SearchParameter | None
    descending: bool


@dataclass(frozen=True)
class Include:
    """`_include=Source:param[:Target]` or `_revinclude=Source:param[:Target]`."""

    source_type: str
    param: SearchParameter
    target_type: str | None
    iterate: bool


@dataclass
class SearchQuery:
    resource_type: str
    filters: list[Filter] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    count: int = 50
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    total: Literal["none", "estimate", "accurate"] = "accurate"
    summary: Summary | None = None
    """`_summary` as given (None when it is not)."""
    elements: frozenset[str] | None = None
    """The element names `_elements` gives that the type has (None when it is not given)."""
    cursor: str | None = None
    ignored: list[str] = field(default_factory=list)
    ignored_elements: list[str] = field(default_factory=list)
    """Names in `_elements` that the type has no element for (lenient handling only)."""
    echo: list[tuple[str, str]] = field(default_factory=list)
    """The parameters that were used, in order, for `self`/`next`/`previous` links."""

    @property
    def summary_count(self) -> bool:
        """`_summary=count`: the store answers with the total alone."""
        return self.summary == "count"

    @property
    def subset(self) -> Subset | None:
        """What `_summary` or `_elements` keeps of each resource (None: whole resources)."""
        return subset_of(self.summary, self.elements)


def refuse_nul(name: str, value: str) -> None:
    """A 400 for a parameter holding NUL: no FHIR value has one, and PostgreSQL text cannot
    hold one, so it would fail in the database as a server error."""
    if "\x00" in name or "\x00" in value:
        raise InvalidSearch(f"The search parameter {name!r} contains a NUL character")


def parse_search(
    resource_type: str,
    params: Iterable[tuple[str, str]],
    registry: SearchParameterRegistry,
    *,
    handling: Handling = "lenient",
    default_count: int = 50,
    max_count: int = 1000,
) -> SearchQuery:
    query = SearchQuery(resource_type=resource_type, count=default_count)
    for raw_name, raw_value in params:
        refuse_nul(raw_name, raw_value)
        name, _, modifier = raw_name.partition(":")
        if raw_name == CURSOR_PARAMETER:
            query.cursor = raw_value
            continue
        if name in RESULT_PARAMETERS:
            _apply_result_parameter(
                query, name, modifier, raw_value, registry, max_count, handling=handling
            )
            if name not in {"_format", "_pretty"}:
                query.echo.append((raw_name, raw_value))
            continue
        try:
            filt = _parse_filter(resource_type, raw_name, raw_value, registry)
        except _UnknownParameterError as unknown:
            if handling == "strict":
                raise InvalidSearch(str(unknown)) from None
            query.ignored.append(raw_name)
            continue
        query.filters.append(filt)
        query.echo.append((raw_name, raw_value))
    _check_subset(query)
    return query


def parse_read_subset(
    resource_type: str, params: Iterable[tuple[str, str]], *, handling: Handling = "lenient"
) -> Subset | None:
    """What a read's or vread's `_summary` or `_elements` keeps of the resource (None: all of
    it), by the same rules as a search's; other parameters are not a read's to judge.

    Unknown element names are dropped silently under lenient handling: a read has no Bundle to
    carry a warning in.
    """
    query = SearchQuery(resource_type=resource_type)
    for raw_name, raw_value in params:
        name, _, modifier = raw_name.partition(":")
        if name in SUBSET_PARAMETERS:
            _apply_subset_parameter(query, name, modifier, raw_value, handling)
    if query.summary == "count":
        raise InvalidSearch(
            "_summary=count counts the matches of a search; a read returns one resource, so "
            "use _summary=true, text, data or false"
        )
    _check_subset(query)
    return query.subset


class _UnknownParameterError(Exception):
    pass


def _parse_filter(
    resource_type: str, raw_name: str, raw_value: str, registry: SearchParameterRegistry
) -> Filter:
    if raw_name.startswith(HAS_PREFIX):
        return _parse_has(resource_type, raw_name, raw_value, registry)
    head, dot, rest = raw_name.partition(".")
    code, _, modifier_text = head.partition(":")
    modifier: str | None = modifier_text or None
    param_type, param = _lookup(resource_type, code, registry)
    if dot:
        return _parse_chain(resource_type, code, modifier, param, rest, raw_value, registry)
    target_type: str | None = None
    if param_type == "reference" and modifier and modifier != "missing":
        if param is None or modifier not in param.targets:
            raise InvalidSearch(
                f"'{modifier}' is not a resource type that the '{code}' parameter of "
                f"{resource_type} can refer to"
            )
        target_type, modifier = modifier, None
    if modifier is not None and modifier not in MODIFIERS.get(param_type, set()):
        raise InvalidSearch(
            f"The modifier ':{modifier}' is not supported on the {param_type} parameter '{code}'"
        )
    if not raw_value:
        raise InvalidSearch(f"The search parameter '{raw_name}' has an empty value")
    if modifier == "missing":
        if raw_value not in {"true", "false"}:
            raise InvalidSearch(f"'{raw_name}' must be true or false, not '{raw_value}'")
        values: tuple[object, ...] = (raw_value == "true",)
    elif param_type == COMPOSITE and param is not None:
        values = tuple(_parse_composite(param, v, raw_name) for v in split_search_values(raw_value))
    else:
        values = tuple(
            _parse_value(param_type, modifier, v, raw_name) for v in split_search_values(raw_value)
        )
    return Filter(code, param_type, param, modifier, values, target_type=target_type)


def _parse_chain(
    resource_type: str,
    code: str,
    target_modifier: str | None,
    param: SearchParameter | None,
    rest: str,
    raw_value: str,
    registry: SearchParameterRegistry,
) -> Filter:
    if param is None or param.type != "reference":
        raise InvalidSearch(
            f"'{code}' is not a reference parameter of {resource_type}, so it cannot be chained"
        )
    targets = (target_modifier,) if target_modifier else param.targets
    if target_modifier and target_modifier not in param.targets:
        raise InvalidSearch(f"'{code}' of {resource_type} cannot refer to {target_modifier}")
    candidates = []
    for target in targets:
        try:
            candidates.append((target, _parse_filter(target, rest, raw_value, registry)))
        except _UnknownParameterError:
            continue
    if not candidates:
        raise InvalidSearch(
            f"None of the resource types that '{code}' refers to has a search parameter '{rest}'"
        )
    if len(candidates) > 1:
        raise InvalidSearch(
            f"The chain '{code}.{rest}' is ambiguous: say which type it refers to, "
            f"e.g. '{code}:{candidates[0][0]}.{rest}'"
        )
    target, chained = candidates[0]
    return Filter(code, "reference", param, None, (), target_type=target, chained=chained)


def _parse_has(
    resource_type: str, raw_name: str, raw_value: str, registry: SearchParameterRegistry
) -> Filter:
    """`_has:Observation:patient:code=x` on Patient: the patients some Observation with code x
    refers to as its `patient`. The inner parameter may be any filter, `_has` again included.

    A malformed `_has` is an error even under lenient handling: ignoring it would answer a
    narrower question with every resource of the type."""
    parts = raw_name.split(":", 3)
    if len(parts) != 4 or not all(parts[1:]):
        raise InvalidSearch(
            f"'{raw_name}' must look like _has:Type:reference:parameter, "
            "e.g. _has:Observation:patient:code"
        )
    _, source_type, code, rest = parts
    if source_type not in SUPPORTED_RESOURCE_TYPES:
        raise InvalidSearch(f"'{raw_name}': {source_type} is not a resource type this server has")
    param = registry.get(source_type, code)
    if param is None or param.type != "reference":
        raise InvalidSearch(
            f"'{raw_name}': {source_type} has no reference search parameter '{code}'"
        )
    if resource_type not in param.targets:
        raise InvalidSearch(
            f"'{raw_name}': the '{code}' parameter of {source_type} cannot refer to {resource_type}"
        )
    inner = _parse_filter(source_type, rest, raw_value, registry)
    return Filter("_has", "has", param, None, (), target_type=source_type, chained=inner)


def _lookup(
    resource_type: str, code: str, registry: SearchParameterRegistry
) -> tuple[str, SearchParameter | None]:
    if code in BUILTIN_TYPES:
        return BUILTIN_TYPES[code], None
    param = registry.get(resource_type, code)
    if param is None:
        raise _UnknownParameterError(f"{resource_type} has no search parameter '{code}'")
    return param.type, param


def _parse_composite(param: SearchParameter, value: str, name: str) -> CompositeSearch:
    """``system|code$value``: one part per component, separated by an unescaped ``$``."""
    parts = split_on_unescaped(value, "$")
    if len(parts) != len(param.components):
        raise InvalidSearch(
            f"Bad value for search parameter '{name}': '{value}' must have "
            f"{len(param.components)} parts separated by '$' ("
            + "$".join(component.type for component in param.components)
            + ")"
        )
    return CompositeSearch(
        tuple(
            _parse_value(component.type, None, part, name)
            for component, part in zip(param.components, parts, strict=True)
        )
    )


def _parse_value(param_type: str, modifier: str | None, value: str, name: str) -> object:
    try:
        if param_type == "date":
            return parse_date_search(value)
        if param_type == "token":
            if modifier == "text":
                return unescape_search_value(value)
            return parse_token_search(value)
        if param_type == "number":
            return parse_number_search(value)
        if param_type == "quantity":
            return parse_quantity_search(value)
        if param_type == "reference":
            return parse_reference_search(unescape_search_value(value))
        return unescape_search_value(value)
    except SearchValueError as exc:
        raise InvalidSearch(f"Bad value for search parameter '{name}': {exc}") from None


def _apply_result_parameter(
    query: SearchQuery,
    name: str,
    modifier: str,
    value: str,
    registry: SearchParameterRegistry,
    max_count: int,
    *,
    handling: Handling,
) -> None:
    if name in SUBSET_PARAMETERS:
        _apply_subset_parameter(query, name, modifier, value, handling)
    elif name == "_count":
        if not value.isdigit():
            raise InvalidSearch(f"_count must be a whole number, not '{value}'")
        query.count = min(int(value), max_count)
    elif name == "_sort":
        query.sort = [_sort_key(query.resource_type, key, registry) for key in value.split(",")]
    elif name in {"_include", "_revinclude"}:
        if modifier not in {"", "iterate"}:
            raise InvalidSearch(f"{name}:{modifier} is not supported; use {name} or {name}:iterate")
        include = _include(
            name, value, query.resource_type, registry, iterate=modifier == "iterate"
        )
        (query.includes if name == "_include" else query.revincludes).append(include)
    elif name == "_total":
        if value not in {"none", "estimate", "accurate"}:
            raise InvalidSearch(f"_total must be none, estimate or accurate, not '{value}'")
        query.total = value  # type: ignore[assignment]


def _apply_subset_parameter(
    query: SearchQuery, name: str, modifier: str, value: str, handling: Handling
) -> None:
    if modifier:
        raise InvalidSearch(f"{name}:{modifier} is not supported; use {name}")
    if name == "_summary":
        summary = parse_summary(value)
        if query.summary not in (None, summary):
            raise InvalidSearch(
                f"_summary is given twice, as {query.summary} and {summary}; give it once"
            )
        query.summary = summary
        return
    known, unknown = element_names(query.resource_type, value)
    if unknown and handling == "strict":
        listed = ", ".join(f"'{element}'" for element in unknown)
        raise InvalidSearch(
            f"_elements: {query.resource_type} has no top-level element named {listed}"
        )
    query.ignored_elements += [e for e in unknown if e not in query.ignored_elements]
    query.elements = (query.elements or frozenset()) | known


def _check_subset(query: SearchQuery) -> None:
    """Refuse the combinations FHIR R4 leaves without a meaning.

    `_summary` and `_elements` each say which elements to return; with both, one would have to
    be ignored, and a client would get other than it asked for without knowing. `_summary=false`
    asks for nothing to be cut, so `_elements` beside it is no conflict.
    """
    if query.elements is not None and query.summary not in (None, "false"):
        raise InvalidSearch(
            f"_summary={query.summary} and _elements cannot be used together: each says which "
            "elements to return; give one of them"
        )
    if query.summary == "text" and (query.includes or query.revincludes):
        raise InvalidSearch(
            "_summary=text cannot be used with _include or _revinclude (FHIR R4 search)"
        )


def _sort_key(resource_type: str, key: str, registry: SearchParameterRegistry) -> SortKey:
    descending = key.startswith("-")
    code = key[1:] if descending else key
    if not code:
        raise InvalidSearch("_sort has an empty key")
    try:
        param_type, param = _lookup(resource_type, code, registry)
    except _UnknownParameterError as exc:
        raise InvalidSearch(f"Cannot sort by '{code}': {exc}") from None
    if param_type == COMPOSITE:
        raise InvalidSearch(f"Cannot sort by '{code}': a composite parameter has no order")
    return SortKey(code, param_type, param, descending)


def _include(
    name: str,
    value: str,
    resource_type: str,
    registry: SearchParameterRegistry,
    *,
    iterate: bool,
) -> Include:
    parts = value.split(":")
    if len(parts) not in {2, 3}:
        raise InvalidSearch(
            f"{name} must look like Type:param or Type:param:TargetType, not '{value}'"
        )
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    param = registry.get(source, code)
    if param is None or param.type != "reference":
        raise InvalidSearch(f"{name}: {source} has no reference search parameter '{code}'")
    if target is not None and target not in param.targets:
        raise InvalidSearch(f"{name}: {source}.{code} cannot refer to {target}")
    if name == "_include" and source != resource_type and not iterate:
        raise InvalidSearch(
            f"_include must start with the searched type {resource_type}, not '{source}'"
        )
    return Include(source, param, target, iterate=iterate)
