"""`careweave population`: keep the population projection up to date, and make its outputs.

The measures (careweave.population) run on a columnar projection of the store kept beside it
(an SQLite store's `.population.duckdb` file; PostgreSQL needs `--projection`). `refresh`
re-reads only the people whose records changed since the last one, so it can run after every
import or on a timer; `--full` rebuilds. Everything that leaves here leaves out the people
with a national data opt-out and says how many.

Complex multimorbidity has no single definition, so `refresh --complex-conditions N
--complex-body-systems M` sets the place's, both together (default 3 and 3, Harrison et al.;
Kingston et al.'s 4+ conditions is 4 and 1). Later refreshes keep it, `--full` ones too.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from careweave.population.equity import equity_breakdown
from careweave.population.exports import Format, export_equity, export_measures
from careweave.population.multimorbidity import (
    ComplexThresholds,
    InvalidComplexThresholds,
)
from careweave.population.projection import (
    ProjectionProblem,
    full_refresh,
    open_projection,
    projection_path,
    refresh,
)
from careweave.population.report import population_report
from careweave.settings import Settings
from careweave.store.database import open_database

population_app = typer.Typer(
    help="Population health: frailty, multimorbidity, segments and equity.",
    no_args_is_help=True,
)
console = Console()

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="Database URL (default: CAREWEAVE_DATABASE_URL)"),
]
ProjectionPath = Annotated[
    Path | None,
    typer.Option(help="The projection file (default: beside an SQLite store)"),
]


def _whole_number(option: str, text: str, least: int) -> int:
    """An option's value as a whole number of at least `least` (digits only: "4", not "4.0",
    "-1" or "four"), or a one-line message naming the option."""
    if not (text.isascii() and text.isdigit()) or int(text) < least:
        console.print(f"[red]{option} must be a whole number, {least} or more, not '{text}'[/red]")
        raise typer.Exit(2)
    return int(text)


def _complex_thresholds(
    conditions: str | None, body_systems: str | None
) -> ComplexThresholds | None:
    """The thresholds the options ask for, checked before anything is read or written; None
    when neither is given. Both or neither: with one alone, the other would be a default the
    operator did not choose (4 conditions in 3 body systems is neither Kingston's definition
    nor Harrison's)."""
    if conditions is None and body_systems is None:
        return None
    if conditions is None or body_systems is None:
        console.print(
            "[red]Give --complex-conditions and --complex-body-systems together "
            "(3 and 3 by default; Kingston et al.'s 4 or more conditions is 4 and 1)[/red]"
        )
        raise typer.Exit(2)
    try:
        return ComplexThresholds(
            _whole_number("--complex-conditions", conditions, 2),
            _whole_number("--complex-body-systems", body_systems, 1),
        )
    except InvalidComplexThresholds as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None


def _where(database_url: str | None, projection: Path | None) -> tuple[str, Path]:
    settings = Settings.from_env(database_url)
    url = settings.database_url
    try:
        return url, projection_path(url, projection or settings.population_projection)
    except ProjectionProblem as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None


@population_app.command("refresh")
def refresh_command(
    database_url: DatabaseUrl = None,
    projection: ProjectionPath = None,
    full: Annotated[bool, typer.Option("--full", help="Rebuild from scratch")] = False,
    as_of: Annotated[
        str | None, typer.Option(help="The day the measures are for (default today)")
    ] = None,
    complex_conditions: Annotated[
        str | None,
        typer.Option(
            help="Complex multimorbidity: at least this many long-term conditions, 2 or more, "
            "with --complex-body-systems (default: the projection's; 3 when new)"
        ),
    ] = None,
    complex_body_systems: Annotated[
        str | None,
        typer.Option(
            help="Complex multimorbidity: in at least this many body systems, 1 or more (1: "
            "conditions alone), with --complex-conditions (default as --complex-conditions)"
        ),
    ] = None,
) -> None:
    """Bring the projection up to date (only the people whose records changed). New complex
    multimorbidity thresholds re-measure everyone."""
    url, path = _where(database_url, projection)
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        console.print(f"[red]--as-of must be a date such as 2026-11-28, not '{as_of}'[/red]")
        raise typer.Exit(2) from None
    thresholds = _complex_thresholds(complex_conditions, complex_body_systems)
    database = open_database(url)
    try:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("Reading the record", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if full:
                summary = full_refresh(
                    database,
                    path,
                    as_of=day,
                    complex_thresholds=thresholds,
                    progress=progress,
                )
            else:
                summary = refresh(
                    database, path, as_of=day, complex_thresholds=thresholds, progress=progress
                )
    except ProjectionProblem as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    finally:
        database.dispose()
    console.print(summary.describe())
    console.print(f"Projection: {path}")


@population_app.command("report")
def report_command(
    out: Annotated[Path, typer.Option(help="The HTML file to write")],
    place: Annotated[str, typer.Option(help="The place's name, for the title")] = "the place",
    database_url: DatabaseUrl = None,
    projection: ProjectionPath = None,
) -> None:
    """Write a standalone HTML report: segments and equity, small numbers suppressed."""
    _, path = _where(database_url, projection)
    try:
        con = open_projection(path)
    except ProjectionProblem as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    try:
        html = population_report(con, place=place)
    finally:
        con.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    console.print(f"Wrote {out}")


@population_app.command("export")
def export_command(
    out: Annotated[Path, typer.Option(help="The folder to write into")],
    file_format: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    database_url: DatabaseUrl = None,
    projection: ProjectionPath = None,
) -> None:
    """Export each person's measure row (person-level: for analysts entitled to it) and the
    equity tables with small numbers suppressed."""
    if file_format not in ("csv", "parquet"):
        console.print(f"[red]--format must be csv or parquet, not '{file_format}'[/red]")
        raise typer.Exit(2)
    _, path = _where(database_url, projection)
    try:
        con = open_projection(path)
    except ProjectionProblem as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    try:
        kind: Format = "csv" if file_format == "csv" else "parquet"
        written = [
            export_measures(con, out / f"measures.{file_format}", kind),
            export_equity(con, equity_breakdown(con), out / f"equity.{file_format}", kind),
        ]
    finally:
        con.close()
    for file in written:
        console.print(f"Wrote {file}")
