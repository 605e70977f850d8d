"""The `careweave` command: serve the API, migrate the database, load data. Thin by design."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
