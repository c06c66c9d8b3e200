"""`stageflow contacts import`: contacts from a CSV file."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from stageflow.domain.errors import StageflowError
from stageflow.entrypoints.cli.common import (
    WorkspaceOpt,
    console,
    contacts_cli,
    err,
    fail,
    open_app,
    owner_of,
)
from stageflow.services.crm import imports


@contacts_cli.command("import")
def contacts_import(
    workspace: WorkspaceOpt,
    file: Annotated[
        Path,
        typer.Argument(
            help="A CSV file with a header row", exists=True, dir_okay=False, readable=True
        ),
    ],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=FIELD (repeatable): where a column goes; FIELD '-' skips it. "
            "Without it, columns named like fields (email, first name, stage, ...) map "
            "themselves.",
        ),
    ] = None,
    errors_to: Annotated[
        Path | None, typer.Option("--errors", help="Write every row error to this CSV")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check the file, import nothing")] = False,
) -> None:
    """Import contacts from CSV. Every row is checked first: if any is wrong, nothing is
    imported and each error is reported with its line and column."""
    mapping: dict[str, str] = {}
    for item in map_ or []:
        column, sep, target = item.partition("=")
        if not sep or not column.strip():
            raise fail(StageflowError(f"--map takes COLUMN=FIELD, not {item!r}"))
        mapping[column.strip()] = target.strip()
    app = open_app()
    try:
        header, rows = imports.read_csv(file)
        total = _count_rows(file)
        with (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as bar,
            app.uow() as uow,
            imports.gc_paused(),
        ):
            principal = owner_of(uow, workspace)
            checking = bar.add_task("checking", total=total)
            checked = imports.check(
                uow,
                principal,
                header,
                rows,
                mapping,
                progress=lambda n: bar.advance(checking, n),
            )
            if not checked.ok:
                bar.stop()
                _report_errors(checked, errors_to)
                raise typer.Exit(code=2)
            if dry_run:
                bar.stop()
                console.print(f"{len(checked.rows)} rows are fine; nothing imported (--dry-run)")
                return
            writing = bar.add_task("importing", total=len(checked.rows))
            started = time.perf_counter()
            done = imports.write(
                uow, principal, checked, progress=lambda n: bar.advance(writing, n)
            )
            uow.commit()
            seconds = time.perf_counter() - started
    except StageflowError as exc:
        raise fail(exc) from None
    rate = done.created / seconds if seconds else 0.0
    console.print(
        f"imported {done.created} contacts in {seconds:.1f} s ({rate:,.0f} rows/s); "
        f"columns: {', '.join(f'{c} → {t}' for c, t in checked.columns.items())}"
    )


def _count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def _report_errors(checked: imports.Checked, errors_to: Path | None) -> None:
    err.print(
        f"[red]{checked.error_count} rows have errors; nothing was imported.[/red] "
        "Fix them and run the import again."
    )
    table = Table("line", "column", "problem")
    for error in checked.errors[:20]:
        table.add_row(str(error.line), error.column or "", error.message)
    err.print(table)
    if checked.error_count > 20:
        err.print(f"... and {checked.error_count - 20} more" + ("" if errors_to else
                  " (--errors FILE writes them all)"))  # fmt: skip
    if errors_to is not None:
        with errors_to.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "column", "problem"])
            for error in checked.errors:
                writer.writerow([error.line, error.column or "", error.message])
        err.print(f"all errors written to {errors_to}")
