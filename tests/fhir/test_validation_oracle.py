"""`validate_resource` against the library it no longer runs: fhir.resources' ``model_validate``.

`library_issues` is the oracle: pydantic validating the R4B model, as validation did before it
was replaced by one pass over the JSON. For every example resource and for resources Hypothesis
derives from them by mutation, two things must hold:

* where the library rejects, we reject (the other way round would let bad data in);
* where the library accepts, every issue we report comes from a rule that is ours alone (the
  finding says ``beyond_library``), such as no empty strings, no ``"active": "yes"``, the code
  lists and the NHS number. So a check that copies a library rule wrongly, say one that rejects
  a real day, fails here rather than turning away good data.

Where both reject, the paths are compared too: each problem the library reports is at, inside
or around a path we report.

The mutations are those a client gets wrong: an element dropped (often a required one), a value
replaced by one of another JSON type or by a near miss of its FHIR type ("2023-02-29", a code
with two spaces, an id with a space), an array where one value belongs and the reverse, unknown
keys, nulls in arrays, elements added with values of their type (a second choice value, a
``value[x]`` of every type in an extension), ``_element`` primitive extensions, and the
examples placed as contained resources, mutations inside them included. The examples have no
extensions or contained resources of their own, so those are added here. A last test plants a
plausible bug and checks that the mutations find it.

Two deterministic tables back the mutations up: every candidate value (valid values of every
primitive type with their corners, near misses, values of other JSON types) is tried as a value
of every primitive type, through ``Extension.value[x]``; and the library's string patterns are
compared with pydantic character by character, since pydantic matches them with the Rust regex
crate and we with Python's `re`.
"""

from __future__ import annotations

import copy
import functools
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir_core import types as library_types
from fhir_core.constraints import FHIR_PRIMITIVES_MAPS
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from careweave.examples import all_examples
from careweave.fhir import validation
from careweave.fhir.errors import Issue
from careweave.fhir.primitives import primitive_check, rust_pattern
from careweave.fhir.validation import (
    SUPPORTED_RESOURCE_TYPES,
    Finding,
    _Element,
    _elements,
    _model_class,
    findings,
    library_issues,
)

EXAMPLES = all_examples()
EXTENSION_URL = "https://fhir.careweave.example/StructureDefinition/note"

VALID: dict[str, list[Any]] = {
    "boolean": [True, False],
    "integer": [0, -5, 7, 2147483647, -2147483648],
    "integer64": [0, 9007199254740993],
    "positiveInt": [1, 12, 2147483647],
    "unsignedInt": [0, 3, 2147483647],
    "decimal": [0, 1.5, -0.25, 72, 1e-7, 1e21],
    "string": ["Margaret", "  padded  ", "line\nbreak", "e\u0301", "\u00a0x", " "],
    "markdown": ["*Take* with food", " "],
    "code": ["final", "a b", "x-y.z"],
    "id": ["a", "pat-1", "A.b-9", "x" * 64],
    "uri": ["http://snomed.info/sct", "urn:oid:1.2.3", "#gp", "Patient/pat-1"],
    "url": ["https://example.org/fhir", "mailto:gp@example.org"],
    "canonical": ["https://fhir.careweave.example/Questionnaire/prisma-7|1.0"],
    "oid": ["urn:oid:2.16.840.1.113883"],
    "uuid": ["urn:uuid:c757873d-ec9a-4326-a141-556f43239520"],
    "base64Binary": ["aGVsbG8=", "aGVs bG8=", "AAAA"],
    "xhtml": ['<div xmlns="http://www.w3.org/1999/xhtml">Ann</div>'],
    "date": ["2024", "2024-02", "2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31"],
    "dateTime": [
        "2024",
        "1940-02",
        "2024-02-29",
        "2024-03-05T10:00:00Z",
        "2024-03-05T10:00:00.123456789+01:00",
        "2016-12-31T23:59:60Z",
        "9999-12-31T23:59:59-13:59",
        "0001-01-01T00:00:00+14:00",
    ],
    "instant": ["2024-03-05T10:00:00Z", "2024-03-05T10:00:00.1-00:00", "2016-12-31T23:59:60Z"],
    "time": ["10:00:00", "23:59:59.999", "23:59:60", "00:00:00.1234567891"],
}
"""Valid values of each FHIR primitive type, corners included (leap day, leap second...)."""

NEAR_MISSES: dict[str, list[Any]] = {
    "date": [
        "2024-13-01", "2024-02-30", "2023-02-29", "1900-02-29", "2024-04-31", "2024-00",
        "2024-1", "24-01-01", "0000", "0000-01-01", "2024-01-01T10:00", "2024-01-01T10:00:00",
        "2024-01-01T24:00:00Z", "2024-01-01T10:60:00Z", "2024-01-01T10:00:00+14:01",
        "2024-01-01T10:00:00+25:00", "2024-01-01T10:00:00.Z", "2024-01-01 10:00:00Z",
        "2023-02-29T10:00:00Z", "2024-02-30T10:00:60Z", "2024-06-31T23:59:60+01:00",
        "2024-01-01Z", "10:00", "24:00:00", "10:00:00Z", "1:00:00", "10:00:00\n",
    ],
    "text": [
        " final", "final ", "a  b", "a\tb", "a\nb\n", "abc\n", "a b", "x" * 65, "x" * 256,
        "bad id!", "urn:oid:1.02", "urn:oid:3.1", "http://example.org/a b", "5", "5.0", "-0",
        "1e3", "true", "yes", "", " ", "\n", "\u00a0", "\x0b", "\x1c", "\x1c\x1c",
        "a\x1c\x1cb", "\u2028", "\ud800", "x\udc00y", "\u3000",
    ],
    "uuid": [
        "urn:uuid:C757873D-EC9A-4326-A141-556F43239520",
        "urn:uuid:c757873d-ec9a-1326-a141-556f43239520",
        "c757873d-ec9a-4326-a141-556f43239520",
        "urn:uuid:c757873d-ec9a-4326-a141-556f4323952",
    ],
    "base64Binary": ["aGVsbG8", "a!bc", "a", "====", "aGVsbG8=\n", "\u00e9AAA"],
    "number": [0, -1, 2**31, -(2**31) - 1, 2**63, 1.0, 0.5, -0.0, True, 1e300, "1"],
}  # fmt: skip
"""Values a client might send for a primitive, most of them wrong for some FHIR type, by the
types they are nearly right for."""

NEAR_MISS_GROUP = {
    "date": "date",
    "dateTime": "date",
    "instant": "date",
    "time": "date",
    "uuid": "uuid",
    "base64Binary": "base64Binary",
    "boolean": "number",
    "integer": "number",
    "integer64": "number",
    "positiveInt": "number",
    "unsignedInt": "number",
    "decimal": "number",
}
"""Which near misses are near for a FHIR type (the "text" ones for all other types)."""

ALL_NEAR_MISSES = [value for values in NEAR_MISSES.values() for value in values]

OTHER_JSON: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.5,
    1.0,
    2**31,
    1e300,
    "x",
    "",
    [],
    [None],
    {},
]
"""Values of every JSON type, to put where a value of another type belongs."""

UNKNOWN_KEYS = ["foo", "_foo", "fhir_comments", "resourceType", "resource_type", "Status"]

PRIMITIVE_EXTENSIONS: list[Any] = [
    {"extension": [{"url": EXTENSION_URL, "valueString": "note"}]},
    {"id": "e1"},
    {"extension": []},
    {},
    "x",
    [],
    None,
    {"extension": [{"url": EXTENSION_URL}]},
    {"foo": 1},
]
"""What a client might put in an ``_element`` primitive extension, right and wrong."""


# --- finding the elements of a resource, with the model metadata ----------------------------


Slot = tuple[dict[str, Any], str, _Element]
"""A key present in some object of a resource, and the element of the model it names."""


def _walk(data: dict[str, Any], model: type[pydantic.BaseModel]) -> Iterator[Slot]:
    elements = _elements(model)
    for key, value in list(data.items()):
        element = elements.get(key)
        if element is None:
            continue
        yield data, key, element
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, dict):
                continue
            if element.kind == "resource":
                contained_model = _model_class(str(item.get("resourceType")))
                if contained_model is not None:
                    yield from _walk(item, contained_model)
            elif element.model is not None:
                yield from _walk(item, element.model)


def slots(resource: dict[str, Any]) -> list[Slot]:
    model = _model_class(resource["resourceType"])
    assert model is not None
    return list(_walk(resource, model))


def objects(resource: dict[str, Any]) -> list[tuple[dict[str, Any], type[pydantic.BaseModel]]]:
    """Every JSON object in a resource that has a model, the resource itself first."""
    model = _model_class(resource["resourceType"])
    assert model is not None
    found = [(resource, model)]
    for parent, key, element in slots(resource):
        value = parent[key]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                if element.kind == "resource":
                    item_model = _model_class(str(item.get("resourceType")))
                else:
                    item_model = element.model
                if item_model is not None:
                    found.append((item, item_model))
    return found


@functools.cache
def harvested() -> dict[str, list[Any]]:
    """Values of each complex type found in the examples, to add where that type belongs."""
    values: dict[str, list[Any]] = {}
    for resource in all_examples():
        for parent, key, element in slots(resource):
            if element.kind == "complex" and not key.startswith("_"):
                value = parent[key]
                for item in value if isinstance(value, list) else [value]:
                    values.setdefault(element.fhir_type, []).append(item)
    return values


def value_for(draw: st.DrawFn, element: _Element) -> Any:
    """A value for an element: valid for its type, valid for another type, or a near miss."""
    if element.kind == "primitive-extension":
        return copy.deepcopy(draw(st.sampled_from(PRIMITIVE_EXTENSIONS)))
    if element.kind == "resource":
        return copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    if element.model is not None:
        known = harvested().get(element.fhir_type)
        if known:
            return copy.deepcopy(draw(st.sampled_from(known)))
        return {"id": "e1"} if "id" in _elements(element.model) else {}
    if element.codes and draw(st.booleans()):
        return draw(st.sampled_from(sorted(element.codes)))
    source = draw(st.sampled_from(["valid", "other type", "near miss"]))
    if source == "near miss":
        own = NEAR_MISSES[NEAR_MISS_GROUP.get(element.fhir_type, "text")]
        return draw(st.sampled_from(own if draw(st.integers(0, 3)) else ALL_NEAR_MISSES))
    fhir_type = element.fhir_type if source == "valid" else draw(st.sampled_from(sorted(VALID)))
    return draw(st.sampled_from(VALID[fhir_type]))


# --- the mutations ---------------------------------------------------------------------------

Mutation = Callable[[st.DrawFn, dict[str, Any]], None]


def drop(draw: st.DrawFn, resource: dict[str, Any]) -> None:
    found = slots(resource)
    if found:
        parent, key, _ = draw(st.sampled_from(found))
        del parent[key]


def retype(draw: st.DrawFn, resource: dict[str, Any]) -> None:
    found = slots(resource)
    if found:
        parent, key, _ = draw(st.sampled_from(found))
        parent[key] = copy.deepcopy(draw(st.sampled_from(OTHER_JSON + ALL_NEAR_MISSES)))


def near_miss(draw: st.DrawFn, resource: dict[str, Any]) -> None:
    """A primitive replaced by another value of its type, often a near miss.

    The type is drawn first, so that the few dates of a resource are as likely to be chosen
    as its many strings and codes.
    """
    by_type: dict[str, list[Slot]] = {}
    for slot in slots(resource):
        if slot[2].check is not None:
            by_type.setdefault(slot[2].fhir_type, []).append(slot)
    if by_type:
        fhir_type = draw(st.sampled_from(sorted(by_type)))
        parent, key, element = draw(st.sampled_from(by_type[fhir_type]))
        value = value_for(draw, element)
        if element.is_list and isinstance(parent[key], list) and parent[key]:
            parent[key][draw(st.integers(0, len(parent[key]) - 1))] = value
        else:
            parent[key] = [value] if element.is_list else value


def swap_cardinality(draw: st.DrawFn, resource: dict[str, Any]) -> None:
    found = slots(resource)
    if found:
        parent, key, _ = draw(st.sampled_from(found))
        value = parent[key]
        parent[key] = value[0] if isinstance(value, list) and value else [value]


def unknown_key(draw: st.DrawFn, resource: dict[str, Any]) -> None:
    parent, model = draw(st.sampled_from(objects(resource)))
    python_names = [name for name, field in model.model_fields.items() if field.alias != name]
    key = draw(st.sampled_from(UNKNOWN_KEYS + python_names[:3]))
    if parent is resource and key == "resourceType":
        return  # the resource's own type is validate_resource's business, not the walk's
    parent[key] = draw(
        st.sampled_from(["x", model.__name__, getattr(model, "__resource_type__", "x"), {}])
    )


def null_in_array(draw: st.DrawFn, resource: dict[str, Any]) -> None:
    found = [slot for slot in slots(resource) if isinstance(slot[0][slot[1]], list)]
    if found:
        parent, key, _ = draw(st.sampled_from(found))
        parent[key].insert(draw(st.integers(0, len(parent[key]))), None)


def add_element(draw: st.DrawFn, resource: dict[str, Any]) -> None:
    """An element the object does not have yet: a second choice value, an optional one..."""
    parent, model = draw(st.sampled_from(objects(resource)))
    absent = [(key, element) for key, element in _elements(model).items() if key not in parent]
    if absent:
        key, element = draw(st.sampled_from(absent))
        value = value_for(draw, element)
        parent[key] = [value] if element.is_list and draw(st.integers(0, 4)) else value


def primitive_extension(draw: st.DrawFn, resource: dict[str, Any]) -> None:
    """An ``_element`` beside a primitive, or instead of it; a required one half the time."""
    found = [slot for slot in slots(resource) if slot[2].check is not None]
    required = [slot for slot in found if slot[2].required]
    use_required = draw(st.booleans())
    if required and use_required:
        found = required
    if not found:
        return
    parent, key, element = draw(st.sampled_from(found))
    # Half the time one of the first two, which are objects of the right shape.
    well_formed = draw(st.booleans())
    extension = copy.deepcopy(
        draw(st.sampled_from(PRIMITIVE_EXTENSIONS[:2] if well_formed else PRIMITIVE_EXTENSIONS))
    )
    if element.is_list and isinstance(parent[key], list) and draw(st.booleans()):
        extension = [extension if draw(st.booleans()) else None for _ in parent[key]]
        if draw(st.integers(0, 4)) == 0:
            extension.append(None)
    parent["_" + key] = extension
    if draw(st.booleans()):
        del parent[key]  # the extension alone, as data-absent-reason is used


def extension(draw: st.DrawFn, resource: dict[str, Any]) -> None:
    """An extension with a value of any type, nested extensions, both or neither."""
    candidates = [
        (parent, model) for parent, model in objects(resource) if "extension" in _elements(model)
    ]
    parent, _ = draw(st.sampled_from(candidates))
    extension_model = get_fhir_model_class("Extension")
    extension: dict[str, Any] = {"url": draw(st.sampled_from([EXTENSION_URL, "a b", ""]))}
    choices = [key for key, element in _elements(extension_model).items() if element.choice]
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(choices))
        extension[key] = value_for(draw, _elements(extension_model)[key])
    if draw(st.integers(0, 3)) == 0:
        extension["extension"] = [{"url": EXTENSION_URL, "valueBoolean": True}]
    existing = parent.get("extension")
    parent["extension"] = [*existing, extension] if isinstance(existing, list) else [extension]


def contain(draw: st.DrawFn, resource: dict[str, Any]) -> None:
    """Another example as a contained resource, perhaps itself mutated."""
    inner = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    if draw(st.booleans()):
        draw(st.sampled_from(SIMPLE_MUTATIONS))(draw, inner)
    if draw(st.integers(0, 5)) == 0:
        inner["resourceType"] = draw(st.sampled_from(["Foo", "Resource", "HumanName", 5]))
    existing = resource.get("contained")
    resource["contained"] = [*existing, inner] if isinstance(existing, list) else [inner]


SIMPLE_MUTATIONS: list[Mutation] = [
    drop,
    retype,
    near_miss,
    near_miss,
    swap_cardinality,
    unknown_key,
    null_in_array,
    add_element,
    add_element,
    primitive_extension,
    extension,
]
MUTATIONS: list[Mutation] = [*SIMPLE_MUTATIONS, contain]


@st.composite
def mutated_examples(draw: st.DrawFn) -> dict[str, Any]:
    resource: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        draw(st.sampled_from(MUTATIONS))(draw, resource)
    return resource


# --- the comparison --------------------------------------------------------------------------


def _related(theirs: str, ours: str) -> bool:
    """Whether two paths point at the same element, or one lies inside the other.

    A ``_given`` extension is reported at ``given``, an unknown ``_foo`` at ``_foo``; the
    library's locations lose the underscore either way, and name ``resource_type`` for the
    ``resourceType`` key.
    """
    ours = ours.replace("._", ".").replace(".resource_type", ".resourceType")
    return any(
        longer == shorter or longer.startswith((shorter + ".", shorter + "["))
        for longer, shorter in ((theirs, ours), (ours, theirs))
    )


def disagreement(resource: dict[str, Any]) -> str | None:
    """Why our verdict on `resource` differs from the library's, or None where it agrees."""
    ours: list[Finding] = findings(resource)
    theirs: list[Issue] = library_issues(resource)
    if theirs and not ours:
        return f"the library rejects, we accept: {theirs}"
    if not theirs:
        copied = [finding.issue for finding in ours if not finding.beyond_library]
        return f"the library accepts, we reject: {copied}" if copied else None
    our_paths = [path for finding in ours for path in finding.issue.expression]
    for issue in theirs:
        if issue.code == "exception":
            continue  # the library crashed: it has no path to compare
        (path,) = issue.expression
        if not any(_related(path, mine) for mine in our_paths):
            return f"the library reports {issue} where we report nothing: {our_paths}"
    return None


def test_every_example_is_valid_both_ways() -> None:
    for resource in EXAMPLES:
        assert findings(copy.deepcopy(resource)) == []
        assert library_issues(resource) == []


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_examples())
def test_we_reject_exactly_what_the_library_rejects_and_our_own_rules(
    resource: dict[str, Any],
) -> None:
    assert disagreement(resource) is None


def test_the_mutations_catch_an_extension_without_extensions_standing_in_for_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plausible bug (the pass before this one had it) is found by the mutations alone:
    counting any ``_status`` as standing in for a required ``status``, where the library counts
    only one that carries extensions."""
    monkeypatch.setattr(validation, "_has_extensions", lambda value: value is not None)
    found = find(
        mutated_examples(),
        lambda resource: disagreement(resource) is not None,
        settings=settings(max_examples=3000, database=None),
    )
    monkeypatch.undo()
    assert disagreement(found) is None


@pytest.mark.parametrize("resource_type", SUPPORTED_RESOURCE_TYPES)
def test_every_example_type_is_mutated(resource_type: str) -> None:
    """The mutations start from one example of each supported type."""
    assert any(resource["resourceType"] == resource_type for resource in EXAMPLES)


# --- every primitive type, every candidate value ---------------------------------------------


def _extension_choices() -> dict[str, str]:
    """``Extension.value[x]`` by FHIR type: every primitive type but xhtml has one."""
    elements = _elements(get_fhir_model_class("Extension"))
    return {
        element.fhir_type: key
        for key, element in elements.items()
        if element.choice and element.check is not None
    }


CANDIDATES: list[Any] = [
    *(value for values in VALID.values() for value in values),
    *ALL_NEAR_MISSES,
    *OTHER_JSON,
    float("nan"),
    float("inf"),
    10**5000,
]
"""Every value above, each tried as a value of every primitive type."""


@pytest.mark.parametrize("fhir_type", sorted(_extension_choices()))
def test_each_primitive_type_agrees_with_the_library_on_every_candidate(fhir_type: str) -> None:
    key = _extension_choices()[fhir_type]
    for value in CANDIDATES:
        resource = {"resourceType": "Patient", "extension": [{"url": EXTENSION_URL, key: value}]}
        assert disagreement(resource) is None, value


def test_xhtml_agrees_with_the_library_on_every_candidate() -> None:
    for value in CANDIDATES:
        resource = {"resourceType": "Patient", "text": {"status": "generated", "div": value}}
        assert disagreement(resource) is None, value


def test_the_candidates_reach_every_primitive_type() -> None:
    assert sorted(_extension_choices()) == sorted(set(VALID) - {"integer64", "xhtml"})


# --- the library's patterns, read as the Rust regex crate reads them -------------------------

WHITESPACE_LIKE = [
    *range(0x00, 0x300),
    0x1680, 0x180E, *range(0x2000, 0x2010), *range(0x2028, 0x2030), 0x205F, 0x2060, 0x3000,
    0xFEFF, 0xFFFD, 0x1F600,
]  # fmt: skip
"""Code points where Python's idea of whitespace might differ from Rust's: all of Latin-1 and
the control characters, and every Unicode space, zero-width character and separator."""


@pytest.mark.parametrize(
    "annotated",
    [
        library_types.StringType,
        library_types.CodeType,
        library_types.IdType,
        library_types.UriType,
        library_types.CanonicalType,
        library_types.OidType,
        library_types.MarkdownType,
    ],
    ids=lambda annotated: str(FHIR_PRIMITIVES_MAPS[annotated]),
)
def test_string_patterns_match_what_pydantic_matches(annotated: Any) -> None:
    """Our checks of the pattern types against pydantic's own, character by character."""
    adapter: pydantic.TypeAdapter[str] = pydantic.TypeAdapter(annotated)
    fhir_type = str(FHIR_PRIMITIVES_MAPS[annotated])
    check = primitive_check(fhir_type, tuple(typing.get_args(annotated)[1:]))
    texts = [
        text
        for char in map(chr, WHITESPACE_LIKE)
        for text in (char, char + char, "a" + char, char + "a", "a" + char + "b", "a" + char * 2)
    ]
    texts += ["urn:oid:1.2", "urn:oid:1.2\n", "a b", "a  b", "ok\n", "x" * 255, "x" * 256]
    for text in texts:
        try:
            adapter.validate_python(text)
        except pydantic.ValidationError:
            library_accepts = False
        else:
            library_accepts = True
        problem = check(text)
        if library_accepts:
            assert problem is None or problem.beyond_library, (fhir_type, text, problem)
        else:
            assert problem is not None, (fhir_type, text)


LIBRARY_PRIMITIVES = [
    annotated
    for annotated in FHIR_PRIMITIVES_MAPS
    if typing.get_origin(annotated) is typing.Annotated
]
"""Every primitive type fhir_core declares (`CodeType`, `UrlType` ...): what any model uses."""


@pytest.mark.parametrize(
    "annotated", LIBRARY_PRIMITIVES, ids=lambda annotated: str(FHIR_PRIMITIVES_MAPS[annotated])
)
def test_every_primitive_type_the_library_declares_has_a_check(annotated: Any) -> None:
    """So a contained resource of any R4B type finds no metadata we cannot read."""
    check = primitive_check(
        str(FHIR_PRIMITIVES_MAPS[annotated]), tuple(typing.get_args(annotated)[1:])
    )
    assert check(None) is not None


def test_the_library_declares_every_fhir_r4_primitive() -> None:
    declared = {str(FHIR_PRIMITIVES_MAPS[annotated]) for annotated in LIBRARY_PRIMITIVES}
    assert declared | {FHIR_PRIMITIVES_MAPS[bool]} >= set(VALID)  # boolean is a plain bool


@pytest.mark.parametrize(
    "pattern",
    [r"\d+", r"\w", r"(?=a)", r"[^\S]", "a+?", "[a[b]]", "[ab", r"\bword"],
)
def test_pattern_syntax_we_do_not_translate_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"not supported|unterminated"):
        rust_pattern(pattern)
