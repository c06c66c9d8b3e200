"""Records through the REST API: create, read, update, move, list, timeline (SPEC M2, M5)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api


def _deal_stages(api: Api) -> dict[str, int]:
    pipelines = api.get("/pipelines?object_type=deal")
    default = next(p for p in pipelines if p["is_default"])
    return {s["name"]: s["id"] for s in default["stages"]}


def test_new_workspace_has_default_pipelines(api: Api) -> None:
    pipelines = api.get("/pipelines")
    by_type = {p["object_type"]: p for p in pipelines if p["is_default"]}
    assert [s["name"] for s in by_type["lead"]["stages"]] == [
        "New",
        "Attempting",
        "Connected",
        "Qualified",
        "Disqualified",
    ]
    assert [s["name"] for s in by_type["deal"]["stages"]] == [
        "New",
        "Proposal",
        "Negotiation",
        "Closed Won",
        "Closed Lost",
    ]
    kinds = {s["name"]: s["kind"] for s in by_type["deal"]["stages"]}
    assert kinds["Closed Won"] == "won" and kinds["Closed Lost"] == "lost"


def test_create_move_and_timeline(api: Api) -> None:
    contact = api.post(
        "/contacts",
        {"fields": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}},
    )
    assert contact["name"] == "Ada Lovelace"
    deal = api.post(
        "/deals",
        {
            "name": "Engines",
            "fields": {"amount": 1200},
            "associations": {"contact": [contact["id"]]},
        },
    )
    stages = _deal_stages(api)
    assert deal["stage_id"] == stages["New"]
    assert deal["associations"] == {"contact": [contact["id"]]}
    moved = api.post(f"/deals/{deal['id']}/move", {"stage_id": stages["Proposal"]}, expect=200)
    assert moved["stage_id"] == stages["Proposal"]
    assert moved["version"] == deal["version"] + 1

    timeline = api.get(f"/deals/{deal['id']}/timeline")["items"]
    assert [e["type"] for e in timeline] == ["StageChanged", "AssociationAdded", "RecordCreated"]
    change = timeline[0]
    assert change["before"]["stage_id"] == stages["New"]
    assert change["after"]["stage_id"] == stages["Proposal"]
    assert change["actor"]["kind"] == "token" and change["source"] == "api"


def test_update_fields_writes_one_event_per_field(api: Api) -> None:
    deal = api.post("/deals", {"name": "Panels", "fields": {"amount": 10}})
    updated = api.patch(
        f"/deals/{deal['id']}",
        {"fields": {"amount": 20, "currency": "EUR"}, "version": deal["version"]},
    )
    assert updated["fields"] == {"amount": 20, "currency": "EUR"}
    events = api.get(f"/deals/{deal['id']}/timeline")["items"]
    changed = [
        (e["data"]["field"], e["before"], e["after"]) for e in events if e["type"] == "FieldChanged"
    ]
    assert ("amount", {"amount": 10}, {"amount": 20}) in changed
    assert ("currency", {"currency": None}, {"currency": "EUR"}) in changed


def test_stale_version_is_409(api: Api) -> None:
    deal = api.post("/deals", {"name": "Race"})
    api.patch(f"/deals/{deal['id']}", {"name": "Race 2", "version": deal["version"]})
    error = api.patch(
        f"/deals/{deal['id']}", {"name": "Race 3", "version": deal["version"]}, expect=409
    )
    assert error["code"] == "stale_version" and error["field"] == "version"
    assert api.get(f"/deals/{deal['id']}")["name"] == "Race 2"


def test_timeline_paginates_newest_first(api: Api) -> None:
    deal = api.post("/deals", {"name": "Paged", "fields": {"amount": 0}})
    for amount in range(1, 8):
        api.patch(f"/deals/{deal['id']}", {"fields": {"amount": amount}})
    seen: list[Any] = []
    cursor = None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(f"/deals/{deal['id']}/timeline{query}")
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids, reverse=True) and len(ids) == 8
    assert seen[-1]["type"] == "RecordCreated"


def test_list_filters_by_stage_and_field(api: Api) -> None:
    stages = _deal_stages(api)
    small = api.post("/deals", {"name": "Small", "fields": {"amount": 100}})
    big = api.post("/deals", {"name": "Big", "fields": {"amount": 90000}})
    api.post(f"/deals/{big['id']}/move", {"stage_id": stages["Negotiation"]}, expect=200)
    by_stage = api.get(f"/deals?stage_id={stages['Negotiation']}")["items"]
    assert [d["id"] for d in by_stage] == [big["id"]]
    flt = '{"field": "amount", "op": "lt", "value": 1000}'
    by_field = api.get("/deals", params={"filter": flt})["items"]
    assert [d["id"] for d in by_field] == [small["id"]]


def test_list_pages_cover_everything_once(api: Api) -> None:
    created = {api.post("/companies", {"name": f"Co {i}"})["id"] for i in range(7)}
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/companies", params=params)
        seen.extend(c["id"] for c in page["items"])
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(seen) == sorted(created) and len(seen) == len(set(seen))
