"""The generated place, read back from its NDJSON files, matches the documented targets.

One place of 24,000 people (about 4,500 aged 65 and over) is generated with a fixed seed, read
back exactly as an importer would read it (`careweave.synth.statistics.read_place`), and set
beside the targets: England's age structure (`careweave.synth.demography.AGE_BANDS`, ONS) and the
older population's conditions, multimorbidity, eFI categories, polypharmacy, care-home residence,
home care and carers (`careweave.synth.clinical_codes.TARGETS`), all documented with their sources
in docs/synthetic-data.md.

Tolerance: a generated share must lie within four standard errors of its target (for its own
cell size) plus a fixed allowance for the model being approximate, stated per row in
`statistics_table`. The seed is fixed, so the test is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from careweave.synth.clinical_codes import TARGETS
from careweave.synth.generate import GenerationSummary, generate_place
from careweave.synth.statistics import (
    PlaceStatistics,
    Statistic,
    read_place,
    statistics_table,
)

PEOPLE = 24_000
SEED = 20_261_123


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[GenerationSummary, PlaceStatistics]:
    out = tmp_path_factory.mktemp("place")
    summary = generate_place(people=PEOPLE, seed=SEED, out=out)
    return summary, read_place(out, summary.as_of)


@pytest.fixture(scope="module")
def table(generated: tuple[GenerationSummary, PlaceStatistics]) -> dict[str, Statistic]:
    return {row.name: row for row in statistics_table(generated[1])}


def _failures(table: dict[str, Statistic], prefix: str) -> list[str]:
    rows = [row for name, row in table.items() if name.startswith(prefix)]
    assert rows, f"no statistic starts with {prefix!r}"
    return [
        f"{row.name}: generated {row.generated:.2f}% of {row.n}, target {row.target:.2f}% "
        f"(±{row.tolerance:.2f})"
        for row in rows
        if not row.within_tolerance
    ]


def test_the_place_is_the_size_asked_for(
    generated: tuple[GenerationSummary, PlaceStatistics],
) -> None:
    summary, place = generated
    assert len(place.ages) == PEOPLE == summary.people
    assert len(place.older) == summary.older_people


def test_age_structure_follows_england(table: dict[str, Statistic]) -> None:
    assert _failures(table, "Aged ") == []


@pytest.mark.parametrize(
    "prefix",
    [
        "hypertension,",
        "diabetes,",
        "chd,",
        "af,",
        "heart failure,",
        "stroke,",
        "ckd,",
        "copd,",
        "dementia,",
        "osteoporosis,",
    ],
)
def test_condition_prevalence_by_age_band_and_sex(table: dict[str, Statistic], prefix: str) -> None:
    assert _failures(table, prefix) == []


def test_every_condition_target_holds(table: dict[str, Statistic]) -> None:
    conditions = [name for name in table if ", male " in name or ", female " in name]
    assert len(conditions) >= 60
    failures = [name for name in conditions if not table[name].within_tolerance]
    assert failures == []


@pytest.mark.parametrize("condition", sorted(TARGETS["other_condition_prevalence"]))
def test_the_other_cambridge_conditions_hold_their_prevalence(
    table: dict[str, Statistic], condition: str
) -> None:
    """Epilepsy, irritable bowel syndrome, schizophrenia or bipolar disorder, alcohol problems
    and connective tissue disorders: each cell by sex and age band, and (since a rare
    condition's cell tolerance is wider than its target) the whole 65+ against the cells'
    targets in the place's own mix."""
    label = condition.replace("_", " ")
    assert _failures(table, f"{label},") == []
    overall = table[f"{label}, 65+"]
    assert overall.tolerance < overall.target


def test_multimorbidity_matches_targets_and_rises_with_age(table: dict[str, Statistic]) -> None:
    assert _failures(table, "2+ long-term conditions") == []
    by_band = [
        table[f"2+ long-term conditions, {band}"].generated for band in ("65-74", "75-84", "85+")
    ]
    assert by_band == sorted(by_band), f"multimorbidity must rise with age: {by_band}"
    assert table["2+ long-term conditions, 65+"].generated >= 50


def test_multimorbidity_is_commoner_with_deprivation(
    generated: tuple[GenerationSummary, PlaceStatistics],
) -> None:
    place = generated[1]

    def odds(deciles: set[int]) -> float:
        people = [p for p in place.older.values() if p.imd_decile in deciles]
        share = sum(p.multimorbid for p in people) / len(people)
        return share / (1 - share)

    # Deciles pooled in pairs: one decile of ~450 older people gives an unstable ratio.
    ratio = odds({1, 2}) / odds({9, 10})
    assert 1.3 <= ratio <= 2.6, f"odds ratio of 2+ conditions, deciles 1-2 vs 9-10: {ratio:.2f}"


def test_efi_category_split(table: dict[str, Statistic]) -> None:
    assert _failures(table, "eFI ") == []


def test_polypharmacy(table: dict[str, Statistic]) -> None:
    assert _failures(table, "5+ active medicines") == []
    assert _failures(table, "10+ active medicines") == []


def test_care_home_home_care_and_carers(table: dict[str, Statistic]) -> None:
    assert _failures(table, "Care-home resident") == []
    assert _failures(table, "Home care package") == []
    assert _failures(table, "Unpaid carer") == []
    assert _failures(table, "Lives alone") == []


def test_a_statistic_out_of_tolerance_is_reported() -> None:
    """The tolerance is a real bound: a share 7 points off a 50% target in 2,000 people fails."""
    assert Statistic("x", 50.0, 51.0, 2_000, 1.0).within_tolerance
    assert not Statistic("x", 50.0, 57.0, 2_000, 1.0).within_tolerance
    assert not Statistic("x", 50.0, 50.0, 0, 1.0).within_tolerance


def test_reading_counts_what_the_files_hold(tmp_path: Path) -> None:
    """`read_place` counts from the files: delete every Condition and multimorbidity vanishes."""
    summary = generate_place(people=1_500, seed=SEED, out=tmp_path)
    before = read_place(tmp_path, summary.as_of)
    assert any(p.multimorbid for p in before.older.values())
    (tmp_path / "Condition.ndjson").write_bytes(b"")
    after = read_place(tmp_path, summary.as_of)
    assert not any(p.multimorbid for p in after.older.values())
    assert len(after.ages) == len(before.ages) == 1_500
