"""Parsers for FHIR R4 search parameter values (https://hl7.org/fhir/R4/search.html).

The store indexes resources and answers searches with these shapes, so stored values and
search values must be read by one set of rules; that is why `parse_fhir_date_range` serves
both a stored `date`/`dateTime`/`instant` element and the value of a `date` search.

Conventions a reader must know:

* Every parser raises `SearchValueError` (a `ValueError`) naming the bad value, which the API
  turns into a 400 OperationOutcome.
* Datetimes are naive and in UTC. Offsets are converted to UTC; a value with no offset is taken
  to be UTC already (the spec leaves it to the server; we choose UTC so that a value means the
  same thing wherever the server runs).
* Ranges are half-open, ``[start, end)``, which lets consecutive periods (two months, two
  seconds) meet without overlapping.
* Escaping: `split_search_values` splits on unescaped commas but leaves every escape sequence in
  place. Each typed parser then splits on its own separator (``|`` for tokens and quantities)
  with `split_on_unescaped` and only then unescapes the pieces with `unescape_search_value`.
  Unescaping earlier would make ``\\|`` (a literal bar) indistinguishable from ``|`` (the
  system/code separator), so ``system\\|with\\|bars|code`` could not be parsed.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation

from careweave.fhir.resource_types import is_fhir_id

__all__ = [
    "DATE_MAX",
    "DATE_MIN",
    "DATE_PREFIXES",
    "DateRange",
    "DateSearch",
    "NumberSearch",
    "QuantitySearch",
    "ReferenceSearch",
    "SearchValueError",
    "TokenSearch",
    "escape_like",
    "escape_search_value",
    "normalise_string",
    "parse_date_search",
    "parse_fhir_date_range",
    "parse_number_search",
    "parse_quantity_search",
    "parse_reference_search",
    "parse_token_search",
    "split_on_unescaped",
    "split_search_values",
    "unescape_search_value",
]


class SearchValueError(ValueError):
    """A search (or stored date) value that does not have the form FHIR requires.

    A `ValueError` so that callers which only care that the input was bad need not import it.
    """


DATE_MIN = datetime(1, 1, 1)
"""Sentinel for an open lower end; the earliest datetime Python can represent."""

DATE_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999)
"""Sentinel for an open upper end, and the clamp for ranges that would run past year 9999."""

DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
"""Comparison prefixes shared by date, number and quantity searches; `eq` when none is given."""

_SEARCH_ESCAPED = frozenset(",|$\\")


@dataclass(frozen=True)
class DateRange:
    """The half-open interval ``[start, end)`` of naive UTC datetimes that a value covers.

    FHIR dates are ranges at their precision ("2024-05" is the whole of May), and search
    matching is defined as a comparison of ranges, so we never reduce a date to one instant.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("DateRange holds naive UTC datetimes")
        if self.start > self.end:
            raise ValueError(f"DateRange start {self.start} is after its end {self.end}")

    def contains(self, instant: datetime) -> bool:
        """Whether the naive UTC `instant` falls inside the range."""
        return self.start <= instant < self.end

    def overlaps(self, other: DateRange) -> bool:
        """Whether the two ranges share at least one instant."""
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class DateSearch:
    """A parsed `date` search value: a comparison prefix and the range of the date given."""

    prefix: str
    range: DateRange


@dataclass(frozen=True)
class TokenSearch:
    """A parsed `token` search value.

    ============  ========  ========  ================  ====================================
    value         system    code      system_specified  meaning
    ============  ========  ========  ================  ====================================
    ``code``      None      "code"    False             the code in any system (or none)
    ``sys|code``  "sys"     "code"    True              the code in that system
    ``|code``     None      "code"    True              the code with no system at all
    ``sys|``      "sys"     None      True              any code in that system
    ============  ========  ========  ================  ====================================
    """

    system: str | None
    code: str | None
    system_specified: bool


@dataclass(frozen=True)
class NumberSearch:
    """A parsed `number` search value with the range its written precision implies.

    ``[low, high)`` is the value plus or minus half a unit in its last written digit, so
    "100" means [99.5, 100.5), "100.00" means [99.995, 100.005) and "1e2" (one significant
    figure) means [50, 150). The spec's example table gives [95, 105) for "1e2", which
    contradicts its own significant-figure rule; we follow the rule.
    """

    prefix: str
    value: Decimal
    low: Decimal
    high: Decimal


@dataclass(frozen=True)
class QuantitySearch:
    """A parsed `quantity` search value: ``[prefix]number[|system|code]``.

    `system` None with a `code` means the code (or unit) in any system; both None means any
    unit at all.
    """

    prefix: str
    number: NumberSearch
    system: str | None
    code: str | None


@dataclass(frozen=True)
class ReferenceSearch:
    """A parsed `reference` search value.

    `url` is set only for absolute references and keeps the value as written (minus any
    ``_history`` part), because a reference to another server matches only by its full URL.
    `resource_type` and `id` are parsed out of it when its last segments look like
    ``Type/id``.
    """

    resource_type: str | None
    id: str | None
    url: str | None


@dataclass(frozen=True)
class CompositeSearch:
    """A parsed `composite` search value, ``part$part``: one parsed value per component, each
    of its component's type (a `TokenSearch` then a `QuantitySearch` for
    ``code-value-quantity``). All must match values found in the same element."""

    parts: tuple[object, ...]


# --- escaping --------------------------------------------------------------------------------


def split_on_unescaped(value: str, separator: str) -> list[str]:
    """Split `value` on each `separator` character not preceded by an escaping backslash.

    Escape sequences are kept as written, so pieces can be split again on another separator
    before `unescape_search_value` is applied.
    """
    if len(separator) != 1:
        raise ValueError("separator must be a single character")
    if "\\" not in value:
        return value.split(separator)  # nothing escaped (nearly always): the fast way
    pieces: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            current.append(value[index : index + 2])
            index += 2
            continue
        if char == separator:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    pieces.append("".join(current))
    return pieces


def split_search_values(raw: str) -> list[str]:
    """Split one parameter value into its comma-separated alternatives (logical OR).

    Commas escaped as ``\\,`` do not split. The pieces keep their escape sequences (see the
    module docstring); unescape them with `unescape_search_value` once any further splitting
    is done. Empty alternatives are returned as empty strings for the typed parser to reject.
    """
    return split_on_unescaped(raw, ",")


def escape_search_value(value: str) -> str:
    """Escape the characters the search syntax gives a meaning to: ``\\ , | $``."""
    return "".join("\\" + char if char in _SEARCH_ESCAPED else char for char in value)


def unescape_search_value(value: str) -> str:
    """Undo `escape_search_value`: ``\\,`` ``\\|`` ``\\$`` ``\\\\`` become the bare character.

    A backslash before any other character, or at the very end, is kept literally, because the
    spec defines only those four escapes and a stray backslash is more likely data than error.
    """
    if "\\" not in value:
        return value
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value) and value[index + 1] in _SEARCH_ESCAPED:
            out.append(value[index + 1])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def escape_like(value: str) -> str:
    """Escape `value` for use inside a SQL LIKE pattern written with ``ESCAPE '\\'``.

    Without this a search for "50%" or "a_b" would treat ``%`` and ``_`` as wildcards.
    """
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- strings ---------------------------------------------------------------------------------


def normalise_string(value: str) -> str:
    """Fold a string for FHIR `string` search, which is case- and accent-insensitive.

    NFKD splits accented letters into base letter plus combining mark and maps compatibility
    forms (ligatures, full-width letters, non-breaking spaces) to plain ones; the marks are then
    dropped, the text case-folded, and whitespace runs collapsed. Case folding can itself
    produce decomposable characters, so decomposition runs again after it; that makes the
    function idempotent, which both stored and searched values rely on.
    """
    decomposed = unicodedata.normalize("NFKD", value).casefold()
    decomposed = unicodedata.normalize("NFKD", decomposed)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.split())


# --- dates -----------------------------------------------------------------------------------

_DATE_RE = re.compile(
    r"""
    (?P<year>[0-9]{4})
    (?:-(?P<month>[0-9]{2})
      (?:-(?P<day>[0-9]{2})
        (?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})
          (?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?)?
          (?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?
        )?
      )?
    )?
    """,
    re.VERBOSE | re.ASCII,
)


def _shift(moment: datetime, delta: timedelta) -> datetime:
    """Add `delta`, clamping to the sentinels instead of overflowing at years 1 and 9999."""
    try:
        return moment + delta
    except OverflowError:
        return DATE_MAX if delta > timedelta(0) else DATE_MIN


def _next_month(year: int, month: int) -> datetime:
    if month == 12:
        return DATE_MAX if year == 9999 else datetime(year + 1, 1, 1)
    return datetime(year, month + 1, 1)


def _offset(value: str, tz: str | None) -> timedelta:
    """The UTC offset a time zone designator adds to UTC (so UTC = local - offset)."""
    if tz is None or tz == "Z":
        return timedelta(0)
    hours, minutes = int(tz[1:3]), int(tz[4:6])
    if hours > 14 or minutes > 59 or (hours == 14 and minutes > 0):
        raise SearchValueError(f"{value!r} has an impossible time zone offset {tz!r}")
    offset = timedelta(hours=hours, minutes=minutes)
    return -offset if tz[0] == "-" else offset


def parse_fhir_date_range(value: str) -> DateRange:
    """Read a FHIR `date`, `dateTime` or `instant` as the half-open range it covers.

    The precision written is the precision meant: "2024" is [2024-01-01, 2025-01-01),
    "2024-03" the whole of March, "2024-03-05" that day, "2024-03-05T10:00" that minute
    (allowed only in search values, accepted here too), "2024-03-05T10:00:00Z" that second,
    and "…:00.123Z" that millisecond (fractions finer than Python's microseconds widen to
    whole microseconds so the range still contains the instant). Offsets are converted to UTC
    and values without one are taken as UTC. A leap second (":60") is read as second 59 because
    Python datetimes cannot hold it. Ranges that would run past year 9999 end at `DATE_MAX`.
    """
    match = _DATE_RE.fullmatch(value)
    if match is None:
        raise SearchValueError(
            f"{value!r} is not a FHIR date: expected YYYY, YYYY-MM, YYYY-MM-DD or "
            "YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm|-hh:mm]"
        )
    parts = match.groupdict()
    year = int(parts["year"])
    month = int(parts["month"]) if parts["month"] else 1
    day = int(parts["day"]) if parts["day"] else 1
    if year == 0:
        raise SearchValueError(f"{value!r} has year 0000, which FHIR does not allow")
    if not 1 <= month <= 12:
        raise SearchValueError(f"{value!r} has month {month:02d}, which does not exist")
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise SearchValueError(f"{value!r} names a day that does not exist in that month")

    if parts["month"] is None:
        end = DATE_MAX if year == 9999 else datetime(year + 1, 1, 1)
        return DateRange(datetime(year, 1, 1), end)
    if parts["day"] is None:
        return DateRange(datetime(year, month, 1), _next_month(year, month))
    if parts["hour"] is None:
        start = datetime(year, month, day)
        return DateRange(start, _shift(start, timedelta(days=1)))

    hour, minute = int(parts["hour"]), int(parts["minute"])
    second = int(parts["second"]) if parts["second"] else 0
    if hour > 23 or minute > 59 or second > 60:
        raise SearchValueError(f"{value!r} has a time of day that does not exist")
    local = datetime(year, month, day, hour, minute, min(second, 59))
    offset = _offset(value, parts["tz"])

    fraction = parts["fraction"]
    if parts["second"] is None:
        local_start, length = local, timedelta(minutes=1)
    elif fraction is None:
        local_start, length = local, timedelta(seconds=1)
    else:
        digits = len(fraction)
        if digits <= 6:
            scale = 10 ** (6 - digits)
            start_us, end_us = int(fraction) * scale, (int(fraction) + 1) * scale
        else:
            scale = 10 ** (digits - 6)
            start_us = int(fraction) // scale
            end_us = -(-(int(fraction) + 1) // scale)
        local_start = local + timedelta(microseconds=start_us)
        length = timedelta(microseconds=end_us - start_us)

    start = _shift(local_start, -offset)
    end = _shift(_shift(local_start, length), -offset) if start != DATE_MAX else DATE_MAX
    return DateRange(start, max(start, end))


def _split_prefix(value: str) -> tuple[str, str]:
    """Separate an optional two-letter comparison prefix from the value it applies to.

    Two letters followed by a digit or minus sign are taken as a prefix (and must be a known
    one); anything else is left whole so the error names the value rather than a "prefix".
    """
    head = value[:2]
    if len(value) > 2 and head.isascii() and head.isalpha() and value[2] in "-0123456789":
        if head not in DATE_PREFIXES:
            raise SearchValueError(
                f"{value!r} starts with unknown prefix {head!r}; "
                f"expected one of {', '.join(DATE_PREFIXES)}"
            )
        return head, value[2:]
    return "eq", value


def parse_date_search(value: str) -> DateSearch:
    """Parse ``[prefix]date`` as used by `date` search parameters; the prefix defaults to eq."""
    prefix, rest = _split_prefix(value)
    return DateSearch(prefix=prefix, range=parse_fhir_date_range(rest))


# --- numbers and quantities ------------------------------------------------------------------

_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_number_search(value: str) -> NumberSearch:
    """Parse ``[prefix]number``; the implied range is ± half a unit in the last written digit.

    Uses `Decimal` so that "0.1" and "100.00" keep the precision the client wrote, which a
    float would lose. See `NumberSearch` for the range rule.
    """
    prefix, rest = _split_prefix(value)
    if not _NUMBER_RE.fullmatch(rest):
        raise SearchValueError(f"{value!r} is not a FHIR number search value")
    try:
        number = Decimal(rest)
    except InvalidOperation as error:  # pragma: no cover - the pattern admits only decimals
        raise SearchValueError(f"{value!r} is not a number") from error
    _, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):  # pragma: no cover - the pattern admits only finite values
        raise SearchValueError(f"{value!r} is not a finite number")
    # Exact arithmetic: enough digits for the value plus one more place, and no exponent limit,
    # so that a 28-digit value is not rounded by the default context.
    exact = Context(prec=len(digits) + 2, Emin=MIN_EMIN, Emax=MAX_EMAX)
    half_unit = Decimal(5).scaleb(exponent - 1, context=exact)
    return NumberSearch(
        prefix=prefix,
        value=number,
        low=exact.subtract(number, half_unit),
        high=exact.add(number, half_unit),
    )


def parse_quantity_search(value: str) -> QuantitySearch:
    """Parse ``[prefix]number``, ``[prefix]number||code`` or ``[prefix]number|system|code``."""
    parts = split_on_unescaped(value, "|")
    if len(parts) == 1:
        return QuantitySearch(
            prefix=(number := parse_number_search(parts[0])).prefix,
            number=number,
            system=None,
            code=None,
        )
    if len(parts) != 3:
        raise SearchValueError(
            f"{value!r} is not a quantity search value: expected number, number||code "
            "or number|system|code"
        )
    number = parse_number_search(parts[0])
    system = unescape_search_value(parts[1]) or None
    code = unescape_search_value(parts[2]) or None
    if code is None:
        raise SearchValueError(f"{value!r} names a unit system but no unit code")
    return QuantitySearch(prefix=number.prefix, number=number, system=system, code=code)


# --- tokens and references -------------------------------------------------------------------


def parse_token_search(value: str) -> TokenSearch:
    """Parse a `token` search value: ``code``, ``system|code``, ``|code`` or ``system|``.

    Takes the value with its escapes still in place (as `split_search_values` returns it), so a
    bar inside a system or code is written ``\\|``. More than one unescaped bar is rejected:
    the ``:of-type`` modifier's three-part form needs its own parser.
    """
    if value == "":
        raise SearchValueError("an empty token search value matches nothing")
    parts = split_on_unescaped(value, "|")
    if len(parts) == 1:
        return TokenSearch(system=None, code=unescape_search_value(value), system_specified=False)
    if len(parts) > 2:
        raise SearchValueError(
            f"{value!r} has more than one '|'; escape a bar inside a system or code as '\\|'"
        )
    system = unescape_search_value(parts[0]) or None
    code = unescape_search_value(parts[1]) or None
    if system is None and code is None:
        raise SearchValueError(f"{value!r} gives neither a system nor a code")
    return TokenSearch(system=system, code=code, system_specified=True)


_TYPE_RE = re.compile(r"[A-Z][A-Za-z]{0,63}", re.ASCII)
_ABSOLUTE_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:.+", re.ASCII)


def _strip_history(segments: list[str]) -> list[str]:
    if len(segments) >= 2 and segments[-2] == "_history":
        return segments[:-2]
    return segments


def parse_reference_search(value: str) -> ReferenceSearch:
    """Parse a `reference` search value: ``id``, ``Type/id``, ``Type/id/_history/vid`` or a URL.

    The version in a ``_history`` reference is dropped because FHIR reference search matches
    the resource, not a version of it. An absolute URL (including ``urn:uuid:``) keeps its text
    in `url`; when its last two path segments are ``Type/id`` those are parsed out too, so a
    search may also match a local resource written with the server's own base URL.
    """
    text = unescape_search_value(value)
    if text == "":
        raise SearchValueError("an empty reference search value matches nothing")
    if _ABSOLUTE_RE.fullmatch(text):
        segments = _strip_history(text.rstrip("/").split("/"))
        url = "/".join(segments)
        if len(segments) >= 2 and _TYPE_RE.fullmatch(segments[-2]) and is_fhir_id(segments[-1]):
            return ReferenceSearch(resource_type=segments[-2], id=segments[-1], url=url)
        return ReferenceSearch(resource_type=None, id=None, url=url)

    segments = _strip_history(text.split("/"))
    if len(segments) == 1:
        resource_type, resource_id = None, segments[0]
    elif len(segments) == 2:
        resource_type, resource_id = segments
        if not _TYPE_RE.fullmatch(resource_type):
            raise SearchValueError(f"{value!r}: {resource_type!r} is not a resource type name")
    else:
        raise SearchValueError(f"{value!r} is not a reference: expected id, Type/id or a URL")
    if not is_fhir_id(resource_id):
        raise SearchValueError(
            f"{value!r}: {resource_id!r} is not a FHIR id (1-64 of A-Z a-z 0-9 - .)"
        )
    return ReferenceSearch(resource_type=resource_type, id=resource_id, url=None)
