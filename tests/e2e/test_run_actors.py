"""What an automation changes carries its run as the actor (SPEC M5, X4): the automation, the
version its run is pinned to and the run, so a timeline entry links to the exact run."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api


def _stages(api: Api) -> dict[str, int]:
    pipeline = next(p for p in api.get("/pipelines?object_type=deal") if p["is_default"])
    return {s["name"]: s["id"] for s in pipeline["stages"]}


def _timeline(api: Api, deal_id: int) -> list[dict[str, Any]]:
    return api.get(f"/deals/{deal_id}/timeline?limit=100")["items"]  # type: ignore[no-any-return]


def test_an_activity_completed_on_stage_exit_is_the_runs_doing(api: Api) -> None:
    stages = _stages(api)
    first, second = list(stages.values())[:2]
    rule = api.post(
        "/automations",
        {
            "name": "Call while qualifying",
            "publish": True,
            "definition": {
                "trigger": {"type": "stage_entered", "object_type": "deal", "stage_id": first},
                "steps": [
                    {
                        "id": "call",
                        "type": "action",
                        "action": "create_activity",
                        "settings": {
                            "type": "call",
                            "subject": "Call {{ record.name }}",
                            "complete_on_stage_exit": True,
                        },
                    }
                ],
            },
        },
    )
    deal = api.post("/deals", {"name": "Roof", "stage_id": first})
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    (run,) = api.get(f"/runs?record={deal['id']}")["items"]

    api.post(f"/deals/{deal['id']}/move", {"stage_id": second}, expect=200)  # by the owner

    events = _timeline(api, deal["id"])
    run_actor = {
        "kind": "automation",
        "id": rule["id"],
        "user_id": None,
        "run_id": run["id"],
        "version": 1,
    }
    logged = next(e for e in events if e["type"] == "ActivityLogged")
    completed = next(e for e in events if e["type"] == "ActivityCompleted")
    moved = next(e for e in events if e["type"] == "StageChanged" and e["source"] == "api")
    assert logged["actor"] == run_actor
    assert completed["actor"] == run_actor and completed["source"] == "automation"
    assert moved["actor"]["kind"] != "automation"
    (activity,) = api.get(f"/activities?record_id={deal['id']}")["items"]
    assert activity["status"] == "completed"


def test_a_users_own_activity_completes_as_the_mover(api: Api) -> None:
    stages = _stages(api)
    first, second = list(stages.values())[:2]
    deal = api.post("/deals", {"name": "Roof", "stage_id": first})
    api.post(
        "/activities",
        {
            "record_id": deal["id"],
            "type": "task",
            "subject": "Measure",
            "complete_on_stage_exit": True,
        },
    )
    api.post(f"/deals/{deal['id']}/move", {"stage_id": second}, expect=200)
    completed = next(e for e in _timeline(api, deal["id"]) if e["type"] == "ActivityCompleted")
    assert completed["actor"]["kind"] in ("user", "token") and completed["actor"]["run_id"] is None
