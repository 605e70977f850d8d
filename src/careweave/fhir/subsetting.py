"""Subsets of a resource for `_summary` and `_elements` (FHIR R4 search.html#summary, #elements).

Which elements are summary elements, which are mandatory and which names form a choice
(``value[x]``) come from the `fhir.resources` R4B models' field metadata, the same source as
validation (docs/adr/0002-fhir-libraries.md), not from a table of our own:
``summary_element_property`` marks an element ``isSummary``; ``element_required`` (primitives)
or a required pydantic field (complex types) marks a mandatory one; ``one_of_many`` names the
choice an element belongs to and ``one_of_many_required`` whether the choice is mandatory.

What each form keeps:

* ``_summary=true``: the summary elements, and the backbone elements among them (those the
  resource defines, such as ``Observation.component``) cut to their own summary elements in
  turn; data types (``HumanName``, ``Timing`` ...) are kept whole. Mandatory elements are kept
  too, although a few are not marked summary (``Appointment.participant``, ``AuditEvent.agent``
  and ``source``, ``Provenance.agent``): without them the summary would not be a valid resource
  and a client that parses into a strict model would refuse it. A backbone element left empty is
  dropped, never sent as ``{}``.
* ``_summary=text``: ``text``, ``id``, ``meta`` and the top-level mandatory elements.
* ``_summary=data``: everything but ``text``.
* ``_elements=a,b``: those top-level elements, with ``resourceType``, ``id``, ``meta`` and the
  top-level mandatory elements, which the specification says servers SHOULD return. A choice is
  named by its base (``value`` or ``value[x]`` keeps ``valueQuantity``, ``valueString`` ...) or
  by one of its forms (``valueQuantity`` keeps only that one).

A primitive's ``_name`` sibling (its id and extensions) goes with ``name``. Every subset gets the
``SUBSETTED`` tag in ``meta.tag`` so that it is never mistaken for, or written back as, the
whole resource: validation refuses to store a resource that carries it (`subsetted_issues`), on
every route that writes (R4 search.html#summary: the tag is there "to ensure that the
incomplete resource is not accidentally used to overwrite a complete resource").

How requests use it (careweave.fhir.search_query reads the parameters, careweave.api.routes
applies them):

* Read, vread and search all take both parameters; ``_summary=count`` is for searches only.
* In a searchset, ``_summary`` cuts the matches and the ``_include``d resources alike (it names
  a form, not elements of one type); ``_elements`` cuts the matches only, since its names are
  elements of the searched type. ``_summary=text`` with ``_include``/``_revinclude`` is refused,
  as FHIR R4 says they cannot be mixed.
* ``_summary`` (other than false) with ``_elements`` is a 400: each says which elements to
  return, and honouring one would silently ignore the other.
* An element name the type does not have is ignored under lenient handling (a search reports
  it in its OperationOutcome entry) and refused under ``Prefer: handling=strict``.

Parsing and dumping JSON is paid only where a subset is asked for: `subset_json` is the one
place a stored resource is re-read, and the per-type element sets are worked out once.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Literal

import orjson
import pydantic

from careweave.fhir.errors import InvalidSearch, Issue

SUBSETTED_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
SUBSETTED_TAG: Mapping[str, str] = {
    "system": SUBSETTED_SYSTEM,
    "code": "SUBSETTED",
    "display": "subsetted",
}

Summary = Literal["true", "text", "data", "count", "false"]
SUMMARY_VALUES: tuple[Summary, ...] = ("true", "text", "data", "count", "false")

_NONE: frozenset[str] = frozenset()
_ALWAYS = frozenset({"resourceType", "id", "meta"})
"""Kept by `_elements` whatever it names: what makes a resource one at all."""


@dataclass(frozen=True)
class Subset:
    """What to keep of each resource: a `_summary` form, or the elements `_elements` names.

    `elements` holds element names as the request gave them, checked against the resource
    type (``value[x]`` written ``value``); `summary` is never count or false, which keep no
    resource or the whole one.
    """

    summary: Literal["true", "text", "data"] | None = None
    elements: frozenset[str] | None = None

    @property
    def applies_to_included(self) -> bool:
        """`_summary` is about the form of any resource, so `_include`d ones take it too;
        `_elements` names elements of the searched type, so only the matches take it."""
        return self.summary is not None


def subset_of(summary: Summary | None, elements: frozenset[str] | None) -> Subset | None:
    """The subset a request's `_summary` and `_elements` ask for, or None for whole resources."""
    if summary in ("true", "text", "data"):
        return Subset(summary=summary)
    if elements is not None:
        return Subset(elements=elements)
    return None


def parse_summary(value: str) -> Summary:
    for summary in SUMMARY_VALUES:
        if value == summary:
            return summary
    raise InvalidSearch(f"_summary must be one of {', '.join(SUMMARY_VALUES)}, not '{value}'")


def element_names(resource_type: str, value: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The names in an `_elements` value that `resource_type` has at its top level, and those
    it does not have (in the order given). ``value[x]`` is read as ``value``."""
    names = [name.strip().removesuffix("[x]") for name in value.split(",")]
    names = [name for name in names if name]
    if not names:
        raise InvalidSearch(
            "_elements needs at least one element name, e.g. _elements=name,birthDate"
        )
    known = _shape_of_type(resource_type).element_names
    unknown = tuple(dict.fromkeys(name for name in names if name not in known))
    return frozenset(name for name in names if name in known), unknown


def subset_json(content: str | bytes, subset: Subset) -> bytes:
    """A stored resource's JSON cut to `subset`, tagged SUBSETTED."""
    return orjson.dumps(subset_resource(orjson.loads(content), subset))


def subset_resource(resource: Mapping[str, Any], subset: Subset) -> dict[str, Any]:
    """A new dict holding what `subset` keeps of `resource`, tagged SUBSETTED."""
    resource_type = str(resource.get("resourceType", ""))
    if subset.summary == "true":
        kept = _summarised(resource, _shape_of_type(resource_type))
    elif subset.summary == "data":
        kept = {key: value for key, value in resource.items() if key != "text"}
    else:
        keys = (
            _shape_of_type(resource_type).text_keys
            if subset.summary == "text"
            else _element_keys(resource_type, subset.elements or _NONE)
        )
        kept = {key: value for key, value in resource.items() if key in keys}
    return _tagged(kept)


# -- what each type keeps ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the subsets need to know of one model (a resource or one of its backbone elements).

    Key sets hold JSON keys: an element's name and its ``_name`` sibling.
    """

    summary_keys: frozenset[str]  # kept by _summary=true: summary and mandatory elements
    mandatory_keys: frozenset[str]
    text_keys: frozenset[str]  # kept by _summary=text
    element_names: frozenset[str]  # names _elements may give: elements, choice bases
    choices: Mapping[str, frozenset[str]]  # "value" -> {"valueQuantity", ...}
    backbones: Mapping[str, type[pydantic.BaseModel]]  # summary keys to cut in turn


_NO_SHAPE = _Shape(frozenset(), frozenset(), frozenset(), frozenset(), {}, {})


@cache
def _shape_of_type(resource_type: str) -> _Shape:
    """The shape of a resource type (an empty one for a type the models do not know)."""
    from fhir.resources.R4B import get_fhir_model_class

    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        return _NO_SHAPE
    return _shape(model) if model.has_resource_base() else _NO_SHAPE


@cache
def _shape(model: type[pydantic.BaseModel]) -> _Shape:
    summary: set[str] = set()
    mandatory: set[str] = set()
    names: set[str] = set()
    choices: dict[str, set[str]] = {}
    backbones: dict[str, type[pydantic.BaseModel]] = {}
    for field_name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if not extra.get("element_property"):
            continue  # `_name` siblings and the library's own fhir_comments
        name = field.alias or field_name
        names.add(name)
        choice = extra.get("one_of_many")
        if isinstance(choice, str):
            choices.setdefault(choice, set()).add(name)
        required = (
            field.is_required()
            or bool(extra.get("element_required"))
            or bool(extra.get("one_of_many_required"))
        )
        if required:
            mandatory.add(name)
        if extra.get("summary_element_property") or required:
            summary.add(name)
            child = _model_of(field.annotation)
            if child is not None and _is_backbone_of(child, model):
                backbones[name] = child
    names |= choices.keys()
    text_keys = _with_siblings({"id", "meta", "text", *mandatory}) | {"resourceType"}
    return _Shape(
        summary_keys=_with_siblings(summary) | {"resourceType"},
        mandatory_keys=_with_siblings(mandatory),
        text_keys=text_keys,
        element_names=frozenset(names | {"resourceType"}),
        choices={base: frozenset(members) for base, members in choices.items()},
        backbones=backbones,
    )


def _model_of(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The model class a field holds (through Optional and List), or None for a primitive."""
    if hasattr(annotation, "get_model_klass"):
        model: type[pydantic.BaseModel] = annotation.get_model_klass()
        return model
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _is_backbone_of(child: type[pydantic.BaseModel], parent: type[pydantic.BaseModel]) -> bool:
    """Whether `child` is a backbone element defined by the same resource as `parent` (the
    library puts a resource's backbone elements in its module), not a shared data type."""
    return child.__module__ == parent.__module__ and not child.has_resource_base()  # type: ignore[attr-defined]


def _with_siblings(names: set[str]) -> frozenset[str]:
    return frozenset(names | {f"_{name}" for name in names})


@lru_cache(maxsize=256)
def _element_keys(resource_type: str, elements: frozenset[str]) -> frozenset[str]:
    """The JSON keys `_elements` keeps of one type (cached: a client asks the same list again)."""
    shape = _shape_of_type(resource_type)
    named: set[str] = set()
    for name in elements:
        named |= shape.choices.get(name, {name})
    return _with_siblings(named | _ALWAYS) | shape.mandatory_keys


def _summarised(obj: Mapping[str, Any], shape: _Shape) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in obj.items():
        if key not in shape.summary_keys:
            continue
        backbone = shape.backbones.get(key)
        if backbone is not None:
            value = _summarised_value(value, _shape(backbone))
            if value in ({}, []):
                continue
        kept[key] = value
    return kept


def _summarised_value(value: Any, shape: _Shape) -> Any:
    if isinstance(value, list):
        items = [_summarised_value(item, shape) for item in value]
        return [item for item in items if item != {}]
    if isinstance(value, dict):
        return _summarised(value, shape)
    return value


def subsetted_issues(resource: Mapping[str, Any]) -> list[Issue]:
    """An issue when a resource sent to be stored carries the SUBSETTED tag: it is a part of a
    resource, and storing it as a version would lose whatever `_summary` or `_elements` left
    out (the tag is there so that a client that changes and sends back such a copy is stopped).
    """
    meta = resource.get("meta")
    tags = meta.get("tag") if isinstance(meta, Mapping) else None
    if not isinstance(tags, list):
        return []
    root = str(resource.get("resourceType") or "Resource")
    return [
        Issue(
            "error",
            "business-rule",
            "This resource is tagged SUBSETTED: it holds only the part of a resource that "
            "_summary or _elements returned, and storing it would lose the rest. Read the "
            "whole resource (without _summary or _elements), change that and send it.",
            (f"{root}.meta.tag[{index}]",),
        )
        for index, tag in enumerate(tags)
        if _is_subsetted(tag)
    ]


def _is_subsetted(tag: object) -> bool:
    return (
        isinstance(tag, Mapping)
        and tag.get("system") == SUBSETTED_SYSTEM
        and tag.get("code") == "SUBSETTED"
    )


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    meta = resource.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    tags = meta.get("tag")
    tags = list(tags) if isinstance(tags, list) else []
    if not any(_is_subsetted(tag) for tag in tags):
        tags.append(dict(SUBSETTED_TAG))
    meta["tag"] = tags
    resource["meta"] = meta
    return resource
