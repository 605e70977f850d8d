"""Import and export of the directory as Open Referral UK (HSDS) JSON and CSV.

**Import is all or nothing.** Every record of every table is checked first, and each problem
is reported with its file, row (or record) and column, in words a directory editor can act on
("services.csv row 14: 'email' is not an email address"); one problem anywhere and nothing is
written. A file that passes is written in ONE store transaction, so a failure there (a database
error, an id already used by a record the directory does not manage) keeps nothing either.

**Re-importing updates in place.** HSDS ids become the FHIR ids (and a directory identifier on
each resource), so importing a corrected file again changes the entries it changed, as new
versions, and leaves the rest at their version; nothing is duplicated. Entries missing from a
later file are not removed: a publisher closes a service by marking it `defunct`.

**Records careweave already holds.** An organisation row whose id is that of an Organization
the directory did not write (one of the place's own, say) is linked to it, not overwritten,
when the row gives the same ODS code; otherwise, and for a location or service row whose id is
taken by a record the directory does not manage, the import stops with the row named.

**Export** writes every service in a `Directory`, with the organisations and venues they name,
in the same tables, so an export imports back to the same services (tests/social_prescribing
checks the round trip). What each column becomes in FHIR is in docs/directory.md.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import orjson

from careweave.fhir.resource_types import is_fhir_id
from careweave.fhir.search_query import parse_search
from careweave.social_prescribing.directory import (
    CommunityService,
    Cost,
    DirectoryOrganisation,
    OpeningTime,
    Venue,
    is_directory_record,
)
from careweave.social_prescribing.directory_codes import (
    ACCESSIBILITY,
    COST_KINDS,
    DAYS,
    NEEDS,
    ODS_ORGANIZATION,
    REFERRAL_METHODS,
)
from careweave.social_prescribing.directory_index import Directory
from careweave.social_prescribing.directory_records import OpenTransaction, SaveReport, save_entries
from careweave.social_prescribing.hsds_tables import (
    TABLES,
    RawTables,
    Record,
    read_csv_folder,
    read_json,
)
from careweave.social_prescribing.postcodes import Position, is_postcode, normalise_postcode
from careweave.social_prescribing.problems import DirectoryProblem
from careweave.store.repository import StoreTransaction

NEED_TAXONOMY: Final = "careweave-need"
ACCESSIBILITY_TAXONOMY: Final = "careweave-accessibility"
"""The taxonomy_terms.taxonomy values careweave reads; terms of other taxonomies are ignored."""
ACTIVE, DEFUNCT = "active", "defunct"
RRULE_DAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_PROBLEMS: Final = 100
"""Problems reported at most (a wholly wrong file would otherwise list thousands)."""
END_OF_DAY: Final = time(23, 59, 59)

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_URL = re.compile(r"https?://[^\s/]+\.[^\s]*", re.IGNORECASE)
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
_ODS = re.compile(r"[A-Z0-9]{3,10}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class DirectoryImportRejected(DirectoryProblem):
    """An import that wrote nothing, with every problem found (`problems`, one line each)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"Nothing was imported: {count} problem{'s' if count != 1 else ''} to put right"
        super().__init__("\n".join([heading, *self.problems]))


@dataclass(frozen=True)
class DirectoryEntries:
    """A set of directory entries read from a file, ready to write."""

    organisations: tuple[DirectoryOrganisation, ...]
    venues: tuple[Venue, ...]
    services: tuple[CommunityService, ...]
    where: Mapping[tuple[str, str], str]
    """(FHIR type, id) -> the row it came from, for messages about the store."""


# -- checking one record ------------------------------------------------------------------------


class _Row:
    """Reads one record's values, adding a readable problem for each bad one."""

    def __init__(self, record: Record, problems: list[str]) -> None:
        self.record = record
        self.problems = problems
        self.ok = True

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.record.where}: {text}")
        self.ok = False

    def text(self, column: str, *, required: bool = False) -> str | None:
        value = self.record[column]
        if not value:
            if required and column not in self.record.absent:
                self.problem(f"'{column}' is needed")
            elif required:  # the file lacks the column: said once, for the whole file
                self.ok = False
            return None
        return value

    def ident(self, column: str = "id") -> str | None:
        value = self.text(column, required=True)
        if value is not None and not is_fhir_id(value):
            self.problem(
                f"'{column}' must be 1 to 64 letters, digits, hyphens or full stops "
                f"(it becomes the FHIR id): '{value}'"
            )
            return None
        return value

    def email(self, column: str) -> str | None:
        value = self.text(column)
        if value is not None and not _EMAIL.fullmatch(value):
            self.problem(f"'{column}' is not an email address")
            return None
        return value

    def url(self, column: str) -> str | None:
        value = self.text(column)
        if value is not None and not _URL.fullmatch(value):
            self.problem(f"'{column}' is not a web address starting http:// or https://")
            return None
        return value

    def day(self, column: str) -> date | None:
        value = self.text(column)
        if value is None:
            return None
        try:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            self.problem(f"'{column}' is not a date written YYYY-MM-DD: '{value}'")
            return None

    def clock(self, column: str) -> time | None:
        value = self.text(column)
        if value is None:
            return None
        match = _TIME.fullmatch(value)
        if match is None:
            self.problem(f"'{column}' is not a time written HH:MM or HH:MM:SS: '{value}'")
            return None
        return time(int(match[1]), int(match[2]), int(match[3] or 0))

    def number(self, column: str, low: float, high: float, what: str) -> float | None:
        value = self.text(column)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not low <= number <= high:
            self.problem(f"'{column}' is not {what} (a number from {low:g} to {high:g}): '{value}'")
            return None
        return number

    def choice(self, column: str, choices: Iterable[str], *, required: bool = False) -> str | None:
        value = self.text(column, required=required)
        options = tuple(choices)
        if value is not None and value.lower() not in options:
            self.problem(f"'{column}' must be one of {', '.join(options)}, not '{value}'")
            return None
        return value.lower() if value is not None else None

    def reference(self, column: str, known: Container[str], table: str) -> str | None:
        value = self.text(column, required=True)
        if value is not None and value not in known:
            self.problem(f"'{column}' '{value}' is not the id of any {table} in the import")
            return None
        return value


def _unique(rows: Iterable[tuple[_Row, str | None]]) -> None:
    """Report each id used a second time in a table, naming where it was first."""
    first: dict[str, str] = {}
    for row, value in rows:
        if value is None:
            continue
        if value in first:
            row.problem(f"'id' '{value}' is used twice (also {first[value]})")
        else:
            first[value] = row.record.where


# -- tables to entries --------------------------------------------------------------------------


@dataclass
class _ServiceParts:
    row: _Row
    values: dict[str, Any]
    venues: list[str]
    sessions: list[OpeningTime]
    needs: set[str]
    features: set[str]
    contact: tuple[str | None, str | None, str | None] | None = None
    contact_where: str | None = None
    cost: Cost | None = None
    cost_where: str | None = None


def entries_from_tables(raw: RawTables) -> DirectoryEntries:
    """Check every record and turn the tables into entries; DirectoryImportRejected lists
    every problem found (up to MAX_PROBLEMS)."""
    problems = list(raw.problems)
    organisations = _organisations(raw, problems)
    organisation_ids = _ids(raw, "organizations")
    venues = _venues(raw, organisation_ids, problems)
    services = _services(raw, organisation_ids, problems)
    _service_at_locations(raw, services, venues, problems)
    _schedules(raw, services, problems)
    _taxonomies(raw, services, problems)
    _contacts(raw, services, problems)
    _costs(raw, services, problems)
    if problems:
        raise DirectoryImportRejected(problems[:MAX_PROBLEMS])
    where: dict[tuple[str, str], str] = {}
    for kind, table in (("Organization", "organizations"), ("Location", "locations")):
        for record in raw.table(table):
            where.setdefault((kind, record["id"]), record.where)
    built = []
    for service_id, parts in services.items():
        where[("HealthcareService", service_id)] = parts.row.record.where
        name, title, phone = parts.contact or (None, None, None)
        built.append(
            CommunityService(
                id=service_id,
                **parts.values,
                needs=tuple(parts.needs),
                venue_ids=tuple(parts.venues),
                accessibility=frozenset(parts.features),
                opening_times=tuple(parts.sessions),
                contact_name=name,
                contact_title=title,
                phone=phone,
                cost=parts.cost,
            )
        )
    return DirectoryEntries(
        tuple(organisations.values()), tuple(venues.values()), tuple(built), where
    )


def _organisations(raw: RawTables, problems: list[str]) -> dict[str, DirectoryOrganisation]:
    found: dict[str, DirectoryOrganisation] = {}
    ids = []
    for record in raw.table("organizations"):
        row = _Row(record, problems)
        oid = row.ident()
        ids.append((row, oid))
        name = row.text("name", required=True)
        ods = row.text("ods_code")
        if ods is not None and not _ODS.fullmatch(ods):
            row.problem(f"'ods_code' must be 3 to 10 capital letters and digits: '{ods}'")
        email, url = row.email("email"), row.url("url")
        if row.ok and oid is not None and name is not None and oid not in found:
            found[oid] = DirectoryOrganisation(oid, name, ods, email, url)
    _unique(ids)
    return found


def _venues(raw: RawTables, organisations: set[str], problems: list[str]) -> dict[str, Venue]:
    found: dict[str, Venue] = {}
    ids = []
    for record in raw.table("locations"):
        row = _Row(record, problems)
        vid = row.ident()
        ids.append((row, vid))
        organisation = None
        if row.text("organization_id") is not None:
            organisation = row.reference("organization_id", organisations, "organization")
        name = row.text("name", required=True)
        line = row.text("address_1", required=True)
        postcode = row.text("postal_code", required=True)
        if postcode is not None and not is_postcode(postcode):
            row.problem(f"'postal_code' is not a UK postcode: '{postcode}'")
        country = row.text("country")
        if country is not None and country.upper() not in {"GB", "UK"}:
            row.problem(
                f"'country' must be GB (the directory is of services in England): '{country}'"
            )
        latitude = row.number("latitude", -90, 90, "a latitude")
        longitude = row.number("longitude", -180, 180, "a longitude")
        if (latitude is None) != (longitude is None) and row.ok:
            row.problem("'latitude' and 'longitude' must be given together")
        position = None
        if latitude is not None and longitude is not None:
            position = Position(latitude, longitude)
        if row.ok and vid and name and line and postcode and vid not in found:
            found[vid] = Venue(
                vid,
                name,
                line,
                row.text("city") or "",
                normalise_postcode(postcode),
                position,
                organisation,
            )
    _unique(ids)
    return found


def _services(
    raw: RawTables, organisations: set[str], problems: list[str]
) -> dict[str, _ServiceParts]:
    found: dict[str, _ServiceParts] = {}
    ids = []
    for record in raw.table("services"):
        row = _Row(record, problems)
        sid = row.ident()
        ids.append((row, sid))
        organisation = row.reference("organization_id", organisations, "organization")
        name = row.text("name", required=True)
        status = row.choice("status", (ACTIVE, DEFUNCT), required=True)
        closed = row.day("closed_date")
        if status == DEFUNCT and closed is None and row.ok:
            row.problem("'closed_date' is needed when 'status' is defunct")
        if status == ACTIVE and closed is not None:
            row.problem("'closed_date' is given but 'status' is active")
        methods = _referral_methods(row)
        values = {
            "name": name,
            "organisation_id": organisation,
            "description": row.text("description"),
            "website": row.url("url"),
            "email": row.email("email"),
            "eligibility": row.text("eligibility_description"),
            "last_checked": row.day("assured_date"),
            "referral_methods": methods,
            "active": status != DEFUNCT,
            "closed_on": closed,
        }
        if row.ok and sid is not None and sid not in found:
            found[sid] = _ServiceParts(row, values, [], [], set(), set())
    _unique(ids)
    return found


def _referral_methods(row: _Row) -> tuple[str, ...]:
    value = row.text("referral_methods")
    if value is None:
        return ()
    methods = [part.strip().lower() for part in value.split(",")]
    for method in methods:
        if method not in REFERRAL_METHODS:
            row.problem(
                f"'referral_methods' has '{method}', which is not one of "
                f"{', '.join(REFERRAL_METHODS)}"
            )
            return ()
    return tuple(methods)


def _link_rows(
    raw: RawTables, table: str, services: Mapping[str, _ServiceParts], problems: list[str]
) -> Iterable[tuple[_Row, _ServiceParts | None]]:
    """Each record of a table that hangs off a service, with that service (None if the record
    names none that passed its checks)."""
    ids = []
    known = _ids(raw, "services")
    for record in raw.table(table):
        row = _Row(record, problems)
        ids.append((row, row.text("id", required=True)))
        service_id = row.reference("service_id", known, "service")
        yield row, services.get(service_id) if service_id is not None else None
    _unique(ids)


def _ids(raw: RawTables, table: str) -> set[str]:
    """The ids a table's records give, good or bad (a reference to a record with problems of
    its own is not a second problem)."""
    return {record["id"] for record in raw.table(table) if record["id"]}


def _service_at_locations(
    raw: RawTables,
    services: Mapping[str, _ServiceParts],
    venues: Mapping[str, Venue],
    problems: list[str],
) -> None:
    location_ids = _ids(raw, "locations")
    for row, service in _link_rows(raw, "service_at_locations", services, problems):
        location = row.reference("location_id", location_ids, "location")
        if (
            service is not None
            and location is not None
            and location in venues
            and location not in service.venues
        ):
            service.venues.append(location)


def _schedules(raw: RawTables, services: Mapping[str, _ServiceParts], problems: list[str]) -> None:
    for row, service in _link_rows(raw, "regular_schedules", services, problems):
        freq = row.text("freq")
        if freq is not None and freq.upper() != "WEEKLY":
            row.problem(f"'freq' must be WEEKLY, the only repeat this directory takes: '{freq}'")
        days = _days(row)
        opens, closes = row.clock("opens_at"), row.clock("closes_at")
        if row.ok and (opens is None) != (closes is None):
            missing = "closes_at" if closes is None else "opens_at"
            other = "opens_at" if closes is None else "closes_at"
            row.problem(f"'{missing}' is needed when '{other}' is given")
        if opens is not None and closes is not None:
            if opens == time(0) and closes in (time(0), time(23, 59), END_OF_DAY):
                opens = closes = None  # HSDS's way of saying "all day"
            elif opens == closes:
                row.problem(f"'closes_at' is the same time as 'opens_at' ({opens:%H:%M})")
        if row.ok and service is not None and days:
            service.sessions.append(OpeningTime(days, opens, closes))


def _days(row: _Row) -> tuple[str, ...]:
    value = row.text("byday", required=True)
    if value is None:
        return ()
    parts = [part.strip().upper() for part in value.split(",")]
    if any(part not in RRULE_DAYS for part in parts):
        row.problem(f"'byday' must be days written {','.join(RRULE_DAYS)}: '{value}'")
        return ()
    if len(set(parts)) != len(parts):
        row.problem(f"'byday' names a day twice: '{value}'")
        return ()
    return tuple(DAYS[RRULE_DAYS.index(part)] for part in parts)


def _taxonomies(raw: RawTables, services: Mapping[str, _ServiceParts], problems: list[str]) -> None:
    terms: dict[str, tuple[str, str] | None] = {}
    ids = []
    for record in raw.table("taxonomy_terms"):
        row = _Row(record, problems)
        term_id = row.text("id", required=True)
        ids.append((row, term_id))
        code = row.text("code", required=True)
        taxonomy = row.text("taxonomy", required=True)
        meaning: tuple[str, str] | None = None
        if code is not None and taxonomy == NEED_TAXONOMY:
            if code not in NEEDS:
                row.problem(
                    f"'code' '{code}' is not a need category careweave knows ({', '.join(NEEDS)})"
                )
            meaning = ("need", code)
        elif code is not None and taxonomy == ACCESSIBILITY_TAXONOMY:
            if code not in ACCESSIBILITY:
                row.problem(
                    f"'code' '{code}' is not an accessibility feature careweave knows "
                    f"({', '.join(ACCESSIBILITY)})"
                )
            meaning = ("accessibility", code)
        if term_id is not None and term_id not in terms:
            terms[term_id] = meaning
    _unique(ids)
    for row, service in _link_rows(raw, "service_taxonomies", services, problems):
        term_id = row.reference("taxonomy_term_id", terms, "taxonomy term")
        meaning = terms.get(term_id) if term_id is not None else None
        if service is None or meaning is None:
            continue
        kind, code = meaning
        (service.needs if kind == "need" else service.features).add(code)


def _contacts(raw: RawTables, services: Mapping[str, _ServiceParts], problems: list[str]) -> None:
    for row, service in _link_rows(raw, "contacts", services, problems):
        contact = (row.text("name"), row.text("title"), row.text("phone"))
        if service is None or not row.ok:
            continue
        if service.contact_where is not None:
            row.problem(
                f"the service '{row.record['service_id']}' already has a contact "
                f"({service.contact_where}); the directory keeps one per service"
            )
            continue
        service.contact, service.contact_where = contact, row.record.where


def _costs(raw: RawTables, services: Mapping[str, _ServiceParts], problems: list[str]) -> None:
    for row, service in _link_rows(raw, "cost_options", services, problems):
        kind = row.choice("option", COST_KINDS, required=True)
        amount = None
        text = row.text("amount")
        if text is not None:
            try:
                amount = Decimal(text)
                if not amount.is_finite() or amount < 0:
                    raise InvalidOperation
            except InvalidOperation:
                row.problem(f"'amount' is not an amount of money in pounds: '{text}'")
                amount = None
        if service is None or not row.ok or kind is None:
            continue
        if service.cost_where is not None:
            row.problem(
                f"the service '{row.record['service_id']}' already has a cost option "
                f"({service.cost_where}); the directory keeps one per service"
            )
            continue
        service.cost = Cost(kind, amount, row.text("amount_description"))
        service.cost_where = row.record.where


# -- writing ------------------------------------------------------------------------------------


def import_entries(open_transaction: OpenTransaction, entries: DirectoryEntries) -> SaveReport:
    """Write checked entries in one transaction (see the module docstring for what happens
    to records careweave already holds); DirectoryImportRejected writes nothing."""
    with open_transaction() as tx:
        organisations = _check_against_store(tx, entries)
        return save_entries(tx, organisations, entries.venues, entries.services)


def _existing(tx: StoreTransaction, resource_type: str, ids: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        query = parse_search(
            resource_type,
            [("_id", ",".join(chunk)), ("_count", str(len(chunk))), ("_total", "none")],
            tx.registry,
        )
        for _, rid, content in tx.search(query).matches:
            found[rid] = orjson.loads(content)
    return found


def _check_against_store(
    tx: StoreTransaction, entries: DirectoryEntries
) -> list[DirectoryOrganisation]:
    """The organisations to write (those linked to a record careweave holds are not), after
    making sure no row would overwrite a record the directory does not manage."""
    problems: list[str] = []
    to_write = []
    held = _existing(tx, "Organization", [o.id for o in entries.organisations])
    for organisation in entries.organisations:
        existing = held.get(organisation.id)
        if existing is None or is_directory_record(existing):
            to_write.append(organisation)
            continue
        codes = {
            i.get("value")
            for i in existing.get("identifier") or ()
            if i.get("system") == ODS_ORGANIZATION
        }
        if organisation.ods_code is None or organisation.ods_code not in codes:
            problems.append(
                f"{entries.where[('Organization', organisation.id)]}: 'id' '{organisation.id}' "
                "is already an organisation in careweave that the directory does not manage; "
                "give its ODS code to link to it, or use another id"
            )
    for resource_type, what, items in (
        ("Location", "location", [v.id for v in entries.venues]),
        ("HealthcareService", "service", [s.id for s in entries.services]),
    ):
        for rid, existing in _existing(tx, resource_type, items).items():
            if not is_directory_record(existing):
                problems.append(
                    f"{entries.where[(resource_type, rid)]}: 'id' '{rid}' is already a {what} in "
                    "careweave that the directory does not manage; use another id"
                )
    if problems:
        raise DirectoryImportRejected(sorted(problems)[:MAX_PROBLEMS])
    return to_write


def import_hsds_csv(open_transaction: OpenTransaction, folder: Path) -> SaveReport:
    """Import a folder of HSDS CSV files (all or nothing; see the module docstring)."""
    return import_entries(open_transaction, entries_from_tables(read_csv_folder(folder)))


def import_hsds_json(open_transaction: OpenTransaction, path: Path) -> SaveReport:
    """Import an HSDS JSON file (all or nothing; see the module docstring)."""
    return import_entries(open_transaction, entries_from_tables(read_json(path)))


# -- export -------------------------------------------------------------------------------------

Cell = str | float | None


def hsds_tables(directory: Directory) -> dict[str, list[dict[str, Cell]]]:
    """Every service of `directory`, the organisations and venues they name, as the subset's
    tables (values as text, except latitude, longitude and amount, which are numbers)."""
    services = sorted(directory.services.values(), key=lambda s: s.id)
    organisation_ids = {s.organisation_id for s in services}
    venue_ids = {v for s in services for v in s.venue_ids if v in directory.venues}
    venues = [directory.venues[v] for v in sorted(venue_ids)]
    organisation_ids |= {v.organisation_id for v in venues if v.organisation_id}
    tables: dict[str, list[dict[str, Cell]]] = {name: [] for name in TABLES}
    for oid in sorted(organisation_ids):
        organisation = directory.organisations.get(oid)
        if organisation is not None:
            tables["organizations"].append(
                {
                    "id": organisation.id,
                    "name": organisation.name,
                    "ods_code": organisation.ods_code,
                    "email": organisation.email,
                    "url": organisation.website,
                }
            )
    for venue in venues:
        position = venue.position
        tables["locations"].append(
            {
                "id": venue.id,
                "organization_id": venue.organisation_id,
                "name": venue.name,
                "address_1": venue.address_line,
                "city": venue.town or None,
                "postal_code": venue.postcode,
                "country": "GB",
                "latitude": position.latitude if position else None,
                "longitude": position.longitude if position else None,
            }
        )
    terms: dict[tuple[str, str], str] = {}
    for service in services:
        _service_rows(service, tables, terms, venue_ids)
    tables["taxonomy_terms"] = [
        {"id": term_id, "code": code, "name": _term_name(taxonomy, code), "taxonomy": taxonomy}
        for (taxonomy, code), term_id in sorted(terms.items(), key=lambda item: item[1])
    ]
    return tables


def _term_name(taxonomy: str, code: str) -> str:
    return NEEDS[code] if taxonomy == NEED_TAXONOMY else ACCESSIBILITY[code]


def _service_rows(
    service: CommunityService,
    tables: dict[str, list[dict[str, Cell]]],
    terms: dict[tuple[str, str], str],
    venues: Container[str],
) -> None:
    sid = service.id
    tables["services"].append(
        {
            "id": sid,
            "organization_id": service.organisation_id,
            "name": service.name,
            "description": service.description,
            "url": service.website,
            "email": service.email,
            "status": ACTIVE if service.active else DEFUNCT,
            "eligibility_description": service.eligibility,
            "assured_date": service.last_checked.isoformat() if service.last_checked else None,
            "referral_methods": ",".join(service.referral_methods) or None,
            "closed_date": service.closed_on.isoformat() if service.closed_on else None,
        }
    )
    placed = [v for v in service.venue_ids if v in venues]  # a deleted venue is not exported
    for n, venue_id in enumerate(placed, start=1):
        tables["service_at_locations"].append(
            {"id": f"{sid}-at-{n}", "service_id": sid, "location_id": venue_id}
        )
    for n, session in enumerate(service.opening_times, start=1):
        opens, closes = session.opens or time(0), session.closes or END_OF_DAY
        tables["regular_schedules"].append(
            {
                "id": f"{sid}-schedule-{n}",
                "service_id": sid,
                "freq": "WEEKLY",
                "byday": ",".join(RRULE_DAYS[DAYS.index(d)] for d in session.days),
                "opens_at": opens.isoformat(),
                "closes_at": closes.isoformat(),
            }
        )
    linked = [(NEED_TAXONOMY, code) for code in service.needs] + [
        (ACCESSIBILITY_TAXONOMY, code) for code in ACCESSIBILITY if code in service.accessibility
    ]
    for taxonomy, code in linked:
        prefix = "need" if taxonomy == NEED_TAXONOMY else "access"
        term_id = terms.setdefault((taxonomy, code), f"{prefix}-{code}")
        tables["service_taxonomies"].append(
            {"id": f"{sid}-{term_id}", "service_id": sid, "taxonomy_term_id": term_id}
        )
    if service.contact_name or service.contact_title or service.phone:
        tables["contacts"].append(
            {
                "id": f"{sid}-contact",
                "service_id": sid,
                "name": service.contact_name,
                "title": service.contact_title,
                "phone": service.phone,
            }
        )
    if service.cost is not None:
        amount = service.cost.amount
        tables["cost_options"].append(
            {
                "id": f"{sid}-cost",
                "service_id": sid,
                "option": service.cost.kind,
                "amount": float(amount) if amount is not None else None,
                "amount_description": service.cost.detail,
            }
        )


def export_hsds_json(directory: Directory, path: Path) -> None:
    """Write the directory as one HSDS JSON file."""
    write_hsds_json(hsds_tables(directory), path)


def export_hsds_csv(directory: Directory, folder: Path) -> list[Path]:
    """Write the directory as one HSDS CSV file per table in `folder`; the files written."""
    return write_hsds_csv(hsds_tables(directory), folder)


Tables = Mapping[str, Sequence[Mapping[str, Cell]]]


def write_hsds_json(tables: Tables, path: Path) -> None:
    """The tables as one JSON object (empty values left out of each record)."""
    document = {
        name: [{k: v for k, v in row.items() if v is not None} for row in rows]
        for name, rows in tables.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))


def write_hsds_csv(tables: Tables, folder: Path) -> list[Path]:
    """The tables as `<table>.csv` files (the subset's columns, in its order)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in tables.items():
        path = folder / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            columns = TABLES[name].columns
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row.get(column)) for column in columns])
        written.append(path)
    return written


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else value
