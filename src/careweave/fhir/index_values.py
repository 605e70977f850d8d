"""Turn a resource into the search-index rows the store writes beside it.

Each search parameter's FHIRPath selects elements (a CodeableConcept, a Period, a Reference...);
the rules in FHIR R4 search.html say how each kind of element becomes searchable values, and
this module applies them, producing one dataclass per index table. The store writes the rows in
the same transaction as the resource, so what is searchable is always what was stored.

What a reader must know:

* Values that cannot be interpreted are skipped, not fatal: a free-text
  ``CarePlan.activity.detail.scheduledString`` selected by a date parameter, a Range selected by
  a quantity parameter, a malformed date. The validator rejects malformed resources before they
  get here; the remaining cases are values the parameter's type simply does not describe.
* Quantity parameters index single quantities only. ``Range`` (``Condition.onset-age``,
  ``Questionnaire.context-quantity``), ``SampledData`` and ``Ratio`` values are not points, so
  they are left out rather than reduced to a number that would match the wrong searches.
* Dates are half-open ranges of naive UTC datetimes read by
  `careweave.fhir.search_values.parse_fhir_date_range`, the same reader the search side uses.
  A Timing is indexed as the outer limits of its events and ``repeat.boundsPeriod``, as
  search.html asks ("the specified scheduling details are ignored and only the outer limits
  matter").
* Token rows carry display text for the ``:text`` modifier: a Coding row carries its
  ``display``; a CodeableConcept's ``text`` gets a row of its own with no system or code; an
  Identifier row carries ``Identifier.type.text``.
* Values are de-duplicated per parameter, so a code present twice gives one row.
* A composite parameter's values are rows in its components' tables, under its source's
  `row_param` with ``$k`` for component k, each carrying the number of the element it was found
  in (`composite`): the search pairs rows of one element by it. Every other row has no number.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeVar

from careweave.fhir.search_parameters import (
    COMPOSITE,
    EvaluationMemo,
    SearchParameter,
    SearchParameterRegistry,
    Typed,
    evaluate_parts,
)
from careweave.fhir.search_values import (
    DATE_MAX,
    DATE_MIN,
    SearchValueError,
    escape_search_value,
    normalise_string,
    parse_fhir_date_range,
    parse_reference_search,
)
from careweave.uk_time import last_uk_day, uk_day_span

__all__ = [
    "PARTICIPANT_MEMBER",
    "PARTICIPANT_UNTIL",
    "DateValue",
    "IndexValues",
    "NumberValue",
    "QuantityValue",
    "ReferenceValue",
    "StringValue",
    "TokenValue",
    "UriValue",
    "extract_index_values",
    "references_in",
]


@dataclass(frozen=True)
class TokenValue:
    """A row of the token index: ``system|code``, with text for the ``:text`` modifier."""

    param: str
    system: str | None
    code: str | None
    text: str | None = None
    composite: int | None = None


@dataclass(frozen=True)
class StringValue:
    """A row of the string index: the folded form searched by default, and the text as written."""

    param: str
    normalised: str
    exact: str
    composite: int | None = None


@dataclass(frozen=True)
class DateValue:
    """A row of the date index: the half-open range ``[start, end)`` in naive UTC."""

    param: str
    start: datetime
    end: datetime
    composite: int | None = None


@dataclass(frozen=True)
class ReferenceValue:
    """A row of the reference index.

    A local reference has `target_type` and `target_id` and no `url`; an absolute reference
    keeps its `url` (without any ``_history`` part) and also the type and id parsed from its
    last segments when they look like ``Type/id``; a canonical reference has only a `url`.
    """

    param: str
    target_type: str | None
    target_id: str | None
    url: str | None
    composite: int | None = None


@dataclass(frozen=True)
class NumberValue:
    """A row of the number index."""

    param: str
    value: Decimal
    composite: int | None = None


@dataclass(frozen=True)
class QuantityValue:
    """A row of the quantity index; `system` and `code` are the coded unit, `unit` its text."""

    param: str
    value: Decimal
    system: str | None
    code: str | None
    unit: str | None
    composite: int | None = None


@dataclass(frozen=True)
class UriValue:
    """A row of the uri index."""

    param: str
    uri: str
    composite: int | None = None


@dataclass
class IndexValues:
    """Every index row for one resource, by index table."""

    tokens: list[TokenValue] = field(default_factory=list)
    strings: list[StringValue] = field(default_factory=list)
    dates: list[DateValue] = field(default_factory=list)
    references: list[ReferenceValue] = field(default_factory=list)
    numbers: list[NumberValue] = field(default_factory=list)
    quantities: list[QuantityValue] = field(default_factory=list)
    uris: list[UriValue] = field(default_factory=list)


_Row = TypeVar("_Row")

_CODING_KEYS = frozenset({"system", "version", "code", "display", "userSelected"})
_IDENTIFIER_KEYS = frozenset({"use", "type", "system", "value", "period", "assigner"})
_NOT_A_QUANTITY = frozenset({"Range", "SampledData", "Ratio"})
_QUANTITY_TYPES = frozenset(
    {"Quantity", "SimpleQuantity", "Age", "Duration", "Distance", "Count", "MoneyQuantity"}
)
_CURRENCY_SYSTEM = "urn:iso:std:iso:4217"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _strings(values: Any) -> Iterator[str]:
    """The non-empty strings in a FHIR repeating primitive (a list) or a single one."""
    if isinstance(values, list):
        for value in values:
            if isinstance(value, str) and value:
                yield value
    elif isinstance(values, str) and values:
        yield values


# --- token -----------------------------------------------------------------------------------


def _coding_token(param: str, coding: Mapping[str, Any]) -> TokenValue | None:
    system, code = _text(coding.get("system")), _text(coding.get("code"))
    display = _text(coding.get("display"))
    if system is None and code is None and display is None:
        return None
    return TokenValue(param, system, code, display)


def _tokens(param: str, kind: str | None, value: Any) -> Iterator[TokenValue]:
    if isinstance(value, bool):
        yield TokenValue(param, None, "true" if value else "false")
        return
    if isinstance(value, str):
        if value:
            yield TokenValue(param, None, value)
        return
    if isinstance(value, int):
        yield TokenValue(param, None, str(value))
        return
    if not isinstance(value, Mapping):
        return
    if kind == "CodeableConcept" or (kind is None and ("coding" in value or "text" in value)):
        for coding in value.get("coding") or ():
            if isinstance(coding, Mapping) and (token := _coding_token(param, coding)):
                yield token
        if text := _text(value.get("text")):
            yield TokenValue(param, None, None, text)
    elif kind == "Identifier" or (kind is None and value.keys() <= _IDENTIFIER_KEYS):
        identifier_type = value.get("type")
        type_text = (
            _text(identifier_type.get("text")) if isinstance(identifier_type, Mapping) else None
        )
        system, code = _text(value.get("system")), _text(value.get("value"))
        if system is not None or code is not None:
            yield TokenValue(param, system, code, type_text)
    elif kind == "ContactPoint":
        if code := _text(value.get("value")):
            yield TokenValue(param, None, code)
    elif (kind == "Coding" or (kind is None and value.keys() <= _CODING_KEYS)) and (
        token := _coding_token(param, value)
    ):
        yield token


# --- string ----------------------------------------------------------------------------------


def _string_parts(kind: str | None, value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        return
    if not isinstance(value, Mapping):
        return
    if kind == "HumanName" or (kind is None and value.keys() & {"family", "given"}):
        prefixes, givens = list(_strings(value.get("prefix"))), list(_strings(value.get("given")))
        suffixes = list(_strings(value.get("suffix")))
        family = _text(value.get("family"))
        yield from prefixes
        yield from givens
        if family:
            yield family
        yield from suffixes
        if text := _text(value.get("text")):
            yield text
        whole = [*prefixes, *givens, *([family] if family else []), *suffixes]
        if len(whole) > 1:
            yield " ".join(whole)
    elif kind == "Address" or (kind is None and value.keys() & {"line", "city", "postalCode"}):
        yield from _strings(value.get("line"))
        for key in ("city", "district", "state", "postalCode", "country", "text"):
            if part := _text(value.get(key)):
                yield part


def _string_values(param: str, kind: str | None, value: Any) -> Iterator[StringValue]:
    for part in _string_parts(kind, value):
        normalised = normalise_string(part)
        if normalised:
            yield StringValue(param, normalised, part)


# --- date ------------------------------------------------------------------------------------


def _date_range(value: Any) -> tuple[datetime, datetime] | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_fhir_date_range(value)
    except SearchValueError:
        return None
    return parsed.start, parsed.end


def _date_values(param: str, kind: str | None, value: Any) -> Iterator[DateValue]:
    if isinstance(value, str):
        if kind in (None, "date", "dateTime", "instant") and (bounds := _date_range(value)):
            yield DateValue(param, *bounds)
        return
    if not isinstance(value, Mapping):
        return
    if kind == "Period" or (kind is None and value.keys() & {"start", "end"}):
        period = _period(value)
        if period is not None:
            yield DateValue(param, *period)
    elif kind == "Timing" or (kind is None and value.keys() & {"event", "repeat"}):
        starts: list[datetime] = []
        ends: list[datetime] = []
        for event in _strings(value.get("event")):
            if bounds := _date_range(event):
                starts.append(bounds[0])
                ends.append(bounds[1])
        repeat = value.get("repeat")
        bounds_period = repeat.get("boundsPeriod") if isinstance(repeat, Mapping) else None
        if isinstance(bounds_period, Mapping) and (bounds := _period(bounds_period)):
            starts.append(bounds[0])
            ends.append(bounds[1])
        if starts:
            yield DateValue(param, min(starts), max(ends))


def _period(value: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    """A Period as one range; an open end runs to DATE_MAX, an open start from DATE_MIN."""
    raw_start, raw_end = value.get("start"), value.get("end")
    if raw_start is None and raw_end is None:
        return None
    start_range = _date_range(raw_start) if raw_start is not None else (DATE_MIN, DATE_MIN)
    end_range = _date_range(raw_end) if raw_end is not None else (DATE_MAX, DATE_MAX)
    if start_range is None or end_range is None:
        return None
    start, end = start_range[0], end_range[1]
    if start > end:
        return None
    return start, end


# --- reference -------------------------------------------------------------------------------


_LOCAL_REFERENCE = re.compile(r"([A-Z][A-Za-z]{0,63})/([A-Za-z0-9\-.]{1,64})", re.ASCII)
"""``Type/id`` with nothing else: how almost every reference is written."""


def _parse_reference(param: str, literal: str) -> ReferenceValue | None:
    """Read a literal reference as the search side reads a reference value.

    Escaping first makes `parse_reference_search` (which unescapes search syntax) see exactly
    the characters written in the resource. A plain ``Type/id`` is read directly: it has no
    character to escape, no scheme, no ``_history`` and only a valid type and id, so the search
    reader would give the same type and id (the tests compare the two on generated text).
    """
    if local := _LOCAL_REFERENCE.fullmatch(literal):
        return ReferenceValue(param, local.group(1), local.group(2), None)
    return _read_reference(param, literal)


def _read_reference(param: str, literal: str) -> ReferenceValue | None:
    """`_parse_reference` for any literal, through the search side's reader."""
    if literal.startswith(("#", "urn:uuid:")) or "?" in literal:
        return None
    try:
        parsed = parse_reference_search(escape_search_value(literal))
    except SearchValueError:
        return None
    if parsed.url is None and parsed.resource_type is None:
        return None
    return ReferenceValue(param, parsed.resource_type, parsed.id, parsed.url)


def _reference_values(param: str, kind: str | None, value: Any) -> Iterator[ReferenceValue]:
    if isinstance(value, Mapping):
        literal = value.get("reference")
        if isinstance(literal, str) and (reference := _parse_reference(param, literal)):
            yield reference
    elif isinstance(value, str) and value:
        # canonical (or uri) elements searched by a reference parameter, such as
        # QuestionnaireResponse.questionnaire: matched by URL, with or without its |version.
        yield ReferenceValue(param, None, None, value)
        if "|" in value:
            yield ReferenceValue(param, None, None, value.split("|", 1)[0])


# --- care team participants, for the access rules ----------------------------------------------

PARTICIPANT_MEMBER: Final = "participant:member"
"""Internal reference rows of a CareTeam: each participant's member, numbered (`composite`)
with the participant it was found in. Not a search parameter: the colon makes it a name no
search can ask for (it reads as `participant` with a modifier)."""
PARTICIPANT_UNTIL: Final = "participant:until"
"""Internal date rows of a CareTeam: the last UK day a participant with a `period.end` takes
part (careweave.uk_time.uk_day_span of it), numbered as its PARTICIPANT_MEMBER rows are. The
access rules (careweave.access.policy) pair the two, so that cover which ended yesterday in
England is no longer a legitimate relationship, while the `participant` search parameter
keeps finding every participant as FHIR defines it."""


def _add_participant_periods(result: IndexValues, care_team: Mapping[str, Any]) -> None:
    participants = care_team.get("participant")
    if not isinstance(participants, list):
        return
    for number, participant in enumerate(participants):
        if not isinstance(participant, Mapping):
            continue
        members = [
            replace(row, composite=number)
            for row in _reference_values(PARTICIPANT_MEMBER, None, participant.get("member"))
            if row.target_type is not None
        ]
        if not members:
            continue
        result.references.extend(members)
        period = participant.get("period")
        end = period.get("end") if isinstance(period, Mapping) else None
        if end is not None:
            start, stop = uk_day_span(_last_day(end))
            result.dates.append(DateValue(PARTICIPANT_UNTIL, start, stop, number))


def _last_day(end: Any) -> date:
    """The last UK day a period ending `end` covers (careweave.uk_time.last_uk_day), and for
    an end nobody can read a day long past, so that it closes the participation rather than
    leaving it open."""
    return last_uk_day(end) or DATE_MIN.date()


# --- number, quantity, uri -------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _number_values(param: str, kind: str | None, value: Any) -> Iterator[NumberValue]:
    if (number := _decimal(value)) is not None:
        yield NumberValue(param, number)


def _quantity_values(param: str, kind: str | None, value: Any) -> Iterator[QuantityValue]:
    if not isinstance(value, Mapping) or kind in _NOT_A_QUANTITY:
        return
    if kind is not None and kind not in _QUANTITY_TYPES and kind != "Money":
        return
    number = _decimal(value.get("value"))
    if number is None:
        return
    if kind == "Money" or "currency" in value:
        currency = _text(value.get("currency"))
        yield QuantityValue(param, number, _CURRENCY_SYSTEM if currency else None, currency, None)
        return
    yield QuantityValue(
        param,
        number,
        _text(value.get("system")),
        _text(value.get("code")),
        _text(value.get("unit")),
    )


def _uri_values(param: str, kind: str | None, value: Any) -> Iterator[UriValue]:
    if isinstance(value, str) and value:
        yield UriValue(param, value)


# --- assembly --------------------------------------------------------------------------------


def _dedupe(values: Iterable[_Row]) -> list[_Row]:
    return list(dict.fromkeys(values))


def extract_index_values(
    resource: Mapping[str, Any], registry: SearchParameterRegistry, *, fast: bool = True
) -> IndexValues:
    """Every search-index row for `resource`, using the parameters `registry` has for its type.

    A resource of a type the registry does not know yields no rows. ``fast=False`` evaluates
    every expression with fhirpathpy instead of walking plain navigation directly (see
    `careweave.fhir.search_parameters.NavigationPath`); the rows are the same either way, which
    the tests check, and the benchmark uses it to show what the direct walk saves.
    """
    result = IndexValues()
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return result
    memo: EvaluationMemo = {}
    element_memos: dict[tuple[str, int], EvaluationMemo] = {}
    present = frozenset(resource)
    parameters = registry.for_type(resource_type)
    for code, parameter in parameters.items():
        roots = parameter.root_properties
        if fast and roots is not None and roots.isdisjoint(present):
            continue  # none of the properties it reads is here: it has no values
        if parameter.type == COMPOSITE:
            _add_composite(result, parameter, resource, memo, element_memos, fast=fast)
            continue
        typed = parameter.evaluate_typed(resource, memo, fast=fast)
        if typed:
            _add(result, code, parameter, typed)
    if resource_type == "CareTeam" and parameters:
        _add_participant_periods(result, resource)
    return result


_Converter = Callable[[str, str | None, Any], Iterable[Any]]
_KINDS: Mapping[str, tuple[str, _Converter]] = {
    "token": ("tokens", _tokens),
    "string": ("strings", _string_values),
    "date": ("dates", _date_values),
    "reference": ("references", _reference_values),
    "number": ("numbers", _number_values),
    "quantity": ("quantities", _quantity_values),
    "uri": ("uris", _uri_values),
}
"""Each indexed type: the `IndexValues` list its rows go to, and how a value becomes rows."""


def _rows(kind: str, param: str, typed: list[Typed]) -> list[Any]:
    convert = _KINDS[kind][1]
    return _dedupe(row for k, v in typed for row in convert(param, k, v))


def _add(result: IndexValues, code: str, parameter: SearchParameter, typed: list[Typed]) -> None:
    rows: list[Any] = getattr(result, _KINDS[parameter.type][0])
    rows.extend(_rows(parameter.type, code, typed))


def _add_composite(
    result: IndexValues,
    parameter: SearchParameter,
    resource: Mapping[str, Any],
    memo: EvaluationMemo,
    element_memos: dict[tuple[str, int], EvaluationMemo],
    *,
    fast: bool,
) -> None:
    """The rows of a composite: for each element its sources select that has a value for
    every component, those values, numbered with the element. A search pairs rows of the same
    number, so any combination within one element matches (a BP panel's systolic component
    matches by its SNOMED CT code and by its LOINC code with its one value) and values from
    different elements never pair."""
    for source in parameter.sources:
        if not source.writes_rows:
            continue
        plan = source.plan
        number = 0
        for element, element_memo in _elements(resource, source.member, memo, element_memos):
            found: list[tuple[str, list[Any]]] = []
            for _, kind, name, parts in plan:
                rows = _rows(kind, name, evaluate_parts(parts, element, element_memo, fast=fast))
                if kind == "token":  # text-only rows (CodeableConcept.text) pair with nothing
                    rows = [row for row in rows if row.code is not None]
                if not rows:
                    break
                found.append((kind, rows))
            else:
                for kind, rows in found:
                    getattr(result, _KINDS[kind][0]).extend(
                        dataclasses.replace(row, composite=number) for row in rows
                    )
                number += 1


def _elements(
    resource: Mapping[str, Any],
    member: str | None,
    memo: EvaluationMemo,
    element_memos: dict[tuple[str, int], EvaluationMemo],
) -> Iterator[tuple[Mapping[str, Any], EvaluationMemo]]:
    """The resource itself (member None), or for each element of `member` a copy of the
    resource holding only that element, each with the memo its evaluations share."""
    if member is None:
        yield resource, memo
        return
    elements = resource.get(member)
    if isinstance(elements, Mapping):
        elements = [elements]
    if not isinstance(elements, list):
        return
    for index, element in enumerate(elements):
        yield (
            {"resourceType": resource["resourceType"], member: [element]},
            element_memos.setdefault((member, index), {}),
        )


# --- referential integrity -------------------------------------------------------------------

_REFERENCE_KEYS = frozenset(
    {"id", "extension", "reference", "_reference", "type", "identifier", "display", "_display"}
)


def references_in(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every relative literal reference ``Type/id`` anywhere in `resource`, in document order.

    The store checks these exist before it writes. Left out, because they name nothing in this
    store to check: ``#contained`` references, ``urn:uuid:`` placeholders (a transaction
    rewrites those first), absolute URLs, and conditional references (``Patient?identifier=``,
    which a transaction resolves). A ``_history`` suffix is dropped: integrity is about the
    resource, not one version of it. Contained resources are walked too, because their
    references leave the containing resource as well.
    """
    found: dict[tuple[str, str], None] = {}
    stack: list[Any] = [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            literal = node.get("reference")
            if isinstance(literal, str) and node.keys() <= _REFERENCE_KEYS:
                target = _relative_target(literal)
                if target is not None:
                    found.setdefault(target, None)
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return list(found)


def _relative_target(literal: str) -> tuple[str, str] | None:
    if literal.startswith("#") or "?" in literal or ":" in literal:
        return None
    try:
        parsed = parse_reference_search(escape_search_value(literal))
    except SearchValueError:
        return None
    if parsed.resource_type is None or parsed.id is None or parsed.url is not None:
        return None
    return parsed.resource_type, parsed.id
