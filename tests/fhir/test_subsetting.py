"""`_summary` and `_elements`: what each form keeps of a resource, and how the parameters are read.

The summary and mandatory flags come from the fhir.resources R4B models; the examples below
name elements whose flags the FHIR R4 specification gives (Patient.photo is not a summary
element, Patient.name is; Observation.status and code are mandatory), so a change in how the
metadata is read shows up here rather than as quietly different responses.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.examples import all_examples, example
from careweave.fhir.errors import InvalidResource, InvalidSearch
from careweave.fhir.search_parameters import default_registry
from careweave.fhir.search_query import parse_read_subset, parse_search
from careweave.fhir.subsetting import (
    SUBSETTED_SYSTEM,
    Subset,
    element_names,
    parse_summary,
    subset_json,
    subset_resource,
)
from careweave.fhir.validation import validate_resource

REGISTRY = default_registry()
SUMMARY = Subset(summary="true")
TEXT = Subset(summary="text")
DATA = Subset(summary="data")


def elements(*names: str) -> Subset:
    return Subset(elements=frozenset(names))


def subsetted(resource: dict[str, Any]) -> bool:
    return any(
        tag.get("system") == SUBSETTED_SYSTEM and tag.get("code") == "SUBSETTED"
        for tag in resource.get("meta", {}).get("tag", [])
    )


def valid_apart_from_its_tag(resource: dict[str, Any]) -> None:
    """A subset is a valid resource in every other respect; the SUBSETTED tag itself is what
    keeps it from being stored (test_a_subset_is_refused_for_storage)."""
    assert subsetted(resource)
    meta = dict(resource["meta"])
    meta["tag"] = [tag for tag in meta["tag"] if tag.get("code") != "SUBSETTED"]
    if not meta["tag"]:
        del meta["tag"]
    untagged = {key: value for key, value in resource.items() if key != "meta"}
    validate_resource({**untagged, "meta": meta} if meta else untagged)


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "3", "lastUpdated": "2026-01-05T10:00:00Z"},
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">M</div>'},
        "language": "en-GB",
        "_language": {"extension": [{"url": "http://example.org/x", "valueString": "y"}]},
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}],
        "name": [{"family": "Thompson", "given": ["Margaret"]}],
        "gender": "female",
        "birthDate": "1941-06-02",
        "_birthDate": {"extension": [{"url": "http://example.org/t", "valueString": "09:00"}]},
        "maritalStatus": {"text": "Widowed"},
        "photo": [{"contentType": "image/png", "data": "iVBORw0KGgo="}],
        "contact": [{"name": {"family": "Thompson", "given": ["Ann"]}}],
        "communication": [{"language": {"text": "English"}}],
        "link": [
            {
                "id": "l1",
                "extension": [{"url": "http://example.org/why", "valueString": "merged"}],
                "other": {"reference": "Patient/p2"},
                "type": "seealso",
            }
        ],
    }


def observation() -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "meta": {"versionId": "1"},
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">BP</div>',
        },
        "status": "final",
        "code": {"text": "Blood pressure"},
        "subject": {"reference": "Patient/p1"},
        "effectiveTiming": {"id": "t1", "event": ["2024-03-01T10:00:00Z"]},
        "valueQuantity": {"value": 150, "unit": "mmHg"},
        "note": [{"text": "Seated"}],
        "component": [
            {
                "code": {"text": "Systolic"},
                "valueQuantity": {"value": 150, "unit": "mmHg"},
                "interpretation": [{"text": "High"}],
                "referenceRange": [{"text": "under 140"}],
            }
        ],
    }


# -- _summary=true -----------------------------------------------------------------------------


def test_summary_keeps_summary_elements_and_drops_the_rest() -> None:
    kept = subset_resource(patient(), SUMMARY)
    assert set(kept) == {
        "resourceType",
        "id",
        "meta",
        "identifier",
        "name",
        "gender",
        "birthDate",
        "_birthDate",
        "link",
    }
    assert kept["name"] == patient()["name"]  # a data type is kept whole


def test_summary_drops_a_primitive_s_extension_sibling_with_it() -> None:
    kept = subset_resource(patient(), SUMMARY)
    assert "language" not in kept and "_language" not in kept
    assert kept["_birthDate"] == patient()["_birthDate"]


def test_summary_cuts_backbone_elements_to_their_summary_elements() -> None:
    kept = subset_resource(observation(), SUMMARY)
    assert kept["component"] == [
        {"code": {"text": "Systolic"}, "valueQuantity": {"value": 150, "unit": "mmHg"}}
    ]
    assert "note" not in kept and "text" not in kept
    link = subset_resource(patient(), SUMMARY)["link"]
    assert link == [{"other": {"reference": "Patient/p2"}, "type": "seealso"}]


def test_summary_keeps_data_types_whole_even_those_built_on_backbone_element() -> None:
    """Timing is a BackboneElement in R4 but a data type, not part of Observation."""
    assert subset_resource(observation(), SUMMARY)["effectiveTiming"] == {
        "id": "t1",
        "event": ["2024-03-01T10:00:00Z"],
    }


def test_summary_drops_backbone_elements_left_empty() -> None:
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "participant": [
            {"period": {"start": "2024-01-01"}},
            {"individual": {"reference": "Practitioner/x"}, "period": {"start": "2024-01-01"}},
        ],
    }
    kept = subset_resource(encounter, SUMMARY)
    assert kept["participant"] == [{"individual": {"reference": "Practitioner/x"}}]
    only_periods = {**encounter, "participant": [{"period": {"start": "2024-01-01"}}]}
    assert "participant" not in subset_resource(only_periods, SUMMARY)


def test_summary_keeps_mandatory_elements_that_are_not_summary_elements() -> None:
    """Appointment.participant (1..*) is not marked summary; the subset stays valid."""
    appointment = example("Appointment")
    assert "participant" in subset_resource(appointment, SUMMARY)


# -- _summary=text and data ----------------------------------------------------------------------


def test_text_keeps_text_id_meta_and_mandatory_elements() -> None:
    assert set(subset_resource(observation(), TEXT)) == {
        "resourceType",
        "id",
        "meta",
        "text",
        "status",
        "code",
    }
    assert set(subset_resource(patient(), TEXT)) == {"resourceType", "id", "meta", "text"}


def test_data_drops_only_the_text() -> None:
    kept = subset_resource(patient(), DATA)
    whole = patient()
    del whole["text"]
    del kept["meta"]["tag"]
    assert kept == whole


# -- _elements -----------------------------------------------------------------------------------


def test_elements_keep_what_is_named_and_what_makes_a_resource() -> None:
    kept = subset_resource(patient(), elements("name"))
    assert set(kept) == {"resourceType", "id", "meta", "name"}
    assert kept["name"] == patient()["name"]


def test_elements_always_keep_mandatory_elements() -> None:
    kept = subset_resource(observation(), elements("subject"))
    assert set(kept) == {"resourceType", "id", "meta", "status", "code", "subject"}


def test_elements_name_a_choice_by_its_base_or_by_one_form() -> None:
    assert "valueQuantity" in subset_resource(observation(), elements("value"))
    assert "effectiveTiming" not in subset_resource(observation(), elements("value"))
    assert "valueQuantity" in subset_resource(observation(), elements("valueQuantity"))
    assert "valueQuantity" not in subset_resource(observation(), elements("valueString"))


def test_elements_keep_a_primitive_s_extension_sibling() -> None:
    kept = subset_resource(patient(), elements("birthDate"))
    assert kept["_birthDate"] == patient()["_birthDate"]
    assert "gender" not in kept


def test_element_names_sorts_known_from_unknown() -> None:
    known, unknown = element_names("Observation", "value[x], status,shoeSize,,shoeSize,name")
    assert known == {"value", "status"}
    assert unknown == ("shoeSize", "name")
    assert element_names("Patient", "valueQuantity")[1] == ("valueQuantity",)


def test_element_names_needs_a_name() -> None:
    with pytest.raises(InvalidSearch, match="at least one element name"):
        element_names("Patient", " , ")


# -- the SUBSETTED tag -------------------------------------------------------------------------


@pytest.mark.parametrize("subset", [SUMMARY, TEXT, DATA, elements("name")])
def test_every_subset_is_tagged_beside_the_tags_it_had(subset: Subset) -> None:
    tagged = {**patient(), "meta": {"versionId": "3", "tag": [{"system": "s", "code": "c"}]}}
    kept = subset_resource(tagged, subset)
    assert kept["meta"]["tag"][0] == {"system": "s", "code": "c"}
    assert kept["meta"]["tag"][1] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
        "code": "SUBSETTED",
        "display": "subsetted",
    }
    assert kept["meta"]["versionId"] == "3"


def test_the_tag_is_added_once_and_meta_made_where_there_was_none() -> None:
    once = subset_resource(subset_resource(patient(), SUMMARY), SUMMARY)
    assert len(once["meta"]["tag"]) == 1
    bare = {"resourceType": "Patient", "id": "p9", "name": [{"family": "X"}]}
    assert subsetted(subset_resource(bare, elements("name")))


def test_the_stored_resource_is_not_changed() -> None:
    original = patient()
    before = copy.deepcopy(original)
    subset_resource(original, SUMMARY)
    subset_resource(original, elements("name"))
    assert original == before


def test_subset_json_reads_stored_text() -> None:
    import orjson

    content = orjson.dumps(patient()).decode()
    kept = orjson.loads(subset_json(content, elements("gender")))
    assert kept["gender"] == "female" and "name" not in kept and subsetted(kept)


# -- every form leaves a valid resource ------------------------------------------------------------


@pytest.mark.parametrize("subset", [SUMMARY, TEXT, DATA, elements()])
@pytest.mark.parametrize("resource", all_examples(), ids=lambda r: r["resourceType"])
def test_every_example_stays_a_valid_resource(resource: dict[str, Any], subset: Subset) -> None:
    kept = subset_resource(resource, subset)
    valid_apart_from_its_tag(kept)
    assert set(kept) <= set(resource) | {"meta"}


def test_a_subset_is_refused_for_storage() -> None:
    kept = subset_resource(patient(), SUMMARY)
    with pytest.raises(InvalidResource) as refused:
        validate_resource(kept)
    assert [issue.expression for issue in refused.value.issues] == [("Patient.meta.tag[0]",)]
    assert "SUBSETTED" in refused.value.issues[0].diagnostics


_EXAMPLES = all_examples()


@given(st.data())
def test_any_elements_list_keeps_only_what_it_names_and_stays_valid(data: st.DataObject) -> None:
    resource = data.draw(st.sampled_from(_EXAMPLES))
    keys = sorted(k for k in resource if not k.startswith("_") and k != "resourceType")
    named = data.draw(st.lists(st.sampled_from(keys), unique=True))
    kept = subset_resource(resource, elements(*named))
    valid_apart_from_its_tag(kept)
    for key in named:
        assert kept[key] == resource[key] or key == "meta"
    minimal = subset_resource(resource, elements())
    plain = {key for key in kept if not key.startswith("_")}
    assert plain == {key for key in minimal if not key.startswith("_")} | set(named)
    assert all(key[1:] in kept for key in kept if key.startswith("_"))


# -- reading the parameters ------------------------------------------------------------------------


def test_parse_summary_names_the_values_it_takes() -> None:
    assert parse_summary("text") == "text"
    with pytest.raises(InvalidSearch, match="true, text, data, count, false, not 'yes'"):
        parse_summary("yes")


def test_search_reads_summary_and_elements_into_a_subset() -> None:
    assert parse_search("Patient", [("_summary", "true")], REGISTRY).subset == SUMMARY
    assert parse_search("Patient", [("_summary", "false")], REGISTRY).subset is None
    query = parse_search("Patient", [("_summary", "count")], REGISTRY)
    assert query.summary_count and query.subset is None
    query = parse_search("Patient", [("_elements", "name"), ("_elements", "gender")], REGISTRY)
    assert query.subset == elements("name", "gender")
    assert ("_elements", "name") in query.echo


def test_search_reports_unknown_elements_or_refuses_them_when_strict() -> None:
    query = parse_search("Patient", [("_elements", "name,shoeSize")], REGISTRY)
    assert query.subset == elements("name")
    assert query.ignored_elements == ["shoeSize"]
    with pytest.raises(InvalidSearch, match="Patient has no top-level element named 'shoeSize'"):
        parse_search("Patient", [("_elements", "name,shoeSize")], REGISTRY, handling="strict")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("_summary", "nonsense")], "_summary must be one of"),
        ([("_summary", "true"), ("_summary", "data")], "given twice"),
        ([("_summary", "true"), ("_elements", "name")], "cannot be used together"),
        ([("_elements", "name"), ("_summary", "count")], "cannot be used together"),
        ([("_summary", "text"), ("_revinclude", "Observation:subject")], "_summary=text"),
        ([("_elements:exclude", "name")], "_elements:exclude is not supported"),
        ([("_elements", "")], "at least one element name"),
    ],
)
def test_search_refuses_what_has_no_meaning(params: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InvalidSearch, match=message):
        parse_search("Patient", params, REGISTRY)


def test_summary_false_beside_elements_is_no_conflict() -> None:
    query = parse_search("Patient", [("_summary", "false"), ("_elements", "name")], REGISTRY)
    assert query.subset == elements("name")


def test_read_takes_summary_and_elements_and_leaves_other_parameters() -> None:
    assert parse_read_subset("Patient", [("_summary", "text"), ("family", "x")]) == TEXT
    assert parse_read_subset("Patient", [("_format", "json")]) is None
    assert parse_read_subset("Patient", [("_elements", "shoeSize")]) == elements()
    with pytest.raises(InvalidSearch, match="a read returns one resource"):
        parse_read_subset("Patient", [("_summary", "count")])
    with pytest.raises(InvalidSearch, match="shoeSize"):
        parse_read_subset("Patient", [("_elements", "shoeSize")], handling="strict")
