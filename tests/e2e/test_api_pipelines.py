"""Pipelines, stages, custom fields and picklists through the REST API (SPEC M2, M4, M5)."""

from __future__ import annotations

from typing import Any

import pytest

from stageflow.bootstrap import App
from tests.conftest import Api, Tenant

FUNNEL = [
    {"name": "Lead in", "kind": "open"},
    {"name": "Pitch", "kind": "open"},
    {"name": "Signed", "kind": "won"},
    {"name": "Dropped", "kind": "lost"},
]


def _pipeline(
    api: Api, name: str = "Partners", object_type: str = "deal", expect: int = 201, **extra: Any
) -> Any:
    body = {"object_type": object_type, "name": name, "stages": FUNNEL, **extra}
    return api.post("/pipelines", body, expect=expect)


def _defaults(api: Api, object_type: str) -> list[int]:
    return [p["id"] for p in api.get(f"/pipelines?object_type={object_type}") if p["is_default"]]


def _stages(api: Api, pipeline_id: int) -> list[tuple[str, int]]:
    stages = api.get(f"/pipelines/{pipeline_id}")["stages"]
    return [(s["name"], s["position"]) for s in stages]


def _config_events(app: App, tenant: Tenant) -> list[Any]:
    with app.uow(read_only=True) as uow:
        return [e for e in uow.events.for_workspace(tenant.id) if e.record_id is None]


# pipelines -------------------------------------------------------------------------------


def test_create_a_pipeline_with_open_won_and_lost_stages(api: Api) -> None:
    default_before = _defaults(api, "deal")
    created = _pipeline(api)
    assert created["object_type"] == "deal"
    assert created["name"] == "Partners"
    assert created["is_default"] is False  # the existing default stays the default
    assert [(s["name"], s["kind"], s["position"]) for s in created["stages"]] == [
        ("Lead in", "open", 0),
        ("Pitch", "open", 1),
        ("Signed", "won", 2),
        ("Dropped", "lost", 3),
    ]
    assert created == api.get(f"/pipelines/{created['id']}")
    assert created["id"] in [p["id"] for p in api.get("/pipelines?object_type=deal")]
    assert _defaults(api, "deal") == default_before


def test_duplicate_pipeline_name_is_409(api: Api) -> None:
    _pipeline(api, "Twice")
    error = _pipeline(api, "Twice", expect=409)
    assert error["field"] == "name"
    # The same name for another object type is fine.
    _pipeline(api, "Twice", object_type="opportunity")


def test_contacts_have_no_pipelines(api: Api) -> None:
    error = _pipeline(api, "People", object_type="contact", expect=422)
    assert error["field"] == "object_type"


def test_pipeline_needs_a_stage(api: Api) -> None:
    api.post("/pipelines", {"object_type": "deal", "name": "Empty", "stages": []}, expect=422)


def test_making_a_pipeline_default_undefaults_the_old_one(api: Api) -> None:
    (old,) = _defaults(api, "deal")
    leads_default = _defaults(api, "lead")
    new = _pipeline(api)
    updated = api.patch(f"/pipelines/{new['id']}", {"is_default": True})
    assert updated["is_default"] is True
    assert _defaults(api, "deal") == [new["id"]]
    assert api.get(f"/pipelines/{old}")["is_default"] is False
    assert _defaults(api, "lead") == leads_default  # other object types are untouched

    # New deals without a pipeline now start in the new default's first stage.
    deal = api.post("/deals", {"name": "Routed"})
    assert deal["pipeline_id"] == new["id"]
    assert deal["stage_id"] == new["stages"][0]["id"]


def test_creating_a_pipeline_as_default_undefaults_the_old_one(api: Api) -> None:
    new = _pipeline(api, is_default=True)
    assert new["is_default"] is True
    assert _defaults(api, "deal") == [new["id"]]


def test_the_only_default_cannot_be_undefaulted(api: Api) -> None:
    (default,) = _defaults(api, "deal")
    error = api.patch(f"/pipelines/{default}", {"is_default": False}, expect=422)
    assert error["field"] == "is_default"
    assert _defaults(api, "deal") == [default]


def test_rename_a_pipeline(api: Api) -> None:
    pipeline = _pipeline(api)
    renamed = api.patch(f"/pipelines/{pipeline['id']}", {"name": "Resellers"})
    assert renamed["name"] == "Resellers"
    assert api.get(f"/pipelines/{pipeline['id']}")["name"] == "Resellers"
    (default,) = _defaults(api, "deal")
    taken = api.get(f"/pipelines/{default}")["name"]
    api.patch(f"/pipelines/{pipeline['id']}", {"name": taken}, expect=409)


def test_default_pipeline_cannot_be_deleted(api: Api) -> None:
    (default,) = _defaults(api, "deal")
    error = api.delete(f"/pipelines/{default}", expect=409)
    assert error["code"] == "conflict"
    assert api.get(f"/pipelines/{default}")["is_default"] is True


def test_pipeline_with_records_cannot_be_deleted(api: Api) -> None:
    pipeline = _pipeline(api)
    deal = api.post("/deals", {"name": "Resident", "pipeline_id": pipeline["id"]})
    error = api.delete(f"/pipelines/{pipeline['id']}", expect=409)
    assert error["code"] == "conflict"
    assert api.get(f"/pipelines/{pipeline['id']}")["id"] == pipeline["id"]
    assert api.get(f"/deals/{deal['id']}")["pipeline_id"] == pipeline["id"]


def test_empty_pipeline_is_deleted_with_its_stages(api: Api) -> None:
    pipeline = _pipeline(api)
    api.delete(f"/pipelines/{pipeline['id']}")
    api.get(f"/pipelines/{pipeline['id']}", expect=404)
    assert pipeline["id"] not in [p["id"] for p in api.get("/pipelines")]
    # Its stages are gone too: a deal cannot be put into one.
    stage = pipeline["stages"][0]["id"]
    error = api.post("/deals", {"name": "Orphan", "stage_id": stage}, expect=422)
    assert error["field"] == "stage_id"


def test_unknown_pipeline_is_404(api: Api) -> None:
    api.get("/pipelines/999999", expect=404)
    api.patch("/pipelines/999999", {"name": "x"}, expect=404)
    api.delete("/pipelines/999999", expect=404)


# stages ----------------------------------------------------------------------------------


def test_add_a_stage_at_a_position(api: Api) -> None:
    pipeline = _pipeline(api)
    stage = api.post(
        f"/pipelines/{pipeline['id']}/stages", {"name": "Demo", "kind": "open", "position": 1}
    )
    assert (stage["name"], stage["kind"], stage["position"]) == ("Demo", "open", 1)
    assert _stages(api, pipeline["id"]) == [
        ("Lead in", 0),
        ("Demo", 1),
        ("Pitch", 2),
        ("Signed", 3),
        ("Dropped", 4),
    ]
    # Without a position (or past the end) a stage goes last.
    api.post(f"/pipelines/{pipeline['id']}/stages", {"name": "Archived", "kind": "lost"})
    last = api.post(f"/pipelines/{pipeline['id']}/stages", {"name": "Later", "position": 99})
    assert last["position"] == 6
    assert [n for n, _ in _stages(api, pipeline["id"])][-2:] == ["Archived", "Later"]
    assert [p for _, p in _stages(api, pipeline["id"])] == list(range(7))


def test_reorder_stages_keeps_positions_dense(api: Api) -> None:
    pipeline = _pipeline(api)
    ids = {s["name"]: s["id"] for s in pipeline["stages"]}
    path = f"/pipelines/{pipeline['id']}/stages"

    moved = api.patch(f"{path}/{ids['Dropped']}", {"position": 0})
    assert moved["position"] == 0
    assert _stages(api, pipeline["id"]) == [
        ("Dropped", 0),
        ("Lead in", 1),
        ("Pitch", 2),
        ("Signed", 3),
    ]
    api.patch(f"{path}/{ids['Lead in']}", {"position": 3})
    assert _stages(api, pipeline["id"]) == [
        ("Dropped", 0),
        ("Pitch", 1),
        ("Signed", 2),
        ("Lead in", 3),
    ]
    api.patch(f"{path}/{ids['Pitch']}", {"position": 2})
    assert _stages(api, pipeline["id"]) == [
        ("Dropped", 0),
        ("Signed", 1),
        ("Pitch", 2),
        ("Lead in", 3),
    ]
    api.patch(f"{path}/{ids['Signed']}", {"position": 50})
    assert _stages(api, pipeline["id"]) == [
        ("Dropped", 0),
        ("Pitch", 1),
        ("Lead in", 2),
        ("Signed", 3),
    ]
    api.patch(f"{path}/{ids['Pitch']}", {"position": -1}, expect=422)


def test_rename_and_rekind_a_stage(api: Api) -> None:
    pipeline = _pipeline(api)
    pitch = pipeline["stages"][1]["id"]
    renamed = api.patch(f"/pipelines/{pipeline['id']}/stages/{pitch}", {"name": "Proposal sent"})
    assert (renamed["name"], renamed["position"], renamed["kind"]) == ("Proposal sent", 1, "open")
    rekinded = api.patch(f"/pipelines/{pipeline['id']}/stages/{pitch}", {"kind": "won"})
    assert rekinded["kind"] == "won"
    stage = api.get(f"/pipelines/{pipeline['id']}")["stages"][1]
    assert (stage["id"], stage["name"], stage["kind"]) == (pitch, "Proposal sent", "won")


def test_duplicate_stage_names_are_409(api: Api) -> None:
    stages = [{"name": "Open"}, {"name": "open "}]
    error = api.post(
        "/pipelines", {"object_type": "deal", "name": "Dupes", "stages": stages}, expect=409
    )
    assert error["field"] == "name"
    assert "Dupes" not in [p["name"] for p in api.get("/pipelines")]

    pipeline = _pipeline(api)
    path = f"/pipelines/{pipeline['id']}/stages"
    api.post(path, {"name": "Pitch"}, expect=409)
    api.post(path, {"name": "PITCH"}, expect=409)
    signed = pipeline["stages"][2]["id"]
    api.patch(f"{path}/{signed}", {"name": "Lead in"}, expect=409)
    assert [n for n, _ in _stages(api, pipeline["id"])] == [s["name"] for s in FUNNEL]
    # Another pipeline may reuse the name.
    other = _pipeline(api, "Other")
    api.post(f"/pipelines/{other['id']}/stages", {"name": "Extra"})
    api.post(path, {"name": "Extra"})


def test_delete_a_stage_with_records_is_409_without_is_204(api: Api) -> None:
    pipeline = _pipeline(api)
    lead_in, pitch = pipeline["stages"][0]["id"], pipeline["stages"][1]["id"]
    api.post("/deals", {"name": "Occupant", "stage_id": pitch})
    path = f"/pipelines/{pipeline['id']}/stages"
    error = api.delete(f"{path}/{pitch}", expect=409)
    assert error["code"] == "conflict"
    assert "Pitch" in [n for n, _ in _stages(api, pipeline["id"])]

    api.delete(f"{path}/{lead_in}")
    assert _stages(api, pipeline["id"]) == [("Pitch", 0), ("Signed", 1), ("Dropped", 2)]
    api.delete(f"{path}/{lead_in}", expect=404)


def test_last_stage_cannot_be_deleted(api: Api) -> None:
    pipeline = api.post(
        "/pipelines", {"object_type": "deal", "name": "Solo", "stages": [{"name": "Only"}]}
    )
    only = pipeline["stages"][0]["id"]
    api.delete(f"/pipelines/{pipeline['id']}/stages/{only}", expect=409)
    assert _stages(api, pipeline["id"]) == [("Only", 0)]


def test_stage_of_another_pipeline_is_404(api: Api) -> None:
    first, second = _pipeline(api, "First"), _pipeline(api, "Second")
    foreign = second["stages"][0]["id"]
    api.patch(f"/pipelines/{first['id']}/stages/{foreign}", {"name": "Hijack"}, expect=404)
    api.delete(f"/pipelines/{first['id']}/stages/{foreign}", expect=404)
    assert _stages(api, second["id"])[0] == ("Lead in", 0)


# records in pipelines --------------------------------------------------------------------


def test_record_with_pipeline_but_no_stage_starts_in_its_first_stage(api: Api) -> None:
    pipeline = _pipeline(api)
    deal = api.post("/deals", {"name": "Fresh", "pipeline_id": pipeline["id"]})
    assert deal["pipeline_id"] == pipeline["id"]
    assert deal["stage_id"] == pipeline["stages"][0]["id"]

    # "First" means first in the current order, not first created.
    signed = pipeline["stages"][2]["id"]
    api.patch(f"/pipelines/{pipeline['id']}/stages/{signed}", {"position": 0})
    reordered = api.post("/deals", {"name": "After reorder", "pipeline_id": pipeline["id"]})
    assert reordered["stage_id"] == signed


def test_record_with_a_pipeline_of_another_type_is_422(api: Api) -> None:
    opportunities = _pipeline(api, "Opps", object_type="opportunity")
    error = api.post("/deals", {"name": "Wrong", "pipeline_id": opportunities["id"]}, expect=422)
    assert error["field"] == "pipeline_id"
    stage = opportunities["stages"][0]["id"]
    api.post("/deals", {"name": "Wrong", "stage_id": stage}, expect=422)


def test_move_a_deal_into_another_pipeline(api: Api) -> None:
    (default,) = _defaults(api, "deal")
    deal = api.post("/deals", {"name": "Traveller"})
    assert deal["pipeline_id"] == default
    other = _pipeline(api)
    pitch = other["stages"][1]["id"]

    moved = api.post(f"/deals/{deal['id']}/move", {"stage_id": pitch}, expect=200)
    assert (moved["pipeline_id"], moved["stage_id"]) == (other["id"], pitch)
    assert moved["version"] == deal["version"] + 1
    assert api.get(f"/deals?pipeline_id={other['id']}")["items"][0]["id"] == deal["id"]

    change = api.get(f"/deals/{deal['id']}/timeline")["items"][0]
    assert change["type"] == "StageChanged"
    assert change["before"]["pipeline_id"] == default
    assert change["before"]["stage_id"] == deal["stage_id"]
    assert change["before"]["stage_kind"] == "open"
    assert change["after"] == {"pipeline_id": other["id"], "stage_id": pitch, "stage_kind": "open"}

    # Giving a pipeline the stage is not in is refused and changes nothing.
    error = api.post(
        f"/deals/{deal['id']}/move",
        {"stage_id": other["stages"][2]["id"], "pipeline_id": default},
        expect=422,
    )
    assert error["field"] == "stage_id"
    assert api.get(f"/deals/{deal['id']}")["stage_id"] == pitch

    # Now the pipeline has a record and cannot be deleted.
    api.delete(f"/pipelines/{other['id']}", expect=409)


# custom fields ---------------------------------------------------------------------------


def test_field_list_includes_builtins_and_custom_fields(api: Api) -> None:
    fields = {f["key"]: f for f in api.get("/fields/deal")}
    assert {"amount", "currency", "close_date", "probability"} <= set(fields)
    assert fields["amount"]["builtin"] is True
    assert fields["amount"]["type"] == "number"
    lead_status = {f["key"]: f for f in api.get("/fields/lead")}["status"]
    assert (lead_status["type"], lead_status["picklist"]) == ("picklist", "lead_status")

    created = api.post(
        "/fields/deal",
        {"key": "tier", "type": "picklist", "options": ["gold", "silver"], "required": False},
    )
    assert (created["key"], created["builtin"], created["options"]) == (
        "tier",
        False,
        ["gold", "silver"],
    )
    assert created["label"] == "Tier"
    fields = {f["key"]: f for f in api.get("/fields/deal")}
    assert fields["tier"]["builtin"] is False
    assert "amount" in fields
    assert "tier" not in {f["key"] for f in api.get("/fields/opportunity")}

    deal = api.post("/deals", {"name": "Tiered", "fields": {"tier": "gold"}})
    assert deal["fields"]["tier"] == "gold"
    error = api.post("/deals", {"name": "Bronze", "fields": {"tier": "bronze"}}, expect=422)
    assert error["field"] == "fields.tier"


@pytest.mark.parametrize("key", ["name", "stage_id", "owner_id", "version", "fields", "id"])
def test_reserved_field_key_is_409(api: Api, key: str) -> None:
    error = api.post("/fields/deal", {"key": key, "type": "text"}, expect=409)
    assert error["field"] == "key"
    assert [f["key"] for f in api.get("/fields/deal")].count(key) == 0


@pytest.mark.parametrize(
    ("object_type", "key"), [("deal", "amount"), ("lead", "status"), ("contact", "email")]
)
def test_builtin_field_key_is_409(api: Api, object_type: str, key: str) -> None:
    error = api.post(f"/fields/{object_type}", {"key": key, "type": "text"}, expect=409)
    assert error["field"] == "key"
    fields = {f["key"]: f for f in api.get(f"/fields/{object_type}")}
    assert fields[key]["builtin"] is True


def test_duplicate_custom_field_is_409(api: Api) -> None:
    api.post("/fields/deal", {"key": "region", "type": "text"})
    error = api.post("/fields/deal", {"key": "region", "type": "number"}, expect=409)
    assert error["field"] == "key"
    # Another object type may use the same key.
    api.post("/fields/lead", {"key": "region", "type": "text"})


def test_picklist_field_without_options_is_422(api: Api) -> None:
    error = api.post("/fields/deal", {"key": "tier", "type": "picklist"}, expect=422)
    assert error["field"] == "options"
    error = api.post("/fields/deal", {"key": "tier", "type": "picklist", "options": []}, expect=422)
    assert error["field"] == "options"
    assert "tier" not in {f["key"] for f in api.get("/fields/deal")}


def test_bad_field_key_is_422(api: Api) -> None:
    error = api.post("/fields/deal", {"key": "Bad Key", "type": "text"}, expect=422)
    assert error["field"] == "key"


# picklists -------------------------------------------------------------------------------


def test_put_picklist_replaces_options_and_changes_what_is_valid(api: Api) -> None:
    before = api.get("/picklists")["lead_status"]
    assert {"value": "unqualified", "label": "Unqualified"} in before
    kept = api.post("/leads", {"name": "Keeps old value", "fields": {"status": "unqualified"}})

    options = [
        {"value": "new", "label": "New"},
        {"value": "nurturing", "label": "Nurturing"},
    ]
    assert api.put("/picklists/lead_status", {"options": options}) == options
    assert api.get("/picklists")["lead_status"] == options

    lead = api.post("/leads", {"name": "Nurtured", "fields": {"status": "nurturing"}})
    assert lead["fields"]["status"] == "nurturing"
    error = api.post("/leads", {"name": "Old", "fields": {"status": "unqualified"}}, expect=422)
    assert error["field"] == "fields.status"
    error = api.patch(f"/leads/{lead['id']}", {"fields": {"status": "in_progress"}}, expect=422)
    assert error["field"] == "fields.status"
    assert api.get(f"/leads/{lead['id']}")["fields"]["status"] == "nurturing"
    # Values already stored stay as they were.
    assert api.get(f"/leads/{kept['id']}")["fields"]["status"] == "unqualified"


def test_put_picklist_validation(api: Api) -> None:
    api.put("/picklists/no_such_list", {"options": [{"value": "a", "label": "A"}]}, expect=404)
    dupes = [{"value": "a", "label": "A"}, {"value": "a", "label": "Again"}]
    error = api.put("/picklists/lead_status", {"options": dupes}, expect=422)
    assert error["field"] == "options"
    api.put("/picklists/lead_status", {"options": []}, expect=422)
    assert {"value": "new", "label": "New"} in api.get("/picklists")["lead_status"]


# configuration changes are events --------------------------------------------------------


def test_configuration_changes_are_events(api: Api, app: App, tenant: Tenant) -> None:
    before = {e.id for e in _config_events(app, tenant)}
    pipeline = _pipeline(api)
    pipeline_id = pipeline["id"]
    api.patch(f"/pipelines/{pipeline_id}", {"name": "Resellers"})
    stage = api.post(f"/pipelines/{pipeline_id}/stages", {"name": "Demo", "position": 1})
    api.patch(f"/pipelines/{pipeline_id}/stages/{stage['id']}", {"name": "Live demo"})
    api.delete(f"/pipelines/{pipeline_id}/stages/{stage['id']}")
    api.delete(f"/pipelines/{pipeline_id}")
    api.post("/fields/deal", {"key": "region", "type": "text"})
    api.delete("/fields/deal/region")
    api.put("/picklists/lead_type", {"options": [{"value": "upsell", "label": "Upsell"}]})

    events = [e for e in _config_events(app, tenant) if e.id not in before]
    assert [e.type for e in events] == [
        "PipelineCreated",
        "PipelineUpdated",
        "StageCreated",
        "StageUpdated",
        "StageDeleted",
        "PipelineDeleted",
        "FieldDefined",
        "FieldUndefined",
        "PicklistUpdated",
    ]
    by_type = {e.type: e for e in events}
    assert by_type["PipelineCreated"].data["pipeline_id"] == pipeline_id
    assert by_type["PipelineCreated"].data["name"] == "Partners"
    assert by_type["PipelineUpdated"].data["name"] == "Resellers"
    assert by_type["StageCreated"].data["stage_id"] == stage["id"]
    assert by_type["StageUpdated"].data["before"]["name"] == "Demo"
    assert by_type["StageUpdated"].data["after"]["name"] == "Live demo"
    assert by_type["FieldDefined"].data["key"] == "region"
    assert by_type["PicklistUpdated"].data["after"] == ["upsell"]
    assert "new_business" in by_type["PicklistUpdated"].data["before"]
    owner_id = tenant.owner.user_id
    assert all((e.actor_kind, e.user_id, e.source) == ("token", owner_id, "api") for e in events)


def test_refused_configuration_change_writes_no_event(api: Api, app: App, tenant: Tenant) -> None:
    (default,) = _defaults(api, "deal")
    before = [e.id for e in _config_events(app, tenant)]
    api.delete(f"/pipelines/{default}", expect=409)
    api.patch(f"/pipelines/{default}", {"is_default": False}, expect=422)
    api.post("/fields/deal", {"key": "amount", "type": "text"}, expect=409)
    assert [e.id for e in _config_events(app, tenant)] == before
