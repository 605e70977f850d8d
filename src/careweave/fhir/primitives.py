"""FHIR primitive values checked by the rules of `fhir.resources`, without running pydantic.

`fhir.resources` (through its `fhir_core` package) declares each FHIR primitive type as a Python
type annotated with metadata: ``Annotated[str, Code()]``, ``Annotated[int, PositiveInt()]``,
``Annotated[datetime.date, Date()]``. Pydantic turns that metadata into checks when it builds a
model's validator. `primitive_check` reads the same metadata and builds a plain Python check
from it, so the patterns and bounds are the library's own objects and cannot drift from it:

* ``string``, ``code``, ``id``, ``uri``, ``canonical``, ``oid``, ``markdown``: the metadata
  expands (as `annotated_types.GroupedMetadata`) to a regular expression and length bounds.
  Pydantic matches that expression with the Rust ``regex`` crate, as a search (not anchored
  unless the pattern itself is), so `rust_pattern` compiles it for Python's `re` with the two
  places where the engines differ spelled out: ``\\s`` (Rust: the Unicode White_Space
  property; Python: `str.isspace`, which adds U+001C-U+001F) and ``$`` (Rust: end of text;
  Python: also before a final newline).
* ``integer``, ``positiveInt``, ``unsignedInt``: the bounds (``Ge``/``Le``) of the metadata.
* ``decimal``, ``date``, ``dateTime``, ``instant``, ``time``: the metadata classes carry a
  compiled Python expression that the library's validator applies with ``fullmatch``; after it
  pydantic's date parser still rejects days that a month does not have ("2023-02-29"), which
  `_is_calendar_date` checks.
* ``uuid``: pydantic's ``UUID4`` (any UUID spelling, version 4 only).

Beyond the library (FHIR R4 requires these, the library lets them through), every check here
also rejects values of the wrong JSON type that pydantic would coerce (``"active": "yes"``,
``"valueInteger": "5"``), empty strings, whitespace in ``uri``/``url``/``canonical``/``oid``
values, ``uuid`` values that are not ``urn:uuid:`` and lower case, and base64 that is not
strictly base64 (the library's decoder skips characters outside the alphabet). Each problem a
check finds says which side of that line it is on (`Problem.beyond_library`), so the tests can
hold the checks to the library with the library itself as the oracle.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import annotated_types
from fhir_core import types as library_types
from pydantic.types import UuidVersion

__all__ = ["PrimitiveCheck", "Problem", "primitive_check", "rust_pattern", "shown"]

_MAX_SHOWN = 80
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one primitive value: an IssueType code and a readable message.

    `beyond_library` is true when the rule that failed is one of ours (see the module
    docstring), false when `fhir.resources` rejects the value too.
    """

    code: str
    message: str
    beyond_library: bool


PrimitiveCheck = Callable[[object], Problem | None]
"""A check of one JSON value of one FHIR primitive type: None when the value is valid."""


def shown(value: object) -> str:
    """A value as a message quotes it: its repr, shortened to a readable length."""
    try:
        text = repr(value)
    except ValueError:  # an integer of more than 4300 digits
        return f"a {type(value).__name__} too long to show"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


# --- regular expressions, as the Rust regex crate reads them ---------------------------------

_RUST_WHITESPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""The Unicode White_Space property, which ``\\s`` means to the Rust regex crate."""

_UNSUPPORTED_ESCAPES = frozenset("dDwWbBAzZpPhHvVkKgGuUxX0123456789")


def _class_items(pattern: str, start: int) -> tuple[str, int]:
    """The text inside the character class opening at `start`, and where the class ends."""
    index = start + 1
    if pattern.startswith("^", index):
        index += 1
    if pattern.startswith("]", index):
        index += 1  # a "]" first in a class is a literal
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
        elif char == "[":
            raise ValueError(f"nested character classes are not supported: {pattern!r}")
        elif char == "]":
            return pattern[start + 1 : index], index + 1
        else:
            index += 1
    raise ValueError(f"unterminated character class: {pattern!r}")


def _translate_class(items: str, pattern: str) -> str:
    negated = items.startswith("^")
    body = items[1:] if negated else items
    kept: list[str] = []
    any_non_space = False
    index = 0
    while index < len(body):
        part = body[index : index + 2] if body[index] == "\\" else body[index]
        index += len(part)
        if part == r"\s":
            kept.append(_RUST_WHITESPACE)
        elif part == r"\S":
            if negated:
                raise ValueError(f"\\S in a negated class is not supported: {pattern!r}")
            any_non_space = True
        elif part.startswith("\\") and part[1:] in _UNSUPPORTED_ESCAPES:
            raise ValueError(f"{part} is not supported: {pattern!r}")
        else:
            kept.append(part)
    prefix = "^" if negated else ""
    if not any_non_space:
        return f"[{prefix}{''.join(kept)}]"
    alternatives = ([f"[{''.join(kept)}]"] if kept else []) + [f"[^{_RUST_WHITESPACE}]"]
    return "(?:" + "|".join(alternatives) + ")"


@cache
def rust_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a pattern written for the Rust regex crate so that Python matches the same texts.

    The result is for `re.Pattern.search`, as pydantic uses it: whether the text contains a
    match. Only the syntax the library's patterns use is translated; anything else raises
    ValueError rather than being read differently (a new library release would fail the tests
    loudly). A pattern not anchored at the end gets lazy quantifiers: that cannot change
    whether a match exists, and it stops the search at the shortest one, where a greedy
    ``[ \\r\\n\\t\\S]+`` would run through all of a long text.
    """
    out: list[str] = []
    quantifiers: list[int] = []  # positions in `out` of the quantifiers
    anchored_at_end = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escape = pattern[index : index + 2]
            index += 2
            if escape == r"\s":
                out.append(f"[{_RUST_WHITESPACE}]")
            elif escape == r"\S":
                out.append(f"[^{_RUST_WHITESPACE}]")
            elif escape[1:] in _UNSUPPORTED_ESCAPES:
                raise ValueError(f"{escape} is not supported: {pattern!r}")
            else:
                out.append(escape)
        elif char == "[":
            items, index = _class_items(pattern, index)
            out.append(_translate_class(items, pattern))
        elif char == "$":
            out.append(r"\Z")
            anchored_at_end = True
            index += 1
        elif char == "(" and pattern.startswith("(?", index):
            raise ValueError(f"group flags and look-arounds are not supported: {pattern!r}")
        elif char in "*+?{":
            end = pattern.index("}", index) + 1 if char == "{" else index + 1
            if pattern[end : end + 1] in ("?", "+"):
                raise ValueError(f"lazy and possessive quantifiers are not supported: {pattern!r}")
            quantifiers.append(len(out))
            out.append(pattern[index:end])
            index = end
        else:
            out.append(char)
            index += 1
    if not anchored_at_end:
        for position in quantifiers:
            out[position] += "?"
    return re.compile("".join(out))


# --- reading the library's metadata ----------------------------------------------------------


def _expanded(metadata: Iterable[object]) -> Iterator[object]:
    """The metadata items pydantic sees: grouped metadata (`String()`, `Id()` ...) expanded."""
    for item in metadata:
        if isinstance(item, annotated_types.GroupedMetadata):
            yield from _expanded(item)
        else:
            yield item


@dataclass(frozen=True)
class _StringRules:
    """The constraints pydantic applies to a ``str`` field."""

    patterns: tuple[re.Pattern[str], ...] = ()
    min_length: int | None = None
    max_length: int | None = None


def _string_rules(metadata: Iterable[object]) -> _StringRules:
    patterns: list[re.Pattern[str]] = []
    min_length: int | None = None
    max_length: int | None = None
    for item in _expanded(metadata):
        pattern = getattr(item, "pattern", None)  # pydantic's general metadata: no class to test
        if isinstance(item, annotated_types.MinLen):
            min_length = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            max_length = item.max_length
        elif isinstance(pattern, str):
            patterns.append(rust_pattern(pattern))
        elif isinstance(item, library_types.Xhtml | library_types.Url):
            continue  # no constraint of their own: any string
        else:
            raise TypeError(f"unknown constraint on a FHIR string type: {item!r}")
    return _StringRules(tuple(patterns), min_length, max_length)


def _integer_bounds(metadata: Iterable[object]) -> tuple[int, int]:
    low, high = -(2**63), 2**63 - 1
    for item in _expanded(metadata):
        if isinstance(item, annotated_types.Ge):
            low = int(item.ge)  # type: ignore[call-overload]
        elif isinstance(item, annotated_types.Le):
            high = int(item.le)  # type: ignore[call-overload]
        else:
            raise TypeError(f"unknown constraint on a FHIR integer type: {item!r}")
    return low, high


def _one_of(metadata: Iterable[object], kind: type[_T]) -> _T:
    found = [item for item in metadata if isinstance(item, kind)]
    if len(found) != 1:
        raise TypeError(f"expected one {kind.__name__} in {metadata!r}")
    return found[0]


# --- the checks ------------------------------------------------------------------------------


def _wrong_json_type(expected: str, value: object) -> Problem:
    return Problem("structure", f"Expected {expected}, got {shown(value)}", True)


def _not_valid(fhir_type: str, value: object, *, beyond_library: bool) -> Problem:
    return Problem("value", f"{shown(value)} is not a valid FHIR {fhir_type}", beyond_library)


def _boolean_check(value: object) -> Problem | None:
    if value is True or value is False:
        return None
    return _wrong_json_type("true or false", value)


def _integer_check(fhir_type: str, low: int, high: int) -> PrimitiveCheck:
    def check(value: object) -> Problem | None:
        if type(value) is not int:
            return _wrong_json_type("a whole number", value)
        if low <= value <= high:
            return None
        return Problem(
            "value",
            f"{shown(value)} is out of range for a FHIR {fhir_type} ({low} to {high})",
            False,
        )

    return check


def _decimal_check(pattern: re.Pattern[str]) -> PrimitiveCheck:
    def check(value: object) -> Problem | None:
        if type(value) is not int and type(value) is not float:
            return _wrong_json_type("a JSON number", value)
        try:
            text = str(value)
        except ValueError:  # an integer too long to print (over 4300 digits)
            return _not_valid("decimal", value, beyond_library=False)
        if pattern.fullmatch(text) is None:
            return _not_valid("decimal", value, beyond_library=False)
        return None

    return check


def _is_utf8(value: str) -> bool:
    """Whether a string can be UTF-8 encoded (no lone surrogates, which pydantic rejects)."""
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _string_basics(value: object, *, library_reads_text: bool = True) -> Problem | None:
    """The checks every FHIR string-like value shares: a non-empty, encodable JSON string.

    Pydantic rejects text that is not valid Unicode (a lone surrogate) only where it reads the
    text: to match a pattern or parse it (`library_reads_text`).
    """
    if type(value) is not str:
        return _wrong_json_type("a JSON string", value)
    if not value:
        return Problem("structure", "Empty strings are not allowed; omit the element", True)
    if not _is_utf8(value):
        return Problem("value", f"{shown(value)} is not valid Unicode text", not library_reads_text)
    return None


def _string_check(fhir_type: str, rules: _StringRules, max_id_length: int | None) -> PrimitiveCheck:
    patterns = rules.patterns
    min_length = rules.min_length or 0
    max_length = rules.max_length
    no_whitespace = fhir_type in _URI_TYPES
    whitespace = re.compile(r"\s")
    library_reads_text = bool(patterns)

    def check(value: object) -> Problem | None:
        if type(value) is not str or not value or not (value.isascii() or _is_utf8(value)):
            return _string_basics(value, library_reads_text=library_reads_text)
        if len(value) < min_length:
            return _not_valid(fhir_type, value, beyond_library=False)
        for pattern in patterns:
            if pattern.search(value) is None:
                return _not_valid(fhir_type, value, beyond_library=False)
        if max_id_length is not None and len(value) > max_id_length:
            return Problem(
                "value",
                f"An id is at most {max_id_length} characters long",
                max_length is None or len(value) <= max_length,
            )
        if max_length is not None and len(value) > max_length:
            return _not_valid(fhir_type, value, beyond_library=False)
        if no_whitespace and whitespace.search(value) is not None:
            return Problem(
                "value", f"{shown(value)} is not a valid FHIR {fhir_type}: it has whitespace", True
            )
        return None

    return check


def _is_calendar_date(text: str) -> bool:
    """Whether the YYYY-MM-DD at the start of `text` is a day that exists."""
    try:
        datetime.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


def _date_check(fhir_type: str, pattern: re.Pattern[str]) -> PrimitiveCheck:
    def check(value: object) -> Problem | None:
        if type(value) is not str or not value or not (value.isascii() or _is_utf8(value)):
            return _string_basics(value)
        if pattern.fullmatch(value) is None:
            return _not_valid(fhir_type, value, beyond_library=False)
        # The pattern allows days up to 31 in every month; a partial date (YYYY or YYYY-MM)
        # and a time have nothing more to check.
        if fhir_type != "time" and len(value) >= 10 and not _is_calendar_date(value):
            return _not_valid(fhir_type, value, beyond_library=False)
        return None

    return check


_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""The FHIR R4 ``uuid`` regex: a URN, in lower case."""


def _uuid_check(version: int | None) -> PrimitiveCheck:
    def check(value: object) -> Problem | None:
        problem = _string_basics(value)
        if problem is not None:
            return problem
        assert isinstance(value, str)
        if _UUID.fullmatch(value) is None:
            return _not_valid("uuid", value, beyond_library=True)
        if version is not None and uuid.UUID(value[9:]).version != version:
            return Problem("value", f"{shown(value)} is not a version {version} UUID", False)
        return None

    return check


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        return False
    return True


def _base64_check(value: object) -> Problem | None:
    problem = _string_basics(value)
    if problem is not None:
        return problem
    assert isinstance(value, str)
    if _is_base64(value):
        return None
    # The library decodes leniently (skipping characters outside the alphabet): it only
    # rejects what is still wrong then.
    try:
        base64.b64decode(value)
    except (binascii.Error, ValueError):
        return Problem("value", "Not valid base64", False)
    return Problem("value", "Not valid base64", True)


def _codes_check(codes: frozenset[str], inner: PrimitiveCheck) -> PrimitiveCheck:
    allowed = ", ".join(sorted(codes))

    def check(value: object) -> Problem | None:
        if type(value) is str and value in codes:
            return None
        problem = inner(value)
        if problem is not None:
            return problem
        return Problem(
            "code-invalid", f"{value!r} is not one of the allowed codes: {allowed}", True
        )

    return check


_URI_TYPES = frozenset({"uri", "url", "canonical", "oid"})
_STRING_TYPES = frozenset({"string", "code", "id", "markdown", "xhtml"}) | _URI_TYPES
_DATE_TYPES: dict[str, type[library_types.Date] | type[library_types.Time]] = {
    "date": library_types.Date,
    "dateTime": library_types.DateTime,
    "instant": library_types.Instant,
    "time": library_types.Time,
}


def primitive_check(
    fhir_type: str,
    metadata: tuple[object, ...],
    *,
    codes: frozenset[str] | None = None,
    max_id_length: int | None = None,
) -> PrimitiveCheck:
    """The check for a value of the FHIR primitive `fhir_type` (as `fhir.resources` names it).

    `metadata` is what the library annotates the field's Python type with; `codes` the complete
    list of allowed codes where the model has one; `max_id_length` our limit for ``id`` values.
    Raises TypeError for a type or a constraint this module does not know.
    """
    try:
        hash(metadata)
    except TypeError:
        return _new_check(fhir_type, metadata, codes, max_id_length)
    # Most fields share a few annotated types (`CodeType`, `StringType` ...): build each once.
    return _shared_check(fhir_type, metadata, codes, max_id_length)


def _new_check(
    fhir_type: str,
    metadata: tuple[object, ...],
    codes: frozenset[str] | None,
    max_id_length: int | None,
) -> PrimitiveCheck:
    check: PrimitiveCheck
    if fhir_type == "boolean":
        check = _boolean_check
    elif fhir_type in ("integer", "positiveInt", "unsignedInt", "integer64"):
        check = _integer_check(fhir_type, *_integer_bounds(metadata))
    elif fhir_type == "decimal":
        decimal_type = _one_of(metadata, library_types.Decimal)
        check = _decimal_check(decimal_type.pattern)
    elif fhir_type in _DATE_TYPES:
        date_type = _one_of(metadata, _DATE_TYPES[fhir_type])
        check = _date_check(fhir_type, date_type.pattern)
    elif fhir_type == "uuid":
        versions = [item.uuid_version for item in metadata if isinstance(item, UuidVersion)]
        check = _uuid_check(versions[0] if versions else None)
    elif fhir_type == "base64Binary":
        check = _base64_check
    elif fhir_type in _STRING_TYPES:
        check = _string_check(
            fhir_type,
            _string_rules(metadata),
            max_id_length if fhir_type == "id" else None,
        )
    else:
        raise TypeError(f"unknown FHIR primitive type {fhir_type!r}")
    return check if codes is None else _codes_check(codes, check)


_shared_check = cache(_new_check)
