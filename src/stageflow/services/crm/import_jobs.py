"""CSV imports of contacts from the web app: upload, preview the column mapping and the rows
that would fail, then import in the background with progress (issue 14, screen 3).

Unlike ``stageflow contacts import`` (all or nothing), a bad row never stops the good ones:
the file is imported a chunk at a time, each chunk in its own transaction with the job's
progress, and the failed rows are kept with their line and reason. The upload and the progress
are rows of ``contact_imports``, so every process of a deployment shows them; a job whose
runner stopped (a restart) stops moving and is marked interrupted, with what it had done.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from stageflow.domain.clock import SystemClock
from stageflow.domain.errors import NotFound, PermissionDenied, ValidationFailed
from stageflow.domain.users import Permission, Principal, Role, parse_permissions
from stageflow.services.crm import imports
from stageflow.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

UPLOADED, RUNNING, DONE, INTERRUPTED = "uploaded", "running", "done", "interrupted"
MAX_BYTES = 20 * 1024 * 1024  # about 200,000 contacts of a few columns
PREVIEW_ROWS = 10
PREVIEW_ERRORS = 50
KEPT_ERRORS = 5000  # failed rows kept for the summary and the download
STALE = timedelta(minutes=2)  # a running job that has not moved for this long has stopped


@dataclass
class Preview:
    """What the import would do with the mapping: the first rows and the rows that fail."""

    header: list[str]
    mapping: dict[str, str]
    targets: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    samples: dict[str, str] = field(default_factory=dict)  # a value of each column
    errors: list[imports.RowError] = field(default_factory=list)
    error_count: int = 0
    total: int = 0

    @property
    def importable(self) -> int:
        return self.total - self.error_count


_SYSTEM_CLOCK = SystemClock()


def _now() -> datetime:
    """Progress is measured on the system clock (a virtual clock does not move by itself),
    as the courier's leases are."""
    return _SYSTEM_CLOCK.now()


def upload(uow: UnitOfWork, principal: Principal, file_name: str, data: bytes) -> int:
    """Keep an uploaded CSV file as a new import, its columns mapped as the CLI maps them."""
    principal.require(Permission.RECORDS_EDIT_ALL)
    if not file_name.lower().endswith(".csv"):
        raise ValidationFailed(
            f"'{file_name}' is not a CSV file: choose a file ending in .csv", field="file"
        )
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            f"the file is {len(data) / 1024 / 1024:.1f} MB; at most "
            f"{MAX_BYTES // 1024 // 1024} MB can be uploaded (split it, or use "
            "`stageflow contacts import`)",
            field="file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            'the file is not UTF-8 text: save it as "CSV UTF-8" and upload it again',
            field="file",
        ) from None
    if "\x00" in text:
        raise ValidationFailed("the file is not text: choose a CSV file", field="file")
    header, rows = imports.read_csv_text(text)
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        raise ValidationFailed(f"the header repeats the column {repeated[0]!r}", field="file")
    total = sum(1 for _ in rows)
    if total == 0:
        raise ValidationFailed("the file has a header but no rows", field="file")
    choices = imports.targets(uow, principal.workspace_id)
    now = _now()
    return uow.imports.add(
        principal.workspace_id,
        {
            "user_id": principal.user_id,
            "file_name": file_name[:255],
            "content": text,
            "mapping": {c: imports.guess_target(c, choices) for c in header if c},
            "status": UPLOADED,
            "total": total,
            "done": 0,
            "imported": 0,
            "failed": 0,
            "errors": [],
            "created_at": now,
            "updated_at": now,
        },
    )


def preview(
    uow: UnitOfWork, principal: Principal, job_id: int, mapping: dict[str, str] | None = None
) -> Preview:
    """Check the whole file with this mapping (the job's when None); nothing is written."""
    job = _job(uow, principal, job_id)
    choices = imports.targets(uow, principal.workspace_id)
    mapping = _checked_mapping(job, mapping or dict(job.mapping), choices)
    header, rows = imports.read_csv_text(job.content)
    result = Preview(header=[h for h in header if h], mapping=mapping, targets=choices)
    check = imports.row_checker(uow, principal, _columns(mapping))
    for line, raw in rows:
        result.total += 1
        if result.total <= PREVIEW_ROWS:
            for column, value in raw.items():
                if value.strip() and column in mapping:
                    result.samples.setdefault(column, value.strip())
        checked = check(line, raw)
        if isinstance(checked, imports.RowError):
            result.error_count += 1
            if len(result.errors) < PREVIEW_ERRORS:
                result.errors.append(checked)
        elif len(result.rows) < PREVIEW_ROWS:
            result.rows.append(checked)
    return result


def header(uow: UnitOfWork, principal: Principal, job_id: int) -> list[str]:
    """The file's columns, in its order."""
    return [c for c in imports.read_csv_text(_job(uow, principal, job_id).content)[0] if c]


def start(uow: UnitOfWork, principal: Principal, job_id: int, mapping: dict[str, str]) -> None:
    """Mark the import as running with this mapping; the caller then runs ``run``."""
    job = _job(uow, principal, job_id)
    mapping = _checked_mapping(job, mapping, imports.targets(uow, principal.workspace_id))
    values = {"mapping": mapping, "status": RUNNING, "updated_at": _now()}
    if not uow.imports.update(principal.workspace_id, job_id, values, status=UPLOADED):
        raise ValidationFailed("this import has started already", field="form")


def run(new_uow: Callable[[], UnitOfWork], workspace_id: int, job_id: int) -> None:
    """Import a started job a chunk at a time: each chunk's good rows and the job's progress
    commit together, so what the page shows is what is in the database."""
    try:
        _run(new_uow, workspace_id, job_id)
    except Exception:
        log.exception("contact import %s stopped", job_id)
        with new_uow() as uow:
            values = {"status": INTERRUPTED, "updated_at": _now()}
            uow.imports.update(workspace_id, job_id, values, status=RUNNING)
            uow.commit()


def _run(new_uow: Callable[[], UnitOfWork], workspace_id: int, job_id: int) -> None:
    with new_uow() as uow:
        job = uow.imports.get(workspace_id, job_id)
        if job is None or job.status != RUNNING:
            return
        principal = _principal_of(uow, workspace_id, job.user_id)
    columns = _columns(dict(job.mapping))
    _, rows = imports.read_csv_text(job.content)
    done = imported = failed = 0
    errors: list[dict[str, Any]] = []
    first_id: int | None = None
    last_id: int | None = None
    for chunk in _chunks(rows, imports.CHUNK):
        with new_uow() as uow, imports.gc_paused():
            check = imports.row_checker(uow, principal, columns)
            good: list[dict[str, Any]] = []
            for line, raw in chunk:
                checked = check(line, raw)
                if isinstance(checked, imports.RowError):
                    failed += 1
                    if len(errors) < KEPT_ERRORS:
                        errors.append(_error(checked))
                else:
                    good.append(checked)
            if good:
                written = imports.write(uow, principal, imports.Checked(columns=columns, rows=good))
                imported += written.created
                first_id = first_id or written.contact_ids[0]
                last_id = written.contact_ids[-1]
            done += len(chunk)
            values = {
                "done": done,
                "imported": imported,
                "failed": failed,
                "errors": errors,
                "first_contact_id": first_id,
                "last_contact_id": last_id,
                "updated_at": _now(),
            }
            if not uow.imports.update(workspace_id, job_id, values, status=RUNNING):
                return  # marked interrupted meanwhile: this chunk is not written
            uow.commit()
    with new_uow() as uow:
        uow.imports.update(
            workspace_id, job_id, {"status": DONE, "updated_at": _now()}, status=RUNNING
        )
        uow.commit()


def progress(uow: UnitOfWork, principal: Principal, job_id: int) -> Any:
    """The job as the progress page shows it (without the upload). A running job that has
    not moved for a while lost its runner (a restart): it is marked interrupted."""
    principal.require(Permission.RECORDS_EDIT_ALL)
    job = uow.imports.progress(principal.workspace_id, job_id)
    if job is None:
        raise NotFound(f"import {job_id} not found")
    if job.status == RUNNING and _aware(job.updated_at) < _now() - STALE:
        values = {"status": INTERRUPTED, "updated_at": _now()}
        uow.imports.update(principal.workspace_id, job_id, values, status=RUNNING)
        job = uow.imports.progress(principal.workspace_id, job_id)
    return job


def failed_rows_csv(uow: UnitOfWork, principal: Principal, job_id: int) -> str:
    """The failed rows as a CSV: their line, the reason, then the row as it was uploaded."""
    job = _job(uow, principal, job_id)
    by_line = {e["line"]: e for e in job.errors}
    header, rows = imports.read_csv_text(job.content)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "problem", *header])
    for line, raw in rows:
        error = by_line.get(line)
        if error is None:
            continue
        problem = f"{error['column']}: {error['message']}" if error["column"] else error["message"]
        values = [raw.get(h, "") for h in header] if "__extra__" not in raw else []
        writer.writerow([line, problem, *values])
    return out.getvalue()


def _job(uow: UnitOfWork, principal: Principal, job_id: int) -> Any:
    principal.require(Permission.RECORDS_EDIT_ALL)
    job = uow.imports.get(principal.workspace_id, job_id)
    if job is None:
        raise NotFound(f"import {job_id} not found")
    return job


def _checked_mapping(job: Any, mapping: dict[str, str], choices: list[str]) -> dict[str, str]:
    """Every column of the file mapped to a target or skipped, no target twice."""
    header = [c for c in imports.read_csv_text(job.content)[0] if c]  # in the file's order
    result = {c: (mapping.get(c) or imports.SKIP) for c in header}
    seen: dict[str, str] = {}
    for column, target in result.items():
        if target != imports.SKIP and target not in choices:
            raise ValidationFailed(f"{target!r} is not a field of contacts", field=column)
        if target != imports.SKIP and target in seen:
            raise ValidationFailed(
                f"columns {seen[target]!r} and {column!r} both go to {target!r}: skip one of them",
                field=column,
            )
        seen[target] = column
    if not seen:
        raise ValidationFailed("every column is skipped: choose where one goes", field="form")
    return result


def _columns(mapping: dict[str, str]) -> dict[str, str]:
    return {c: t for c, t in mapping.items() if t != imports.SKIP}


def _principal_of(uow: UnitOfWork, workspace_id: int, user_id: int) -> Principal:
    """The user who started the import, with their permissions now."""
    user = uow.users.get(workspace_id, user_id)
    if user is None or not user.active:
        raise PermissionDenied("the user who started the import is no longer active")
    return Principal(
        workspace_id=workspace_id,
        user_id=user.id,
        role=Role(user.role),
        extra_permissions=parse_permissions(list(user.permissions)),
    )


def _chunks(
    rows: Iterator[tuple[int, dict[str, str]]], size: int
) -> Iterator[list[tuple[int, dict[str, str]]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _error(error: imports.RowError) -> dict[str, Any]:
    return {"line": error.line, "column": error.column, "message": error.message}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
