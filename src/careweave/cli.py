"""The `careweave` command: serve the API, migrate the database, load and import data. Thin by
design."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from careweave.fhir.errors import FhirError
from careweave.settings import Settings
from careweave.store.database import open_database

app = typer.Typer(
    help="careweave: joined-up care for older adults living with several long-term conditions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Create and migrate the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db "
        "(default: $CAREWEAVE_DATABASE_URL or an SQLite file in your data directory)",
    ),
]


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)  # paths stay whole
    return typer.Exit(code=1)


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Create the tables, or bring them up to the latest migration."""
    from careweave.store.migrate import upgrade

    settings = Settings.from_env(database_url)
    database = open_database(settings.database_url)
    try:
        upgrade(database)
    except Exception as exc:  # a database that cannot be reached is the usual cause
        raise _fail(f"could not migrate {database.writer.url!r}: {exc}") from None
    finally:
        database.dispose()
    console.print(f"Database is up to date: {database.writer.url!r}")


def _require_migrated(settings: Settings) -> None:
    from careweave.store.migrate import current_revision, head_revision

    database = open_database(settings.database_url)
    try:
        current = current_revision(database)
    except Exception as exc:
        raise _fail(f"cannot open the database {database.writer.url!r}: {exc}") from None
    finally:
        database.dispose()
    if current != head_revision():
        raise _fail(
            f"the database {database.writer.url!r} is not migrated; run `careweave db upgrade`"
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    database_url: DatabaseUrl = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the FHIR R4 API (and, later, the web app) over HTTP."""
    import os

    import uvicorn

    settings = Settings.from_env(database_url)
    _require_migrated(settings)
    os.environ["CAREWEAVE_DATABASE_URL"] = settings.database_url
    base = f"http://{host}:{port}"
    console.print(f"careweave is serving {settings.database_url}")
    console.print(f"  FHIR API:                {base}/fhir/R4/metadata")
    console.print(f"  Patients:                {base}/fhir/R4/Patient")
    console.print(f"  API documentation:       {base}/docs")
    uvicorn.run(
        "careweave.api.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def _read_resources(path: Path) -> Iterator[dict[str, Any]]:
    """Resources from a Bundle (.json) or NDJSON (.ndjson) file, or a folder of them."""
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.suffix in {".json", ".ndjson"}:
                yield from _read_resources(child)
        return
    if path.suffix == ".ndjson":
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    try:
                        yield orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        raise _fail(f"{path}:{number} is not valid JSON: {exc}") from None
        return
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise _fail(f"{path} is not valid JSON: {exc}") from None
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        for entry in document.get("entry") or []:
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield entry["resource"]
    elif isinstance(document, dict):
        yield document
    else:
        raise _fail(f"{path} holds neither a resource nor a Bundle")


def load_resources(settings: Settings, resources: list[dict[str, Any]], label: str) -> int:
    """Write every resource with its own id in ONE transaction: all of it lands, or none."""
    from careweave.store.repository import FhirStore

    store = FhirStore(open_database(settings.database_url))
    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
        store.transaction() as tx,
    ):
        task = progress.add_task(label, total=len(resources))
        for position, body in enumerate(resources):
            rtype, rid = body.get("resourceType"), body.get("id")
            if not isinstance(rtype, str) or not isinstance(rid, str):
                raise FhirError(f"resource {position + 1} of {label} has no resourceType and id")
            tx.update(rtype, rid, body)
            progress.advance(task)
    if store.database.dialect == "postgresql":
        # Fresh planner statistics after a bulk load: without them PostgreSQL may sort a whole
        # table for a search that an index answers in a millisecond (autovacuum may be off,
        # or not yet have run).
        with store.database.write() as conn:
            conn.exec_driver_sql("ANALYZE")
    store.database.dispose()
    return len(resources)


@app.command()
def load(
    paths: Annotated[list[Path], typer.Argument(help="Bundle .json / .ndjson files or folders")],
    database_url: DatabaseUrl = None,
) -> None:
    """Load resources (each keeps its id) into the store, all or nothing."""
    settings = Settings.from_env(database_url)
    _require_migrated(settings)
    resources: list[dict[str, Any]] = []
    for path in paths:
        if not path.exists():
            raise _fail(f"{path} does not exist")
        resources.extend(_read_resources(path))
    try:
        count = load_resources(settings, resources, "Loading")
    except FhirError as exc:
        raise _fail(f"nothing was loaded: {exc.message}") from None
    console.print(f"Loaded {count} resources")


@app.command("load-examples")
def load_examples(database_url: DatabaseUrl = None) -> None:
    """Load the small built-in example set (one person's joined-up care); safe to repeat."""
    from careweave.examples import all_examples

    settings = Settings.from_env(database_url)
    _require_migrated(settings)
    try:
        count = load_resources(settings, all_examples(), "Loading examples")
    except FhirError as exc:
        raise _fail(f"nothing was loaded: {exc.message}") from None
    console.print(f"Loaded {count} example resources")


@app.command("import")
def import_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="A folder of <ResourceType>.ndjson files (one resource a line), or one"
        ),
    ],
    database_url: DatabaseUrl = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Resources per transaction: a bad line loses at most this")
    ] = 2000,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes that parse and validate lines (default: one per CPU)"),
    ] = None,
) -> None:
    """Import NDJSON files in batches; safe to re-run: each resource keeps its id, nothing doubles.

    Files load in reference order (Organization, Practitioner, Patient, ... see
    careweave.store.bulk_import.IMPORT_ORDER); a resource that refers forwards waits for what
    it refers to. A bad line stops the import with its file and line; its batch is not kept,
    earlier batches are (a reference to nothing is reported once the rest is in), and running
    the command again after fixing the line carries on from there.
    """
    from careweave.store.bulk_import import (
        ImportFailed,
        ImportReport,
        default_workers,
        import_ndjson,
        plan_import,
    )
    from careweave.store.repository import FhirStore

    settings = Settings.from_env(database_url)
    _require_migrated(settings)
    try:
        plan = plan_import(source)
    except ImportFailed as exc:
        raise _fail(str(exc)) from None
    for path in plan.ignored:
        console.print(f"Ignoring {path}: not an .ndjson file", soft_wrap=True)
    store = FhirStore(open_database(settings.database_url))
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("Importing", total=plan.total_bytes or 1, rate="")

            def show(report: ImportReport) -> None:
                progress.update(
                    task,
                    completed=report.bytes_done,
                    description=report.path.name if report.path else "Importing",
                    rate=f"{report.resources:,} resources, {report.per_second:,.0f}/s",
                )

            report = import_ndjson(
                store,
                plan,
                batch_size=batch_size,
                workers=workers or default_workers(),
                on_progress=show,
            )
            progress.update(task, completed=plan.total_bytes or 1)  # trailing blank lines
    except ImportFailed as exc:
        done = exc.report
        raise _fail(
            f"{exc}. {done.resources:,} resources were imported ({done.batches} batches) and "
            f"are kept; {exc.unwritten:,} read since then {'is' if exc.unwritten == 1 else 'are'}"
            " not. Fix the line and run the same command again: it resumes safely and "
            "duplicates nothing."
        ) from None
    finally:
        store.database.dispose()
    console.print(
        f"Imported {report.resources:,} resources from {len(plan.files)} files in "
        f"{report.seconds:.1f} s ({report.per_second:,.0f} resources/s): "
        f"{report.created:,} created, {report.updated:,} updated, {report.unchanged:,} unchanged",
        soft_wrap=True,
    )


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write <ResourceType>.ndjson into")],
    people: Annotated[int, typer.Option(min=1, help="Registered population of the place")] = 5000,
    seed: Annotated[int, typer.Option(help="Same seed, same place, byte for byte")] = 2026,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Date the records are as of, YYYY-MM-DD (default 2026-03-31)"),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes generating people")] = 1,
    overwrite: Annotated[
        bool, typer.Option(help="Replace .ndjson files already in the folder")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            help="Read the place back and print its statistics beside the documented targets"
        ),
    ] = False,
) -> None:
    """Generate a synthetic English place (organisations, workforce, an older population with
    multimorbidity) as FHIR R4 NDJSON. Nothing in it is real."""
    from datetime import date

    from careweave.synth.generate import DEFAULT_AS_OF, generate_place

    try:
        as_of_date = date.fromisoformat(as_of) if as_of else DEFAULT_AS_OF
    except ValueError:
        raise _fail(f"--as-of {as_of!r} is not a date like 2026-03-31") from None
    with Progress(
        TextColumn("Generating people"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("people", total=people)
        try:
            summary = generate_place(
                people=people,
                seed=seed,
                out=out,
                as_of=as_of_date,
                workers=workers,
                overwrite=overwrite,
                progress=lambda done: progress.update(task, completed=done),
            )
        except (ValueError, OSError) as exc:
            raise _fail(str(exc)) from None
    console.print(
        f"{summary.place_name}: {summary.people:,} people ({summary.older_people:,} aged 65+), "
        f"{summary.total_resources:,} resources in {out}",
        soft_wrap=True,
    )
    for resource_type, count in sorted(summary.resources.items()):
        console.print(f"  {resource_type:<20} {count:>10,}")
    if check:
        _print_statistics(summary.out, summary.as_of)


def _print_statistics(out: Path, as_of: Any) -> None:
    from rich.table import Table

    from careweave.synth.statistics import read_place, statistics_table

    rows = statistics_table(read_place(out, as_of))
    table = Table(title="Generated versus target (percent)")
    for heading in ("Statistic", "Target", "Generated", "People", "Tolerance", ""):
        table.add_column(heading, justify="left" if heading == "Statistic" else "right")
    for row in rows:
        table.add_row(
            row.name,
            f"{row.target:.1f}",
            f"{row.generated:.1f}",
            f"{row.n:,}",
            f"±{row.tolerance:.1f}",
            "ok" if row.within_tolerance else "[red]outside[/red]",
        )
    Console().print(table)
