"""The forms generated from action settings schemas and the condition builder: every registered
action type gets a form, and settings go through the rendered form (as a browser submits it)
and come back the same."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

import stageflow.actions  # noqa: F401  (registers the action types)
from stageflow.actions.registry import registry
from stageflow.domain.filters import parse_filter
from stageflow.entrypoints.web import rule_editor
from stageflow.entrypoints.web.forms import conditions, edits, schema_form, timing
from stageflow.entrypoints.web.forms.choices import Choices, FieldInfo
from stageflow.entrypoints.web.render import templates

CHOICES = Choices(
    object_type="deal",
    users=[("1", "Olivia Owner"), ("2", "Alex Agent")],
    pipelines=[("1", "Deals: Sales"), ("2", "Leads: Leads")],
    stages=[("10", "New (deals: Sales)"), ("11", "Closed Won (deals: Sales)"), ("20", "New lead")],
    fields={
        "deal": [
            FieldInfo("name", "Name", "text"),
            FieldInfo("owner_id", "Owner", "user"),
            FieldInfo("stage_id", "Stage", "stage"),
            FieldInfo("amount", "Amount", "number"),
            FieldInfo("region", "Region", "picklist", (("north", "North"), ("south", "South"))),
            FieldInfo("close_date", "Close date", "date"),
            FieldInfo("installer_id", "Installer", "user"),
            FieldInfo("vip", "VIP", "bool"),
        ],
        "lead": [FieldInfo("name", "Name", "text"), FieldInfo("lead_type", "Lead type", "text")],
        "contact": [FieldInfo("name", "Name", "text"), FieldInfo("email", "Email", "text")],
    },
    email_templates=[("welcome", "welcome"), ("proposal", "proposal")],
    report_templates=[("offer", "Offer (offer)")],
    substates=[("installation", "installation")],
    channels=[("web", "Web form"), ("phone", "Phone")],
)

# Settings worth a round trip beyond what every schema's defaults give.
SAMPLES: dict[str, list[dict[str, Any]]] = {
    "create_record": [
        {
            "object_type": "lead",
            "name": "Renewal: {{ contact.name }}",
            "fields": {"lead_type": "repeat"},
            "owner_id": 2,
            "stage_id": 20,
            "associate_with_record": False,
        }
    ],
    "send_email": [
        {
            "template": "proposal",
            "to": [{"role": "contact"}, {"role": "address", "address": "a@example.com"}],
            "cc": [{"role": "user", "user_id": 1}],
            "attachments": [{"filename": "a.txt", "content": "Hi {{ record.name }}"}],
            "max_attempts": 3,
        }
    ],
    "set_field": [{"fields": {"amount": 1200, "region": "north", "vip": True, "name": "X"}}],
    "assign_owner": [
        {
            "strategy": "criteria",
            "criteria": [
                {
                    "condition": {"all": [{"field": "region", "op": "eq", "value": "north"}]},
                    "user_id": 2,
                },
                {
                    "condition": {"any": [{"field": "amount", "op": "gt", "value": 5000}]},
                    "user_id": 1,
                },
            ],
            "fallback_user_id": 1,
            "target": "installer_id",
        },
        {"strategy": "round_robin", "users": [1, 2], "only_if_empty": True},
    ],
    "webhook": [
        {
            "url": "https://example.com/hook",
            "method": "PUT",
            "headers": {"X-Deal": "{{ record.name }}"},
            "body": {"a": [1, 2], "b": None},
            "timeout_seconds": 2.5,
            "sign": False,
        }
    ],
    "generate_report": [
        {
            "template": "offer",
            "filename": "Offer {{ record.name }}.pdf",
            "email": {"template": "welcome", "to": [{"role": "owner"}]},
        }
    ],
    "schedule_activity": [
        {
            "type": "call",
            "subject": "Call {{ record.name }}",
            "due_at": "tomorrow 14:00",
            "responsible_id": 2,
            "complete_on_stage_exit": True,
        }
    ],
    "move_stage": [{"stage_id": 11, "forward_only": True}],
    "copy_record": [{"pipeline_id": 1, "stage_id": 10, "name": "{{ record.name }} (delivery)"}],
    "notify_user": [
        {
            "users": [{"role": "owner"}, {"role": "user_field", "field": "installer_id"}],
            "title": "Won",
        }
    ],
    "send_sms": [
        {"to": [{"role": "number", "number": "+3912345"}], "text": "Hello {{ contact.name }}"}
    ],
    "open_substate": [{"substate": "installation"}],
}


class _Inputs(HTMLParser):
    """What a browser submits for a form: inputs with a name, checked boxes, selected
    options, textarea text."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self._select: str | None = None
        self._selected: list[str] = []
        self._first: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and "name" in a:
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.values.append(
                (a["name"], a.get("value", "on" if a.get("type") == "checkbox" else ""))
            )
        elif tag == "select" and "name" in a:
            self._select, self._selected, self._first = a["name"], [], None
            self._multiple = "multiple" in a
        elif tag == "option" and self._select is not None:
            if "disabled" in a:
                return
            if self._first is None:
                self._first = a.get("value", "")
            if "selected" in a:
                self._selected.append(a.get("value", ""))
        elif tag == "textarea" and "name" in a:
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            chosen = self._selected or (
                [] if self._multiple or self._first is None else [self._first]
            )
            self.values += [(self._select, v) for v in chosen]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.values.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


def submitted(html: str) -> dict[str, list[str]]:
    parser = _Inputs()
    parser.feed(html)
    form: dict[str, list[str]] = {}
    for name, value in parser.values:
        form.setdefault(name, []).append(value)
    return form


FORM = templates.env.from_string(
    '{% import "macros/automation_forms.html" as f %}<form>{{ f.schema_fields(widgets, "/r", ph) }}'
    '{% if builder %}{{ f.condition_builder(builder, "/r") }}{% endif %}</form>'
)


def render(widgets: list[schema_form.Widget], builder: conditions.Builder | None = None) -> str:
    return FORM.render(widgets=widgets, builder=builder, ph=CHOICES.template_fields())


def round_trip(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    schema = registry.schemas()[name]["settings"]
    html = render(schema_form.build(schema, settings, CHOICES))
    return schema_form.parse(schema, submitted(html))


def samples(name: str) -> list[dict[str, Any]]:
    """The hand-made samples, or the least settings the schema accepts."""
    if name in SAMPLES:
        return SAMPLES[name]
    schema = registry.schemas()[name]["settings"]
    found = {}
    for key in schema.get("required", []):
        node, _ = schema_form._resolve(schema["properties"][key], schema.get("$defs", {}))
        if "enum" in node:
            found[key] = node["enum"][0]
        elif node.get("type") == "string":
            found[key] = "x"
        elif node.get("type") == "integer":
            found[key] = 1
        elif node.get("type") == "array":
            found[key] = [schema_form.blank(schema, key)]
        elif node.get("type") == "object":
            found[key] = {"name": "{{ record.name }}"}
    return [found]


@pytest.mark.parametrize("name", registry.names())
def test_every_action_type_has_a_form_that_round_trips(name: str) -> None:
    action = registry.get(name)
    for settings in samples(name):
        expected = action.settings.model_validate(settings)
        again = round_trip(name, settings)
        assert action.settings.model_validate(again) == expected, again


@pytest.mark.parametrize("name", registry.names())
def test_an_empty_form_of_every_action_type_renders_with_labels(name: str) -> None:
    schema = registry.schemas()[name]["settings"]
    html = render(schema_form.build(schema, {}, CHOICES))
    for prop in schema.get("properties", {}):
        assert f'name="s.{prop}' in html or f"s-{prop.replace('_', '-')}" in html, prop


def test_pickers_show_names_and_template_fields_get_the_field_picker() -> None:
    schema = registry.schemas()["create_record"]["settings"]
    html = render(schema_form.build(schema, SAMPLES["create_record"][0], CHOICES))
    assert ">Alex Agent</option>" in html and ">New lead</option>" in html
    assert 'data-insert-into="f-s-name"' in html
    assert "{{ contact.name }}" in html  # the picker offers the contact's fields
    assert ">Lead type</option>" in html  # fields of the chosen object type, by label


def test_a_typed_value_is_typed_and_a_wrong_one_is_kept_for_the_service_to_refuse() -> None:
    schema = registry.schemas()["send_email"]["settings"]
    form = submitted(render(schema_form.build(schema, SAMPLES["send_email"][0], CHOICES)))
    form["s.max_attempts"] = ["many"]
    assert schema_form.parse(schema, form)["max_attempts"] == "many"
    form["s.max_attempts"] = ["4"]
    assert schema_form.parse(schema, form)["max_attempts"] == 4


def test_an_error_lands_on_its_input_or_the_mapping_row_of_its_key() -> None:
    schema = registry.schemas()["set_field"]["settings"]
    widgets = schema_form.build(schema, {"fields": {"colour": "red"}}, CHOICES)
    assert schema_form.place_error(widgets, "s.fields.colour", "unknown field colour")
    assert "unknown field colour" in render(widgets)
    schema = registry.schemas()["send_email"]["settings"]
    widgets = schema_form.build(schema, SAMPLES["send_email"][0], CHOICES)
    assert schema_form.place_error(widgets, "s.to.1.address", "not an address")
    assert [w.name for top in widgets for w in top.walk() if w.error] == ["s.to.1.address"]


def test_rows_are_added_and_removed_through_edits() -> None:
    schema = registry.schemas()["send_email"]["settings"]
    values: dict[str, Any] = {"s": {"template": "welcome", "to": [{"role": "owner"}]}, "c": None}
    edits.apply(values, "add:s.to", schema)
    assert values["s"]["to"] == [{"role": "owner"}, {"role": "contact"}]
    edits.apply(values, "remove:s.to.0", schema)
    assert values["s"]["to"] == [{"role": "contact"}]
    edits.apply(values, "cond-add:c", schema)
    edits.apply(values, "group-add:c", schema)
    assert values["c"] == {
        "all": [{"field": "", "op": "eq", "value": None}, {"all": [edits.NEW_CONDITION]}]
    }
    edits.apply(values, "remove:c.1", schema)
    assert len(values["c"]["all"]) == 1


FILTERS = [
    {"all": [{"field": "amount", "op": "gt", "value": 1000}]},
    {
        "any": [
            {"field": "region", "op": "in", "value": ["north", "south"]},
            {
                "all": [
                    {"field": "owner_id", "op": "eq", "value": 2},
                    {"field": "vip", "op": "eq", "value": True},
                ]
            },
            {"field": "close_date", "op": "lt", "value": "2027-01-31"},
            {"field": "contact.email", "op": "is_empty"},
            {"field": "stage_id", "op": "changed_to", "value": 11},
            {"field": "name", "op": "contains", "value": "solar"},
        ]
    },
]


@pytest.mark.parametrize("raw", FILTERS)
def test_the_condition_builder_round_trips_filters(raw: dict[str, Any]) -> None:
    html = render([], conditions.build(raw, CHOICES))
    again = conditions.parse(submitted(html))
    assert again == raw
    parse_filter(again)  # the filter language accepts it


def test_operators_follow_the_field_type() -> None:
    ops = {k for k, _ in conditions.row(CHOICES, "c.0", "amount", "eq", 1).ops}
    assert "gt" in ops and "contains" not in ops
    picklist = conditions.row(CHOICES, "c.0", "region", "contains", "x")
    assert picklist.op == "eq" and picklist.value_kind == "select"
    assert conditions.row(CHOICES, "c.0", "owner_id", "in", [1]).value_kind == "multiselect"
    assert conditions.row(CHOICES, "c.0", "close_date", "gt", None).value_kind == "date"


def test_a_filter_the_builder_cannot_show_is_edited_as_json() -> None:
    raw = {"not": {"field": "amount", "op": "gt", "value": 5}}
    html = render([], conditions.build(raw, CHOICES))
    assert conditions.parse(submitted(html)) == raw


def test_no_conditions_is_none_and_empty_rows_are_dropped() -> None:
    assert conditions.parse(submitted(render([], conditions.build(None, CHOICES)))) is None
    html = render([], conditions.build({"all": [dict(edits.NEW_CONDITION)]}, CHOICES))
    assert conditions.parse(submitted(html)) is None


def test_conditions_in_words() -> None:
    text = conditions.summary(FILTERS[0], CHOICES)
    assert text == "Amount is more than 1000"


@pytest.mark.parametrize(
    ("form", "expected", "words"),
    [
        ({"t.kind": ["now"]}, {}, "immediately"),
        (
            {"t.kind": ["after"], "t.after.n": ["6"], "t.after.unit": ["months"]},
            {"after": "P6M", "business_hours": False},
            "after 6 months",
        ),
        (
            {"t.kind": ["after"], "t.after.n": ["2"], "t.after.unit": ["hours"], "t.bh": ["on"]},
            {"after": "PT2H", "business_hours": True},
            "after 2 hours (business hours)",
        ),
        (
            {
                "t.kind": ["field"],
                "t.field": ["close_date"],
                "t.offset.n": ["1"],
                "t.offset.unit": ["days"],
                "t.offset.dir": ["before"],
            },
            {"field": "close_date", "offset": "-P1D"},
            "1 day before Close date",
        ),
        (
            {"t.kind": ["at"], "t.at": ["tomorrow 09:00"]},
            {"at": "tomorrow 09:00"},
            "at tomorrow 09:00",
        ),
    ],
)
def test_timing_from_the_form_and_in_words(
    form: dict[str, list[str]], expected: dict[str, Any], words: str
) -> None:
    parsed = timing.parse(form)
    assert parsed == expected
    assert timing.summary(parsed, {"close_date": "Close date"}) == words


RULE = {
    "action": "create_record",
    "name": "Renewal lead",
    "group": "Repeat sales",
    "settings": {"object_type": "lead", "name": "Renewal: {{ contact.name }}", "owner_id": 2},
    "timing": {"after": "P6M", "business_hours": False},
    "after_previous": True,
    "keep_on_exit": True,
    "conditions": {"all": [{"field": "amount", "op": "gt", "value": 1000}]},
    "channels": ["web"],
    "comment": "Service contract ends",
    "enabled": False,
}


def _rule_html(values: dict[str, Any]) -> str:
    from types import SimpleNamespace

    return templates.get_template("partials/rule_form.html").render(
        pipeline=SimpleNamespace(id=1),
        stage=SimpleNamespace(id=2, name="Closed Won"),
        user=SimpleNamespace(csrf_token="token"),
        rule=rule_editor.build(values, CHOICES),
    )


@pytest.mark.parametrize(
    "timing_",
    [
        {"after": "P6M", "business_hours": False},
        {"after": "PT2H", "business_hours": True},
        {"field": "close_date", "offset": "-P1D"},
        {"at": "tomorrow 09:00"},
        {},
    ],
)
def test_a_whole_rule_round_trips_through_its_form(timing_: dict[str, Any]) -> None:
    values = {**RULE, "timing": timing_}
    again = rule_editor.read(submitted(_rule_html(values)))
    model = registry.get("create_record").settings
    assert model.model_validate(again.pop("settings")) == model.model_validate(values["settings"])
    assert again == {k: v for k, v in values.items() if k != "settings"}


def test_a_rule_summary_in_words() -> None:
    assert rule_editor.summary(RULE, CHOICES) == (
        "Create a lead 'Renewal: [Contact: Name]' · after 6 months"
    )


def test_a_save_error_goes_to_the_part_it_names() -> None:
    rule = rule_editor.build(RULE, CHOICES)
    rule_editor.place_error(rule, "settings.owner_id", "there is no user 9")
    rule_editor.place_error(rule, "timing.after", "'P' is not an ISO 8601 duration")
    rule_editor.place_error(rule, "conditions", "unknown field 'colour'")
    rule_editor.place_error(rule, "settings", "the workspace has no SMTP server")
    assert [w.error for w in rule.widgets if w.name == "s.owner_id"] == ["there is no user 9"]
    assert rule.errors["timing"].startswith("'P'")
    assert rule.errors["settings"] == "the workspace has no SMTP server"
    assert rule.builder.error == "unknown field 'colour'"
