"""Workspace isolation through the REST API (SPEC M1: nothing crosses between workspaces).

Workspace A gets one of everything; the owner of workspace B then aims every endpoint that takes
an id at A's things. B must get "not found" (or, for an id inside a body, a 422 naming the
field), must never see any of A's data in an answer or a list, and must change nothing in A.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stageflow.bootstrap import App
from tests.conftest import Api, make_tenant

# Every name, subject and email in workspace A carries this word, so a leak is easy to spot.
MARK = "Xylophone"

Ids = dict[str, int]


@dataclass
class World:
    api: Api
    ids: Ids


def _first_stage(api: Api, object_type: str) -> tuple[int, int, int]:
    """The default pipeline of a type, its first and its second stage."""
    pipeline = next(p for p in api.get(f"/pipelines?object_type={object_type}") if p["is_default"])
    return pipeline["id"], pipeline["stages"][0]["id"], pipeline["stages"][1]["id"]


def _build_a(api: Api) -> World:
    ids: Ids = {"owner": api.get("/me")["user"]["id"]}
    company = api.post(
        "/companies", {"name": f"{MARK} Corp", "fields": {"domain": "xylophone.example"}}
    )
    contact = api.post(
        "/contacts",
        {
            "fields": {"first_name": MARK, "last_name": "Contact", "email": "xylophone@a.example"},
            "associations": {"company": [company["id"]]},
        },
    )
    lead = api.post(
        "/leads", {"name": f"{MARK} lead", "associations": {"contact": [contact["id"]]}}
    )
    deal = api.post(
        "/deals",
        {
            "name": f"{MARK} deal",
            "fields": {"amount": 4242},
            "associations": {"contact": [contact["id"]], "company": [company["id"]]},
        },
    )
    opportunity = api.post("/opportunities", {"name": f"{MARK} opportunity"})
    user = api.post(
        "/users", {"email": "xylophone.user@a.example", "name": f"{MARK} User", "role": "agent"}
    )
    activity = api.post(
        "/activities",
        {
            "record_id": deal["id"],
            "type": "call",
            "subject": f"{MARK} call",
            "responsible_id": user["id"],
        },
    )
    pipeline = api.post(
        "/pipelines",
        {
            "object_type": "deal",
            "name": f"{MARK} pipeline",
            "stages": [{"name": f"{MARK} stage"}, {"name": f"{MARK} won", "kind": "won"}],
        },
    )
    api.post("/tokens", {"name": f"{MARK} token", "user_id": user["id"]})
    token = next(t for t in api.get("/tokens") if t["name"] == f"{MARK} token")
    ids.update(
        contact=contact["id"],
        company=company["id"],
        lead=lead["id"],
        deal=deal["id"],
        opportunity=opportunity["id"],
        user=user["id"],
        activity=activity["id"],
        pipeline=pipeline["id"],
        stage=pipeline["stages"][0]["id"],
        token=token["id"],
    )
    ids["deal_pipeline"], ids["deal_stage"], _ = _first_stage(api, "deal")
    return World(api, ids)


def _build_b(api: Api) -> World:
    ids: Ids = {"owner": api.get("/me")["user"]["id"]}
    for object_type in ("lead", "deal", "opportunity"):
        pipeline_id, first, second = _first_stage(api, object_type)
        ids[f"{object_type}_pipeline"] = pipeline_id
        ids[f"{object_type}_stage"] = first
        ids[f"{object_type}_stage2"] = second
    ids["deal"] = api.post("/deals", {"name": "Bravo deal"})["id"]
    ids["contact"] = api.post("/contacts", {"name": "Bravo contact"})["id"]
    ids["activity"] = api.post(
        "/activities", {"record_id": ids["deal"], "type": "task", "subject": "Bravo task"}
    )["id"]
    api.post("/fields/deal", {"key": "account_manager", "type": "user"})
    return World(api, ids)


@pytest.fixture
def world_a(app: App, client: TestClient) -> World:
    return _build_a(Api(client, make_tenant(app, "Alpha").token))


@pytest.fixture
def world_b(api: Api) -> World:
    return _build_b(api)


def _snapshot(a: World) -> dict[str, Any]:
    """Everything of A's an intruder could have touched, as A's owner sees it."""
    ids = a.ids
    plurals = {
        "contact": "contacts",
        "company": "companies",
        "lead": "leads",
        "deal": "deals",
        "opportunity": "opportunities",
    }
    snapshot: dict[str, Any] = {
        name: a.api.get(f"/{plural}/{ids[name]}") for name, plural in plurals.items()
    }
    snapshot["deal_timeline"] = a.api.get(f"/deals/{ids['deal']}/timeline")
    snapshot["activity"] = a.api.get(f"/activities/{ids['activity']}")
    snapshot["activities"] = a.api.get("/activities")
    snapshot["pipelines"] = a.api.get("/pipelines")
    snapshot["users"] = a.api.get("/users")
    snapshot["tokens"] = a.api.get("/tokens")
    snapshot["fields"] = a.api.get("/fields/deal")
    return snapshot


def _request(
    api: Api, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
) -> Any:
    kwargs: dict[str, Any] = {"headers": api.headers, "params": params}
    if body is not None:
        kwargs["json"] = body
    return api.client.request(method, "/api/v1" + path, **kwargs)


def _assert_no_leak(response: Any) -> None:
    assert MARK.lower() not in response.text.lower(), (
        f"the answer shows workspace A's data: {response.text}"
    )


# Ids in the path: the answer is 404 -------------------------------------------------------------

PLURALS = {
    "contact": "contacts",
    "company": "companies",
    "lead": "leads",
    "deal": "deals",
    "opportunity": "opportunities",
}
PIPELINE_TYPES = ("lead", "deal", "opportunity")

Body = Callable[[Ids, Ids], Any] | None


def _path_cases() -> list[Any]:
    cases: list[Any] = []
    for name, plural in PLURALS.items():
        cases += [
            pytest.param("GET", f"/{plural}/{{a[{name}]}}", None, id=f"GET {name}"),
            pytest.param(
                "PATCH",
                f"/{plural}/{{a[{name}]}}",
                lambda a, b: {"name": "Hijacked"},
                id=f"PATCH {name}",
            ),
            pytest.param(
                "PATCH",
                f"/{plural}/{{a[{name}]}}",
                lambda a, b: {"owner_id": b["owner"], "version": 1},
                id=f"PATCH {name} owner",
            ),
            pytest.param("DELETE", f"/{plural}/{{a[{name}]}}", None, id=f"DELETE {name}"),
            pytest.param("GET", f"/{plural}/{{a[{name}]}}/timeline", None, id=f"timeline {name}"),
        ]
        if name in PIPELINE_TYPES:
            # B moves A's record into one of B's own stages: only the record id is foreign.
            cases.append(
                pytest.param(
                    "POST",
                    f"/{plural}/{{a[{name}]}}/move",
                    lambda a, b, name=name: {"stage_id": b[f"{name}_stage2"]},
                    id=f"move {name}",
                )
            )
    cases += [
        pytest.param("GET", "/activities/{a[activity]}", None, id="GET activity"),
        pytest.param(
            "PATCH",
            "/activities/{a[activity]}",
            lambda a, b: {"subject": "Hijacked", "status": "completed"},
            id="PATCH activity",
        ),
        pytest.param(
            "GET", "/activities?record_id={a[deal]}", None, id="list activities of A's record"
        ),
        pytest.param("GET", "/pipelines/{a[pipeline]}", None, id="GET pipeline"),
        pytest.param(
            "PATCH",
            "/pipelines/{a[pipeline]}",
            lambda a, b: {"name": "Hijacked"},
            id="PATCH pipeline name",
        ),
        pytest.param(
            "PATCH",
            "/pipelines/{a[pipeline]}",
            lambda a, b: {"is_default": True},
            id="PATCH pipeline default",
        ),
        pytest.param("DELETE", "/pipelines/{a[pipeline]}", None, id="DELETE pipeline"),
        pytest.param(
            "POST",
            "/pipelines/{a[pipeline]}/stages",
            lambda a, b: {"name": "Hijacked"},
            id="add stage",
        ),
        pytest.param(
            "PATCH",
            "/pipelines/{a[pipeline]}/stages/{a[stage]}",
            lambda a, b: {"name": "Hijacked", "position": 1},
            id="PATCH stage",
        ),
        pytest.param(
            "DELETE", "/pipelines/{a[pipeline]}/stages/{a[stage]}", None, id="DELETE stage"
        ),
        # B's own pipeline in the path, A's stage: still not found.
        pytest.param(
            "PATCH",
            "/pipelines/{b[deal_pipeline]}/stages/{a[stage]}",
            lambda a, b: {"name": "Hijacked"},
            id="PATCH A's stage via B's pipeline",
        ),
        pytest.param(
            "DELETE",
            "/pipelines/{b[deal_pipeline]}/stages/{a[stage]}",
            None,
            id="DELETE A's stage via B's pipeline",
        ),
        pytest.param("GET", "/users/{a[user]}", None, id="GET user"),
        pytest.param("GET", "/users/{a[owner]}", None, id="GET owner"),
        pytest.param(
            "PATCH", "/users/{a[user]}", lambda a, b: {"role": "admin"}, id="PATCH user role"
        ),
        pytest.param(
            "PATCH",
            "/users/{a[owner]}",
            lambda a, b: {"active": False},
            id="PATCH owner deactivate",
        ),
        pytest.param("DELETE", "/tokens/{a[token]}", None, id="DELETE token"),
    ]
    return cases


@pytest.mark.parametrize(("method", "path", "body"), _path_cases())
def test_foreign_id_in_path_is_not_found(
    world_a: World, world_b: World, method: str, path: str, body: Body
) -> None:
    before = _snapshot(world_a)
    url = path.format(a=world_a.ids, b=world_b.ids)
    response = _request(world_b.api, method, url, body(world_a.ids, world_b.ids) if body else None)
    assert response.status_code == 404, f"{method} {url}: {response.status_code} {response.text}"
    assert response.json()["code"] == "not_found"
    _assert_no_leak(response)
    assert _snapshot(world_a) == before, f"{method} {url} changed workspace A"


# Ids inside a body: 422 naming the field (or 404), never a use of A's thing ----------------------


def _body_cases() -> list[Any]:
    def p(method: str, path: str, body: Body, fields: set[str], id: str) -> Any:
        return pytest.param(method, path, body, fields, id=id)

    return [
        p(
            "POST",
            "/deals",
            lambda a, b: {"name": "Probe", "associations": {"contact": [a["contact"]]}},
            {"associations.contact"},
            "create deal with A's contact",
        ),
        p(
            "POST",
            "/deals",
            lambda a, b: {"name": "Probe", "associations": {"company": [a["company"]]}},
            {"associations.company"},
            "create deal with A's company",
        ),
        p(
            "POST",
            "/leads",
            lambda a, b: {"name": "Probe", "associations": {"contact": [a["contact"]]}},
            {"associations.contact"},
            "create lead with A's contact",
        ),
        p(
            "POST",
            "/contacts",
            lambda a, b: {"name": "Probe", "associations": {"company": [a["company"]]}},
            {"associations.company"},
            "create contact with A's company",
        ),
        p(
            "PATCH",
            "/deals/{b[deal]}",
            lambda a, b: {"associations": {"contact": [a["contact"]]}},
            {"associations.contact"},
            "update deal with A's contact",
        ),
        p(
            "PATCH",
            "/contacts/{b[contact]}",
            lambda a, b: {"associations": {"company": [a["company"]]}},
            {"associations.company"},
            "update contact with A's company",
        ),
        p(
            "POST",
            "/deals",
            lambda a, b: {"name": "Probe", "owner_id": a["user"]},
            {"owner_id"},
            "create deal owned by A's user",
        ),
        p(
            "POST",
            "/contacts",
            lambda a, b: {"name": "Probe", "owner_id": a["owner"]},
            {"owner_id"},
            "create contact owned by A's owner",
        ),
        p(
            "PATCH",
            "/deals/{b[deal]}",
            lambda a, b: {"owner_id": a["user"]},
            {"owner_id"},
            "give B's deal to A's user",
        ),
        p(
            "POST",
            "/activities",
            lambda a, b: {
                "record_id": b["deal"],
                "type": "task",
                "subject": "Probe",
                "responsible_id": a["user"],
            },
            {"responsible_id"},
            "activity for A's user",
        ),
        p(
            "PATCH",
            "/activities/{b[activity]}",
            lambda a, b: {"responsible_id": a["user"]},
            {"responsible_id"},
            "reassign activity to A's user",
        ),
        p(
            "POST",
            "/activities",
            lambda a, b: {"record_id": a["deal"], "type": "note", "subject": "Probe"},
            {"record_id"},
            "activity on A's record",
        ),
        p(
            "POST",
            "/deals",
            lambda a, b: {"name": "Probe", "stage_id": a["stage"]},
            {"stage_id"},
            "create deal in A's stage",
        ),
        p(
            "POST",
            "/deals",
            lambda a, b: {"name": "Probe", "pipeline_id": a["pipeline"]},
            {"pipeline_id"},
            "create deal in A's pipeline",
        ),
        p(
            "POST",
            "/deals",
            lambda a, b: {"name": "Probe", "pipeline_id": a["pipeline"], "stage_id": a["stage"]},
            {"pipeline_id", "stage_id"},
            "create deal in A's pipeline and stage",
        ),
        p(
            "POST",
            "/deals",
            lambda a, b: {"name": "Probe", "pipeline_id": a["deal_pipeline"]},
            {"pipeline_id"},
            "create deal in A's default pipeline",
        ),
        p(
            "POST",
            "/deals/{b[deal]}/move",
            lambda a, b: {"stage_id": a["stage"]},
            {"stage_id"},
            "move B's deal to A's stage",
        ),
        p(
            "POST",
            "/deals/{b[deal]}/move",
            lambda a, b: {"stage_id": a["deal_stage"]},
            {"stage_id"},
            "move B's deal to A's default stage",
        ),
        p(
            "POST",
            "/deals/{b[deal]}/move",
            lambda a, b: {"stage_id": b["deal_stage2"], "pipeline_id": a["pipeline"]},
            {"pipeline_id", "stage_id"},
            "move B's deal naming A's pipeline",
        ),
        p(
            "POST",
            "/deals",
            lambda a, b: {"name": "Probe", "fields": {"account_manager": a["user"]}},
            {"fields.account_manager"},
            "user field set to A's user",
        ),
        p(
            "PATCH",
            "/deals/{b[deal]}",
            lambda a, b: {"fields": {"account_manager": a["owner"]}},
            {"fields.account_manager"},
            "user field updated to A's owner",
        ),
        p(
            "POST",
            "/tokens",
            lambda a, b: {"name": "Probe", "user_id": a["user"]},
            {"user_id"},
            "token for A's user",
        ),
    ]


@pytest.mark.parametrize(("method", "path", "body", "fields"), _body_cases())
def test_foreign_id_in_body_is_rejected(
    world_a: World, world_b: World, method: str, path: str, body: Body, fields: set[str]
) -> None:
    assert body is not None
    before_a = _snapshot(world_a)
    before_b = world_b.api.get("/deals")["items"], world_b.api.get("/contacts")["items"]
    url = path.format(a=world_a.ids, b=world_b.ids)
    response = _request(world_b.api, method, url, body(world_a.ids, world_b.ids))
    assert response.status_code in (404, 422), (
        f"{method} {url}: {response.status_code} {response.text}"
    )
    error = response.json()
    if response.status_code == 422:
        assert error["code"] == "validation_error"
        assert error["field"] in fields, error
    else:
        assert error["code"] == "not_found"
    _assert_no_leak(response)
    assert _snapshot(world_a) == before_a, f"{method} {url} changed workspace A"
    after_b = world_b.api.get("/deals")["items"], world_b.api.get("/contacts")["items"]
    assert after_b == before_b, f"a rejected {method} {url} changed workspace B"


# Lists ------------------------------------------------------------------------------------------

Params = Callable[[Ids], dict[str, Any]]


def _list_cases() -> list[Any]:
    cases = [
        pytest.param(f"/{plural}", lambda a: {}, id=f"list {plural}") for plural in PLURALS.values()
    ]
    name_filter = json.dumps({"field": "name", "op": "contains", "value": MARK})
    return [
        *cases,
        pytest.param("/deals", lambda a: {"stage_id": a["stage"]}, id="deals in A's stage"),
        pytest.param(
            "/deals", lambda a: {"stage_id": a["deal_stage"]}, id="deals in A's default stage"
        ),
        pytest.param(
            "/deals", lambda a: {"pipeline_id": a["deal_pipeline"]}, id="deals in A's pipeline"
        ),
        pytest.param("/deals", lambda a: {"owner_id": a["owner"]}, id="deals of A's owner"),
        pytest.param("/deals", lambda a: {"filter": name_filter}, id="deals filtered by A's name"),
        pytest.param(
            "/contacts", lambda a: {"filter": name_filter}, id="contacts filtered by A's name"
        ),
        pytest.param(
            "/deals",
            lambda a: {
                "filter": json.dumps(
                    {"field": "id", "op": "in", "value": [a["deal"], a["contact"]]}
                )
            },
            id="deals filtered by A's ids",
        ),
        pytest.param("/activities", lambda a: {}, id="activities"),
        pytest.param(
            "/activities", lambda a: {"responsible_id": a["user"]}, id="activities of A's user"
        ),
        pytest.param("/pipelines", lambda a: {}, id="pipelines"),
        pytest.param("/pipelines", lambda a: {"object_type": "deal"}, id="deal pipelines"),
        pytest.param("/users", lambda a: {}, id="users"),
        pytest.param("/tokens", lambda a: {}, id="tokens"),
        pytest.param("/fields/deal", lambda a: {}, id="fields"),
        pytest.param("/picklists", lambda a: {}, id="picklists"),
        pytest.param("/me", lambda a: {}, id="me"),
    ]


def _ids_in(payload: Any) -> set[int]:
    items = payload["items"] if isinstance(payload, dict) and "items" in payload else payload
    if not isinstance(items, list):
        return set()
    return {item["id"] for item in items if isinstance(item, dict) and "id" in item}


@pytest.mark.parametrize(("path", "params"), _list_cases())
def test_lists_never_show_the_other_workspace(
    world_a: World, world_b: World, path: str, params: Params
) -> None:
    response = _request(world_b.api, "GET", path, params=params(world_a.ids))
    assert response.status_code == 200, response.text
    _assert_no_leak(response)
    a = world_a.ids
    foreign = {
        "/activities": {a["activity"]},
        "/pipelines": {a["pipeline"], a["deal_pipeline"]},
        "/users": {a["user"], a["owner"]},
        "/tokens": {a["token"]},
    }.get(path, {a[name] for name in PLURALS})
    assert not _ids_in(response.json()) & foreign, response.text


def test_owner_of_b_sees_only_own_records_and_a_still_sees_its_own(
    world_a: World, world_b: World
) -> None:
    b_deals = world_b.api.get("/deals")["items"]
    assert [d["name"] for d in b_deals] == ["Bravo deal"]
    a_deals = world_a.api.get("/deals")["items"]
    assert [d["name"] for d in a_deals] == [f"{MARK} deal"]
    b_stages = {s["id"] for p in world_b.api.get("/pipelines") for s in p["stages"]}
    assert world_a.ids["stage"] not in b_stages and world_a.ids["deal_stage"] not in b_stages


def test_a_token_works_only_in_its_own_workspace(world_a: World, world_b: World) -> None:
    """A's token never reads B's things either: the workspace comes from the token."""
    for path in (
        f"/deals/{world_b.ids['deal']}",
        f"/activities/{world_b.ids['activity']}",
        f"/pipelines/{world_b.ids['deal_pipeline']}",
        f"/users/{world_b.ids['owner']}",
    ):
        response = _request(world_a.api, "GET", path)
        assert response.status_code == 404, f"{path}: {response.text}"
        assert "Bravo" not in response.text
