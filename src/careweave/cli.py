"""The `careweave` command: serve the API, migrate the database, load and import data. Thin by
design."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

from careweave.cli_directory import directory_app
from careweave.cli_population import population_app
from careweave.fhir.errors import FhirError
from careweave.settings import Settings
from careweave.store.database import open_database

if TYPE_CHECKING:
    from careweave.access.accounts import UserAccount
    from careweave.access.tokens import IssuedToken
    from careweave.store.repository import FhirStore

app = typer.Typer(
    help="careweave: joined-up care for older adults living with several long-term conditions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Create and migrate the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(population_app, name="population")
app.add_typer(directory_app, name="directory")
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
    worker_stall_seconds: Annotated[
        float,
        typer.Option(
            help="With several workers: replace a worker whose event loop stops this long",
            min=1.0,
        ),
    ] = 30.0,
) -> None:
    """Serve the FHIR R4 API (and, later, the web app) over HTTP."""
    import os
    import secrets
    import socket

    import uvicorn

    settings = Settings.from_env(database_url)
    _require_migrated(settings)
    os.environ["CAREWEAVE_DATABASE_URL"] = settings.database_url
    # Every worker signs and checks sign-in forms with the same key (inherited environment).
    os.environ.setdefault("CAREWEAVE_SECRET_KEY", secrets.token_urlsafe(32))
    separate_sockets = workers > 1 and hasattr(socket, "SO_REUSEPORT")
    if separate_sockets:
        from careweave.api.workers import WorkerSettings, check_port_free, run_workers

        try:
            check_port_free(host, port)
        except OSError as error:
            raise _fail(f"cannot listen on {host}:{port}: {error.strerror}") from None
    base = f"http://{host}:{port}"
    console.print(f"careweave is serving {settings.database_url}")
    console.print(f"  FHIR API:                {base}/fhir/R4/metadata")
    console.print(f"  Patients:                {base}/fhir/R4/Patient")
    console.print(f"  Sign in (web):           {base}/sign-in")
    console.print(f"  API documentation:       {base}/docs")
    if separate_sockets:
        serving = WorkerSettings(
            "careweave.api.asgi:app", host, port, stall_seconds=worker_stall_seconds
        )
        raise typer.Exit(run_workers(serving, workers))
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
    from careweave.store.bulk_import import gather_statistics
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
    # Fresh planner statistics after a bulk load: without them PostgreSQL may sort a whole
    # table for a search that an index answers in a millisecond (autovacuum may be off, or not
    # yet have run). Only careweave's tables: the database may hold other schemas.
    gather_statistics(store.database)
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
    untraced_past_capacity: Annotated[
        bool,
        typer.Option(
            help="Allow more people than the 909,091 valid test-range NHS numbers; the rest "
            "get no NHS number (for benchmarks at system scale only)"
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
                untraced_past_capacity=untraced_past_capacity,
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


# --- User accounts and API tokens ---------------------------------------------------------------

users_app = typer.Typer(
    help="User accounts: add, list and disable them, or make demo users for a generated place.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")
token_app = typer.Typer(help="API bearer tokens: issue and revoke them.", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _open_store(database_url: str | None) -> FhirStore:
    """The migrated database's FhirStore (accounts are checked against its directory)."""
    from careweave.store.repository import FhirStore

    settings = Settings.from_env(database_url)
    _require_migrated(settings)
    return FhirStore(open_database(settings.database_url))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = typer.get_text_stream("stdin").readline().rstrip("\r\n")
        if not line:
            raise _fail("--password-stdin: standard input held no password")
        return line
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Sign-in name: 3-64 of a-z 0-9 . _ -")],
    name: Annotated[str, typer.Option("--name", help="Name as shown, e.g. 'Dr Asha Patel'")],
    role: Annotated[
        str, typer.Option("--role", help="gp, nurse, care-coordinator, ... patient, carer")
    ],
    organisation: Annotated[
        str | None, typer.Option("--organisation", help="Organization id the user acts for")
    ] = None,
    practitioner_role: Annotated[
        str | None,
        typer.Option(
            "--practitioner-role",
            help="PractitionerRole id (their post; fills in organisation and practitioner)",
        ),
    ] = None,
    practitioner: Annotated[str | None, typer.Option("--practitioner", help="Practitioner id")] = (
        None
    ),
    patient: Annotated[
        str | None,
        typer.Option("--patient", help="Patient id: the person, or whom a carer looks after"),
    ] = None,
    related_person: Annotated[
        str | None,
        typer.Option("--related-person", help="RelatedPerson id recording a carer as the carer"),
    ] = None,
    caldicott_guardian: Annotated[
        bool,
        typer.Option(
            "--caldicott-guardian", help="Reviews break-glass access for the organisation"
        ),
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from one line of standard input"),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a user account; asks for the password twice (hidden) unless --password-stdin."""
    from careweave.access.accounts import add_user, check_new_user

    store = _open_store(database_url)
    links: dict[str, Any] = {
        "organisation_id": organisation,
        "practitioner_id": practitioner,
        "practitioner_role_id": practitioner_role,
        "patient_id": patient,
        "related_person_id": related_person,
        "caldicott_guardian": caldicott_guardian,
        "store": store,
    }
    try:
        # Everything but the password first, so nobody types one for a doomed account.
        check_new_user(store.database, username, name, role, **links)
        password = _read_password(password_stdin)
        add_user(store.database, username, name, role, password=password, **links)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.database.dispose()
    console.print(f"Added {username.strip().lower()} ({role.strip().lower()})")


def _acts_for(user: UserAccount) -> str:
    if user.patient_id:
        return f"Patient/{user.patient_id}"
    return f"Organization/{user.organisation_id}" if user.organisation_id else ""


@users_app.command("list")
def users_list(database_url: DatabaseUrl = None) -> None:
    """List every account, with what it acts for and whether it can sign in now."""
    from datetime import UTC, datetime

    from rich.table import Table

    from careweave.access.accounts import list_users

    store = _open_store(database_url)
    try:
        users = list_users(store.database)
    finally:
        store.database.dispose()
    now = datetime.now(UTC)
    table = Table(title=f"{len(users)} user account{'' if len(users) == 1 else 's'}")
    for heading in ("Username", "Name", "Role", "Acts for", "Post", "Status"):
        table.add_column(heading)
    for user in users:
        if user.disabled:
            status = "[red]disabled[/red]"
        elif user.locked_at(now) and user.locked_until is not None:
            status = f"[yellow]locked until {user.locked_until:%H:%M} UTC[/yellow]"
        elif not user.has_password:
            status = "no password"
        else:
            status = "active"
        if user.caldicott_guardian:
            status += ", Caldicott guardian"
        table.add_row(
            user.username,
            user.display_name,
            user.role.value,
            _acts_for(user),
            user.practitioner_role_id or "",
            status,
        )
    Console().print(table)


@users_app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="The account to disable")],
    database_url: DatabaseUrl = None,
) -> None:
    """Stop an account signing in and its tokens working, at once (the account is kept for
    the audit trail)."""
    from careweave.access.accounts import disable_user

    store = _open_store(database_url)
    try:
        user = disable_user(store.database, username)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.database.dispose()
    console.print(f"Disabled {user.username}: it can no longer sign in or use its tokens")


DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - a demo password, published on purpose
"""Every demo account's password unless --password says otherwise: demo accounts are for a
synthetic place on your own machine only, and `users demo` says so when it makes them."""


def _search_all(
    store: FhirStore, resource_type: str, params: list[tuple[str, str]]
) -> Iterator[dict[str, Any]]:
    """Every match of a search, page by page, in the store's order."""
    from careweave.fhir.search_query import CURSOR_PARAMETER, parse_search

    cursor: str | None = None
    while True:
        paging = [("_count", "500"), ("_total", "none")]
        if cursor:
            paging.append((CURSOR_PARAMETER, cursor))
        query = parse_search(resource_type, [*params, *paging], store.registry)
        page = store.search(query)
        for _rtype, _rid, content in page.matches:
            yield orjson.loads(content)
        cursor = page.next_cursor
        if not cursor:
            return


def _ref_id(resource: dict[str, Any], field: str) -> str | None:
    reference = (resource.get(field) or {}).get("reference") or ""
    return reference.partition("/")[2] or None


def _demo_people(store: FhirStore) -> tuple[dict[str, Any], dict[str, Any]]:
    """An older person (65+, alive, synthetic NHS number) and the active carer who looks after
    them: the patient and carer demo accounts. Someone with an active care plan (and so a named
    coordinator and care team) comes first, so the person's and the carer's pages show them."""
    from careweave.fhir.errors import FhirError
    from careweave.uk_time import today as uk_today

    # 65 on the UK day, not the server's: on a server far from England they differ for hours.
    today = uk_today()
    planned = {
        patient_id
        for plan in _search_all(store, "CarePlan", [("status", "active")])
        if (patient_id := _ref_id(plan, "subject"))
    }
    fallback: tuple[dict[str, Any], dict[str, Any]] | None = None
    for related in _search_all(store, "RelatedPerson", [("active", "true")]):
        patient_id = _ref_id(related, "patient")
        if patient_id is None:
            continue
        try:
            patient = store.read("Patient", patient_id).as_dict()
        except FhirError:
            continue
        born = str(patient.get("birthDate") or "")
        numbers = [i.get("value", "") for i in patient.get("identifier") or []]
        if (
            len(born) == 10
            and today.year - int(born[:4]) - (today.strftime("%m-%d") < born[5:]) >= 65
            and "deceasedDateTime" not in patient
            and not patient.get("deceasedBoolean")
            and any(str(n).startswith("999") for n in numbers)
        ):
            if patient_id in planned:
                return patient, related
            fallback = fallback or (patient, related)
    if fallback is not None:
        return fallback
    raise _fail(
        "the store holds no older person with a carer to make demo users for: "
        "run `careweave generate --out DIR` and `careweave import DIR` first"
    )


# careweave role -> synthetic workforce role keys (careweave.synth.workforce.ROLES), best first.
_DEMO_POSTS: dict[str, tuple[str, ...]] = {
    "gp": ("gp",),
    "nurse": ("community-nurse", "district-nurse", "practice-nurse"),
    "care-coordinator": ("care-coordinator",),
    "link-worker": ("link-worker",),
    "social-worker": ("social-worker",),
    "discharge-coordinator": ("discharge-coordinator",),
    "care-home-staff": ("care-home-manager", "care-home-nurse"),
    "volunteer": ("voluntary-sector-worker",),
}


def _demo_posts(
    store: FhirStore, near: list[str], in_team: frozenset[str] = frozenset()
) -> dict[str, dict[str, Any]]:
    """The PractitionerRole each staff demo user holds: for each role, a post in the demo
    person's care team (`in_team`: their coordinator, nurse, social worker... so each demo
    user can open the demo person's record), else one at an organisation in `near` (the demo
    person's practice and network, so the demo GP is their GP), else the first by id.
    Synthetic PractitionerRole ids are <org>-<role key>-<n>-role."""
    found: dict[str, list[dict[str, Any]]] = {}
    for post in _search_all(store, "PractitionerRole", [("active", "true")]):
        organisation, post_id = _ref_id(post, "organization"), str(post.get("id"))
        if not organisation or not post_id.startswith(f"{organisation}-"):
            continue
        key, _, number = post_id[len(organisation) + 1 :].removesuffix("-role").rpartition("-")
        if post_id.endswith("-role") and number.isdigit():
            found.setdefault(key, []).append(post)
    chosen: dict[str, dict[str, Any]] = {}
    for role, keys in _DEMO_POSTS.items():
        for key in keys:
            posts = sorted(
                found.get(key, []),
                key=lambda p: (
                    p["id"] not in in_team,
                    near.index(o) if (o := _ref_id(p, "organization")) in near else len(near),
                    len(p["id"]),
                    p["id"],
                ),
            )
            if posts:
                chosen[role] = posts[0]
                break
    return chosen


def _display(resource: dict[str, Any], field: str, fallback: str) -> str:
    return str((resource.get(field) or {}).get("display") or fallback)


def _person_name(resource: dict[str, Any], fallback: str) -> str:
    names = resource.get("name") or [{}]
    name = names[0]
    text = " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()
    return text or fallback


@users_app.command("demo")
def users_demo(
    password: Annotated[
        str, typer.Option("--password", help="Password for every demo account (demo only)")
    ] = DEMO_PASSWORD,
    database_url: DatabaseUrl = None,
) -> None:
    """Make one demo user per role for a generated place (`careweave generate` then
    `careweave import`); safe to re-run. DEMO ONLY: every account shares one known password."""
    from rich.table import Table

    from careweave.access.accounts import add_user, get_user
    from careweave.access.passwords import check_password_policy
    from careweave.fhir.errors import FhirError

    store = _open_store(database_url)
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        check_password_policy(password)
        patient, carer = _demo_people(store)
        practice = next(
            (
                str(ref["reference"]).removeprefix("Organization/")
                for ref in patient.get("generalPractitioner") or []
                if str(ref.get("reference", "")).startswith("Organization/")
            ),
            None,
        )
        near = [practice] if practice else []
        network: str | None = None
        if practice:
            try:
                network = _ref_id(store.read("Organization", practice).as_dict(), "partOf")
            except FhirError:
                network = None
        board: str | None = None
        if network:
            near.append(network)
            try:
                board = _ref_id(store.read("Organization", network).as_dict(), "partOf")
            except FhirError:
                board = None
        team = frozenset(
            member
            for care_team in _search_all(
                store, "CareTeam", [("patient", f"Patient/{patient['id']}"), ("status", "active")]
            )
            for participant in care_team.get("participant") or []
            if (member := _ref_id(participant, "member"))
        )
        posts = _demo_posts(store, near, team)
        wanted: list[tuple[str, str, dict[str, Any]]] = []
        for role in _DEMO_POSTS:
            post = posts.get(role)
            if post is None:
                console.print(f"[yellow]No {role} post in the store: no demo.{role}[/yellow]")
                continue
            name = _display(post, "practitioner", f"Demo {role}")
            links = {"practitioner_role_id": post["id"], "caldicott_guardian": role == "gp"}
            wanted.append((role, name, links))
        wanted += [
            ("analyst", "Demo Analyst", {"organisation_id": board}),
            ("administrator", "Demo Administrator", {}),
            ("patient", _person_name(patient, "Demo Patient"), {"patient_id": patient["id"]}),
            (
                "carer",
                _person_name(carer, "Demo Carer"),
                {"patient_id": patient["id"], "related_person_id": carer["id"]},
            ),
        ]
        for role, name, links in wanted:
            username = f"demo.{role}"
            note = "created"
            if get_user(store.database, username) is None:
                add_user(
                    store.database, username, name, role, password=password, store=store, **links
                )
            else:
                note = "already there (unchanged)"
            user = get_user(store.database, username)
            if user is None:  # pragma: no cover - just written
                raise _fail(f"{username} was not written")
            if user.caldicott_guardian:
                note += ", Caldicott guardian"
            scope = "patient/*.rs" if role in ("patient", "carer") else "user/*.rs"
            rows.append((username, role, _acts_for(user), scope, note))
    except ValueError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.database.dispose()
    table = Table(
        title="Demo users (DEMO ONLY: synthetic data on your own machine)",
        caption=f"Sign in on the web with a username and the password '{password}'. For the "
        "API: careweave token issue --user USERNAME --scope 'SCOPE'.",
    )
    for heading in ("Username", "Role", "Acts for", "Scope", "Note"):
        table.add_column(heading)
    for row in rows:
        table.add_row(*row)
    console.print(
        "[bold red]Demo only:[/bold red] these accounts share a published password. Never "
        "make them in a database that holds real people's records."
    )
    Console().print(table)


@token_app.command("issue")
def token_issue(
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="SMART scopes, space-separated: user/*.rs for staff, patient/*.rs for a "
            "person or carer, system/*.rs for a client without a user",
        ),
    ],
    user: Annotated[str | None, typer.Option("--user", help="Username the token acts as")] = None,
    client: Annotated[
        str | None,
        typer.Option(
            "--client", help="Name of the client, as the audit trail will show it (without --user)"
        ),
    ] = None,
    organisation: Annotated[
        str | None,
        typer.Option(
            "--organisation",
            help="Organization id a system client acts for (without it: the whole platform)",
        ),
    ] = None,
    hours: Annotated[int, typer.Option("--hours", min=1, help="Hours until it expires")] = 12,
    database_url: DatabaseUrl = None,
) -> None:
    """Issue an API bearer token; it is printed once, alone on the last line."""
    from datetime import timedelta

    from careweave.access.scopes import Scopes
    from careweave.access.tokens import issue_token

    if user is None and not client:
        # The issue's own example is `careweave token issue --scope 'system/*.cruds'`: a
        # client still gets a name in the audit trail, so say which one it was given.
        client = "system client"
        console.print("No --client given: the token's client is named 'system client'.")
    store = _open_store(database_url)
    try:
        issued = issue_token(
            store.database,
            Scopes.parse(scope),
            username=user,
            client_name=client or "careweave command line",
            organisation_id=organisation,
            lifetime=timedelta(hours=hours),
            store=store,
        )
        _audit_token_issued(store, issued)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.database.dispose()
    holder = issued.username or f"system client '{issued.client_name}'"
    where = issued.organisation_id or "the whole platform"
    expires = f"{issued.expires:%Y-%m-%d %H:%M} UTC" if issued.expires else "never"
    console.print(
        f"Bearer token for {holder}, acting for {where}, scopes {issued.scopes}, expires "
        f"{expires}. careweave keeps only its hash, so this is the only time it is shown. "
        "Send it as 'Authorization: Bearer <token>'; stop it with `careweave token revoke`.",
        soft_wrap=True,
    )
    if issued.username is None and issued.organisation_id is None:
        console.print("[yellow]A system client for the whole platform sees every record.[/yellow]")
    typer.echo(issued.token)


def _audit_token_issued(store: FhirStore, issued: IssuedToken) -> None:
    """Issuing a token is an act of governance: the trail says who got what, and when."""
    from datetime import UTC, datetime

    from careweave.access.audit import AuditRecord, AuditTrail

    holder = issued.username or f"client:{issued.client_name}"
    AuditTrail(store.database).record(
        [
            AuditRecord(
                event="token-issued",
                action="C",
                outcome="0",
                username=holder[:64],
                display_name=None,
                role=None,
                organisation_id=issued.organisation_id,
                practitioner_role_id=None,
                patient_id=None,
                entity=f"scopes: {issued.scopes}",
                reason="careweave token issue (command line)",
                break_glass=False,
                address=None,
                recorded=datetime.now(UTC),
            )
        ]
    )


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(help="The token, or - to read it from standard input")],
    database_url: DatabaseUrl = None,
) -> None:
    """Stop a token working, at once."""
    from careweave.access.tokens import revoke_token

    if token == "-":  # noqa: S105 - "-" means standard input, not a token
        token = typer.get_text_stream("stdin").readline().strip()
    store = _open_store(database_url)
    try:
        revoked = revoke_token(store.database, token.strip())
    finally:
        store.database.dispose()
    if not revoked:
        raise _fail("no live token matches (unknown, or already revoked)")
    console.print("Revoked: the token no longer works")


# --- Audit trail and information-sharing agreements -------------------------------------------

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
sharing_app = typer.Typer(
    help="Information-sharing agreements: which categories of data reach which roles.",
    no_args_is_help=True,
)
app.add_typer(sharing_app, name="sharing")


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[
        str | None,
        typer.Option(help="A head hash printed by an earlier verify: it must still be there"),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Check every entry's hash chain; any altered or removed entry is named. Keep the head hash
    it prints somewhere else: with --expect-head it also finds entries cut from the end."""
    from careweave.access.audit import verify_chain

    store = _open_store(database_url)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("Checking the audit trail", total=None)

            def show(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = verify_chain(store.database, show, expect_head=expect_head)
    finally:
        store.database.dispose()
    for problem in report.problems:
        console.print(f"[red]{problem}[/red]", soft_wrap=True)
    if not report.ok:
        raise _fail(
            f"the audit trail has been tampered with: {report.problem_count} problem(s) in "
            f"{report.checked} entries"
        )
    console.print(f"{report.checked} entries checked; the chain is intact.")
    if report.last_hash:
        console.print(
            f"Head (keep it elsewhere; pass it as --expect-head next time): seq {report.last_seq}"
        )
        typer.echo(report.last_hash)


@sharing_app.command("load")
def sharing_load(
    name: Annotated[str, typer.Argument(help="The agreement's name (loading again replaces it)")],
    terms: Annotated[
        Path | None,
        typer.Option(help="JSON file of the terms (see careweave.access.sharing); or --example"),
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="The example terms for a demo place (all parties)")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Add or replace an information-sharing agreement; its terms are checked first."""
    from careweave.access.sharing import DEFAULT_TERMS, SharingTermsError, save_agreement

    if (terms is None) == (not example):
        raise _fail("give either --terms FILE or --example")
    try:
        text: Any = DEFAULT_TERMS if example else (terms.read_text() if terms else "")
    except OSError as exc:
        raise _fail(f"cannot read {terms}: {exc.strerror}") from None
    store = _open_store(database_url)
    try:
        agreement = save_agreement(store.database, name, text)
    except (SharingTermsError, orjson.JSONDecodeError) as exc:
        raise _fail(f"the agreement was not saved: {exc}") from None
    finally:
        store.database.dispose()
    parties = (
        "every organisation"
        if agreement.terms.parties is None
        else (f"{len(agreement.terms.parties)} organisations")
    )
    console.print(f"Agreement '{name}' is active for {parties}, for {agreement.terms.purpose}.")


@sharing_app.command("list")
def sharing_list(database_url: DatabaseUrl = None) -> None:
    """The agreements in force now, and what each role sees under them."""
    from rich.table import Table

    from careweave.access.sharing import active_agreements

    store = _open_store(database_url)
    try:
        agreements = active_agreements(store.database)
    finally:
        store.database.dispose()
    if not agreements:
        console.print("No agreement is in force: no organisation sees anyone's record.")
        return
    for agreement in agreements:
        table = Table(title=f"{agreement.name} ({agreement.terms.lawful_basis})")
        table.add_column("Role")
        table.add_column("Categories")
        for role, categories in sorted(agreement.terms.categories.items()):
            table.add_row(role.value, ", ".join(sorted(categories)))
        Console().print(table)


@app.command("export")
def export_command(
    out: Annotated[
        Path, typer.Argument(help="Folder to write Type.ndjson files and manifest.json")
    ],
    resource_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="A resource type to export (repeat; default: every type)"),
    ] = None,
    purpose: Annotated[
        str,
        typer.Option(
            help="planning: everyone but people with a national data opt-out (analysts, "
            "research); direct-care: what --user may see"
        ),
    ] = "planning",
    user: Annotated[str | None, typer.Option(help="Export as this user (direct care)")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Bulk export as FHIR NDJSON, through the same access rules and audit as the API."""
    from careweave.access.accounts import get_user, principal_for_user
    from careweave.access.audit import AuditTrail
    from careweave.access.guard import CareRecordAccess
    from careweave.access.principal import Principal
    from careweave.access.roles import Role
    from careweave.access.scopes import Scopes
    from careweave.access.sharing import CATEGORY_OF_TYPE, DIRECTORY_TYPES
    from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES

    types = resource_type or sorted((set(CATEGORY_OF_TYPE) | DIRECTORY_TYPES) - {"AuditEvent"})
    unknown = [t for t in types if t not in SUPPORTED_RESOURCE_TYPES]
    if unknown:
        raise _fail(f"not resource types careweave serves: {', '.join(unknown)}")
    if purpose not in ("planning", "direct-care"):
        raise _fail("--purpose is planning or direct-care")
    if (purpose == "direct-care") != (user is not None):
        raise _fail("a direct-care export is made as a user (--user); a planning one is not")
    if out.exists() and any(out.iterdir()):
        raise _fail(f"{out} is not empty; choose a new folder")
    store = _open_store(database_url)
    try:
        if user is not None:
            account = get_user(store.database, user)
            if account is None:
                raise _fail(f"no user '{user}'")
            principal = principal_for_user(account)
        else:
            principal = Principal(
                username="careweave-cli",
                display_name="careweave command line (planning extract)",
                role=Role.SYSTEM,
                scopes=Scopes.parse("system/*.rs"),
            )
        access = CareRecordAccess(store, principal, AuditTrail(store.database))
        out.mkdir(parents=True, exist_ok=True)
        files: dict[str, Any] = {}

        def write(rtype: str, content: str) -> None:
            if rtype not in files:
                files[rtype] = (out / f"{rtype}.ndjson").open("w", encoding="utf-8")
            files[rtype].write(content + "\n")

        try:
            with console.status(f"Exporting {len(types)} types for {purpose}"):
                counts = access.export(types, write, purpose=purpose)
        except FhirError as exc:
            raise _fail(str(exc)) from None
        finally:
            for handle in files.values():
                handle.close()
        manifest: dict[str, Any] = {
            "purpose": purpose,
            "exportedBy": principal.username,
            "counts": {t: n for t, n in counts.items() if n},
        }
        if purpose == "planning":
            from careweave.access.consent import opted_out_patients

            manifest["leftOutUnderNationalDataOptOut"] = len(opted_out_patients(store))
        (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    finally:
        store.database.dispose()
    console.print(
        f"Exported {sum(counts.values())} resources to {out}"
        + (
            f"; {manifest['leftOutUnderNationalDataOptOut']} people left out under the national "
            "data opt-out"
            if purpose == "planning"
            else ""
        )
    )


subscriptions_app = typer.Typer(
    help="FHIR Subscriptions: send queued notifications, and see how they are doing.",
    no_args_is_help=True,
)
app.add_typer(subscriptions_app, name="subscriptions")


@subscriptions_app.command("deliver")
def subscriptions_deliver(
    once: Annotated[
        bool, typer.Option("--once", help="Send what is due now, then stop (for cron)")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Send queued Subscription notifications, retrying failures with backoff; runs until
    stopped (Ctrl-C), or once with --once. Safe beside the server's own worker."""
    import time

    from careweave.subscriptions.delivery import deliver_due

    settings = Settings.from_env(database_url)
    store = _open_store(database_url)
    try:
        while True:
            report = deliver_due(store)
            if report.sent or once:
                console.print(
                    f"Delivered {report.delivered}, to retry {report.retrying}, "
                    f"failed {report.failed}"
                )
            if once:
                return
            time.sleep(settings.worker_interval)
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        store.database.dispose()


@subscriptions_app.command("list")
def subscriptions_list(database_url: DatabaseUrl = None) -> None:
    """Every Subscription: its status, what it asks for, where it goes, and its deliveries."""
    from rich.table import Table

    from careweave.subscriptions.delivery import summaries

    store = _open_store(database_url)
    try:
        found = summaries(store)
    finally:
        store.database.dispose()
    if not found:
        console.print("There are no Subscriptions.")
        return
    table = Table(title="Subscriptions")
    for column in ("Id", "Status", "Criteria", "Endpoint", "Pending", "Delivered", "Failed"):
        table.add_column(column)
    for item in found:
        table.add_row(
            item.id,
            item.status + (f"\n{item.error}" if item.error else ""),
            item.criteria,
            item.endpoint,
            *(str(item.counts.get(status, 0)) for status in ("pending", "delivered", "failed")),
        )
    Console(width=200).print(table)
