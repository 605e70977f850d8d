"""Structural validation of FHIR R4 resources received as JSON.

We validate with the `fhir.resources` models (version 8.3.0) from its ``R4B`` sub-package,
the closest it ships to R4: its top-level models are R5. For every resource type in
`SUPPORTED_RESOURCE_TYPES` the R4B models have exactly the R4 (4.0.1) element names and types
(tests/fhir/test_validation.py checks this against the R4 model shipped with fhirpathpy). The
differences that remain are outside those resources: ``Extension.value[x]`` in R4B lacks
``valueMeta`` and adds ``valueCodeableReference`` and ``valueRatioRange``, and R4B has a few
resource types R4 lacks (e.g. SubscriptionStatus), which could only appear in ``contained``.

Validation is a check only: `validate_resource` returns the client's dict unchanged, because we
store the JSON we were sent rather than a re-serialisation that could drop or reorder content.

The library leaves gaps that matter for a record people rely on, so a second pass over the
JSON (`_StructureCheck`, driven by the same model classes) reports:

* primitives of the wrong JSON type: the pydantic models coerce ``"active": "yes"`` or ``1`` to
  true, ``"valueInteger": "5"`` to 5 and ``"value": "5.4"`` to a decimal;
* ``null`` values, empty objects and empty arrays (FHIR forbids empty elements; the library
  accepts ``"name": []``, ``"name": [{}]`` and ``"active": null``), and empty strings in
  element types whose pattern the library does not enforce (``uri``, ``url`` ...);
* required elements and choice types (``value[x]``): the library checks these only in an
  "after" validator that never runs once any other element failed, so a resource would be
  reported one problem at a time;
* codes outside a required binding whose value set the model lists in full (``gender``), ids
  longer than 64 characters, invalid base64, mismatched ``given``/``_given`` arrays, extensions
  with both or neither of a value and nested extensions (ext-1), nested ``contained`` (dom-2);
* ``contained`` resources without a known ``resourceType``, on which the library raises
  `KeyError`/`TypeError` rather than a validation error (so in that case it is not called).

Not checked: narrative XHTML content, invariants other than ext-1 and dom-2, terminology
bindings that are not enumerated in the models, and profiles (UK Core) beyond the NHS number
check-digit rule.

Issue expressions use the JSON element names as a FHIRPath-style path, e.g.
``Patient.name[0].family`` or ``Observation.valueQuantity.value``; a primitive's ``_given``
extension sibling is reported at ``given``; a choice as a whole at ``value[x]``.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import pydantic
from fhir.resources.R4B import get_fhir_model_class

from careweave.fhir.errors import InvalidResource, Issue, MalformedRequest, RequestMismatch
from careweave.fhir.nhs_number import check_nhs_number_identifiers
from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES

__all__ = ["SUPPORTED_RESOURCE_TYPES", "validate_resource"]

"""The resource types this server stores and serves, sorted alphabetically."""

_ABSTRACT_TYPES = frozenset({"Resource", "DomainResource"})
_MAX_ID_LENGTH = 64
_MAX_SHOWN = 80

Kind = Literal[
    "boolean", "integer", "decimal", "string", "complex", "resource", "primitive-extension"
]
_PRIMITIVE_KINDS = frozenset({"boolean", "integer", "decimal", "string"})


@dataclass(frozen=True)
class _Element:
    """What the JSON under one key of one model must look like."""

    name: str  # the element name used in paths: "given" for both "given" and "_given"
    kind: Kind
    is_list: bool
    required: bool
    choice: str | None
    model: type[pydantic.BaseModel] | None
    codes: frozenset[str] | None
    is_id: bool
    is_base64: bool


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
    metadata: tuple[Any, ...] = ()
    if hasattr(inner, "get_model_klass"):
        model = inner.get_model_klass()
        if is_extension_sibling:
            kind = "primitive-extension"
        elif model.__name__ == "Resource":
            kind, model = "resource", None
        else:
            kind = "complex"
    else:
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
    enum_values = extra.get("enum_values")
    codes = (
        frozenset(enum_values)
        if isinstance(enum_values, list) and not {"+", "etc."} & set(enum_values)
        else None
    )
    metadata_names = {type(item).__name__ for item in metadata}
    choice = extra.get("one_of_many")
    return _Element(
        name=json_name.removeprefix("_"),
        kind=kind,
        is_list=is_list,
        required=bool(extra.get("element_required")) or field.is_required(),
        choice=choice if isinstance(choice, str) else None,
        model=model,
        codes=codes,
        is_id="Id" in metadata_names,
        is_base64="Base64Binary" in metadata_names,
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


@cache
def _required_elements(model: type[pydantic.BaseModel]) -> tuple[str, ...]:
    """JSON names of the required elements of a model that are not part of a choice."""
    return tuple(
        json_name
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


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


_JSON_KIND = {"boolean": "true or false", "integer": "a whole number", "decimal": "a number"}


class _StructureCheck:
    """One pass over the JSON reporting what the library misses (see the module docstring)."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.library_safe = True

    def report(self, code: str, path: str, message: str) -> None:
        self.issues.append(Issue("error", code, message, (path,)))

    def resource(self, data: Mapping[str, Any], path: str, *, contained: bool) -> None:
        resource_type = data.get("resourceType")
        if not isinstance(resource_type, str):
            self.library_safe = False
            self.report("structure", path, "A contained resource must have a resourceType")
            return
        model = _model_class(resource_type)
        if model is None:
            self.library_safe = False
            self.report("not-supported", path, f"{resource_type!r} is not a FHIR resource type")
            return
        if contained and data.get("contained"):
            self.report(
                "invariant",
                f"{path}.contained",
                "A contained resource must not itself contain resources (dom-2)",
            )
        self.object(data, model, path, is_resource=True)

    def object(
        self,
        data: Mapping[str, Any],
        model: type[pydantic.BaseModel],
        path: str,
        *,
        is_resource: bool = False,
    ) -> None:
        elements = _elements(model)
        if not data:
            self.report("structure", path, "Empty objects are not allowed; omit the element")
            return
        for key, value in data.items():
            if is_resource and key == "resourceType":
                continue
            element = elements.get(key)
            if element is None:
                self.report("structure", f"{path}.{key}", f"Unknown element {key!r} at {path}")
                continue
            self.value(value, element, data, key, f"{path}.{element.name}")
        self.required(data, model, path)
        if model.__name__ == "Extension":
            has_value = any(key.startswith("value") and key in elements for key in data)
            if has_value == bool(data.get("extension")):
                self.report(
                    "invariant",
                    path,
                    "An extension must have either a value or nested extensions, "
                    "and not both (ext-1)",
                )

    def required(self, data: Mapping[str, Any], model: type[pydantic.BaseModel], path: str) -> None:
        for json_name in _required_elements(model):
            if data.get(json_name) is None and data.get("_" + json_name) is None:
                self.report("required", f"{path}.{json_name}", f"{json_name} is required")
        for choice, (names, required) in _choices(model).items():
            present = [
                name
                for name in names
                if data.get(name) is not None or data.get("_" + name) is not None
            ]
            if len(present) > 1:
                self.report(
                    "structure",
                    f"{path}.{choice}[x]",
                    f"Only one of {', '.join(present)} may be given ({choice}[x] is a choice)",
                )
            elif required and not present:
                self.report("required", f"{path}.{choice}[x]", f"{choice}[x] is required")

    def value(
        self, value: Any, element: _Element, parent: Mapping[str, Any], key: str, path: str
    ) -> None:
        if value is None:
            self.report("structure", path, "null is not allowed; omit the element instead")
            return
        if not element.is_list:
            if not isinstance(value, list):
                self.single(value, element, path)
            return  # a list where one value belongs is reported by the library
        if not isinstance(value, list):
            return  # reported by the library
        if not value:
            self.report("structure", path, "Empty arrays are not allowed; omit the element")
            return
        sibling_key = key[1:] if key.startswith("_") else "_" + key
        sibling = parent.get(sibling_key)
        is_primitive_list = element.kind in _PRIMITIVE_KINDS or element.kind == (
            "primitive-extension"
        )
        if (
            is_primitive_list
            and isinstance(sibling, list)
            and not key.startswith("_")
            and len(sibling) != len(value)
        ):
            self.report(
                "structure", path, f"{key} and {sibling_key} must have the same number of entries"
            )
            sibling = None
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            if item is None:
                if not is_primitive_list:
                    continue  # the library reports nulls in arrays of complex elements
                paired = (
                    sibling[index] if isinstance(sibling, list) and index < len(sibling) else None
                )
                if paired is None:
                    self.report(
                        "structure",
                        item_path,
                        f"null in {key} is only allowed where {sibling_key} has an entry",
                    )
                continue
            self.single(item, element, item_path)

    def single(self, value: Any, element: _Element, path: str) -> None:
        kind = element.kind
        if kind == "boolean":
            if not isinstance(value, bool):
                self.report("structure", path, f"Expected true or false, got {_shown(value)}")
        elif kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                self.report("structure", path, f"Expected a whole number, got {_shown(value)}")
        elif kind == "decimal":
            if not isinstance(value, int | float) or isinstance(value, bool):
                self.report("structure", path, f"Expected a JSON number, got {_shown(value)}")
        elif kind == "string":
            self.string(value, element, path)
        elif isinstance(value, Mapping):
            if kind == "resource":
                self.resource(value, path, contained=True)
            elif element.model is not None:
                self.object(value, element.model, path)

    def string(self, value: Any, element: _Element, path: str) -> None:
        if not isinstance(value, str):
            self.report("structure", path, f"Expected a JSON string, got {_shown(value)}")
        elif value == "":
            self.report("structure", path, "Empty strings are not allowed; omit the element")
        elif element.codes is not None and value not in element.codes:
            allowed = ", ".join(sorted(element.codes))
            self.report(
                "code-invalid", path, f"{value!r} is not one of the allowed codes: {allowed}"
            )
        elif element.is_id and len(value) > _MAX_ID_LENGTH:
            self.report("value", path, f"An id is at most {_MAX_ID_LENGTH} characters long")
        elif element.is_base64 and not _is_base64(value):
            self.report("value", path, "Not valid base64")


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except binascii.Error:
        return False
    return True


_LOC_NAME = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*")
_SPEC_REGEX = re.compile(r"(\w+) value string does not match spec regex")
_DATE_ERROR_PREFIXES = {"date_": "date", "datetime_": "dateTime", "time_": "time"}
_CHOICE_MESSAGES = ("Any of one field value is expected", "Expect any of field value")


def _library_path(root: str, loc: Sequence[int | str]) -> str:
    """Turn a pydantic error location into the path `_StructureCheck` would use."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType"
        elif _LOC_NAME.fullmatch(part):
            path += "." + part.removeprefix("_")
    return path


def _library_issue(root: str, error: Mapping[str, Any]) -> Issue | None:
    """A readable issue for one pydantic error, or None where `_StructureCheck` reports it."""
    error_type = str(error["type"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error_type in ("missing", "model_field_validation.missing") or message.startswith(
        _CHOICE_MESSAGES
    ):
        return None
    path = _library_path(root, error["loc"])
    value = error.get("input")
    if error_type == "model_validation_format" and message.startswith("One of field value"):
        return Issue(
            "error",
            "structure",
            f"The extension object of {path} must have an id or extensions",
            (path,),
        )
    if error_type == "extra_forbidden":
        return Issue("error", "structure", f"Unknown element at {path}", (path,))
    if error_type == "string_type":
        return Issue("error", "structure", f"Expected a JSON string, got {_shown(value)}", (path,))
    if error_type == "string_pattern_mismatch":
        text = (
            "Empty strings are not allowed; omit the element"
            if value == ""
            else f"{_shown(value)} is not in the form this element requires"
        )
        return Issue("error", "value", text, (path,))
    if error_type.startswith(tuple(_DATE_ERROR_PREFIXES)):
        fhir_type = _DATE_ERROR_PREFIXES[error_type.split("_")[0] + "_"]
        return Issue("error", "value", f"{_shown(value)} is not a valid FHIR {fhir_type}", (path,))
    if (match := _SPEC_REGEX.search(message)) is not None:
        fhir_type = match.group(1)
        fhir_type = fhir_type[0].lower() + fhir_type[1:]
        return Issue("error", "value", f"{_shown(value)} is not a valid FHIR {fhir_type}", (path,))
    return Issue("error", "invalid", f"{message} (got {_shown(value)})", (path,))


def _reported_inside(expression: tuple[str, ...], issues: Sequence[Issue]) -> bool:
    """Whether some issue points inside the element `expression` points at."""
    return any(
        inner.startswith((outer + ".", outer + "["))
        for outer in expression
        for issue in issues
        for inner in issue.expression
    )


def _check(
    resource: Mapping[str, Any], resource_type: str, model: type[pydantic.BaseModel]
) -> list[Issue]:
    check = _StructureCheck()
    check.object(resource, model, resource_type, is_resource=True)
    issues = list(check.issues)
    if check.library_safe:
        try:
            model.model_validate(resource)
        except pydantic.ValidationError as error:
            for detail in error.errors():
                issue = _library_issue(resource_type, detail)
                if issue is None:
                    continue
                # The library's complaint that an element holds nothing it knows is vaguer than
                # our report of the unknown content inside it, so it gives way to that report.
                if detail["type"] == "model_validation_format" and _reported_inside(
                    issue.expression, check.issues
                ):
                    continue
                issues.append(issue)
    issues.extend(check_nhs_number_identifiers(resource))
    seen: set[tuple[str, ...]] = set()
    unique: list[Issue] = []
    for issue in issues:
        if issue.expression not in seen:
            seen.add(issue.expression)
            unique.append(issue)
    return unique


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
            f"The body has id {_shown(found)} but the request is for id {expected_id!r}"
            if found is not None
            else f"The body has no id but the request is for id {expected_id!r}",
            expression=[f"{resource_type}.id"],
        )
    issues = _check(resource, resource_type, model)
    if issues:
        count = f"{len(issues)} problem" + ("s" if len(issues) != 1 else "")
        raise InvalidResource(f"{resource_type} is not valid FHIR R4: {count}", issues=issues)
    return resource
