"""Read a generated place back from its NDJSON files and set its statistics beside the targets.

This is how we know the synthetic place still looks like England after a change to the
generator: the statistical test asserts each row within a stated tolerance, `careweave generate`
prints the table, and docs/synthetic-data.md shows it. It reads the files exactly as an importer
would, so it measures what was written, not what the generator meant to write.

Who counts: the registered population for ages and the national data opt-out; everyone aged
65+ on the "as of" date for conditions, multimorbidity, sensitive labels, safeguarding flags and
objections (the record keeps what was recorded for people who died in the last year); the
living for eFI categories and care-home residence, which describe people as they are, and for
the coordination of their care (a named coordinator, a plan, a referral, a stay in hospital
now, the frailty category coded at the last review).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from careweave.coordination import codes
from careweave.synth.clinical_codes import (
    AGE_BANDS as OLDER_BANDS,
)
from careweave.synth.clinical_codes import (
    EFI_DEFICIT_CODES,
    LONG_TERM_CONDITION_CODES,
    OTHER_CONDITION_CODES,
    POLYPHARMACY_THRESHOLD,
    TARGETS,
    efi_category,
)
from careweave.synth.coordination import COORDINATION_TARGETS
from careweave.synth.demography import AGE_BANDS
from careweave.synth.model import IMD_EXTENSION, SNOMED
from careweave.synth.privacy import (
    CONSENT_CATEGORY_SYSTEM,
    MENTAL_HEALTH,
    NATIONAL_DATA_OPT_OUT,
    OBJECTION,
    PRIVACY_TARGETS,
    SAFEGUARDING,
    SENSITIVE_SYSTEM,
    SUBSTANCE_MISUSE,
)

HOUSEHOLD_COMPOSITION = "224130005"
LIVES_ALONE = "105529008"

__all__ = ["OlderPerson", "PlaceStatistics", "Statistic", "read_place", "statistics_table"]


@dataclass
class OlderPerson:
    """What the statistics need to know of one person aged 65+, gathered from every file."""

    age: int
    sex: str
    imd_decile: int
    deceased: bool
    conditions: set[str] = field(default_factory=set)
    other_conditions: set[str] = field(default_factory=set)  # not in the multimorbidity targets
    deficits: set[str] = field(default_factory=set)
    active_medicines: set[str] = field(default_factory=set)
    care_home: bool = False
    home_care: bool = False
    carer: bool = False
    lives_alone: bool = False
    labels: set[str] = field(default_factory=set)  # sensitive categories on its Conditions
    safeguarding_flag: bool = False
    objects_to_organisation: bool = False  # to a whole organisation seeing the record
    objects_to: set[str] = field(default_factory=set)  # sensitive categories objected to
    opted_out: bool = False  # national data opt-out
    coordinated: bool = False  # an active shared care team (a named coordinator)
    care_plan: bool = False  # an active personalised care and support plan
    in_hospital: bool = False  # an emergency admission in progress
    referred: bool = False  # a referral (ServiceRequest, category patient referral)
    frailty_coded: str | None = None  # the frailty category coded (mild, moderate, severe)

    @property
    def band(self) -> str:
        return (
            OLDER_BANDS[0] if self.age < 75 else OLDER_BANDS[1] if self.age < 85 else OLDER_BANDS[2]
        )

    @property
    def multimorbid(self) -> bool:
        return len(self.conditions) >= 2

    @property
    def efi_category(self) -> str:
        """eFI category from the coded deficits plus polypharmacy, by deficit count."""
        count = len(self.deficits) + (len(self.active_medicines) >= POLYPHARMACY_THRESHOLD)
        return efi_category(count)


@dataclass
class CoordinationCounts:
    """Counts of the coordination work the place holds, beyond per-person facts."""

    plans: int = 0
    plans_overdue_for_review: int = 0  # next review before the record date
    open_actions: int = 0  # care-plan-action Tasks not in a closed status
    overdue_actions: int = 0  # of which due before the record date
    pathways: Counter[str] = field(default_factory=Counter)  # of discharges in progress
    medically_optimised: int = 0  # discharges in progress with a medically optimised date


@dataclass
class PlaceStatistics:
    ages: list[int]
    older: dict[str, OlderPerson]
    opted_out: set[str] = field(default_factory=set)  # ids of everyone with a national opt-out
    coordination: CoordinationCounts = field(default_factory=CoordinationCounts)

    def living(self) -> list[OlderPerson]:
        return [p for p in self.older.values() if not p.deceased]


@dataclass(frozen=True)
class Statistic:
    """One row of the target-versus-generated table: shares in percent of `n` people."""

    name: str
    target: float
    generated: float
    n: int
    allowance: float  # percentage points allowed beyond 4 standard errors

    @property
    def tolerance(self) -> float:
        """4 standard errors of a share of `n` people at the target, plus the allowance."""
        p = self.target / 100
        return 4 * math.sqrt(max(p * (1 - p), 1e-4) / max(self.n, 1)) * 100 + self.allowance

    @property
    def within_tolerance(self) -> bool:
        return self.n > 0 and abs(self.generated - self.target) <= self.tolerance


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield orjson.loads(line)


def _subject(resource: dict[str, Any]) -> str:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return str(reference).removeprefix("Patient/")


def _snomed_codes(concept: dict[str, Any] | None) -> list[str]:
    return [c["code"] for c in (concept or {}).get("coding", ()) if c.get("system") == SNOMED]


def _labels(resource: dict[str, Any]) -> set[str]:
    """The sensitive categories a resource (`meta.security`) or a provision is labelled with."""
    security = resource.get("securityLabel") or (resource.get("meta") or {}).get("security", ())
    return {c["code"] for c in security if c.get("system") == SENSITIVE_SYSTEM}


def _categories(consent: dict[str, Any]) -> set[str]:
    return {
        c["code"]
        for concept in consent.get("category", ())
        for c in concept.get("coding", ())
        if c.get("system") == CONSENT_CATEGORY_SYSTEM
    }


def _age(birth: str, on: date) -> int:
    born = date.fromisoformat(birth[:10])
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def read_place(out: Path, as_of: date) -> PlaceStatistics:
    """Gather per-person facts from a generated place's files (people 65+ are held in memory:
    this is for checking a place of tens of thousands, not for analytics at scale)."""
    ages: list[int] = []
    older: dict[str, OlderPerson] = {}
    for patient in _lines(out / "Patient.ndjson"):
        age = _age(patient["birthDate"], as_of)
        ages.append(age)
        if age >= 65:
            extensions = patient.get("address", [{}])[0].get("extension", ())
            decile = next((e["valueInteger"] for e in extensions if e["url"] == IMD_EXTENSION), 0)
            older[patient["id"]] = OlderPerson(
                age, patient["gender"], decile, "deceasedDateTime" in patient
            )
    care_homes = {
        org["id"]
        for org in _lines(out / "Organization.ndjson")
        if any(i.get("value", "").startswith("ZZH") for i in org.get("identifier", ()))
    }
    for condition in _lines(out / "Condition.ndjson"):
        person = older.get(_subject(condition))
        if person is None:
            continue
        person.labels |= _labels(condition)
        for code in _snomed_codes(condition.get("code")):
            if code in LONG_TERM_CONDITION_CODES:
                person.conditions.add(LONG_TERM_CONDITION_CODES[code])
            if code in OTHER_CONDITION_CODES:
                person.other_conditions.add(OTHER_CONDITION_CODES[code])
            if code in EFI_DEFICIT_CODES:
                person.deficits.add(EFI_DEFICIT_CODES[code])
    for statement in _lines(out / "MedicationStatement.ndjson"):
        person = older.get(_subject(statement))
        if person and statement.get("status") == "active":
            person.active_medicines.update(
                _snomed_codes(statement.get("medicationCodeableConcept"))
            )
    for episode in _lines(out / "EpisodeOfCare.ndjson"):
        person = older.get(_subject(episode))
        organisation = episode.get("managingOrganization", {}).get("reference", "")
        if person and episode.get("status") == "active":
            person.care_home |= organisation.removeprefix("Organization/") in care_homes
    for request in _lines(out / "ServiceRequest.ndjson"):
        person = older.get(_subject(request))
        if person and request.get("status") == "active":
            person.home_care |= any(c.get("code") == "home-care" for c in request["code"]["coding"])
        if person and codes.has_code(request.get("category"), *codes.REFERRAL_CATEGORY):
            person.referred = True
    for observation in _lines(out / "Observation.ndjson"):
        person = older.get(_subject(observation))
        if person is None:
            continue
        found = _snomed_codes(observation.get("code"))
        if HOUSEHOLD_COMPOSITION in found:
            person.lives_alone = LIVES_ALONE in _snomed_codes(
                observation.get("valueCodeableConcept")
            )
        for code in found:
            if code in codes.FRAILTY_FINDINGS:
                person.frailty_coded = codes.FRAILTY_FINDINGS[code]
    for related in _lines(out / "RelatedPerson.ndjson"):
        person = older.get(_subject(related))
        if person:
            person.carer = True
    for flag in _lines(out / "Flag.ndjson"):
        person = older.get(_subject(flag))
        if person:
            person.safeguarding_flag |= SAFEGUARDING in _labels(flag)
    opted_out: set[str] = set()
    for consent in _lines(out / "Consent.ndjson"):
        if consent.get("status") != "active":
            continue
        patient_id = _subject(consent)
        person = older.get(patient_id)
        provision = consent.get("provision") or {}
        if NATIONAL_DATA_OPT_OUT in _categories(consent):
            opted_out.add(patient_id)
            if person:
                person.opted_out = True
        elif person and OBJECTION in _categories(consent) and provision.get("type") == "deny":
            labels = _labels(provision)
            person.objects_to |= labels
            person.objects_to_organisation |= not labels
    return PlaceStatistics(ages, older, opted_out, _coordination(out, older, as_of))


def _coordination(out: Path, older: dict[str, OlderPerson], as_of: date) -> CoordinationCounts:
    """Care teams, plans and their actions, and stays in hospital now with their discharge."""
    counts = CoordinationCounts()
    today = as_of.isoformat()
    for team in _lines(out / "CareTeam.ndjson"):
        person = older.get(_subject(team))
        if person and team.get("status") == "active":
            person.coordinated = True
    for plan in _lines(out / "CarePlan.ndjson"):
        person = older.get(_subject(plan))
        if person is None or plan.get("status") != "active":
            continue
        person.care_plan = True
        counts.plans += 1
        review = next(
            (
                e["valueDate"]
                for e in plan.get("extension", ())
                if e["url"] == codes.NEXT_REVIEW_EXTENSION
            ),
            None,
        )
        counts.plans_overdue_for_review += review is not None and review < today
    for encounter in _lines(out / "Encounter.ndjson"):
        person = older.get(_subject(encounter))
        if person and encounter.get("status") == "in-progress":
            person.in_hospital |= encounter["class"]["code"] == codes.INPATIENT_CLASS[1]
    for task in _lines(out / "Task.ndjson"):
        kind = codes.code_in(task.get("code"), codes.TASK_TYPE)
        if kind == "care-plan-action" and task["status"] not in codes.CLOSED_TASK_STATUSES:
            counts.open_actions += 1
            due = task.get("restriction", {}).get("period", {}).get("end", today)
            counts.overdue_actions += due[:10] < today
        elif kind == "discharge-to-assess" and task["status"] == "in-progress":
            inputs = {
                codes.code_in(entry["type"], codes.DISCHARGE_INPUT): entry
                for entry in task.get("input", ())
            }
            pathway = inputs.get("pathway", {}).get("valueCodeableConcept")
            counts.pathways[codes.code_in(pathway, codes.D2A_PATHWAY) or "none"] += 1
            counts.medically_optimised += "medically-optimised" in inputs
    return counts


def _share(
    name: str, people: list[OlderPerson], hits: int, target: float, allowance: float
) -> Statistic:
    return Statistic(
        name, target, 100 * hits / len(people) if people else 0.0, len(people), allowance
    )


def statistics_table(place: PlaceStatistics) -> list[Statistic]:
    """Every documented target beside what the place shows, with its tolerance."""
    rows: list[Statistic] = []
    n = len(place.ages)
    total = sum(b.percent for b in AGE_BANDS)
    bands = Counter(next(b for b in AGE_BANDS if b.low <= age <= b.high) for age in place.ages)
    for band in AGE_BANDS:
        label = f"{band.low}+" if band is AGE_BANDS[-1] else f"{band.low}-{band.high}"
        rows.append(
            Statistic(
                f"Aged {label}", 100 * band.percent / total, 100 * bands[band] / max(n, 1), n, 0.3
            )
        )
    for low, allowance in ((65, 0.5), (85, 0.2)):
        target = 100 * sum(b.percent for b in AGE_BANDS if b.low >= low) / total
        hits = sum(age >= low for age in place.ages)
        rows.append(Statistic(f"Aged {low}+", target, 100 * hits / max(n, 1), n, allowance))

    everyone = list(place.older.values())
    cells: dict[tuple[str, str], list[OlderPerson]] = defaultdict(list)
    for person in everyone:
        cells[(person.sex, person.band)].append(person)

    def condition_rows(
        key: str, held: Callable[[OlderPerson], set[str]], allowance: float, pooled: bool
    ) -> None:
        """One row per condition, sex and band of `TARGETS[key]`; with `pooled`, one for the
        whole 65+ after each condition's cells. The long-term conditions and the others are
        read from different sets (only the first count for multimorbidity)."""
        for condition, by_sex in TARGETS[key].items():
            label = condition.replace("_", " ")
            for sex, by_band in by_sex.items():
                for band, target in by_band.items():
                    people = cells[(sex, band)]
                    hits = sum(condition in held(p) for p in people)
                    rows.append(_share(f"{label}, {sex} {band}", people, hits, target, allowance))
            if pooled:
                # Rare conditions: a cell's tolerance is wider than its target, so the whole
                # 65+ is checked too, against the cells' targets weighted by its age-sex mix.
                expected = sum(by_sex[p.sex][p.band] for p in everyone) / max(len(everyone), 1)
                hits = sum(condition in held(p) for p in everyone)
                rows.append(_share(f"{label}, 65+", everyone, hits, expected, 0.3))

    condition_rows("condition_prevalence", lambda p: p.conditions, 2.0, pooled=False)
    condition_rows("other_condition_prevalence", lambda p: p.other_conditions, 1.0, pooled=True)

    groups = {
        "65+": everyone,
        "65-74": [p for p in everyone if p.age < 75],
        "75-84": [p for p in everyone if 75 <= p.age < 85],
        "85+": [p for p in everyone if p.age >= 85],
        "80+": [p for p in everyone if p.age >= 80],
    }
    for group, target in TARGETS["multimorbidity_2plus"].items():
        people = groups[group]
        hits = sum(p.multimorbid for p in people)
        rows.append(_share(f"2+ long-term conditions, {group}", people, hits, target, 3.0))

    living = place.living()
    categories = Counter(p.efi_category for p in living)
    for category, target in TARGETS["efi_category"].items():
        rows.append(
            _share(f"eFI {category}, 65+ living", living, categories[category], target, 3.0)
        )
    for band, split in TARGETS["efi_category_by_band"].items():
        people = [p for p in living if p.band == band]
        hits = sum(p.efi_category == "fit" for p in people)
        rows.append(_share(f"eFI fit, {band} living", people, hits, split["fit"], 4.0))

    medicines = [len(p.active_medicines) for p in living]
    for threshold, key in ((5, "polypharmacy_5plus"), (10, "polypharmacy_10plus")):
        hits = sum(m >= threshold for m in medicines)
        rows.append(
            _share(f"{threshold}+ active medicines, 65+ living", living, hits, TARGETS[key], 3.0)
        )

    oldest_living = [p for p in living if p.age >= 85]
    care = TARGETS["care_home_share"]
    rows.append(
        _share(
            "Care-home resident, 65+", living, sum(p.care_home for p in living), care["65+"], 0.7
        )
    )
    rows.append(
        _share(
            "Care-home resident, 85+",
            oldest_living,
            sum(p.care_home for p in oldest_living),
            care["85+"],
            2.0,
        )
    )
    for name, flag, key, allowance in (
        ("Home care package, 65+", "home_care", "home_care_share", 1.0),
        ("Unpaid carer recorded, 65+", "carer", "unpaid_carer_share", 2.0),
        ("Lives alone, 65+", "lives_alone", "lives_alone_share", 2.0),
    ):
        hits = sum(getattr(p, flag) for p in everyone)
        rows.append(_share(name, everyone, hits, TARGETS[key]["65+"], allowance))
    rows.extend(_privacy_rows(place, everyone))
    rows.extend(coordination_rows(place))
    return rows


def coordination_rows(place: PlaceStatistics) -> list[Statistic]:
    """A named coordinator, plans, referrals, people in hospital now and their discharges, and
    the frailty category coded (targets: careweave.synth.coordination.COORDINATION_TARGETS)."""
    targets = COORDINATION_TARGETS
    living = place.living()
    coordinated = [p for p in living if p.coordinated]
    counts = place.coordination
    discharges = sum(counts.pathways.values())
    frail = [p for p in living if p.efi_category != "fit"]
    rows = [
        _share(
            "Named coordinator, 65+ living",
            living,
            len(coordinated),
            targets["coordinator_65+"],
            1.0,
        ),
        Statistic(
            "Named coordinator, everyone registered",
            targets["coordinator_everyone"],
            100 * len(coordinated) / max(len(place.ages), 1),
            len(place.ages),
            0.2,
        ),
        _share(
            "Care and support plan, 65+ with a named coordinator",
            coordinated,
            sum(p.care_plan for p in coordinated),
            targets["plan_of_coordinated"],
            5.0,
        ),
        Statistic(
            "Care plan actions overdue, of open actions",
            targets["overdue_of_open_actions"],
            100 * counts.overdue_actions / max(counts.open_actions, 1),
            counts.open_actions,
            3.0,
        ),
        _share(
            "Referral in the last 11 weeks, 65+ living",
            living,
            sum(p.referred for p in living),
            targets["referred_65+"],
            1.0,
        ),
        _share(
            "In hospital now, 65+ living",
            living,
            sum(p.in_hospital for p in living),
            targets["in_hospital_65+"],
            0.15,
        ),
    ]
    for pathway in ("0", "1"):
        rows.append(
            Statistic(
                f"Discharge pathway {pathway}, in hospital now",
                targets[f"pathway_{pathway}"],
                100 * counts.pathways[pathway] / max(discharges, 1),
                discharges,
                5.0,
            )
        )
    rows.append(
        Statistic(
            "Medically optimised, in hospital now",
            targets["medically_optimised"],
            100 * counts.medically_optimised / max(discharges, 1),
            discharges,
            5.0,
        )
    )
    rows.append(
        _share(
            "Frailty category coded as the eFI says, 65+ living not fit",
            frail,
            sum(p.frailty_coded == p.efi_category for p in frail),
            100.0,
            0.0,
        )
    )
    return rows


def _privacy_rows(place: PlaceStatistics, everyone: list[OlderPerson]) -> list[Statistic]:
    """Sensitive labels, safeguarding flags, objections and the national data opt-out."""
    targets = PRIVACY_TARGETS
    n = len(place.ages)
    oldest = [p for p in everyone if p.age >= 85]
    labelled = [p for p in everyone if MENTAL_HEALTH in p.labels]
    return [
        Statistic(
            "National data opt-out, everyone",
            targets["ndoo_everyone"],
            100 * len(place.opted_out) / max(n, 1),
            n,
            0.3,
        ),
        _share(
            "National data opt-out, 65+",
            everyone,
            sum(p.opted_out for p in everyone),
            targets["ndoo_65+"],
            0.5,
        ),
        _share(
            "Mental-health label, 65+",
            everyone,
            len(labelled),
            targets["mental_health_label_65+"],
            2.0,
        ),
        _share(
            "Substance-misuse label, 65+",
            everyone,
            sum(SUBSTANCE_MISUSE in p.labels for p in everyone),
            targets["substance_misuse_label_65+"],
            0.1,
        ),
        _share(
            "Safeguarding flag, 65+",
            everyone,
            sum(p.safeguarding_flag for p in everyone),
            targets["safeguarding_flag_65+"],
            0.3,
        ),
        _share(
            "Safeguarding flag, 85+",
            oldest,
            sum(p.safeguarding_flag for p in oldest),
            targets["safeguarding_flag_85+"],
            1.0,
        ),
        _share(
            "Objection to an organisation, 65+",
            everyone,
            sum(p.objects_to_organisation for p in everyone),
            targets["objection_65+"],
            0.2,
        ),
        _share(
            "Mental-health objection, 65+ with a mental-health label",
            labelled,
            sum(MENTAL_HEALTH in p.objects_to for p in labelled),
            targets["mental_health_objection_labelled_65+"],
            1.0,
        ),
    ]
