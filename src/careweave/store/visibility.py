"""Row-level visibility: which stored resources one user may see, as SQL the store applies.

The access layer (careweave.access.policy) decides *who* may see *what* and describes it with
the plain data below; this module turns that description into SQL conditions over the search
indexes, so searches, counts, includes and reads filter inside the database and a page is never
short of rows the user may see. The store knows nothing of roles or consent: it only knows
"patients reached through resources of type T whose parameter P refers to one of these".

A resource of a type in the Patient compartment is visible when it refers to at least one
patient through its compartment parameters and every patient it refers to is in the visible
set; a resource of such a type that refers to no patient (a staff-only Task, say) is visible to
staff. Other types (the directory: Organization, Practitioner ...) are visible when their type
is readable. Resources carrying a hidden security label are never visible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Table,
    and_,
    exists,
    false,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from careweave.fhir.index_values import extract_index_values
from careweave.fhir.search_parameters import SearchParameterRegistry
from careweave.store.tables import date_index, reference_index, resource, token_index
from careweave.store.value_lists import lists_as_arrays, lists_for, one_of

# The FHIR R4 Patient CompartmentDefinition's parameters for the types careweave serves (Task
# is not in R4's definition; its `patient` parameter is what ties a task to a person).
PATIENT_COMPARTMENT: Mapping[str, tuple[str, ...]] = {
    "AllergyIntolerance": ("patient", "recorder", "asserter"),
    "Appointment": ("actor",),
    "AuditEvent": ("patient",),
    "CarePlan": ("patient", "performer"),
    "CareTeam": ("patient", "participant"),
    "Communication": ("subject", "sender", "recipient"),
    "Condition": ("patient", "asserter"),
    "Consent": ("patient",),
    "DocumentReference": ("subject", "author"),
    "Encounter": ("patient",),
    "EpisodeOfCare": ("patient",),
    "Flag": ("patient",),
    "Goal": ("patient",),
    "Group": ("member",),
    "List": ("subject", "source"),
    "MedicationStatement": ("subject",),
    "Observation": ("subject", "performer"),
    "Provenance": ("patient",),
    "QuestionnaireResponse": ("subject", "author"),
    "RelatedPerson": ("patient",),
    "ServiceRequest": ("subject", "performer"),
    "Task": ("patient",),
}


@dataclass(frozen=True)
class LinkRule:
    """Patients reached through current resources of `resource_type` whose `link_param`
    refers to one of `targets` ((type, id) pairs); `patient_param` is the parameter naming the
    patient (`_id` when the resource is the Patient itself). `statuses` limits the linking
    resources by their `status` code (`closed_statuses` excludes codes instead); `has_tokens`
    requires (param, code) pairs; `lacks_param` requires that parameter to have no value.

    `ends_param` with `ended_by`: a link row counts only while it has not ended. Its end is
    the row of the date parameter `ends_param` with the same `composite` number (the element
    both were found in: a CareTeam participant's member and its period's end); a link whose
    end's range finishes at or before `ended_by` (naive UTC) has ended, one with no end row
    has not. The store knows no more of it than that: the access rules choose the moment."""

    resource_type: str
    patient_param: str
    link_param: str
    targets: tuple[tuple[str, str], ...]
    statuses: tuple[str, ...] = ()
    closed_statuses: tuple[str, ...] = ()
    has_tokens: tuple[tuple[str, str], ...] = ()
    lacks_param: str | None = None
    ends_param: str | None = None
    ended_by: datetime | None = None


@dataclass(frozen=True)
class PatientSet:
    """Patients in `ids`, or reached by any of `rules` (everyone, if `everyone`) and by none
    of `excluded`."""

    everyone: bool = False
    ids: frozenset[str] = frozenset()
    rules: tuple[LinkRule, ...] = ()
    excluded: tuple[LinkRule, ...] = ()

    @property
    def unrestricted(self) -> bool:
        return self.everyone and not self.excluded


@dataclass(frozen=True)
class LabelObjections:
    """A labelled resource is hidden when a patient it belongs to has a linking resource for
    one of `rules` (an objection Consent reaching this user's organisation) whose
    `label_param` holds the label's code: one condition for every label of `system`."""

    system: str
    rules: tuple[LinkRule, ...]
    label_param: str = "security-label"


@dataclass(frozen=True)
class Visibility:
    """What one user may see. `readable_types` bounds everything; `patients` bounds records in
    the Patient compartment; `hidden_labels` are (system, code) security labels never shown."""

    readable_types: frozenset[str]
    patients: PatientSet
    hidden_labels: frozenset[tuple[str, str]] = frozenset()
    label_objections: LabelObjections | None = None
    # Whether a compartment resource naming no patient is visible (staff: yes; a person: no).
    unlinked_records: bool = True

    def may_read_type(self, resource_type: str) -> bool:
        return resource_type in self.readable_types


# -- SQL ---------------------------------------------------------------------------------------


def _rule_reaches(
    rule: LinkRule,
    patient_id: ColumnElement[Any],
    label: tuple[str, ColumnElement[Any]] | None = None,
    *,
    per_row: bool = False,
) -> ColumnElement[bool]:
    """EXISTS a current resource for `rule` that names the patient `patient_id` (and links to
    one of its targets, when it has any; and holds the code `label[1]` in the token parameter
    `label[0]`, when given).

    `per_row` asks for the form a check of a few rows needs: see _rule_reaches_per_row."""
    if per_row:
        return _rule_reaches_per_row(rule, patient_id, label)
    linked = resource.alias("linked")
    conditions: list[ColumnElement[bool]] = []
    link = reference_index.alias("link")
    if rule.targets:
        # Targets of several types (a care team's participant: the Organization, the
        # PractitionerRole or the Practitioner) are an OR that SQLite cannot look up in the
        # (type, param, target) index: it used the index's (type, param) prefix alone and
        # read every participant of every care team for each row checked (0.3 ms a row).
        # Without the type (the linking resource's pk already fixes it) it looks up that
        # resource's own references by the (resource_pk, param) index.
        several = len({target_type for target_type, _ in rule.targets}) > 1
        of_type = link.c.resource_type == rule.resource_type
        if several and rule.patient_param != "_id":
            of_type = _not_indexed(link.c.resource_type) == rule.resource_type
        conditions += [
            of_type,
            link.c.param == rule.link_param,
            pairs_in(link.c.target_type, link.c.target_id, rule.targets),
            *_not_ended(rule, link),
        ]
    if rule.patient_param == "_id":
        assert rule.targets, "a rule on the Patient itself needs a link"
        anchor = link.c.resource_pk
        conditions += [
            linked.c.resource_type == "Patient",
            linked.c.id == patient_id,
            linked.c.deleted == false(),
        ]
        source = select(literal(1)).select_from(link).join(linked, linked.c.pk == anchor)
    else:
        names = reference_index.alias("names")
        anchor = names.c.resource_pk
        conditions += [
            names.c.resource_type == rule.resource_type,
            names.c.param == rule.patient_param,
            names.c.target_type == "Patient",
            names.c.target_id == patient_id,
            exists().where(linked.c.pk == anchor, linked.c.deleted == false()),
        ]
        source = select(literal(1)).select_from(names)
        if rule.targets:
            source = source.join(link, link.c.resource_pk == anchor)
    if rule.statuses or rule.closed_statuses:
        status = token_index.alias("status")
        codes = rule.statuses or rule.closed_statuses
        has_status = exists().where(
            status.c.resource_pk == anchor,
            status.c.param == "status",
            status.c.code.in_(list(codes)),
        )
        conditions.append(has_status if rule.statuses else not_(has_status))
    for param, code in rule.has_tokens:
        token = token_index.alias(f"has_{param.replace('-', '_')}")
        conditions.append(
            exists().where(
                token.c.resource_pk == anchor, token.c.param == param, token.c.code == code
            )
        )
    if label is not None:
        # The label's code comes from a query several levels out; SQLAlchemy correlates only
        # to the nearest enclosing SELECT unless told which table is this subquery's own.
        labelled = token_index.alias("labelled")
        conditions.append(
            select(literal(1))
            .where(
                labelled.c.resource_pk == anchor,
                labelled.c.param == label[0],
                labelled.c.code == label[1],
            )
            .correlate_except(labelled)
            .exists()
        )
    if rule.lacks_param is not None:
        any_token = token_index.alias("lacks")
        conditions.append(
            not_(
                exists().where(
                    any_token.c.resource_pk == anchor, any_token.c.param == rule.lacks_param
                )
            )
        )
    return source.where(*conditions).exists()


def _rule_reaches_per_row(
    rule: LinkRule,
    patient_id: ColumnElement[Any],
    label: tuple[str, ColumnElement[Any]] | None = None,
) -> ColumnElement[bool]:
    """_rule_reaches as a lookup for one patient at a time, for checking a few rows.

    PostgreSQL otherwise plans the rules in a point read as it would for a search: hashed
    subplans, or (in the generic plan it keeps for a prepared statement) starting from the
    rule's targets, walking all 12,275 patients registered at a practice to find out whether
    one of them is (50 ms; 0.2 ms this way). Every subquery here has OFFSET 0, which keeps the
    planner from hashing it or pulling it up into a join it may reorder: each starts from the
    patient, or from the one linking resource at hand, by index."""
    linked = resource.alias("linked")
    link = reference_index.alias("link")
    if rule.patient_param == "_id":
        assert rule.targets, "a rule on the Patient itself needs a link"
        anchor = linked.c.pk
        conditions: list[ColumnElement[bool]] = [
            linked.c.resource_type == "Patient",
            linked.c.id == patient_id,
            linked.c.deleted == false(),
        ]
        source = select(literal(1)).select_from(linked)
    else:
        names = reference_index.alias("names")
        anchor = names.c.resource_pk
        conditions = [
            names.c.resource_type == rule.resource_type,
            names.c.param == rule.patient_param,
            names.c.target_type == "Patient",
            names.c.target_id == _as_reference(patient_id),
            _lookup(linked, linked.c.pk == anchor, linked.c.deleted == false()),
        ]
        source = select(literal(1)).select_from(names)
    if rule.targets:
        conditions.append(
            _lookup(
                link,
                link.c.resource_pk == anchor,
                link.c.resource_type == rule.resource_type,
                link.c.param == rule.link_param,
                pairs_in(link.c.target_type, link.c.target_id, rule.targets),
                *_not_ended(rule, link),
            )
        )
    if rule.statuses or rule.closed_statuses:
        status = token_index.alias("status")
        codes = rule.statuses or rule.closed_statuses
        has_status = _lookup(
            status,
            status.c.resource_pk == anchor,
            status.c.param == "status",
            status.c.code.in_(list(codes)),
        )
        conditions.append(has_status if rule.statuses else not_(has_status))
    for param, code in rule.has_tokens:
        token = token_index.alias(f"has_{param.replace('-', '_')}")
        conditions.append(
            _lookup(
                token, token.c.resource_pk == anchor, token.c.param == param, token.c.code == code
            )
        )
    if label is not None:
        labelled = token_index.alias("labelled")
        conditions.append(
            _lookup(
                labelled,
                labelled.c.resource_pk == anchor,
                labelled.c.param == label[0],
                labelled.c.code == label[1],
            )
        )
    if rule.lacks_param is not None:
        any_token = token_index.alias("lacks")
        conditions.append(
            not_(
                _lookup(
                    any_token,
                    any_token.c.resource_pk == anchor,
                    any_token.c.param == rule.lacks_param,
                )
            )
        )
    return source.where(*conditions).offset(0).exists()


def _not_ended(rule: LinkRule, link: Any) -> list[ColumnElement[bool]]:
    """The condition that the link row `link` (an alias of the reference index) has not
    ended (LinkRule.ends_param); none when the rule's links do not end."""
    if rule.ends_param is None or rule.ended_by is None:
        return []
    ended = date_index.alias("ended")
    return [
        not_(
            _lookup(
                ended,
                ended.c.resource_pk == link.c.resource_pk,
                ended.c.param == rule.ends_param,
                ended.c.composite == link.c.composite,
                ended.c.end <= rule.ended_by,
            )
        )
    ]


def _lookup(table: Any, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """EXISTS a row of `table` (an alias) meeting `conditions`, evaluated as a subplan for
    each outer row (OFFSET 0), correlated to every other table it names."""
    return select(literal(1)).where(*conditions).correlate_except(table).offset(0).exists()


class _as_reference(FunctionElement[Any]):  # noqa: N801 (used as a function)
    """A patient id as compared with a reference's target_id.

    On PostgreSQL resource.id has the binary "C" collation and target_id the database's
    default; comparing them uses "C", which the (..., target_id, ...) index cannot serve, so
    "a resource naming this Patient" scanned every reference of its type (0.6 ms for each of
    1,128 Consents) or was planned as a hashed set of all 12,275 patients a practice reaches.
    Equality means the same under both collations (bytes); only the index use changes."""

    inherit_cache = True
    type = String()


@compiles(_as_reference)
def _as_reference_default(element: _as_reference, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(_as_reference, "postgresql")
def _as_reference_postgresql(element: _as_reference, compiler: Any, **kw: Any) -> str:
    return f'{compiler.process(element.clauses, **kw)} COLLATE "default"'


def _not_indexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`column || ''`: the same value, but no index can serve it. For "the patients this row
    names", SQLite otherwise picks the (target_type, target_id) index and scans every
    reference to any Patient for each candidate row (a search went from 1.6 ms to 20 s);
    it must start from the row's own references, the (resource_pk, param) index."""
    return column + ""


def pairs_in(
    type_column: Any, id_column: Any, pairs: Sequence[tuple[str, str]]
) -> ColumnElement[bool]:
    """(type, id) IN pairs, written per type so SQLite uses the (type, id) index.

    SQLite answers a row-value IN (VALUES ...) with a scan of the whole table, which made every
    write's integrity check cost a full pass over the store.
    """
    by_type: dict[str, list[str]] = {}
    for resource_type, resource_id in pairs:
        by_type.setdefault(resource_type, []).append(resource_id)
    return or_(*[and_(type_column == t, one_of(id_column, ids)) for t, ids in by_type.items()])


def patient_condition(
    patients: PatientSet, patient_id: ColumnElement[Any], *, per_row: bool = False
) -> ColumnElement[bool]:
    """True where `patient_id` (a column or expression) is in `patients`; `per_row` as for
    _rule_reaches."""
    if patients.everyone and not patients.excluded:
        return true()
    reached: list[ColumnElement[bool]] = [
        _rule_reaches(rule, patient_id, per_row=per_row) for rule in patients.rules
    ]
    related = true() if patients.everyone else (or_(*reached) if reached else false())
    if patients.excluded:
        excluded = [_rule_reaches(r, patient_id, per_row=per_row) for r in patients.excluded]
        related = and_(related, not_(or_(*excluded)))
    if patients.ids:
        return or_(one_of(patient_id, sorted(patients.ids)), related)
    return related


def resource_condition(
    visibility: Visibility, resource_type: str, r: Table, *, per_row: bool = False
) -> ColumnElement[bool]:
    """The WHERE condition for rows of `r` (resource table or alias) of `resource_type`.

    Building the expression costs far more than the database's work for a point read (each
    alias sets up its column collections), so the condition on the resource table itself is
    kept per (visibility, type): a user's requests share it, and SQLAlchemy's compiled-SQL
    cache then serves the statement.
    """
    if r is resource:
        return _cached_condition(visibility, resource_type, per_row, lists_as_arrays())
    return _resource_condition(visibility, resource_type, r, per_row=per_row)


@lru_cache(maxsize=1024)
def _cached_condition(
    visibility: Visibility, resource_type: str, per_row: bool, _arrays: bool
) -> ColumnElement[bool]:
    """`_arrays`: built for PostgreSQL (value_lists), so the two forms are kept apart."""
    return _resource_condition(visibility, resource_type, resource, per_row=per_row)


def _resource_condition(
    visibility: Visibility, resource_type: str, r: Table, *, per_row: bool = False
) -> ColumnElement[bool]:
    if not visibility.may_read_type(resource_type):
        return false()
    conditions: list[ColumnElement[bool]] = []
    if visibility.hidden_labels:
        label = token_index.alias("label")
        conditions.append(
            not_(
                exists().where(
                    label.c.resource_pk == r.c.pk,
                    label.c.param == "_security",
                    tuple_(label.c.system, label.c.code).in_(sorted(visibility.hidden_labels)),
                )
            )
        )
    if resource_type == "Patient":
        conditions.append(patient_condition(visibility.patients, r.c.id, per_row=per_row))
        conditions += _objection_conditions(visibility, r, lambda _code: r.c.id)
        return and_(*conditions)
    params = PATIENT_COMPARTMENT.get(resource_type)
    if params is None:
        return and_(*conditions) if conditions else true()
    named = reference_index.alias("named")
    names_patient = [
        named.c.resource_pk == r.c.pk,
        named.c.param.in_(params),
        _not_indexed(named.c.target_type) == "Patient",
    ]
    if not visibility.patients.unrestricted:
        outside = not_(patient_condition(visibility.patients, named.c.target_id, per_row=per_row))
        conditions.append(not_(exists().where(*names_patient, outside)))
    if not visibility.unlinked_records:
        conditions.append(exists().where(*names_patient))

    conditions += _objection_conditions(visibility, r, None, params)
    return and_(*conditions) if conditions else true()


def _objection_conditions(
    visibility: Visibility,
    r: Table,
    own_id: Callable[[Any], ColumnElement[Any]] | None,
    params: Sequence[str] = (),
) -> list[ColumnElement[bool]]:
    """Hide a labelled row when a patient it belongs to objects to that label reaching the
    user: the row's own id (a Patient, `own_id`) or a patient its compartment `params` name."""
    objections = visibility.label_objections
    if objections is None:
        return []
    label = token_index.alias("objected_label")
    reaches: Callable[[ColumnElement[Any]], ColumnElement[bool]] = lambda patient: or_(  # noqa: E731
        *[
            _rule_reaches(rule, patient, (objections.label_param, label.c.code))
            for rule in objections.rules
        ]
    )
    if own_id is not None:
        objecting = reaches(own_id(None))
    else:
        named_by = reference_index.alias("objecting")
        objecting = (
            select(literal(1))
            .where(
                named_by.c.resource_pk == r.c.pk,
                named_by.c.param.in_(params),
                _not_indexed(named_by.c.target_type) == "Patient",
                reaches(named_by.c.target_id),
            )
            .correlate_except(named_by)
            .exists()
        )
    # Nested three deep: each subquery names its own table, the rest correlate outwards.
    # OFFSET 0 keeps PostgreSQL from flattening this into an anti-join that evaluated the
    # objection check for every labelled resource in the store rather than for this row's
    # few labels (3.8 s instead of 20 ms for a social worker's count of 20,000 people).
    return [
        not_(
            select(literal(1))
            .where(
                label.c.resource_pk == r.c.pk,
                label.c.param == "_security",
                label.c.system == objections.system,
                objecting,
            )
            .correlate_except(label)
            .offset(0)
            .exists()
        )
    ]


FEW_ROWS = 200
"""Up to this many rows of a type, visible_pks on PostgreSQL checks each row's patients by
index lookups (per_row) rather than hashing every patient a rule reaches."""


def visible_pks(
    conn: Connection,
    visibility: Visibility,
    rows: Iterable[tuple[int, str]],
    *,
    reached: frozenset[str] | set[str] = frozenset(),
    patient_ids: Mapping[int, str] | None = None,
) -> set[int]:
    """Which of `rows` ((pk, resource_type) of current resources) `visibility` lets through.

    Several rows of the patient compartment (a search's `_include`d and `_revinclude`d rows:
    a person summary's conditions, medicines, encounters...) are checked together from
    their index rows (_visible_in_bulk): two or three small statements whatever the number
    of types, instead of one statement per type carrying the whole access condition, whose
    building and cache-key generation cost more than the database's work. One row (a point
    read) keeps the single cached statement. `reached`: patients already known to pass the
    relationship rules in this request (a search's matched Patients, and the patients its
    matched records name), not asked again; a Patient row among them, whose id is given in
    `patient_ids`, then needs only its labels looked at."""
    with lists_for(conn):
        return _visible_pks(conn, visibility, rows, reached, patient_ids or {})


def _visible_pks(
    conn: Connection,
    visibility: Visibility,
    rows: Iterable[tuple[int, str]],
    reached: frozenset[str] | set[str],
    patient_ids: Mapping[int, str],
) -> set[int]:
    by_type: dict[str, list[int]] = {}
    for pk, resource_type in rows:
        by_type.setdefault(resource_type, []).append(pk)
    found: set[int] = set()
    compartment = {
        t: pks
        for t, pks in by_type.items()
        if t in PATIENT_COMPARTMENT and visibility.may_read_type(t)
    }
    own_ids = {
        pk: patient_ids[pk]
        for pk in by_type.get("Patient", ())
        if patient_ids.get(pk) in reached and visibility.may_read_type("Patient")
    }
    if own_ids:
        compartment["Patient"] = sorted(own_ids)
        by_type["Patient"] = [pk for pk in by_type["Patient"] if pk not in own_ids]
    if sum(len(pks) for pks in compartment.values()) > 1 or reached:
        found |= _visible_in_bulk(conn, visibility, compartment, reached, own_ids)
        # What is left: types outside the compartment, and Patients not already reached.
        by_type = {
            t: pks
            for t, pks in by_type.items()
            if pks and (t not in compartment or (t == "Patient" and own_ids))
        }
    r = resource
    # SQLite already looks up each row's patients by index, and builds and caches the
    # per-row form's larger statement more slowly (1.2 ms a point read against 1.5-2 ms).
    per_row = conn.dialect.name == "postgresql"
    for resource_type, pks in by_type.items():
        if not visibility.may_read_type(resource_type):
            continue
        condition = _cached_condition(
            visibility, resource_type, per_row and len(pks) <= FEW_ROWS, lists_as_arrays()
        )
        found.update(
            conn.execute(select(r.c.pk).where(_one_of(r.c.pk, pks), condition)).scalars().all()
        )
    return found


def _visible_in_bulk(
    conn: Connection,
    visibility: Visibility,
    by_type: Mapping[str, Sequence[int]],
    reached: frozenset[str] | set[str] = frozenset(),
    own_ids: Mapping[int, str] | None = None,
) -> set[int]:
    """The rows of patient-compartment types that `visibility` lets through, decided as
    _resource_condition decides in SQL: every patient a row names through its compartment
    parameters is one the user reaches (and it names one, for a person's own view), none of
    its security labels is hidden, and no patient it names objects to one of its labels
    reaching the user. Patient rows may come too, with their ids in `own_ids`: a Patient
    "names" itself, and its own labels and objections are then decided the same way."""
    own_ids = own_ids or {}
    named = named_patients(conn, {t: pks for t, pks in by_type.items() if t != "Patient"})
    named.update({pk: {own_ids[pk]} for pk in by_type.get("Patient", ())})
    pks = sorted(named)
    everyone = {patient for patients in named.values() for patient in patients}
    reached = set(reached) & everyone
    reached |= allowed_patients(
        conn, visibility, everyone - reached, per_row=conn.dialect.name == "postgresql"
    )
    passed = [
        pk for pk in pks if (named[pk] or visibility.unlinked_records) and named[pk] <= reached
    ]
    objections = visibility.label_objections
    if not passed or (not visibility.hidden_labels and objections is None):
        return set(passed)
    labels: dict[int, set[tuple[str, str]]] = {}
    token = token_index
    for start in range(0, len(passed), _BATCH):
        batch = passed[start : start + _BATCH]
        for pk, system, code in conn.execute(
            select(token.c.resource_pk, token.c.system, token.c.code).where(
                one_of(token.c.resource_pk, batch), token.c.param == "_security"
            )
        ):
            labels.setdefault(pk, set()).add((str(system or ""), str(code or "")))
    objected: dict[tuple[str, str], bool] = {}

    def objects(patient: str, code: str) -> bool:
        if objections is None:
            return False
        if (patient, code) not in objected:
            objected[patient, code] = _objects(conn, objections, patient, code)
        return objected[patient, code]

    visible = set()
    for pk in passed:
        held = labels.get(pk, set())
        if held & visibility.hidden_labels:
            continue
        codes = {code for system, code in held if objections and system == objections.system}
        if any(objects(patient, code) for patient in named[pk] for code in codes):
            continue
        visible.add(pk)
    return visible


_BATCH = 500
"""Rows per statement in _visible_in_bulk (SQLite allows 32,766 parameters; PostgreSQL more)."""


def named_patients(conn: Connection, by_type: Mapping[str, Sequence[int]]) -> dict[int, set[str]]:
    """The patients each row (pks by patient-compartment type) names through its compartment
    parameters, from the reference index."""
    type_of = {pk: t for t, pks in by_type.items() for pk in pks}
    pks = sorted(type_of)
    params = sorted({p for t in by_type for p in PATIENT_COMPARTMENT[t]})
    named: dict[int, set[str]] = {pk: set() for pk in pks}
    ref = reference_index
    with lists_for(conn):
        for start in range(0, len(pks), _BATCH):
            batch = pks[start : start + _BATCH]
            for pk, param, patient in conn.execute(
                select(ref.c.resource_pk, ref.c.param, ref.c.target_id).where(
                    one_of(ref.c.resource_pk, batch),
                    ref.c.param.in_(params),
                    _not_indexed(ref.c.target_type) == "Patient",
                )
            ):
                if param in PATIENT_COMPARTMENT[type_of[pk]]:
                    named[pk].add(patient)
    return named


def _one_of(column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """`column = value` for one value (a point read), IN for several."""
    return column == values[0] if len(values) == 1 else one_of(column, values)


def allowed_patients(
    conn: Connection, visibility: Visibility, ids: Iterable[str], *, per_row: bool = False
) -> set[str]:
    """Those of the patient `ids` that are in the visible set (`per_row` as for
    _rule_reaches: the form for a few ids on PostgreSQL)."""
    with lists_for(conn):
        return _allowed_patients(conn, visibility, ids, per_row)


def _allowed_patients(
    conn: Connection, visibility: Visibility, ids: Iterable[str], per_row: bool
) -> set[str]:
    wanted = sorted(set(ids))
    if not wanted or visibility.patients.unrestricted:
        return set(wanted)
    r = resource
    found: set[str] = set()
    for start in range(0, len(wanted), _BATCH):
        rows = conn.execute(
            select(r.c.id).where(
                r.c.resource_type == "Patient",
                one_of(r.c.id, wanted[start : start + _BATCH]),
                _cached_patient_condition(
                    visibility.patients, per_row and len(wanted) <= FEW_ROWS, lists_as_arrays()
                ),
            )
        )
        found.update(rows.scalars().all())
    return found


@lru_cache(maxsize=1024)
def _cached_patient_condition(
    patients: PatientSet, per_row: bool, _arrays: bool
) -> ColumnElement[bool]:
    """patient_condition on the resource table's id, kept per user's patient set: building it
    (an alias and its columns per rule) cost more than running it."""
    return patient_condition(patients, resource.c.id, per_row=per_row)


def patients_named(
    resource_type: str, content: Mapping[str, Any], registry: SearchParameterRegistry
) -> set[str]:
    """The patients a resource's JSON names through its compartment parameters."""
    if resource_type == "Patient":
        return {str(content.get("id"))}
    params = PATIENT_COMPARTMENT.get(resource_type)
    if params is None:
        return set()
    values = extract_index_values(content, registry)
    return {
        ref.target_id
        for ref in values.references
        if ref.param in params and ref.target_type == "Patient" and ref.target_id
    }


def labels_of(content: Mapping[str, Any]) -> set[tuple[str, str]]:
    meta = content.get("meta")
    if not isinstance(meta, dict):
        return set()
    return {
        (str(label.get("system", "")), str(label.get("code", "")))
        for label in meta.get("security", ())
        if isinstance(label, dict)
    }


def content_visible(
    conn: Connection,
    visibility: Visibility,
    resource_type: str,
    content: str | Mapping[str, Any],
    registry: SearchParameterRegistry,
) -> bool:
    """Whether one version's JSON (an old version, or what a deleted resource last held) is
    visible: checked from the JSON itself, because index rows describe only current versions.
    Label objections are checked through the patients' consent records as they are now."""
    if not visibility.may_read_type(resource_type):
        return False
    body = orjson.loads(content) if isinstance(content, str) else content
    labels = labels_of(body)
    if labels & visibility.hidden_labels:
        return False
    patients = patients_named(resource_type, body, registry)
    if resource_type in PATIENT_COMPARTMENT or resource_type == "Patient":
        if not patients:
            return visibility.unlinked_records and resource_type != "Patient"
        if allowed_patients(conn, visibility, patients) != patients:
            return False
    objections = visibility.label_objections
    if objections is not None:
        codes = {code for system, code in labels if system == objections.system}
        if any(_objects(conn, objections, patient, code) for patient in patients for code in codes):
            return False
    return True


def _objects(conn: Connection, objections: LabelObjections, patient: str, code: str) -> bool:
    r = resource
    label = (objections.label_param, literal(code))
    condition = or_(*[_rule_reaches(rule, r.c.id, label) for rule in objections.rules])
    row = conn.execute(
        select(r.c.pk).where(r.c.resource_type == "Patient", r.c.id == patient, condition)
    ).first()
    return row is not None
