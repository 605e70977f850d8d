"""`careweave directory`: the directory of community services from the command line. Thin by
design: import and export Open Referral UK (HSDS) files, list the entries due for a check, and
make a synthetic directory for a synthetic place; the work is careweave.social_prescribing's.

Like `careweave load` and `careweave import`, these commands act as the platform (whoever runs
them holds the database), not as a signed-in user, so they write straight to the store.

Exit codes: 0 done; 1 the database cannot be used (not migrated, not reachable); 2 the input is
wrong (a malformed file, a bad option value), with every problem listed and nothing written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from careweave.settings import Settings
from careweave.store.database import open_database

if TYPE_CHECKING:
    from careweave.social_prescribing.directory_records import OpenTransaction, SaveReport
    from careweave.store.repository import FhirStore

BAD_INPUT: Final = 2

directory_app = typer.Typer(
    help="The directory of community services: import, export, stale entries, synthetic data.",
    no_args_is_help=True,
)


def _stderr() -> Console:
    """Made when used, so the terminal's width (COLUMNS) is read as the command runs."""
    return Console(stderr=True)


def _stdout() -> Console:
    return Console()


DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (default: $CAREWEAVE_DATABASE_URL or an SQLite file in your data "
        "directory)",
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    _stderr().print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    return typer.Exit(code=code)


def _open_store(database_url: str | None) -> FhirStore:
    """The migrated database's store; exit 1 with a one-line reason when it is not usable."""
    from careweave.store.migrate import current_revision, head_revision
    from careweave.store.repository import FhirStore

    settings = Settings.from_env(database_url)
    database = open_database(settings.database_url)
    try:
        current = current_revision(database)
    except Exception as exc:
        database.dispose()
        raise _fail(f"cannot open the database {database.writer.url!r}: {exc}") from None
    if current != head_revision():
        database.dispose()
        raise _fail(
            f"the database {database.writer.url!r} is not migrated; run `careweave db upgrade`"
        )
    return FhirStore(database)


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option} {text!r} is not a date like 2026-03-31", BAD_INPUT) from None


def _print_report(report: SaveReport, verb: str) -> None:
    table = Table(title=f"Directory {verb}")
    table.add_column("Record")
    for heading in ("Added", "Changed", "Already so"):
        table.add_column(heading, justify="right")
    names = {"Organization": "Organisations", "Location": "Venues", "HealthcareService": "Services"}
    for kind in names:
        table.add_row(
            names.get(kind, kind),
            str(report.created.get(kind, 0)),
            str(report.updated.get(kind, 0)),
            str(report.unchanged.get(kind, 0)),
        )
    _stdout().print(table)


@directory_app.command("import")
def import_directory(
    path: Annotated[
        Path,
        typer.Argument(
            help="A folder of HSDS CSV files (organizations.csv, services.csv...) or one .json file"
        ),
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Import an Open Referral UK (HSDS) directory, all or nothing: every bad row is listed
    (file, row, column) and nothing is written. Importing the same file again changes nothing."""
    from careweave.social_prescribing.directory_exchange import (
        DirectoryImportRejected,
        import_hsds_csv,
        import_hsds_json,
    )

    importer: Callable[[OpenTransaction, Path], SaveReport]
    if path.is_dir():
        importer = import_hsds_csv
    elif path.is_file() and path.suffix.lower() == ".json":
        importer = import_hsds_json
    elif not path.exists():
        raise _fail(f"{path} does not exist", BAD_INPUT)
    else:
        raise _fail(f"{path} is neither a folder of HSDS CSV files nor a .json file", BAD_INPUT)
    store = _open_store(database_url)
    try:
        report = importer(store.transaction, path)
    except DirectoryImportRejected as exc:
        heading = str(exc).splitlines()[0]
        _stderr().print(f"[red]error:[/red] {escape(heading)}", highlight=False)
        for problem in exc.problems:
            _stderr().print(f"  {problem}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(code=BAD_INPUT) from None
    finally:
        store.database.dispose()
    _print_report(report, f"imported from {path.name}")


@directory_app.command("export")
def export_directory(
    out_path: Annotated[
        Path, typer.Option("--out", help="A folder for CSV files, or a .json file to write")
    ],
    file_format: Annotated[
        str, typer.Option("--format", help="csv (one file per table in a folder) or json")
    ] = "csv",
    database_url: DatabaseUrl = None,
) -> None:
    """Export every service in the directory, with the organisations and venues they name, as
    Open Referral UK (HSDS) CSV or JSON (importing it again gives the same services)."""
    from careweave.social_prescribing.directory_exchange import export_hsds_csv, export_hsds_json
    from careweave.social_prescribing.directory_index import load_directory

    chosen = file_format.strip().lower()
    if chosen not in ("csv", "json"):
        raise _fail(f"--format must be csv or json, not {file_format!r}", BAD_INPUT)
    if chosen == "csv" and out_path.exists() and not out_path.is_dir():
        raise _fail(f"{out_path} is a file: CSV export needs a folder", BAD_INPUT)
    if chosen == "json" and out_path.is_dir():
        raise _fail(f"{out_path} is a folder: JSON export needs a file name", BAD_INPUT)
    store = _open_store(database_url)
    try:
        directory = load_directory(store)
    finally:
        store.database.dispose()
    if chosen == "json":
        out_path.parent.mkdir(parents=True, exist_ok=True)
        export_hsds_json(directory, out_path)
        written = [out_path]
    else:
        out_path.mkdir(parents=True, exist_ok=True)
        written = export_hsds_csv(directory, out_path)
    _stderr().print(
        f"Exported {len(directory.services):,} services to " + ", ".join(str(p) for p in written),
        highlight=False,
        soft_wrap=True,
    )


@directory_app.command("stale")
def stale_entries(
    on: Annotated[
        str | None, typer.Option("--on", help="The day to judge from (default: today, UK)")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List the entries not checked for six months, per organisation that runs them (in name
    order, oldest check first), so each can be sent its own list to confirm."""
    from careweave.coordination.record import today
    from careweave.social_prescribing.directory_index import load_directory
    from careweave.social_prescribing.directory_staleness import stale_by_organisation

    day = _day(on, "--on") or today()
    store = _open_store(database_url)
    try:
        directory = load_directory(store)
    finally:
        store.database.dispose()
    stale = stale_by_organisation(directory, day)
    if not stale:
        _stdout().print(f"No entries are due for a check on {day.isoformat()}.")
        return
    table = Table(title=f"Directory entries due for a check on {day.isoformat()}")
    for heading in ("Organisation", "Email", "Service", "Service id", "Last checked"):
        table.add_column(heading)
    for group in stale:
        name = group.organisation.name if group.organisation else group.organisation_id
        email = (group.organisation.email if group.organisation else None) or ""
        for n, service in enumerate(group.services):
            table.add_row(
                name if n == 0 else "",
                email if n == 0 else "",
                service.name,
                service.id,
                service.last_checked.isoformat() if service.last_checked else "never",
            )
    _stdout().print(table)
    count = sum(len(group.services) for group in stale)
    _stdout().print(
        f"{count:,} entries at {len(stale):,} organisations are due for a check.", soft_wrap=True
    )


@directory_app.command("generate")
def generate_directory_command(
    services: Annotated[int, typer.Option("--services", min=1, help="How many services")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same directory")] = 7,
    people: Annotated[
        int,
        typer.Option("--people", min=1, help="Registered population of the place (as generated)"),
    ] = 5000,
    place_seed: Annotated[
        int, typer.Option("--place-seed", help="The seed the place was generated with")
    ] = 2026,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The day the place was generated for (default 2026-03-31)"),
    ] = None,
    checked_on: Annotated[
        str | None,
        typer.Option(
            "--checked-on", help="The day entries' last checks are drawn back from (default: today)"
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write a synthetic directory for the synthetic place into the store: services at venues
    on the place's own streets, so searches from its postcodes find services nearby. The place
    is the one `careweave generate --people P --seed S --as-of D` makes (its defaults here);
    re-running with the same options changes nothing."""
    from careweave.coordination.record import today
    from careweave.social_prescribing.synthetic_directory import (
        generate_directory,
        save_synthetic_directory,
    )
    from careweave.synth.generate import DEFAULT_AS_OF
    from careweave.synth.place import build_place

    place_day = _day(as_of, "--as-of") or DEFAULT_AS_OF
    checked_day = _day(checked_on, "--checked-on") or today()
    store = _open_store(database_url)
    try:
        place = build_place(people=people, seed=place_seed, as_of=place_day)
        made = generate_directory(place, services=services, seed=seed, as_of=checked_day)
        report = save_synthetic_directory(store.transaction, made)
    finally:
        store.database.dispose()
    _print_report(report, f"for {place.place.name}")
    _stdout().print(
        f"{len(made.services):,} services, {len(made.venues):,} venues and "
        f"{len(made.organisations):,} organisations for {place.place.name} "
        f"({people:,} people, place seed {place_seed}, directory seed {seed}).",
        soft_wrap=True,
    )
