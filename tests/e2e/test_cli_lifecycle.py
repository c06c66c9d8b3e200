"""`stageflow lifecycle ...` and `stageflow contacts import` (issue 4 point 10), both backends."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stageflow.bootstrap import App
from stageflow.domain.records import ObjectType
from stageflow.entrypoints.cli import cli

runner = CliRunner()


def invoke(url: str, *args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(cli, list(args), env={"STAGEFLOW_DATABASE_URL": url}, input=input)
    return result.exit_code, result.output


@pytest.fixture
def slug(database_url: str) -> str:
    slug = f"cli-{secrets.token_hex(4)}"
    code, output = invoke(
        database_url, "workspace", "create", "CLI Co", "--slug", slug, "--owner-email", "o@x.io"
    )
    assert code == 0, output
    return slug


def _stage_names(app: App, slug: str) -> list[tuple[str, str, bool]]:
    with app.uow(read_only=True) as uow:
        workspace = uow.workspaces.get_by_slug(slug)
        assert workspace is not None and workspace.id is not None
        return [(s.kind.value, s.name, s.is_default) for s in uow.lifecycle.stages(workspace.id)]


def _contacts(app: App, slug: str) -> list[tuple[str, int | None, dict[str, object]]]:
    with app.uow(read_only=True) as uow:
        workspace = uow.workspaces.get_by_slug(slug)
        assert workspace is not None and workspace.id is not None
        rows = uow.records.list(
            workspace.id, ObjectType.CONTACT, where=[], before_id=None, limit=500
        )
        return sorted((r.name, r.lifecycle_stage_id, r.fields) for r in rows)


@pytest.mark.parametrize(
    "command",
    [
        ["lifecycle"],
        ["lifecycle", "list"],
        ["lifecycle", "add"],
        ["lifecycle", "rename"],
        ["lifecycle", "move"],
        ["lifecycle", "set-default"],
        ["lifecycle", "delete"],
        ["contacts"],
        ["contacts", "import"],
    ],
    ids=" ".join,
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_stages_are_listed_added_renamed_moved_and_deleted(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    code, output = invoke(database_url, "lifecycle", "list", "-w", slug)
    assert code == 0 and "New Lead" in output and "Cold Lead" in output
    code, output = invoke(
        database_url, "lifecycle", "add", "-w", slug, "Qualified", "--description", "Fits",
        "--position", "2",
    )  # fmt: skip
    assert code == 0, output
    code, _ = invoke(
        database_url, "lifecycle", "add", "-w", slug, "No budget", "--lost", "--emoji", "💸"
    )
    assert code == 0
    assert invoke(database_url, "lifecycle", "rename", "-w", slug, "hot lead", "Warm")[0] == 0
    assert invoke(database_url, "lifecycle", "move", "-w", slug, "Customer", "1")[0] == 0
    assert invoke(database_url, "lifecycle", "set-default", "-w", slug, "Warm")[0] == 0
    assert _stage_names(app, slug) == [
        ("lifecycle", "Customer", False),
        ("lifecycle", "New Lead", False),
        ("lifecycle", "Qualified", False),
        ("lifecycle", "Warm", True),
        ("lifecycle", "Payment", False),
        ("lost", "Cold Lead", False),
        ("lost", "No budget", False),
    ]
    code, output = invoke(database_url, "lifecycle", "add", "-w", slug, "Gone", "--lost")
    assert code == 2 and "emoji" in output
    code, output = invoke(database_url, "lifecycle", "set-default", "-w", slug, "Cold Lead")
    assert code == 2 and "lost stage" in output
    code, output = invoke(database_url, "lifecycle", "rename", "-w", slug, "Nope", "X")
    assert code == 2 and "no lifecycle stage 'Nope'" in output

    csv = "name,stage\nAnn,Warm\nBob,Warm\n"
    path = tmp_path / "warm.csv"
    path.write_text(csv)
    assert invoke(database_url, "contacts", "import", "-w", slug, str(path))[0] == 0
    code, output = invoke(database_url, "lifecycle", "delete", "-w", slug, "Warm", "--yes")
    assert code == 2 and "2 contacts" in output and "--move-to" in output
    code, output = invoke(
        database_url, "lifecycle", "delete", "-w", slug, "Warm", "--move-to", "Payment",
        input="n\n",
    )  # fmt: skip
    assert code == 1 and "Warm" in [name for _, name, _ in _stage_names(app, slug)]
    code, output = invoke(
        database_url, "lifecycle", "delete", "-w", slug, "Warm", "--move-to", "Payment", "--yes"
    )
    assert code == 0 and "2 records updated" in output
    assert "Warm" not in [name for _, name, _ in _stage_names(app, slug)]
    assert invoke(database_url, "lifecycle", "set-default", "-w", slug, "--none")[0] == 0
    assert not any(default for _, _, default in _stage_names(app, slug))


def test_contacts_import_maps_columns_and_gives_the_default_stage(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "\ufeffFirst name;Surname;E-mail;Stage;Phone;Notes\n"
        "Ann;Smith;ANN@example.com;Hot Lead;+39 333 111 2222;vip\n"
        "Bob;;bob@example.com;;;\n"
        ";;;;;\n"
        "Cy;Doe;cy@example.com;customer;;\n",
        encoding="utf-8",
    )
    code, output = invoke(database_url, "contacts", "import", "-w", slug, str(path))
    assert code == 2 and "'Notes'" in output
    code, output = invoke(
        database_url, "contacts", "import", "-w", slug, str(path), "--map", "Notes=job_title"
    )
    assert code == 0 and "imported 3 contacts" in output, output
    stages = {name: i for i, (_, name, _) in enumerate(_stage_names(app, slug))}
    contacts = _contacts(app, slug)
    assert [(name, fields.get("email")) for name, _, fields in contacts] == [
        ("Ann Smith", "ANN@example.com"),
        ("Bob", "bob@example.com"),
        ("Cy Doe", "cy@example.com"),
    ]
    assert contacts[0][2]["job_title"] == "vip"
    with app.uow(read_only=True) as uow:
        workspace = uow.workspaces.get_by_slug(slug)
        assert workspace is not None and workspace.id is not None
        by_id = {s.id: s.name for s in uow.lifecycle.stages(workspace.id)}
        assert [by_id[stage_id] for _, stage_id, _ in contacts if stage_id] == [
            "Hot Lead",
            "New Lead",
            "Customer",
        ]
        # imported contacts are found by their address when they write in
        assert uow.conversations.find_contact(workspace.id, "email", "ann@example.com")
        assert uow.conversations.find_contact(workspace.id, "phone", "+393331112222")
        counts = uow.lifecycle.counts(workspace.id)
        assert {k: v for k, v in counts.items() if v} == uow.lifecycle.recount(workspace.id)
        events = uow.events.for_workspace(workspace.id)
        imported = [e for e in events if e.source == "import"]
        assert sorted({e.type for e in imported}) == ["LifecycleChanged", "RecordCreated"]
    assert len(stages) == 5


def test_a_bad_file_imports_nothing_and_reports_every_row(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    lines = ["name,email,stage,owner"]
    lines += [f"Good {i},g{i}@example.com,New Lead," for i in range(30)]
    lines += [
        "Bad stage,b@example.com,Nowhere,",
        ",,,",
        "Bad owner,c@example.com,,nobody@example.com",
        "Too,many,values,here,extra",
        ",,Customer,",
    ]
    path.write_text("\n".join(lines) + "\n")
    report = tmp_path / "errors.csv"
    code, output = invoke(
        database_url, "contacts", "import", "-w", slug, str(path), "--errors", str(report)
    )
    assert code == 2 and "4 rows have errors; nothing was imported" in output, output
    assert _contacts(app, slug) == []
    written = report.read_text().splitlines()
    assert written[0] == "line,column,problem"
    assert [row.split(",")[0] for row in written[1:]] == ["32", "34", "35", "36"]
    assert "no lifecycle stage 'Nowhere'" in written[1]
    assert "nobody@example.com" in written[2]
    code, output = invoke(database_url, "contacts", "import", "-w", slug, str(tmp_path / "none"))
    assert code == 2
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, output = invoke(database_url, "contacts", "import", "-w", slug, str(empty))
    assert code == 2 and "no header" in output
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\nJos\xe9\n".encode("latin-1"))
    code, output = invoke(database_url, "contacts", "import", "-w", slug, str(latin))
    assert code == 2 and "UTF-8" in output
    dry = tmp_path / "dry.csv"
    dry.write_text("name\nDry\n")
    code, output = invoke(database_url, "contacts", "import", "-w", slug, str(dry), "--dry-run")
    assert code == 0 and "nothing imported" in output
    assert _contacts(app, slug) == []


def test_awkward_files_get_clear_errors_not_tracebacks(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    late = tmp_path / "late.csv"
    late.write_bytes(b"name\n" + b"Ann\n" * 20_000 + "Jos\xe9\n".encode("latin-1"))
    code, output = invoke(database_url, "contacts", "import", "-w", slug, str(late))
    assert code == 2 and "not UTF-8" in output and "20002" in output
    huge = tmp_path / "huge.csv"
    huge.write_text("name,job title\nAnn," + "x" * 200_000 + "\n")
    code, output = invoke(database_url, "contacts", "import", "-w", slug, str(huge))
    assert code == 2 and "longer than" in output
    owners = tmp_path / "owners.csv"
    owners.write_text("name,owner\nA,\u00b2\nB," + "9" * 5000 + "\n")
    code, output = invoke(database_url, "contacts", "import", "-w", slug, str(owners))
    assert code == 2 and "2 rows have errors" in output and "Traceback" not in output
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("name,email,\nAnn,ann@example.com,\n")
    code, output = invoke(database_url, "contacts", "import", "-w", slug, str(trailing))
    assert code == 0, output
    spanning = tmp_path / "spanning.csv"
    spanning.write_text('name,job title,stage\n"Ann","two\nlines",Nowhere\n')
    report = tmp_path / "errors.csv"
    code, _ = invoke(
        database_url, "contacts", "import", "-w", slug, str(spanning), "--errors", str(report)
    )
    assert code == 2 and report.read_text().splitlines()[1].startswith("2,")
    assert [name for name, _, _ in _contacts(app, slug)] == ["Ann"]
