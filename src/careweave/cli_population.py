"""`careweave population`: keep the population projection up to date, and make its outputs.

The measures (careweave.population) run on a columnar projection of the store kept beside it
(an SQLite store's `.population.duckdb` file; PostgreSQL needs `--projection`). `refresh`
re-reads only the people whose records changed since the last one, so it can run after every
import or on a timer; `--full` rebuilds. Everything that leaves here leaves out the people
with a national data opt-out and says how many.
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
) -> None:
    """Bring the projection up to date (only the people whose records changed)."""
    url, path = _where(database_url, projection)
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        console.print(f"[red]--as-of must be a date such as 2026-11-28, not '{as_of}'[/red]")
        raise typer.Exit(2) from None
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

            work = full_refresh if full else refresh
            summary = work(database, path, as_of=day, progress=progress)
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
