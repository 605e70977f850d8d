"""Validation of FHIR R4 resources received as JSON, by the rules of `fhir.resources`.

The schema comes from the `fhir.resources` models (version 8.3.0) in its ``R4B`` sub-package,
the closest it ships to R4: its top-level models are R5. For every resource type in
`SUPPORTED_RESOURCE_TYPES` the R4B models have exactly the R4 (4.0.1) element names and types
(tests/fhir/test_validation.py checks this against the R4 model shipped with fhirpathpy). The
differences that remain are outside those resources: ``Extension.value[x]`` in R4B lacks
``valueMeta`` and adds ``valueCodeableReference`` and ``valueRatioRange``, and R4B has a few
resource types R4 lacks (e.g. SubscriptionStatus), which could only appear in ``contained``.

Validation is a check only: `validate_resource` returns the client's dict unchanged, because we
store the JSON we were sent rather than a re-serialisation that could drop or reorder content.

**One pass, no pydantic at run time.** The library validates by building pydantic models
(``model_validate``), which costs about nine times as much as walking the JSON, and every
write (API, Bundle entry, bulk import line) would pay it. So `_StructureCheck` walks the JSON
once, driven by the models' field metadata: element names, one value or an array, the type of
each element, required elements, choice groups (``value[x]``) and enumerated codes. Primitive
values are checked by `careweave.fhir.primitives`, which builds its checks from the library's
own type metadata (its regular expressions, integer bounds and date patterns), so the schema
still has one source. It reports every problem at once, one issue per path (the library stops
at the first failing validator of a model, so its required and choice checks only run once all
else is right), covering everything the library rejects:

* unknown elements; an array where one value belongs and one value where an array belongs; a
  JSON object where a primitive belongs and anything else where an object belongs;
* primitive values that do not match their FHIR type (the library's patterns for ``code``,
  ``id``, ``oid``, ``string`` ..., the 32-bit range of ``integer`` and the bounds of
  ``positiveInt``/``unsignedInt``, ``decimal``, dates and times that are not in the FHIR form
  or name a day that does not exist, version 4 ``uuid``, text that is not valid Unicode);
* ``_element`` primitive extensions that are not objects, or arrays of them that are not;
* missing required elements (a required primitive may be given by an ``_element`` with
  extensions alone) and choice groups with more than one value or none where one is required;
* ``null`` inside an array of complex elements; contained resources whose ``resourceType``
  is not a concrete FHIR resource type.

It also reports what the library lets through but FHIR R4 forbids (our pass is stricter by
design): primitives of the wrong JSON type that pydantic would coerce (``"active": "yes"``,
``"valueInteger": "5"``, ``"value": "5.4"``); ``null`` values, empty objects, arrays and
strings; keys the library tolerates (``fhir_comments``, ``resourceType`` inside an element,
Python field names such as ``active__ext``); codes outside a required binding whose value set
the model lists in full (``gender``); ids longer than 64 characters; base64 that is not
strictly base64; whitespace in ``uri``/``url``/``canonical``/``oid``; ``uuid`` values not
written ``urn:uuid:`` in lower case; mismatched ``given``/``_given`` arrays; extensions with
both or neither of a value and nested extensions (ext-1); nested ``contained`` (dom-2); an
extension alone standing in for a second value of a choice; and the UK Core NHS number
check digit.

Not checked: narrative XHTML content, invariants other than ext-1 and dom-2, terminology
bindings that are not enumerated in the models, and profiles (UK Core) beyond the NHS number
check-digit rule.

The library itself stays as the reference: `library_issues` runs its ``model_validate``, and
tests/fhir/test_validation_oracle.py checks on the examples and generated mutations of them
that we reject whatever it rejects, and that where it accepts, we reject only by one of the
rules above (`findings` marks each issue that comes from one of our own rules). Nothing at
run time calls it.

Issue expressions use the JSON element names as a FHIRPath-style path, e.g.
``Patient.name[0].family`` or ``Observation.valueQuantity.value``; a primitive's ``_given``
extension sibling is reported at ``given``; a choice as a whole at ``value[x]``.
"""

from __future__ import annotations

import decimal
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NamedTuple

import pydantic
from fhir.resources.R4B import get_fhir_model_class
from fhir_core.utils import get_fhir_type_name

from careweave.fhir.errors import InvalidResource, Issue, MalformedRequest, RequestMismatch
from careweave.fhir.nhs_number import check_nhs_number_identifiers
from careweave.fhir.primitives import PrimitiveCheck, Problem, primitive_check, shown
from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES
from careweave.fhir.subsetting import subsetted_issues

__all__ = [
    "SUPPORTED_RESOURCE_TYPES",
    "Finding",
    "findings",
    "library_issues",
    "validate_resource",
]

_ABSTRACT_TYPES = frozenset({"Resource", "DomainResource"})
_MAX_ID_LENGTH = 64

Kind = Literal[
    "boolean", "integer", "decimal", "string", "complex", "resource", "primitive-extension"
]
_OBJECT_KINDS = frozenset({"complex", "resource", "primitive-extension"})


@dataclass(frozen=True, slots=True)
class _Element:
    """What the JSON under one key of one model must look like."""

    name: str  # the element name used in paths: "given" for both "given" and "_given"
    kind: Kind
    fhir_type: str  # the FHIR type: "code", "dateTime", "HumanName", "Resource" ...
    is_list: bool
    required: bool
    choice: str | None
    model: type[pydantic.BaseModel] | None
    codes: frozenset[str] | None
    check: PrimitiveCheck | None  # for primitive kinds: the check of one value


class Finding(NamedTuple):
    """One issue `validate_resource` reports, and whether `fhir.resources` would let it pass.

    `beyond_library` is true for the rules that are ours alone (see the module docstring).
    """

    issue: Issue
    beyond_library: bool


@cache
def _model_class(resource_type: str) -> type[pydantic.BaseModel] | None:
    """The R4B model class for a concrete resource type, or None if there is no such type."""
    if resource_type in _ABSTRACT_TYPES or not re.fullmatch(r"[A-Z][A-Za-z]+", resource_type):
        return None
    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    return model if model.has_resource_base() else None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Strip Optional and List from a field annotation: (inner type, whether it repeats)."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Union or origin is types.UnionType:
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return annotation, is_list
            annotation = args[0]
        elif origin is list:
            is_list = True
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation, is_list


def _describe_field(json_name: str, field: Any) -> _Element | None:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    is_extension_sibling = json_name.startswith("_")
    if json_name == "fhir_comments":
        return None  # a DSTU2-era JSON comment property that FHIR R4 JSON does not have
    inner, is_list = _unwrap(field.annotation)
    model: type[pydantic.BaseModel] | None = None
    kind: Kind
    check: PrimitiveCheck | None = None
    enum_values = extra.get("enum_values")
    codes = (
        frozenset(enum_values)
        if isinstance(enum_values, list) and not {"+", "etc."} & set(enum_values)
        else None
    )
    if hasattr(inner, "get_model_klass"):
        model = inner.get_model_klass()
        fhir_type = model.__name__
        if is_extension_sibling:
            kind, fhir_type = "primitive-extension", "Element"  # FHIR's name for its type
        elif fhir_type == "Resource":
            kind, model = "resource", None
        else:
            kind = "complex"
    else:
        metadata: tuple[Any, ...] = ()
        if typing.get_origin(inner) is typing.Annotated:
            inner, *rest = typing.get_args(inner)
            metadata = tuple(rest)
        if inner is bool:
            kind = "boolean"
        elif inner is int:
            kind = "integer"
        elif inner is decimal.Decimal:
            kind = "decimal"
        else:
            kind = "string"
        fhir_type = str(get_fhir_type_name(field))
        check = primitive_check(fhir_type, metadata, codes=codes, max_id_length=_MAX_ID_LENGTH)
    choice = extra.get("one_of_many")
    return _Element(
        name=json_name.removeprefix("_"),
        kind=kind,
        fhir_type=fhir_type,
        is_list=is_list,
        required=bool(extra.get("element_required")) or field.is_required(),
        choice=choice if isinstance(choice, str) else None,
        model=model,
        codes=codes,
        check=check,
    )


@cache
def _elements(model: type[pydantic.BaseModel]) -> Mapping[str, _Element]:
    """The elements of a model keyed by their JSON property name (``given`` and ``_given``)."""
    elements: dict[str, _Element] = {}
    for field_name, field in model.model_fields.items():
        json_name = field.alias or field_name
        element = _describe_field(json_name, field)
        if element is not None:
            elements[json_name] = element
    return elements


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the walk needs to know about one model, looked up once per JSON object."""

    elements: Mapping[str, _Element]
    required: tuple[tuple[str, bool], ...]
    choices: tuple[tuple[str, tuple[str, ...], bool], ...]
    is_extension: bool
    library_accepts_empty: bool


@cache
def _shape(model: type[pydantic.BaseModel]) -> _Shape:
    choices = tuple((name, names, required) for name, (names, required) in _choices(model).items())
    return _Shape(
        elements=_elements(model),
        required=_required_elements(model),
        choices=choices,
        is_extension=model.__name__ == "Extension",
        library_accepts_empty=_library_accepts_empty(model),
    )


@cache
def _required_elements(model: type[pydantic.BaseModel]) -> tuple[tuple[str, bool], ...]:
    """Required elements of a model that are not part of a choice: (JSON name, whether an
    ``_element`` with extensions may stand in for the value, as it may for a single primitive).
    """
    return tuple(
        (json_name, element.kind not in _OBJECT_KINDS and not element.is_list)
        for json_name, element in _elements(model).items()
        if element.required and not element.choice and not json_name.startswith("_")
    )


@cache
def _choices(model: type[pydantic.BaseModel]) -> Mapping[str, tuple[tuple[str, ...], bool]]:
    """Choice groups of a model: ``value`` -> (its JSON names, whether one is required)."""
    groups: dict[str, list[str]] = {}
    required: dict[str, bool] = {}
    for json_name, element in _elements(model).items():
        if element.choice is not None and not json_name.startswith("_"):
            groups.setdefault(element.choice, []).append(json_name)
            field = model.model_fields[_field_name(model, json_name)]
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            required[element.choice] = bool(extra.get("one_of_many_required"))
    return {name: (tuple(names), required[name]) for name, names in groups.items()}


def _field_name(model: type[pydantic.BaseModel], json_name: str) -> str:
    for field_name, field in model.model_fields.items():
        if (field.alias or field_name) == json_name:
            return str(field_name)
    raise KeyError(json_name)  # pragma: no cover - only called with names from _elements


def _library_tolerates(model: type[pydantic.BaseModel], key: str, data: dict[str, Any]) -> bool:
    """Whether the library accepts `key`, which is not an element of `model`, in its JSON.

    Pydantic also takes the Python field names (``active__ext``, ``class_fhir``), and the
    models' constructor drops a ``resourceType`` (or ``resource_type``) that names the model's
    own type, and any ``resource_type`` beside a ``resourceType``.
    """
    if key in model.model_fields:
        return True
    own_type = getattr(model, "__resource_type__", None)
    if key == "resource_type" and "resourceType" in data:
        return bool(data["resourceType"] == own_type)
    return key in ("resourceType", "resource_type") and bool(data[key] == own_type)


def _library_accepts_empty(model: type[pydantic.BaseModel]) -> bool:
    """Whether the library accepts ``{}`` for an element of this model (FHIR does not)."""
    return (
        model.__name__ != "FHIRPrimitiveExtension"
        and not _required_elements(model)
        and not any(required for _, required in _choices(model).values())
    )


def _has_extensions(value: object) -> bool:
    """Whether an ``_element`` value carries extensions (so it may stand in for the value)."""
    return isinstance(value, dict) and bool(value.get("extension"))


class _StructureCheck:
    """One pass over the JSON reporting every problem (see the module docstring)."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def report(self, code: str, path: str, message: str, *, beyond_library: bool) -> None:
        self.findings.append(Finding(Issue("error", code, message, (path,)), beyond_library))

    def resource(self, data: dict[str, Any], path: str) -> None:
        """A contained resource: its type decides the model it is checked against."""
        resource_type = data.get("resourceType")
        if not isinstance(resource_type, str):
            self.report(
                "structure",
                path,
                "A contained resource must have a resourceType",
                # Without one, the library validates the object as the abstract Resource.
                beyond_library="resourceType" not in data,
            )
            return
        model = _model_class(resource_type)
        if model is None:
            self.report(
                "not-supported",
                path,
                f"{resource_type!r} is not a FHIR resource type",
                beyond_library=resource_type in _ABSTRACT_TYPES,
            )
            return
        if data.get("contained"):
            self.report(
                "invariant",
                f"{path}.contained",
                "A contained resource must not itself contain resources (dom-2)",
                beyond_library=True,
            )
        self.object(data, model, path, is_resource=True)

    def object(
        self,
        data: dict[str, Any],
        model: type[pydantic.BaseModel],
        path: str,
        *,
        is_resource: bool = False,
    ) -> None:
        shape = _shape(model)
        if not data:
            self.report(
                "structure",
                path,
                "Empty objects are not allowed; omit the element",
                beyond_library=shape.library_accepts_empty,
            )
            return
        elements = shape.elements
        for key, value in data.items():
            element = elements.get(key)
            if element is None:
                if is_resource and key == "resourceType":
                    continue
                self.report(
                    "structure",
                    f"{path}.{key}",
                    f"Unknown element {key!r} at {path}",
                    beyond_library=_library_tolerates(model, key, data),
                )
            elif value is None:
                self.report(
                    "structure",
                    f"{path}.{element.name}",
                    "null is not allowed; omit the element instead",
                    beyond_library=True,
                )
            elif element.is_list:
                if type(value) is list:
                    self.array(value, element, data, key, f"{path}.{element.name}")
                else:
                    self.report(
                        "invalid",
                        f"{path}.{element.name}",
                        f"Expected an array for {key}, got {shown(value)}",
                        beyond_library=False,
                    )
            elif type(value) is list:
                self.report(
                    "invalid",
                    f"{path}.{element.name}",
                    f"Expected a single value for {key}, not an array",
                    beyond_library=False,
                )
            elif element.check is not None:
                problem = element.check(value)
                if problem is not None:
                    self.problem(problem, f"{path}.{element.name}")
            else:
                self.single_object(value, element, f"{path}.{element.name}")
        if shape.required or shape.choices:
            self.required(data, shape, path)
        if shape.is_extension:
            has_value = any(key in elements and key.startswith("value") for key in data)
            if has_value == bool(data.get("extension")):
                self.report(
                    "invariant",
                    path,
                    "An extension must have either a value or nested extensions, "
                    "and not both (ext-1)",
                    beyond_library=True,
                )

    def problem(self, problem: Problem, path: str) -> None:
        self.report(problem.code, path, problem.message, beyond_library=problem.beyond_library)

    def required(self, data: dict[str, Any], shape: _Shape, path: str) -> None:
        for json_name, extension_may_stand_in in shape.required:
            if data.get(json_name) is not None or (
                extension_may_stand_in and _has_extensions(data.get("_" + json_name))
            ):
                continue
            self.report(
                "required", f"{path}.{json_name}", f"{json_name} is required", beyond_library=False
            )
        for choice, names, required in shape.choices:
            values = [name for name in names if data.get(name) is not None]
            extensions = [
                name
                for name in names
                if data.get("_" + name) is not None and data.get(name) is None
            ]
            if len(values) + len(extensions) > 1:
                given = ", ".join(values + ["_" + name for name in extensions])
                self.report(
                    "structure",
                    f"{path}.{choice}[x]",
                    f"Only one of {given} may be given ({choice}[x] is a choice)",
                    beyond_library=len(values) < 2,
                )
            elif required and not values:
                self.report(
                    "required",
                    f"{path}.{choice}[x]",
                    f"{choice}[x] is required"
                    + (f" (_{extensions[0]} holds extensions, not a value)" if extensions else ""),
                    beyond_library=False,
                )

    def array(
        self, value: list[Any], element: _Element, parent: dict[str, Any], key: str, path: str
    ) -> None:
        if not value:
            self.report(
                "structure",
                path,
                "Empty arrays are not allowed; omit the element",
                beyond_library=True,
            )
            return
        check = element.check
        if element.kind == "complex" or element.kind == "resource":
            for index, item in enumerate(value):
                if item is None:
                    self.report(
                        "invalid",
                        path,
                        f"null is not allowed in {key}; remove it from the array",
                        beyond_library=False,
                    )
                else:
                    self.single_object(item, element, f"{path}[{index}]")
            return
        # An array of primitives (or of their ``_element`` extensions): a null stands for a
        # value given only in the sibling array, so the two must line up.
        sibling_key = key[1:] if key.startswith("_") else "_" + key
        sibling = parent.get(sibling_key)
        if type(sibling) is not list:
            sibling = None
        elif not key.startswith("_") and len(sibling) != len(value):
            self.report(
                "structure",
                path,
                f"{key} and {sibling_key} must have the same number of entries",
                beyond_library=True,
            )
            sibling = None
        for index, item in enumerate(value):
            if item is None:
                if sibling is None or index >= len(sibling) or sibling[index] is None:
                    self.report(
                        "structure",
                        f"{path}[{index}]",
                        f"null in {key} is only allowed where {sibling_key} has an entry",
                        beyond_library=True,
                    )
            elif check is not None:
                problem = check(item)
                if problem is not None:
                    self.problem(problem, f"{path}[{index}]")
            else:
                self.single_object(item, element, f"{path}[{index}]")

    def single_object(self, value: Any, element: _Element, path: str) -> None:
        """One value where an object belongs: a complex type, resource or ``_element``."""
        if type(value) is not dict:
            # The library would parse a string as JSON text, so it may hold an object.
            self.report(
                "structure",
                path,
                f"Expected a JSON object ({element.fhir_type}), got {shown(value)}",
                beyond_library=isinstance(value, str),
            )
        elif element.kind == "resource":
            self.resource(value, path)
        elif element.model is not None:
            self.object(value, element.model, path)


def findings(resource: dict[str, Any]) -> list[Finding]:
    """Every issue `validate_resource` reports for a resource of a supported type, one per path,
    each with whether the library would have let it pass (for the tests that hold our rules to
    the library's).
    """
    resource_type = str(resource["resourceType"])
    model = _model_class(resource_type)
    if model is None:
        raise ValueError(f"{resource_type!r} is not a FHIR resource type")
    check = _StructureCheck()
    check.object(resource, model, resource_type, is_resource=True)
    found = check.findings
    found.extend(Finding(issue, True) for issue in check_nhs_number_identifiers(resource))
    found.extend(Finding(issue, True) for issue in subsetted_issues(resource))
    seen: set[tuple[str, ...]] = set()
    unique: list[Finding] = []
    for finding in found:
        if finding.issue.expression not in seen:
            seen.add(finding.issue.expression)
            unique.append(finding)
    return unique


_LOC_NAME = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*")


def _library_path(root: str, loc: Sequence[int | str]) -> str:
    """Turn a pydantic error location into the path `validate_resource` would use."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType"
        elif _LOC_NAME.fullmatch(part):
            path += "." + part.removeprefix("_")
    return path


def library_issues(resource: Mapping[str, Any]) -> list[Issue]:
    """What `fhir.resources` itself finds wrong with a resource, by pydantic's ``model_validate``.

    The reference `validate_resource` is tested against; too slow for run time (see the module
    docstring). Where the library raises something other than a validation error (it does for
    a contained resource of an unknown type, or a ``valueUrl`` that is not a string), that is
    one issue with code "exception": it did not accept the resource either.
    """
    resource_type = str(resource["resourceType"])
    model = _model_class(resource_type)
    if model is None:
        raise ValueError(f"{resource_type!r} is not a FHIR resource type")
    try:
        model.model_validate(resource)
    except pydantic.ValidationError as error:
        return [
            Issue(
                "error",
                str(detail["type"]),
                f"{detail['msg']} (got {shown(detail.get('input'))})",
                (_library_path(resource_type, detail["loc"]),),
            )
            for detail in error.errors()
        ]
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        return [
            Issue(
                "error",
                "exception",
                f"fhir.resources raised {type(error).__name__}: {error}",
                (resource_type,),
            )
        ]
    return []


def validate_resource(
    resource: object, *, expected_type: str | None = None, expected_id: str | None = None
) -> dict[str, Any]:
    """Check that `resource` is a valid FHIR R4 resource of a type we support; return it unchanged.

    `expected_type` and `expected_id` are what the URL says (for update); a body that disagrees
    is rejected. Raises `MalformedRequest` when there is no JSON object with a string
    resourceType, and `InvalidResource` otherwise, with one issue per problem found so a client
    can fix them all at once.
    """
    if not isinstance(resource, dict):
        raise MalformedRequest(
            f"A FHIR resource must be a JSON object, not {type(resource).__name__}"
        )
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise MalformedRequest(
            "A FHIR resource must have a resourceType string", expression=["resourceType"]
        )
    if expected_type is not None and resource_type != expected_type:
        raise RequestMismatch(
            f"The body is a {resource_type} resource but the request URL is for {expected_type}",
            expression=[f"{resource_type}.resourceType"],
        )
    model = _model_class(resource_type) if resource_type in SUPPORTED_RESOURCE_TYPES else None
    if model is None:
        message = (
            f"{resource_type!r} is not a resource type this server supports"
            if _model_class(resource_type) is not None
            else f"{resource_type!r} is not a FHIR resource type"
        )
        raise InvalidResource(message, issues=[Issue("error", "not-supported", message)])
    if expected_id is not None and resource.get("id") != expected_id:
        found = resource.get("id")
        raise RequestMismatch(
            f"The body has id {shown(found)} but the request is for id {expected_id!r}"
            if found is not None
            else f"The body has no id but the request is for id {expected_id!r}",
            expression=[f"{resource_type}.id"],
        )
    issues = [finding.issue for finding in findings(resource)]
    if issues:
        count = f"{len(issues)} problem" + ("s" if len(issues) != 1 else "")
        raise InvalidResource(f"{resource_type} is not valid FHIR R4: {count}", issues=issues)
    return resource
