"""`stageflow automations export|import` (automation as code), `stageflow rules` and
`stageflow lead-automation` (issue 6), both backends."""

from __future__ import annotations

import secrets
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from stageflow.bootstrap import App
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Principal, Role
from stageflow.entrypoints.cli import cli
from stageflow.services.crm import opportunity_types

runner = CliRunner()


def invoke(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args), env={"STAGEFLOW_DATABASE_URL": url, "COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture
def slug(database_url: str) -> str:
    slug = f"code-{secrets.token_hex(4)}"
    code, output = invoke(
        database_url, "workspace", "create", "Code Co", "--slug", slug, "--owner-email", "o@x.io"
    )
    assert code == 0, output
    return slug


def _deal_stages(app: App, slug: str) -> tuple[int, dict[str, int]]:
    with app.uow(read_only=True) as uow:
        workspace = uow.workspaces.get_by_slug(slug)
        assert workspace is not None and workspace.id is not None
        (pipeline,) = uow.pipelines.list(workspace.id, ObjectType.DEAL)
        assert pipeline.id is not None
        return pipeline.id, {s.name: s.id for s in pipeline.stages if s.id is not None}


def _document(app: App, slug: str) -> str:
    pipeline, stages = _deal_stages(app, slug)
    return textwrap.dedent(
        f"""\
        stageflow: stageflow automations
        format: 1
        workflows:
        - name: Welcome
          description: Greets new deals
          status: active
          definition:
            trigger:
              type: record_created
              object_type: deal
            steps:
            - id: wait
              type: delay
              duration: P1D
            - id: tag
              type: action
              action: set_field
              settings:
                fields:
                  currency: EUR
        - name: Draft idea
          status: draft
          definition:
            trigger:
              type: manual
              object_type: deal
            steps:
            - id: done
              type: end
        stage_rules:
        - pipeline_id: {pipeline}
          stage_id: {stages["Closed Won"]}
          rules:
          - name: Repeat sale
            group: Repeat sales
            timing:
              after: P6M
            action: create_record
            settings:
              object_type: lead
              name: 'Repeat: {{{{ record.name }}}}'
          - name: Thank you
            after_previous: true
            action: set_field
            settings:
              fields:
                currency: USD
        """
    )


def test_import_then_export_round_trips_exactly(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    source = tmp_path / "automations.yaml"
    source.write_text(_document(app, slug))
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(source))
    assert code == 0, output
    assert "4 created, 0 changed" in output

    exported = tmp_path / "exported.yaml"
    code, output = invoke(database_url, "automations", "export", "-w", slug, "-o", str(exported))
    assert code == 0, output
    document = yaml.safe_load(exported.read_text())
    assert [w["name"] for w in document["workflows"]] == ["Welcome", "Draft idea"]
    assert [w["status"] for w in document["workflows"]] == ["active", "draft"]
    welcome = document["workflows"][0]["definition"]
    assert welcome["steps"][1] == {
        "id": "tag",
        "type": "action",
        "action": "set_field",
        "settings": {"fields": {"currency": "EUR"}},
    }
    (place,) = document["stage_rules"]
    assert [r["name"] for r in place["rules"]] == ["Repeat sale", "Thank you"]
    assert place["rules"][1]["after_previous"] is True
    assert document["lead_automation"]["attempting"]["enabled"] is True

    # Importing the export changes nothing, and exporting again gives the same text.
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(exported))
    assert code == 0, output
    assert "0 created, 0 changed" in output
    code, again = invoke(database_url, "automations", "export", "-w", slug)
    assert code == 0 and again == exported.read_text()


def test_changes_in_the_file_are_applied_and_published(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    source = tmp_path / "a.yaml"
    source.write_text(_document(app, slug))
    assert invoke(database_url, "automations", "import", "-w", slug, str(source))[0] == 0
    document = yaml.safe_load(source.read_text())
    document["workflows"][0]["definition"]["steps"][0]["duration"] = "P2D"
    document["workflows"][1]["status"] = "paused"
    document["lead_automation"] = {"attempting": {"enabled": False}}
    source.write_text(yaml.safe_dump(document, sort_keys=False))

    code, output = invoke(
        database_url, "automations", "import", "-w", slug, str(source), "--dry-run"
    )
    assert code == 0, output
    assert "dry run" in output and "workflow 'Welcome' would be changed" in output
    code, output = invoke(database_url, "automations", "export", "-w", slug)
    assert "P1D" in output and "P2D" not in output  # the dry run wrote nothing

    code, output = invoke(database_url, "automations", "import", "-w", slug, str(source))
    assert code == 0, output
    assert "0 created, 3 changed" in output
    exported = yaml.safe_load(invoke(database_url, "automations", "export", "-w", slug)[1])
    assert exported["workflows"][0]["definition"]["steps"][0]["duration"] == "P2D"
    assert exported["workflows"][1]["status"] == "paused"
    assert exported["lead_automation"]["attempting"]["enabled"] is False
    with app.uow(read_only=True) as uow:
        workspace = uow.workspaces.get_by_slug(slug)
        assert workspace is not None and workspace.id is not None
        (welcome,) = [
            r
            for r in uow.automations.list(workspace.id, where=[], before_id=None, limit=100)
            if r.name == "Welcome"
        ]
        assert len(uow.automations.versions(welcome.id)) == 2  # published again


@pytest.mark.parametrize(
    ("replace", "by", "line", "where", "words"),
    [
        (
            "currency: EUR",
            "colour: EUR",
            20,
            "workflows.0.definition.steps.tag.fields.colour",
            "no field 'colour'",
        ),
        ("duration: P1D", "duration: one day", 14, "workflows.0.definition.steps.wait", "one day"),
        (
            "action: create_record",
            "action: create_nothing",
            38,
            "stage_rules.0.rules.0.action",
            "unknown action",
        ),
        ("type: end", "type: stop", 28, "workflows.1.definition", "stop"),
        ("- name: Draft idea", "- name: Welcome", 21, "workflows.1.name", "two workflows"),
    ],
)
def test_problems_name_file_line_and_field_and_change_nothing(
    app: App,
    database_url: str,
    slug: str,
    tmp_path: Path,
    replace: str,
    by: str,
    line: int,
    where: str,
    words: str,
) -> None:
    text = _document(app, slug)
    assert text.count(replace) == 1
    source = tmp_path / "bad.yaml"
    source.write_text(text.replace(replace, by))
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(source))
    assert code == 2, output
    flat = " ".join(output.split())
    assert f"{source}:{line}: {where}" in flat, output
    assert words in flat, output
    exported = yaml.safe_load(invoke(database_url, "automations", "export", "-w", slug)[1])
    assert exported["workflows"] == [] and exported["stage_rules"] == []


def test_every_problem_is_told_at_once(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    text = (
        _document(app, slug)
        .replace("currency: EUR", "colour: EUR")
        .replace("action: create_record", "action: create_nothing")
    )
    source = tmp_path / "bad.yaml"
    source.write_text(text)
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(source))
    assert code == 2
    assert output.count("error:") == 2


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("stageflow: stageflow automations\nformat: 1\nworkflows: [\n", "bad.yaml:4"),
        ("hello: world\n", "not a stageflow automations file"),
        ("stageflow: stageflow automations\nformat: 7\n", "bad.yaml:2: format"),
    ],
)
def test_files_that_are_not_ours_are_refused(
    database_url: str, slug: str, tmp_path: Path, text: str, words: str
) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text(text)
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(source))
    assert code == 2 and words in " ".join(output.split()), output


def test_rules_and_lead_automation_from_the_command_line(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    pipeline, stages = _deal_stages(app, slug)
    where = ["-w", slug, "--pipeline", str(pipeline), "--stage", str(stages["Proposal"])]
    rule: dict[str, Any] = {
        "name": "Nudge",
        "timing": {"after": "P3D"},
        "action": "set_field",
        "settings": {"fields": {"currency": "EUR"}},
    }
    path = tmp_path / "rule.yaml"
    path.write_text(yaml.safe_dump(rule))
    code, output = invoke(database_url, "rules", "add", *where, str(path))
    assert code == 0, output
    rule_id = output.split()[1]
    code, output = invoke(database_url, "rules", "list", *where)
    assert code == 0 and "Nudge" in output and "after P3D" in output, output
    path.write_text(yaml.safe_dump({**rule, "settings": {"fields": {"colour": 1}}}))
    code, output = invoke(database_url, "rules", "add", *where, str(path))
    assert code == 2 and "colour" in output
    code, output = invoke(database_url, "rules", "delete", *where, rule_id)
    assert code == 0, output
    assert "Nudge" not in invoke(database_url, "rules", "list", *where)[1]

    code, output = invoke(database_url, "lead-automation", "disable", "-w", slug, "attempting")
    assert code == 0, output
    code, output = invoke(database_url, "lead-automation", "show", "-w", slug)
    assert code == 0 and "attempting" in output and "off" in output
    code, output = invoke(database_url, "lead-automation", "enable", "-w", slug, "nonsense")
    assert code == 2 and "unknown lead automation" in output


def test_the_lead_creators_are_enabled_from_the_command_line_with_their_settings(
    app: App, database_url: str, slug: str
) -> None:
    code, output = invoke(database_url, "lead-automation", "enable", "-w", slug, "follow_up_lead")
    assert code == 2 and "--reason" in output, output  # says what it lacks and how to give it
    code, output = invoke(
        database_url,
        "lead-automation",
        "enable",
        "-w",
        slug,
        "follow_up_lead",
        "--reason",
        "bad_timing",
        "-r",
        "no_budget",
    )
    assert code == 0, output
    code, output = invoke(database_url, "lead-automation", "show", "-w", slug)
    assert "bad_timing" in output and "no_budget" in output, output
    code, output = invoke(
        database_url, "lead-automation", "enable", "-w", slug, "attempting", "--reason", "x"
    )
    assert code == 2 and "--reason is not a setting of attempting" in output, output


@pytest.mark.parametrize(
    "command",
    [
        ["automations", "export"],
        ["automations", "import"],
        ["rules", "list"],
        ["rules", "add"],
        ["rules", "delete"],
        ["lead-automation", "show"],
        ["lead-automation", "enable"],
        ["lead-automation", "disable"],
        ["substate-actions", "types"],
        ["substate-actions", "list"],
        ["substate-actions", "add"],
        ["substate-actions", "delete"],
    ],
    ids=" ".join,
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_substate_actions_round_trip(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    with app.uow() as uow:
        workspace = uow.workspaces.get_by_slug(slug)
        assert workspace is not None and workspace.id is not None
        owner = next(u for u in uow.users.list(workspace.id) if u.role == "owner")
        principal = Principal(workspace_id=workspace.id, user_id=owner.id, role=Role.OWNER)
        opportunity_types.create_type(
            uow,
            principal,
            opportunity_types.NewOpportunityType(
                name="Solar",
                states=["Documentation"],
                substates=[
                    {"name": "Pending documentation", "state": "Documentation"},
                    {"name": "Documentation validation", "state": "Documentation"},
                ],
            ),
        )
        uow.commit()
    source = tmp_path / "substates.yaml"
    source.write_text(
        textwrap.dedent(
            """\
            stageflow: stageflow automations
            format: 1
            substate_actions:
            - opportunity_type: Solar
              substate: Pending documentation
              actions:
              - name: Validate next
                group: on_close
                action: open_substate
                settings:
                  substate: Documentation validation
              - name: Remind
                group: scheduled
                after: P4D
                action: create_task
                settings:
                  subject: Send the documents
            """
        )
    )
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(source))
    assert code == 0 and "2 created" in output, output
    code, exported = invoke(database_url, "automations", "export", "-w", slug)
    document = yaml.safe_load(exported)
    (place,) = document["substate_actions"]
    assert place["substate"] == "Pending documentation"
    assert [(a["name"], a["group"], a.get("after")) for a in place["actions"]] == [
        ("Validate next", "on_close", None),
        ("Remind", "scheduled", "P4D"),
    ]
    again = tmp_path / "again.yaml"
    again.write_text(exported)
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(again))
    assert code == 0 and "0 created, 0 changed" in output, output
    assert invoke(database_url, "automations", "export", "-w", slug)[1] == exported

    bad = source.read_text().replace("Documentation validation\n", "Nowhere\n")
    source.write_text(bad)
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(source))
    assert code == 2 and f"{source}:11: substate_actions.0.actions.0" in output, output


def test_substate_actions_from_the_command_line(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    with app.uow() as uow:
        workspace = uow.workspaces.get_by_slug(slug)
        assert workspace is not None and workspace.id is not None
        owner = next(u for u in uow.users.list(workspace.id) if u.role == "owner")
        principal = Principal(workspace_id=workspace.id, user_id=owner.id, role=Role.OWNER)
        opportunity_types.create_type(
            uow,
            principal,
            opportunity_types.NewOpportunityType(
                name="Solar", substates=[{"name": "Survey"}, {"name": "Install"}]
            ),
        )
        uow.commit()
    code, output = invoke(database_url, "substate-actions", "types", "-w", slug)
    assert code == 0 and "Solar" in output and "Survey" in output, output
    where = ["-w", slug, "--type", "Solar", "--substate", "Survey"]
    path = tmp_path / "action.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "Then install",
                "group": "on_close",
                "action": "open_substate",
                "settings": {"substate": "Install"},
            }
        )
    )
    code, output = invoke(database_url, "substate-actions", "add", *where, str(path))
    assert code == 0, output
    action_id = output.split()[1]
    code, output = invoke(database_url, "substate-actions", "list", *where)
    assert code == 0 and "Then install" in output and "on_close" in output, output
    path.write_text(path.read_text().replace("Install", "Nowhere"))
    code, output = invoke(database_url, "substate-actions", "add", *where, str(path))
    assert code == 2 and "Nowhere" in output, output
    code, output = invoke(database_url, "substate-actions", "delete", *where, action_id)
    assert code == 0, output
    assert "Then install" not in invoke(database_url, "substate-actions", "list", *where)[1]
    code, output = invoke(
        database_url, "substate-actions", "list", "-w", slug, "--type", "Wind", "--substate", "x"
    )
    assert code == 2 and "no opportunity type 'Wind'" in output


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "workflow:\n- name: typo\n",
            "bad.yaml:3: workflow: unknown section 'workflow'",
        ),
        (
            "stage_rules:\n- stage_id: 1\n  rules: []\n",
            "bad.yaml:4: stage_rules.0.pipeline_id: 'pipeline_id' is needed",
        ),
        ("stage_rules:\n- 7\n", "bad.yaml:4: stage_rules.0: a mapping"),
        (
            "stage_rules:\n- pipeline_id: abc\n  stage_id: 1\n  rules: []\n",
            "bad.yaml:4: stage_rules.0.pipeline_id: 'pipeline_id' is needed: int",
        ),
        ("stage_rules:\n- pipeline_id: 1\n  stage_id: 1\n  rules: 5\n", "stage_rules.0.rules"),
        ("lead_automation: [1]\n", "bad.yaml:3: lead_automation"),
        ("lead_automation:\n  attempting: true\n", "takes an object of settings"),
        ("lead_automation:\n  atempting: {}\n", "unknown lead automation 'atempting'"),
        ("workflows: {a: 1}\n", "bad.yaml:3: workflows: 'workflows' is a list"),
        (
            "workflows:\n- name: A\n  definition: {}\n  colour: red\n",
            "bad.yaml:6: workflows.0.colour: unknown key 'colour'",
        ),
    ],
)
def test_malformed_files_are_told_with_lines(
    database_url: str, slug: str, tmp_path: Path, text: str, words: str
) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text("stageflow: stageflow automations\nformat: 1\n" + text)
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(source))
    assert code == 2, output
    assert words in " ".join(output.split()).replace(str(tmp_path) + "/", ""), output
    assert "Traceback" not in output


def test_duplicate_rule_names_and_drafts_of_published_workflows_are_refused(
    app: App, database_url: str, slug: str, tmp_path: Path
) -> None:
    source = tmp_path / "a.yaml"
    source.write_text(_document(app, slug))
    assert invoke(database_url, "automations", "import", "-w", slug, str(source))[0] == 0
    document = yaml.safe_load(source.read_text())
    document["workflows"][0]["status"] = "draft"
    document["stage_rules"][0]["rules"][1]["name"] = "Repeat sale"
    source.write_text(yaml.safe_dump(document, sort_keys=False))
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(source))
    assert code == 2
    flat = " ".join(output.split())
    assert "two are named 'Repeat sale' here" in flat, output
    document["stage_rules"][0]["rules"][1]["name"] = "Thank you"
    source.write_text(yaml.safe_dump(document, sort_keys=False))
    code, output = invoke(database_url, "automations", "import", "-w", slug, str(source))
    assert code == 2 and "cannot become a draft" in " ".join(output.split()), output
