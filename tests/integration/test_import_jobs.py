"""CSV imports from the web app (services/crm/import_jobs.py), on SQLite and PostgreSQL: the
upload is checked, the preview shows the mapping and the failing rows, the import writes the
good rows a chunk at a time and keeps the bad ones, and a stopped import is interrupted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stageflow.bootstrap import App
from stageflow.domain.errors import PermissionDenied, ValidationFailed
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Principal, Role
from stageflow.services.crm import import_jobs, imports
from stageflow.services.crm.records import list_records
from tests.conftest import Tenant

CSV = (
    "Full name,E-mail,Stage,Notes\n"
    "Ada Lovelace,ada@example.com,Customer,first\n"
    "Bad Stage,bad@example.com,Nowhere,second\n"
    "Grace Hopper,grace@example.com,,third\n"
    "Extra,extra@example.com,,x,too many\n"
)


def _upload(app: App, tenant: Tenant, data: str = CSV, name: str = "people.csv") -> int:
    with app.uow() as uow:
        job_id = import_jobs.upload(uow, tenant.owner, name, data.encode())
        uow.commit()
    return job_id


def test_an_upload_must_be_a_csv_file_with_rows(app: App, tenant: Tenant) -> None:
    for name, data, words in (
        ("people.xlsx", b"a,b\n1,2\n", "not a CSV file"),
        ("people.csv", "name\nZoë\n".encode("latin-1"), "not UTF-8"),
        ("people.csv", b"name,email\n", "no rows"),
        ("people.csv", b"email,email\nx,y\n", "repeats the column 'email'"),
    ):
        with app.uow() as uow, pytest.raises(ValidationFailed) as refused:
            import_jobs.upload(uow, tenant.owner, name, data)
        assert words in refused.value.message and refused.value.field == "file"
    agent = Principal(workspace_id=tenant.id, user_id=tenant.new.owner_id, role=Role.AGENT)
    with app.uow() as uow, pytest.raises(PermissionDenied):
        import_jobs.upload(uow, agent, "people.csv", CSV.encode())


def test_preview_maps_columns_and_lists_the_rows_that_would_fail(app: App, tenant: Tenant) -> None:
    job_id = _upload(app, tenant)
    with app.uow(read_only=True) as uow:
        seen = import_jobs.preview(uow, tenant.owner, job_id)
    assert seen.mapping == {
        "Full name": "name",
        "E-mail": "email",
        "Stage": "lifecycle_stage",
        "Notes": imports.SKIP,
    }
    assert seen.total == 4 and seen.error_count == 2 and seen.importable == 2
    assert [(e.line, e.column) for e in seen.errors] == [(3, "Stage"), (5, None)]
    assert "no lifecycle stage 'Nowhere'" in seen.errors[0].message
    assert [r["name"] for r in seen.rows] == ["Ada Lovelace", "Grace Hopper"]

    mapping = {**seen.mapping, "Stage": imports.SKIP, "Notes": "job_title"}
    with app.uow(read_only=True) as uow:
        changed = import_jobs.preview(uow, tenant.owner, job_id, mapping)
        with pytest.raises(ValidationFailed) as twice:
            import_jobs.preview(uow, tenant.owner, job_id, {**mapping, "Notes": "email"})
    assert changed.error_count == 1 and changed.rows[1]["fields"]["job_title"] == "second"
    assert twice.value.field == "Notes" and "both go to 'email'" in twice.value.message


def test_the_import_writes_the_good_rows_and_keeps_the_bad_ones(app: App, tenant: Tenant) -> None:
    job_id = _upload(app, tenant)
    with app.uow() as uow:
        mapping = import_jobs.preview(uow, tenant.owner, job_id).mapping
        import_jobs.start(uow, tenant.owner, job_id, mapping)
        uow.commit()
    import_jobs.run(app.uow, tenant.id, job_id)
    with app.uow() as uow:
        job = import_jobs.progress(uow, tenant.owner, job_id)
        failed = import_jobs.failed_rows_csv(uow, tenant.owner, job_id)
        contacts = list_records(
            uow,
            tenant.owner,
            ObjectType.CONTACT,
            filter_=None,
            stage_id=None,
            pipeline_id=None,
            owner_id=None,
            cursor=None,
            limit=50,
        ).items
        with pytest.raises(ValidationFailed):  # once only
            import_jobs.start(uow, tenant.owner, job_id, mapping)
    assert (job.status, job.total, job.done, job.imported, job.failed) == ("done", 4, 4, 2, 2)
    assert {c.name for c in contacts} >= {"Ada Lovelace", "Grace Hopper"}
    assert "Bad Stage" not in {c.name for c in contacts}
    lines = failed.splitlines()
    assert lines[0] == "line,problem,Full name,E-mail,Stage,Notes"
    assert lines[1].startswith("3,Stage: no lifecycle stage 'Nowhere',Bad Stage,bad@example.com")
    assert lines[2].startswith("5,the row has more values than the header")


def test_an_import_in_chunks_and_one_that_stopped(app: App, tenant: Tenant) -> None:
    rows = "".join(f"Person {n},p{n}@example.com\n" for n in range(imports.CHUNK + 5))
    job_id = _upload(app, tenant, "name,email\n" + rows)
    with app.uow() as uow:
        import_jobs.start(uow, tenant.owner, job_id, {"name": "name", "email": "email"})
        uow.commit()
    import_jobs.run(app.uow, tenant.id, job_id)
    with app.uow() as uow:
        job = import_jobs.progress(uow, tenant.owner, job_id)
    assert (job.status, job.imported, job.failed) == ("done", imports.CHUNK + 5, 0)
    assert job.last_contact_id - job.first_contact_id == imports.CHUNK + 4

    stopped = _upload(app, tenant, "name\nLost Person\n")
    with app.uow() as uow:
        import_jobs.start(uow, tenant.owner, stopped, {"name": "name"})
        long_ago = datetime.now(UTC) - import_jobs.STALE - timedelta(seconds=1)
        uow.imports.update(tenant.id, stopped, {"updated_at": long_ago})
        uow.commit()
    with app.uow() as uow:
        assert import_jobs.progress(uow, tenant.owner, stopped).status == "interrupted"
        uow.commit()
    import_jobs.run(app.uow, tenant.id, stopped)  # an interrupted job is not resumed
    with app.uow(read_only=True) as uow:
        job = import_jobs.progress(uow, tenant.owner, stopped)
    assert (job.status, job.imported) == ("interrupted", 0)
