"""Every per-person population measure as one SQL query over the projection's tables.

The query is the columnar twin of `careweave.population.person_row.person_row` (itself built on
`measures_for`, the reference), and the tests hold the two to the same row for every person. It
is written in the subset of SQL that DuckDB and Spark SQL both run unchanged, so the measure
definitions are one text whether a place runs on one machine or a nation on a cluster:

* CTEs, inner and left joins, GROUP BY, CASE, COALESCE, COUNT(DISTINCT), ROW_NUMBER() OVER
  (PARTITION BY ... ORDER BY ... NULLS LAST), UNION ALL, CAST(... AS DOUBLE | INTEGER),
  EXTRACT(YEAR | MONTH | DAY FROM date), DATE 'yyyy-mm-dd' literals;
* no date arithmetic: every window's first day is worked out here in Python and written into
  the query as a literal, so there is no DATEADD/INTERVAL to differ between engines;
* no double quotes (Spark reads them as strings), no column aliases reused in the same SELECT,
  no SUM of booleans, no dialect-only functions.

No expression had to differ between the two engines, so there is no dialect table.

The thresholds and value sets (which statuses count, the classes of an admission, the
polypharmacy counts, the eFI cut-offs) are the reference modules' own constants, written into
the query as literals when it is rendered; so are the complex multimorbidity thresholds the
place chose (`ComplexThresholds`, given to `person_measures_query`). The code lists are tables
(`code_list_tables`) loaded from the same versioned files as the reference reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Final

from careweave.coordination.caseload import years_after
from careweave.population.cambridge_multimorbidity import (
    LAST_YEAR_DAYS,
    REPEAT_ISSUES,
    RULES,
    AllOf,
    AnyOf,
    Atom,
    CambridgeCodeLists,
    Diagnosed,
    NoneOf,
    Prescribed,
    Rule,
    all_atoms,
    cambridge_code_lists,
    diagnosis_lists,
    medicine_lists,
)
from careweave.population.clinical_frailty_scale import CFS_LEVELS, RECORDED_STATUSES
from careweave.population.efi import (
    CATEGORY_UPPER_COUNTS,
    DEFICIT_COUNT,
    POLYPHARMACY,
    POLYPHARMACY_MEDICINES,
    EfiCodeList,
    efi_code_list,
)
from careweave.population.ethnicity import ETHNIC_GROUP_OF, NOT_KNOWN
from careweave.population.flatten import ACUTE_COURSE, CONTINUOUS_COURSE
from careweave.population.medicines import (
    MEDICINE_WINDOW_DAYS,
    ORDER_INTENTS,
    TAKEN_REQUEST,
    TAKEN_STATEMENT,
    window_start,
)
from careweave.population.multimorbidity import (
    DEFAULT_COMPLEX_THRESHOLDS,
    MULTIMORBIDITY_CONDITIONS,
    ComplexThresholds,
    LongTermConditionList,
    long_term_condition_list,
)
from careweave.population.person_measures import (
    ADMISSION_CLASSES,
    ATTENDANCE_CLASSES,
    CARE_HOME_KINDS,
    CARER_CODES,
    DID_NOT_HAPPEN,
    HEAVY_POLYPHARMACY,
    HOSPITAL_WINDOW_DAYS,
    LIVING_ARRANGEMENTS,
    V3_ACT_CODE,
)
from careweave.population.person_row import AGE_BANDS, OLDER_AGE, TERMINALLY_ILL
from careweave.population.record import NOT_AN_OBSERVATION, NOT_TRUE_OF_THE_PERSON, SNOMED

ENDED_EPISODE: Final = ("entered-in-error", "cancelled", "planned", "waitlist")
"""EpisodeOfCare statuses that were never (or are not yet) a stay (person_measures' rule)."""

MEASURE_COLUMNS: Final = (
    "patient_id",
    "as_of",
    "age",
    "deceased",
    "efi_deficits",
    "efi_score",
    "efi_category",
    "long_term_conditions",
    "body_systems",
    "multimorbidity",
    "complex_multimorbidity",
    "cambridge_conditions",
    "cambridge_score",
    "medicines",
    "polypharmacy",
    "admissions",
    "ae_attendances",
    "living_arrangement",
    "lives_alone",
    "care_home",
    "unpaid_carer",
    "imd_decile",
    "clinical_frailty_scale",
    "sex",
    "ethnic_category",
    "ethnic_group",
    "practice_id",
    "lsoa",
    "age_band",
    "has_care_plan",
    "care_plan_last_reviewed",
    "care_plan_reviewed_12m",
    "care_plan_review_overdue",
    "end_of_life",
    "segment",
)
"""The columns of a measure row, in order: `PersonMeasures.row()`'s, then person_row's."""


def literal(value: str | int | date) -> str:
    """A SQL literal both engines read the same way (strings single-quoted, quotes doubled)."""
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def one_of(values: Iterable[str]) -> str:
    """A parenthesised list of string literals for IN, in a stable order."""
    return "(" + ", ".join(literal(v) for v in sorted(values)) + ")"


@dataclass(frozen=True)
class MeasureDays:
    """The days a measure query is written for: the as-of day and each window's first day."""

    as_of: date
    medicines_since: date
    hospital_since: date
    year_ago: date

    @classmethod
    def of(
        cls,
        as_of: date,
        *,
        hospital_window_days: int = HOSPITAL_WINDOW_DAYS,
        medicine_window_days: int = MEDICINE_WINDOW_DAYS,
    ) -> MeasureDays:
        return cls(
            as_of=as_of,
            medicines_since=window_start(as_of, medicine_window_days),
            hospital_since=window_start(as_of, hospital_window_days),
            year_ago=years_after(as_of, -1),
        )


@dataclass(frozen=True)
class CodeTable:
    """A small lookup table the query joins: its columns and rows (all strings)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


CODE_TABLES: Final = ("efi_codes", "ltc_codes", "cms_codes", "living_codes", "ethnic_groups")
"""The lookup tables the measure query joins (`code_list_tables` fills them)."""


def code_list_tables(
    efi_codes: EfiCodeList | None = None,
    long_term_conditions: LongTermConditionList | None = None,
    cambridge: CambridgeCodeLists | None = None,
) -> dict[str, CodeTable]:
    """The lookup tables the measure query joins, from the reference's code lists."""
    efi = efi_codes or efi_code_list()
    ltc = long_term_conditions or long_term_condition_list()
    cms = cambridge or cambridge_code_lists()
    return {
        "efi_codes": CodeTable(
            ("snomed_code", "deficit"),
            tuple(sorted((code, d) for code, found in efi.deficits_of.items() for d in found)),
        ),
        "ltc_codes": CodeTable(
            ("snomed_code", "condition_name", "body_system"),
            tuple(
                (code, condition, ltc.body_system_of[condition])
                for code, condition in sorted(ltc.condition_of.items())
            ),
        ),
        "cms_codes": CodeTable(
            ("snomed_code", "list_name"),
            tuple(
                (code, code_list)
                for code, lists in sorted(cms.lists_of.items())
                for code_list in sorted(lists)
            ),
        ),
        "living_codes": CodeTable(
            ("value_code", "arrangement"), tuple(sorted(LIVING_ARRANGEMENTS.items()))
        ),
        "ethnic_groups": CodeTable(
            ("category", "ethnic_group"), tuple(sorted(ETHNIC_GROUP_OF.items()))
        ),
    }


def values_query(table: CodeTable) -> str:
    """A SELECT of a lookup table's rows, for engines loading it from the query itself."""
    rows = ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in table.rows)
    return f"SELECT * FROM (VALUES {rows}) AS t({', '.join(table.columns)})"


def _category_case(count: str) -> str:
    limits = list(CATEGORY_UPPER_COUNTS.items())
    whens = " ".join(f"WHEN {count} <= {upper} THEN {literal(name)}" for name, upper in limits[:-1])
    return f"CASE {whens} ELSE {literal(limits[-1][0])} END"


def _age_band_case(age: str) -> str:
    whens = [
        f"WHEN {age} IS NULL THEN 'unknown'",
        f"WHEN {age} < {AGE_BANDS[0]} THEN 'under {AGE_BANDS[0]}'",
    ]
    for low, high in pairwise(AGE_BANDS):
        whens.append(f"WHEN {age} < {high} THEN '{low}-{high - 1}'")
    return f"CASE {' '.join(whens)} ELSE '{AGE_BANDS[-1]}+' END"


def _age(days: MeasureDays) -> str:
    day = days.as_of
    month = "EXTRACT(MONTH FROM p.birth_date)"
    return (
        "CASE WHEN p.birth_date IS NULL THEN NULL ELSE CAST("
        f"{day.year} - EXTRACT(YEAR FROM p.birth_date) - CASE WHEN {month} > {day.month} "
        f"OR ({month} = {day.month} AND EXTRACT(DAY FROM p.birth_date) > {day.day}) "
        "THEN 1 ELSE 0 END AS INTEGER) END"
    )


def _in_scope(scope: str | None, column: str) -> str:
    return f"AND {column} IN (SELECT person_id FROM {scope})" if scope else ""


def _taken(as_of: date, since: date) -> str:
    """A `medicines` row is a repeat medicine taken between `since` and `as_of` (the rule of
    `careweave.population.medicines.medicines_taken`)."""
    d, first = literal(as_of), literal(since)
    overlaps = (
        f"start_day IS NOT NULL AND start_day <= {d} AND (end_day IS NULL OR end_day >= {first})"
    )
    return f"""(
      (resource_type = 'MedicationStatement' AND status IN {one_of(TAKEN_STATEMENT)} AND {overlaps})
      OR (resource_type = 'MedicationRequest'
        AND status IN {one_of(TAKEN_REQUEST)}
        AND intent IN {one_of(ORDER_INTENTS)}
        AND (course IS NULL OR course <> {literal(ACUTE_COURSE)})
        AND (
          (has_validity AND {overlaps})
          OR (NOT has_validity AND authored_day IS NOT NULL AND authored_day <= {d}
            AND (authored_day >= {first}
              OR (course = {literal(CONTINUOUS_COURSE)} AND status = 'active')))
        ))
    )"""


def person_measures_query(
    days: MeasureDays,
    *,
    scope: str | None = None,
    cambridge: CambridgeCodeLists | None = None,
    complex_thresholds: ComplexThresholds = DEFAULT_COMPLEX_THRESHOLDS,
) -> str:
    """The SELECT of every measure row (MEASURE_COLUMNS) as of `days.as_of`.

    `scope` names a table with a `person_id` column: only those people are measured (an
    incremental refresh); None measures everyone in `people`. `cambridge`: the Cambridge
    Multimorbidity Score's weights (its codes are the `cms_codes` table). `complex_thresholds`:
    the definition of complex multimorbidity (a projection's is in its state: pass that one,
    or rows measured on other days will not match the projection's own).
    """
    least_conditions = complex_thresholds.conditions
    least_systems = complex_thresholds.body_systems
    only = _in_scope(scope, "person_id")
    d = literal(days.as_of)
    since_h = literal(days.hospital_since)
    covers = f"start_day IS NOT NULL AND start_day <= {d} AND (end_day IS NULL OR end_day >= {d})"
    low, high = min(CFS_LEVELS), max(CFS_LEVELS)
    return f"""
WITH
scope_people AS (
  SELECT * FROM people WHERE TRUE {only}
),
true_entries AS (
  SELECT person_id, code, entry_day
  FROM coded_entries
  WHERE code_system = {literal(SNOMED)}
    AND entry_day IS NOT NULL AND entry_day <= {d}
    AND (
      (resource_type = 'Condition'
        AND (verification IS NULL OR verification NOT IN {one_of(NOT_TRUE_OF_THE_PERSON)}))
      OR (resource_type = 'Observation'
        AND (status IS NULL OR status NOT IN {one_of(NOT_AN_OBSERVATION)}))
    )
    {only}
),
medicines_taken AS (
  SELECT person_id, COUNT(DISTINCT medicine_key) AS medicines
  FROM medicines
  WHERE medicine_key IS NOT NULL
    AND {_taken(days.as_of, days.medicines_since)}
    {only}
  GROUP BY person_id
),
deficits AS (
  SELECT person_id, COUNT(*) AS deficits
  FROM (
    SELECT DISTINCT e.person_id, c.deficit
    FROM true_entries e JOIN efi_codes c ON c.snomed_code = e.code
    UNION ALL
    SELECT person_id, {literal(POLYPHARMACY)} AS deficit
    FROM medicines_taken WHERE medicines >= {POLYPHARMACY_MEDICINES}
  ) found
  GROUP BY person_id
),
conditions AS (
  SELECT e.person_id, COUNT(DISTINCT l.condition_name) AS conditions,
    COUNT(DISTINCT l.body_system) AS body_systems
  FROM true_entries e JOIN ltc_codes l ON l.snomed_code = e.code
  GROUP BY e.person_id
),
{_cambridge_ctes(days.as_of, only, cambridge or cambridge_code_lists())},
hospital AS (
  SELECT person_id,
    SUM(CASE WHEN class_code IN {one_of(ADMISSION_CLASSES)} THEN 1 ELSE 0 END) AS admissions,
    SUM(CASE WHEN class_code IN {one_of(ATTENDANCE_CLASSES)} THEN 1 ELSE 0 END) AS attendances
  FROM encounters
  WHERE class_system = {literal(V3_ACT_CODE)}
    AND (status IS NULL OR status NOT IN {one_of(DID_NOT_HAPPEN)})
    AND start_day IS NOT NULL AND start_day >= {since_h} AND start_day <= {d}
    {only}
  GROUP BY person_id
),
living_values AS (
  SELECT h.person_id, h.resource_pk, h.entry_day, k.arrangement,
    ROW_NUMBER() OVER (PARTITION BY h.resource_pk ORDER BY h.value_position) AS value_rank
  FROM household h JOIN living_codes k ON k.value_code = h.value_code
  WHERE h.entry_day IS NOT NULL AND h.entry_day <= {d}
    AND (h.status IS NULL OR h.status NOT IN {one_of(NOT_AN_OBSERVATION)})
    {_in_scope(scope, "h.person_id")}
),
living AS (
  SELECT person_id, arrangement
  FROM (
    SELECT person_id, arrangement,
      ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY entry_day DESC, resource_pk DESC)
        AS latest
    FROM living_values WHERE value_rank = 1
  ) ranked
  WHERE latest = 1
),
frailty_rating AS (
  SELECT person_id, score
  FROM (
    SELECT person_id, score,
      ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY entry_day DESC, resource_pk DESC)
        AS latest
    FROM frailty_scale
    WHERE status IN {one_of(RECORDED_STATUSES)} AND score >= {low} AND score <= {high}
      AND entry_day IS NOT NULL AND entry_day <= {d}
      {only}
  ) ranked
  WHERE latest = 1
),
care_home_episode AS (
  SELECT person_id, kind
  FROM (
    SELECT person_id, kind,
      ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY resource_pk, kind_position) AS first_found
    FROM care_episodes
    WHERE kind IN {one_of(CARE_HOME_KINDS)}
      AND (status IS NULL OR status NOT IN {one_of(ENDED_EPISODE)})
      AND {covers}
      {only}
  ) ranked
  WHERE first_found = 1
),
carer AS (
  SELECT DISTINCT person_id
  FROM carers
  WHERE relationship IN {one_of(CARER_CODES)}
    AND ((has_period AND {covers}) OR (NOT has_period AND NOT inactive))
    {only}
),
care_plan AS (
  SELECT person_id, last_reviewed, review_due, anticipatory_care
  FROM (
    SELECT person_id, last_reviewed, review_due, anticipatory_care,
      ROW_NUMBER() OVER (
        PARTITION BY person_id
        ORDER BY created_day DESC NULLS LAST, last_updated DESC NULLS LAST, resource_pk
      ) AS newest
    FROM care_plans
    WHERE status = 'active' AND personalised
      AND (created_day IS NULL OR created_day <= {d})
      {only}
  ) ranked
  WHERE newest = 1
),
measured AS (
  SELECT
    p.person_id AS patient_id,
    {literal(days.as_of.isoformat())} AS as_of,
    {_age(days)} AS age,
    CASE WHEN p.died_on IS NOT NULL THEN p.died_on <= {d} ELSE p.deceased_flag END AS deceased,
    COALESCE(x.deficits, 0) AS efi_deficits,
    COALESCE(c.conditions, 0) AS long_term_conditions,
    COALESCE(c.body_systems, 0) AS body_systems,
    COALESCE(s.conditions, 0) AS cambridge_conditions,
    COALESCE(s.hundredths, 0) AS cambridge_hundredths,
    COALESCE(m.medicines, 0) AS medicines,
    COALESCE(h.admissions, 0) AS admissions,
    COALESCE(h.attendances, 0) AS ae_attendances,
    l.arrangement AS living_recorded,
    e.kind AS episode_kind,
    k.person_id IS NOT NULL AS carer_recorded,
    p.imd_decile,
    f.score AS clinical_frailty_scale,
    p.sex,
    p.ethnic_category,
    COALESCE(g.ethnic_group, {literal(NOT_KNOWN)}) AS ethnic_group,
    p.practice_id,
    p.lsoa,
    cp.person_id IS NOT NULL AS has_care_plan,
    cp.last_reviewed AS care_plan_last_reviewed,
    COALESCE(cp.last_reviewed >= {literal(days.year_ago)} AND cp.last_reviewed <= {d}, FALSE)
      AS care_plan_reviewed_12m,
    COALESCE(cp.review_due < {d}, FALSE) AS care_plan_review_overdue,
    COALESCE(cp.anticipatory_care, FALSE) OR COALESCE(f.score = {TERMINALLY_ILL}, FALSE)
      AS end_of_life_recorded
  FROM scope_people p
  LEFT JOIN deficits x ON x.person_id = p.person_id
  LEFT JOIN conditions c ON c.person_id = p.person_id
  LEFT JOIN cambridge s ON s.person_id = p.person_id
  LEFT JOIN medicines_taken m ON m.person_id = p.person_id
  LEFT JOIN hospital h ON h.person_id = p.person_id
  LEFT JOIN living l ON l.person_id = p.person_id
  LEFT JOIN care_home_episode e ON e.person_id = p.person_id
  LEFT JOIN carer k ON k.person_id = p.person_id
  LEFT JOIN frailty_rating f ON f.person_id = p.person_id
  LEFT JOIN care_plan cp ON cp.person_id = p.person_id
  LEFT JOIN ethnic_groups g ON g.category = p.ethnic_category
),
measure_rows AS (
  SELECT
    patient_id, as_of, age, deceased, efi_deficits,
    CAST(efi_deficits AS DOUBLE) / {DEFICIT_COUNT} AS efi_score,
    {_category_case("efi_deficits")} AS efi_category,
    long_term_conditions, body_systems,
    long_term_conditions >= {MULTIMORBIDITY_CONDITIONS} AS multimorbidity,
    long_term_conditions >= {least_conditions} AND body_systems >= {least_systems}
      AS complex_multimorbidity,
    cambridge_conditions,
    CAST(cambridge_hundredths AS DOUBLE) / 100 AS cambridge_score,
    medicines,
    medicines >= {HEAVY_POLYPHARMACY} AS polypharmacy,
    admissions, ae_attendances,
    CASE WHEN deceased THEN NULL ELSE living_recorded END AS living_arrangement,
    CASE WHEN deceased OR living_recorded IS NULL THEN NULL
      ELSE living_recorded = 'alone' END AS lives_alone,
    CASE WHEN deceased THEN NULL
      WHEN episode_kind IS NOT NULL THEN episode_kind
      WHEN living_recorded IN {one_of(CARE_HOME_KINDS)} THEN living_recorded END AS care_home,
    CASE WHEN deceased THEN FALSE ELSE carer_recorded END AS unpaid_carer,
    imd_decile, clinical_frailty_scale, sex, ethnic_category, ethnic_group, practice_id, lsoa,
    {_age_band_case("age")} AS age_band,
    has_care_plan, care_plan_last_reviewed, care_plan_reviewed_12m, care_plan_review_overdue,
    end_of_life_recorded AND NOT deceased AS end_of_life
  FROM measured
)
SELECT r.*, {_segment_case()} AS segment
FROM measure_rows r
"""


def _segment_case() -> str:
    """segment_of (careweave.population.person_row) in SQL."""
    frailty = " ".join(
        f"WHEN r.efi_category = {literal(c)} THEN {literal(c + '-frailty')}"
        for c in ("severe", "moderate", "mild")
    )
    return (
        f"CASE WHEN r.age IS NULL OR r.age < {OLDER_AGE} OR r.deceased THEN NULL "
        "WHEN r.end_of_life THEN 'end-of-life' "
        "WHEN r.care_home IS NOT NULL THEN 'care-home' "
        f"{frailty} "
        "WHEN r.multimorbidity THEN 'long-term-conditions' "
        "ELSE 'fit' END"
    )


def _cambridge_ctes(as_of: date, only: str, cambridge: CambridgeCodeLists) -> str:
    """The CTEs ending in `cambridge` (person_id, conditions, hundredths): the Cambridge
    Multimorbidity Score as `careweave.population.cambridge_multimorbidity` computes it.

    Each diagnosis list's latest entry and each medicine list's prescriptions are read once
    per person; every rule's atoms become one 0/1 column each, and each condition's rule a
    boolean expression over them, rendered from RULES itself."""
    d = literal(as_of)
    last_year = window_start(as_of, LAST_YEAR_DAYS)
    atoms = all_atoms()
    column = {atom: f"cms_atom_{n}" for n, atom in enumerate(atoms)}
    flags = ",\n    ".join(
        f"MAX(CASE WHEN {_atom_test(atom, as_of)} THEN 1 ELSE 0 END) AS {column[atom]}"
        for atom in atoms
    )
    weights = " + ".join(
        f"CASE WHEN {_rule_test(RULES[c], column)} THEN {cambridge.weight_of[c]} ELSE 0 END"
        for c in cambridge.conditions
    )
    counts = " + ".join(
        f"CASE WHEN {_rule_test(RULES[c], column)} THEN 1 ELSE 0 END" for c in cambridge.conditions
    )
    acute = (
        f"resource_type = 'MedicationRequest' AND status IN {one_of(TAKEN_REQUEST)} "
        f"AND intent IN {one_of(ORDER_INTENTS)} AND course = {literal(ACUTE_COURSE)} "
        f"AND authored_day IS NOT NULL AND authored_day >= {literal(last_year)} "
        f"AND authored_day <= {d}"
    )
    ever = (
        f"start_day IS NOT NULL AND start_day <= {d} AND ("
        f"(resource_type = 'MedicationStatement' AND status IN {one_of(TAKEN_STATEMENT)}) "
        f"OR (resource_type = 'MedicationRequest' AND status IN {one_of(TAKEN_REQUEST)} "
        f"AND intent IN {one_of(ORDER_INTENTS)}))"
    )
    return f"""cms_diagnoses AS (
  SELECT e.person_id, k.list_name, MAX(e.entry_day) AS latest_day
  FROM true_entries e JOIN cms_codes k ON k.snomed_code = e.code
  WHERE k.list_name IN {one_of(diagnosis_lists())}
  GROUP BY e.person_id, k.list_name
),
cms_prescribing AS (
  SELECT m.person_id, k.list_name,
    SUM(CASE WHEN {_taken(as_of, last_year)} THEN {REPEAT_ISSUES}
      WHEN {acute} THEN 1 ELSE 0 END) AS last_year,
    MAX(CASE WHEN {ever} THEN 1 ELSE 0 END) AS ever_prescribed
  FROM medicines m JOIN cms_codes k ON k.snomed_code = m.medicine_key
  WHERE k.list_name IN {one_of(medicine_lists())}
    {only}
  GROUP BY m.person_id, k.list_name
),
cms_atoms AS (
  SELECT person_id, 'diagnosed' AS kind, list_name, latest_day,
    0 AS last_year, 0 AS ever_prescribed
  FROM cms_diagnoses
  UNION ALL
  SELECT person_id, 'prescribed' AS kind, list_name, CAST(NULL AS DATE) AS latest_day,
    last_year, ever_prescribed
  FROM cms_prescribing
),
cms_flags AS (
  SELECT person_id,
    {flags}
  FROM cms_atoms
  GROUP BY person_id
),
cambridge AS (
  SELECT person_id, {counts} AS conditions, {weights} AS hundredths
  FROM cms_flags
)"""


def _atom_test(atom: Atom, as_of: date) -> str:
    """Whether a row of `cms_atoms` shows the atom."""
    if isinstance(atom, Diagnosed):
        test = f"kind = 'diagnosed' AND list_name = {literal(atom.code_list)}"
        if atom.within_days is not None:
            test += f" AND latest_day >= {literal(window_start(as_of, atom.within_days))}"
        return test
    test = f"kind = 'prescribed' AND list_name = {literal(atom.code_list)}"
    if atom.ever:
        return test + " AND ever_prescribed = 1"
    return test + f" AND last_year >= {atom.at_least}"


def _rule_test(rule: Rule, column: dict[Atom, str]) -> str:
    """A rule as a boolean expression over the atom columns of `cms_flags`."""
    if isinstance(rule, Diagnosed | Prescribed):
        return f"{column[rule]} = 1"
    parts = [_rule_test(part, column) for part in rule.parts]
    if isinstance(rule, AllOf):
        return "(" + " AND ".join(parts) + ")"
    if isinstance(rule, AnyOf):
        return "(" + " OR ".join(parts) + ")"
    assert isinstance(rule, NoneOf)
    return "NOT (" + " OR ".join(parts) + ")"
