"""The direct JSON walk (`NavigationPath`) gives exactly what fhirpathpy gives.

fhirpathpy is the reference. Every union part of every kept search parameter of every
supported type that the registry walks directly is compared with fhirpathpy evaluating the same
part: on every example resource, on variants written to reach the corners (choice elements,
primitive extensions, nulls, empty lists, objects carrying ``resourceType``), and on resources
Hypothesis builds from the property names the expressions read.

"Exactly" means the same list: same length, same order, the same FHIR type name for each item,
and each value the very same object from the resource (``is``, not ``==``, so ``1`` cannot pass
for ``True`` nor a copy for the original). Order is compared, not just the multiset, because the
walk visits values in the order fhirpathpy's member reduction does (each input's property
values, then its ``_`` extension data), so there is no reason to accept less; the indexer keeps
the first of equal rows, so order is also what the index depends on.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy import parser
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as fhirpath_models
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from careweave.examples import all_examples, example
from careweave.fhir import search_parameters
from careweave.fhir.index_values import extract_index_values
from careweave.fhir.search_parameters import (
    SUPPORTED_RESOURCE_TYPES,
    EvaluationPart,
    NavigationPath,
    SearchParameter,
    Typed,
    default_registry,
    navigation_path,
    root_inputs,
)

_parse: Callable[[str], dict[str, Any]] = parser.parse
"""fhirpathpy's own parser (untyped in the library)."""
EXTENSION = {"extension": [{"url": "https://example.org/ext", "valueString": "x"}]}
LEFT_TO_FHIRPATHPY = {"Patient.deceased.exists() and Patient.deceased != false"}
"""The only kept part that is more than navigation (``exists()``, ``and``, ``!=``)."""


def _parameters(resource_type: str) -> list[SearchParameter]:
    return list(default_registry().for_type(resource_type).values())


def _parts(resource_type: str) -> list[EvaluationPart]:
    return [part for parameter in _parameters(resource_type) for part in parameter.parts]


def _navigations(resource_type: str) -> list[tuple[str, NavigationPath]]:
    return [
        (part.expression, part.navigation)
        for part in _parts(resource_type)
        if part.navigation is not None
    ]


@functools.cache
def _fhirpathpy(expression: str) -> Callable[..., list[Any]]:
    """fhirpathpy's own compiled form of `expression`, as the reference evaluator."""
    return fhirpathpy.compile(
        expression, model=fhirpath_models["r4"], options={"returnRawData": True}
    )


def _reference(expression: str, resource: Mapping[str, Any]) -> list[Typed]:
    """fhirpathpy's result as (type, value): the node's type path when it names a type."""
    typed: list[Typed] = []
    for node in _fhirpathpy(expression)(resource):
        if isinstance(node, ResourceNode):
            path = node.path
            kind = path if isinstance(path, str) and "." not in path else None
            value = node.data
        else:
            kind = {bool: "boolean", str: "string"}.get(type(node))
            value = node
        if value is not None:
            typed.append((kind, value))
    return typed


def _differences(fast: list[Typed], reference: list[Typed]) -> list[str]:
    """Every way `fast` differs from `reference`; empty when they are exactly the same."""
    if len(fast) != len(reference):
        return [f"{len(fast)} results, fhirpathpy gives {len(reference)}: {fast!r} {reference!r}"]
    found: list[str] = []
    for index, ((kind, value), (expected_kind, expected)) in enumerate(
        zip(fast, reference, strict=True)
    ):
        if kind != expected_kind:
            found.append(f"item {index}: type {kind!r}, fhirpathpy says {expected_kind!r}")
        if value is not expected:
            found.append(f"item {index}: {value!r} is not fhirpathpy's {expected!r}")
    return found


def _assert_navigation_agrees(resource: Mapping[str, Any]) -> int:
    """Check every part of `resource`'s type against fhirpathpy; return how many were walked."""
    walked = 0
    for expression, navigation in _navigations(resource["resourceType"]):
        fast = navigation.evaluate(resource)
        if fast is None:
            continue  # handed to fhirpathpy; `_assert_parts_agree` checks that route too
        walked += 1
        problems = _differences(fast, _reference(expression, resource))
        assert not problems, (expression, problems)
    return walked


def _assert_parts_agree(resource: Mapping[str, Any]) -> None:
    """Parameters and index rows are the same with and without the walk."""
    for parameter in _parameters(resource["resourceType"]):
        for part in parameter.parts:
            assert not _differences(
                part.evaluate(resource), _reference(part.expression, resource)
            ), part.expression
        assert parameter.evaluate_typed(resource) == parameter.evaluate_typed(
            resource, fast=False
        ), parameter.code
    registry = default_registry()
    assert extract_index_values(resource, registry) == extract_index_values(
        resource, registry, fast=False
    )


# --- what is walked and what is left to fhirpathpy --------------------------------------------


def test_every_part_but_one_is_walked_directly() -> None:
    walked = left = 0
    left_expressions: set[str] = set()
    for resource_type in SUPPORTED_RESOURCE_TYPES:
        for part in _parts(resource_type):
            if part.navigation is None:
                left += 1
                left_expressions.add(part.expression)
            else:
                walked += 1
    assert left_expressions == LEFT_TO_FHIRPATHPY
    assert (walked, left) == (592, 1)


def _reading(node: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The steps of a parsed FHIRPath expression, or an AssertionError if it is not navigation."""
    kind = node["type"]
    children = node.get("children") or []
    if kind in ("TermExpression", "ParenthesizedTerm"):
        return _reading(children[0])
    if kind == "InvocationTerm":
        member = children[0]
        assert member["type"] == "MemberInvocation"
        return [("head", member["children"][0]["text"])]
    assert kind == "InvocationExpression", kind
    left, right = children
    steps = _reading(left)
    if right["type"] == "MemberInvocation":
        return [*steps, ("member", right["children"][0]["text"])]
    assert right["type"] == "FunctionInvocation"
    name, params = right["children"][0]["children"]
    argument = params["children"][0]
    if name["text"] == "ofType":
        return [*steps, ("ofType", argument["text"])]
    assert name["text"] == "where"
    assert argument["type"] == "EqualityExpression"
    assert argument["terminalNodeText"] == ["="]
    member, literal = argument["children"]
    assert _reading(member) == [("head", member["text"])]
    string = literal["children"][0]["children"][0]
    assert string["type"] == "StringLiteral"
    return [*steps, ("where", member["text"], string["text"][1:-1])]


@pytest.mark.parametrize("resource_type", SUPPORTED_RESOURCE_TYPES)
def test_the_walk_reads_each_expression_as_fhirpathpy_parses_it(resource_type: str) -> None:
    for expression, navigation in _navigations(resource_type):
        reading = _reading(_parse(expression)["children"][0])
        assert reading == [("head", resource_type), *navigation.steps], expression


@pytest.mark.parametrize(
    "part",
    [
        "Patient.deceased.exists()",
        "Patient.name.first()",
        "Patient.name.given | Patient.name.family",
        "Patient.telecom.where(system != 'phone')",
        "Patient.telecom.where(system = 'it\\'s')",
        "Patient.telecom.where(value.exists())",
        "Patient.extension",
        "Patient.name.extension",
        "Observation.component.where(valueQuantity = 1 'mm[Hg]')",
        "Observation.component.where(value = 'x')",  # a choice member inside where
        "(Patient.name",
        "Patient.name)",
        "Observation.subject.where(resolve() is Patient)",
        "Encounter.participant.where(type.length = 'x')",
    ],
)
def test_anything_more_than_navigation_is_left_to_fhirpathpy(part: str) -> None:
    resource_type = part.lstrip("(").split(".", 1)[0]
    assert navigation_path(part, resource_type) is None


def test_a_part_for_another_type_is_not_walked() -> None:
    assert navigation_path("Patient.name", "Observation") is None


# --- examples and variants --------------------------------------------------------------------


def _variants() -> list[dict[str, Any]]:
    """Resources written to reach the corners of fhirpathpy's navigation rules."""
    observation = example("Observation")
    # Two variants of one choice: fhirpathpy takes only the first in the model's order.
    observation["valueString"] = "also here"
    observation["effectivePeriod"] = {"start": "2024-01-01"}
    observation["component"] = [
        {"code": {"text": "a"}, "valueQuantity": {"value": 1}},
        {"code": {"text": "b"}, "valueCodeableConcept": {"text": "B"}},
        {"code": {"text": "c"}, "_valueString": EXTENSION},  # extension only: no value
        None,
        {"code": EXTENSION},  # an object holding only an extension is dropped
    ]
    observation["category"] = []
    observation["_status"] = {"id": "s1", **EXTENSION}

    patient = example("Patient")
    patient["name"] = [
        {"family": "Thompson", "given": ["Ann", None, "Mae"], "_given": [None, EXTENSION, None]},
        {"_family": EXTENSION, "given": ["Bea"]},
        {"given": [None], "_given": [{"id": "g1", **EXTENSION}]},
    ]
    patient["_birthDate"] = EXTENSION
    del patient["birthDate"]
    patient["telecom"] = [
        {"system": "phone", "value": "0113 496 0000"},
        {"system": "phone", "_system": EXTENSION, "value": "0113 496 0001"},
        {"system": ["phone"], "value": "0113 496 0002"},
        {"system": "email", "value": "a@example.org"},
        {"_system": EXTENSION, "value": "x"},
        {"system": None, "value": "y"},
        "not an object",
    ]
    patient["address"] = [{"line": ["1 Road"], "city": ["Leeds", "Bradford"]}, [], None]

    condition = example("Condition")
    condition["onsetAge"] = {"value": 67, "unit": "years"}  # beside onsetDateTime: not taken
    condition["_abatementDateTime"] = EXTENSION  # chosen over abatementString, but no value
    condition["abatementString"] = "in remission"

    contained = example("Observation")
    contained["subject"] = {"resourceType": "Patient", "id": "odd"}  # fhirpathpy's own rules

    questionnaire = example("Questionnaire")
    questionnaire["item"] = [
        {"linkId": "1", "code": [{"code": "a"}], "item": [{"linkId": "1.1"}]},
        {"linkId": "2", "definition": "https://example.org/d", "_definition": EXTENSION},
    ]
    questionnaire["useContext"] = [
        {"code": {"code": "age"}, "valueRange": {"low": {"value": 65}}},
        {"code": {"code": "focus"}, "valueQuantity": {"value": 1}},
        {"code": {"code": "program"}, "valueCodeableConcept": {"text": "x"}},
    ]
    return [observation, patient, condition, contained, questionnaire]


@pytest.mark.parametrize("resource", all_examples(), ids=lambda r: r["resourceType"])
def test_the_walk_agrees_with_fhirpathpy_on_every_example(resource: dict[str, Any]) -> None:
    walked = _assert_navigation_agrees(resource)
    assert walked == len(_navigations(resource["resourceType"]))  # none handed back
    _assert_parts_agree(resource)


@pytest.mark.parametrize("resource", _variants(), ids=lambda r: r["resourceType"])
def test_the_walk_agrees_with_fhirpathpy_on_variants(resource: dict[str, Any]) -> None:
    _assert_navigation_agrees(resource)
    _assert_parts_agree(resource)


def test_a_primitive_extension_without_a_value_changes_no_index_row() -> None:
    """fhirpathpy yields ``_given`` data beside the values; a bare extension is dropped and
    an extension with an id is a value the string rules skip, so the rows are those of the
    same resource without extensions."""
    plain = example("Patient")
    plain["name"] = [{"family": "Thompson", "given": ["Ann", "Mae"]}]
    del plain["birthDate"]
    extended = copy.deepcopy(plain)
    extended["name"][0]["given"] = ["Ann", None, "Mae"]
    extended["name"][0]["_given"] = [None, EXTENSION, None]
    extended["_birthDate"] = {"id": "b1", **EXTENSION}
    registry = default_registry()
    given = registry.get("Patient", "given")
    birthdate = registry.get("Patient", "birthdate")
    assert given is not None
    assert birthdate is not None
    names = [("string", "Ann"), ("string", "Mae")]
    assert given.evaluate_typed(extended) == given.evaluate_typed(extended, fast=False) == names
    dated = [("date", {"id": "b1", **EXTENSION})]
    assert birthdate.evaluate_typed(extended) == dated
    assert birthdate.evaluate_typed(extended, fast=False) == dated
    assert extract_index_values(extended, registry) == extract_index_values(plain, registry)
    _assert_parts_agree(extended)


def test_where_counts_an_extension_as_a_second_item_as_fhirpathpy_does() -> None:
    patient = example("Patient")
    patient["telecom"] = [{"system": "phone", "_system": EXTENSION, "value": "0113 496 0000"}]
    phone = default_registry().get("Patient", "phone")
    assert phone is not None
    assert phone.evaluate_typed(patient) == phone.evaluate_typed(patient, fast=False) == []


def test_an_object_naming_its_resource_type_is_left_to_fhirpathpy() -> None:
    observation = example("Observation")
    observation["subject"] = {"resourceType": "Patient", "id": "odd"}
    subject = default_registry().get("Observation", "subject")
    assert subject is not None
    (part,) = subject.parts
    assert part.navigation is not None
    assert part.navigation.evaluate(observation) is None
    assert part.evaluate(observation) == [("Patient", observation["subject"])]


def test_a_resource_of_another_type_is_left_to_fhirpathpy() -> None:
    navigation = navigation_path("Patient.name", "Patient")
    assert navigation is not None
    assert navigation.evaluate({"resourceType": "Observation", "name": []}) is None


# --- the comparison itself can fail -----------------------------------------------------------


def _perturbations(fast: list[Typed]) -> list[list[Typed]]:
    """Results that differ from `fast` in one way each (`fast` has two or more items)."""
    (first_kind, first_value), *rest = fast
    return [
        fast[1:],  # a value missing
        [*fast, fast[0]],  # a value twice
        list(reversed(fast)),  # another order
        [("Age" if first_kind != "Age" else "Quantity", first_value), *rest],  # another type
        [(first_kind, _equal_copy(first_value)), *rest],  # an equal copy, not the value
    ]


def _equal_copy(value: Any) -> Any:
    """A value equal to `value` that is another object (deepcopy keeps strings as they are)."""
    duplicate = "".join(list(value)) if isinstance(value, str) else copy.deepcopy(value)
    assert duplicate == value
    assert duplicate is not value
    return duplicate


@pytest.mark.parametrize(("resource_type", "code"), [("Observation", "category"),
                                                      ("Patient", "given")])  # fmt: skip
def test_the_comparison_catches_any_difference(resource_type: str, code: str) -> None:
    resource = example(resource_type)
    if resource_type == "Observation":
        resource["category"].append({"text": "second"})
    else:
        resource["name"][0]["given"].append("Second")
    parameter = default_registry().get(resource_type, code)
    assert parameter is not None
    (part,) = parameter.parts
    assert part.navigation is not None
    fast = part.navigation.evaluate(resource)
    assert fast is not None
    assert len(fast) >= 2
    reference = _reference(part.expression, resource)
    assert _differences(fast, reference) == []
    for perturbed in _perturbations(fast):
        assert _differences(perturbed, reference), perturbed


def test_the_comparison_tells_true_from_one() -> None:
    patient = example("Patient")
    navigation = navigation_path("Patient.active", "Patient")
    assert navigation is not None
    fast = navigation.evaluate(patient)
    assert fast == [("boolean", True)]
    assert _differences(fast, _reference("Patient.active", patient)) == []
    assert _differences([("boolean", 1)], _reference("Patient.active", patient))


def test_a_walk_of_the_wrong_path_is_caught() -> None:
    patient = example("Patient")
    wrong = navigation_path("Patient.name.family", "Patient")
    assert wrong is not None
    fast = wrong.evaluate(patient)
    assert fast is not None
    assert _differences(fast, _reference("Patient.name.given", patient))
    with pytest.raises(AssertionError):
        assert not _differences(fast, _reference("Patient.name.given", patient))


# --- generated resources ----------------------------------------------------------------------

Shape = dict[str, "Shape"]


def _shape(resource_type: str) -> tuple[Shape, list[str]]:
    """The property names the walked parts read, as a tree, and the where literals."""
    root: Shape = {}
    literals: list[str] = []
    for _, navigation in _navigations(resource_type):
        level = [root]
        for step, names in zip(navigation.steps, navigation.properties, strict=True):
            if step[0] == "ofType":
                continue
            children = [node.setdefault(name, {}) for node in level for name in sorted(names)]
            if step[0] == "where":
                literals.append(step[2])
                continue  # the member is a leaf beside the next steps
            level = children
    return root, literals


def _values(shape: Shape, literals: list[str], depth: int) -> st.SearchStrategy[Any]:
    primitives: st.SearchStrategy[Any] = st.one_of(
        st.none(),
        st.sampled_from([*literals, "x", "", "2024-01-01", "Patient/pat-1"]),
        st.integers(min_value=-1, max_value=2),
        st.booleans(),
        st.just([]),
        st.just(copy.deepcopy(EXTENSION)),
        st.just({"id": "e1", **copy.deepcopy(EXTENSION)}),
        st.just({"resourceType": "Patient", "id": "nested"}),  # fhirpathpy's own rules
    )
    if shape and depth < 6:
        objects: st.SearchStrategy[Any] = st.fixed_dictionaries(
            {},
            optional={name: _values(child, literals, depth + 1) for name, child in shape.items()},
        )
    else:
        objects = st.fixed_dictionaries({}, optional={"id": st.just("i1")})
    single = st.one_of(primitives, objects, objects)
    return st.one_of(single, st.lists(st.one_of(single, st.lists(single, max_size=2)), max_size=3))


@functools.cache
def _resources(resource_type: str) -> st.SearchStrategy[dict[str, Any]]:
    shape, literals = _shape(resource_type)
    return st.fixed_dictionaries(
        {"resourceType": st.just(resource_type)},
        optional={name: _values(child, literals, 1) for name, child in shape.items()},
    )


@pytest.mark.parametrize("resource_type", SUPPORTED_RESOURCE_TYPES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_walk_agrees_with_fhirpathpy_on_generated_resources(
    resource_type: str, data: st.DataObject
) -> None:
    resource = data.draw(_resources(resource_type))
    _assert_navigation_agrees(resource)
    _assert_parts_agree(resource)


def test_generated_resources_reach_every_property_the_parts_read() -> None:
    """The generator is built from the same names the walk reads, so it covers all of them."""
    for resource_type in SUPPORTED_RESOURCE_TYPES:
        shape, _ = _shape(resource_type)
        roots: set[str] = set()
        for parameter in _parameters(resource_type):
            if parameter.root_properties is not None:
                roots |= parameter.root_properties
        assert roots <= set(shape), resource_type


# --- a part fhirpathpy evaluates, with its inputs absent --------------------------------------


def test_the_deceased_part_reads_only_the_deceased_properties() -> None:
    assert root_inputs(
        "Patient.deceased.exists() and Patient.deceased != false", "Patient"
    ) == frozenset({"deceasedBoolean", "deceasedDateTime", "_deceasedBoolean", "_deceasedDateTime"})


@pytest.mark.parametrize(
    "expression",
    [
        "name.exists()",  # a bare member reads the root too
        "Patient.exists()",  # the whole resource
        "Patient.name.where(given = 'x').exists()",
        "Patient.name.exists(given)",
        "Patient.name.children().exists()",
        "Patient.name.exists() and %resource.id.exists()",
        "$this.name.exists()",
        "(Patient.name).exists()",
        "Patient.birthDate > @2000-01-01",
        "Patient.name.given.select($this).exists()",
    ],
)
def test_inputs_are_unknown_unless_the_parse_shows_them_all(expression: str) -> None:
    assert root_inputs(expression, "Patient") is None


@pytest.mark.parametrize(
    ("deceased", "expected"),
    [
        ({}, [("boolean", False)]),
        ({"deceasedBoolean": True}, [("boolean", True)]),
        ({"deceasedBoolean": False}, [("boolean", False)]),
        ({"deceasedDateTime": "2024-06-01"}, [("boolean", True)]),
        ({"_deceasedBoolean": EXTENSION}, [("boolean", True)]),  # fhirpathpy counts the extension
        ({"deceasedBoolean": None}, [("boolean", False)]),
    ],
)
def test_a_part_without_its_inputs_gets_fhirpathpys_answer(
    deceased: dict[str, Any], expected: list[Typed]
) -> None:
    patient = example("Patient")
    del patient["deceasedBoolean"]
    patient.update(deceased)
    parameter = default_registry().get("Patient", "deceased")
    assert parameter is not None
    (part,) = parameter.parts
    assert part.navigation is None
    assert part.evaluate(patient) == _reference(part.expression, patient) == expected
    assert part.evaluate(patient, fast=False) == expected
    if not deceased:
        assert "_answer_without_inputs" in vars(part)  # the shortcut was taken


def test_generated_resources_catch_a_walk_that_ignores_extension_data() -> None:
    """A plausible bug, reading ``given`` but not ``_given``, is found by the generator alone."""
    navigation = navigation_path("Patient.name.given", "Patient")
    assert navigation is not None
    naive_plan = tuple(
        search_parameters._Member(
            MappingProxyType(
                {
                    path: tuple((key, "_ignored", child) for key, _, child in routes)
                    for path, routes in step.routes.items()
                }
            ),
            "given",
        )
        for step in navigation._plan
        if isinstance(step, search_parameters._Member)
    )
    naive = dataclasses.replace(navigation, _plan=naive_plan)

    def caught(resource: dict[str, Any]) -> bool:
        fast = naive.evaluate(resource)
        return fast is not None and bool(
            _differences(fast, _reference("Patient.name.given", resource))
        )

    found = find(_resources("Patient"), caught, settings=settings(max_examples=2000, database=None))
    walked = navigation.evaluate(found)
    assert walked is not None
    assert not _differences(walked, _reference("Patient.name.given", found))
