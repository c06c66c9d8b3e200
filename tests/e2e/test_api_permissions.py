"""Roles, named permissions and tokens through the REST API (SPEC M1).

Users and tokens are made the way a workspace owner makes them: POST /users, then POST /tokens
for the new user.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api

_emails = itertools.count()


@dataclass
class Member:
    id: int
    api: Api
    token: str


def add_member(
    owner: Api, role: str, *, permissions: tuple[str, ...] = (), name: str | None = None
) -> Member:
    user = owner.post(
        "/users",
        {
            "email": f"{role}{next(_emails)}@example.com",
            "name": name or role.capitalize(),
            "role": role,
            "permissions": list(permissions),
        },
    )
    assert user["role"] == role and sorted(user["permissions"]) == sorted(permissions)
    token = owner.post("/tokens", {"name": f"{user['name']} token", "user_id": user["id"]})
    assert token["user_id"] == user["id"]
    member = Member(id=user["id"], api=owner.as_token(token["token"]), token=token["token"])
    assert member.api.get("/me")["user"]["id"] == user["id"]
    return member


@dataclass
class Team:
    owner: Api
    owner_id: int
    agent: Member
    agent2: Member
    manager: Member
    admin: Member
    pipeline: dict[str, Any]  # a spare deal pipeline with stages "One" and "Two"
    owner_token_id: int

    def member(self, role: str) -> Member:
        return {"agent": self.agent, "manager": self.manager, "admin": self.admin}[role]


@pytest.fixture
def team(api: Api) -> Team:
    owner_id = api.get("/me")["user"]["id"]
    pipeline = api.post(
        "/pipelines",
        {"object_type": "deal", "name": "Spare", "stages": [{"name": "One"}, {"name": "Two"}]},
    )
    api.post("/fields/deal", {"key": "spare_field", "type": "text"})
    owner_token_id = next(t["id"] for t in api.get("/tokens") if t["user_id"] == owner_id)
    return Team(
        owner=api,
        owner_id=owner_id,
        agent=add_member(api, "agent", name="Agnes"),
        agent2=add_member(api, "agent", name="Arthur"),
        manager=add_member(api, "manager", name="Mona"),
        admin=add_member(api, "admin", name="Adam"),
        pipeline=pipeline,
        owner_token_id=owner_token_id,
    )


def _send(api: Api, method: str, path: str, body: Any = None) -> Any:
    kwargs: dict[str, Any] = {"headers": api.headers}
    if body is not None:
        kwargs["json"] = body
    return api.client.request(method, "/api/v1" + path, **kwargs)


def _configuration(owner: Api) -> dict[str, Any]:
    return {
        "pipelines": owner.get("/pipelines"),
        "fields": owner.get("/fields/deal"),
        "picklists": owner.get("/picklists"),
        "users": owner.get("/users"),
        "tokens": owner.get("/tokens"),
    }


# What needs a permission ------------------------------------------------------------------------

Action = tuple[str, Callable[[Team], str], Any, str]

ACTIONS: dict[str, Action] = {
    "create pipeline": (
        "POST",
        lambda t: "/pipelines",
        {"object_type": "deal", "name": "Shadow", "stages": [{"name": "S"}]},
        "pipelines.edit",
    ),
    "rename pipeline": (
        "PATCH",
        lambda t: f"/pipelines/{t.pipeline['id']}",
        {"name": "Renamed"},
        "pipelines.edit",
    ),
    "make pipeline default": (
        "PATCH",
        lambda t: f"/pipelines/{t.pipeline['id']}",
        {"is_default": True},
        "pipelines.edit",
    ),
    "delete pipeline": (
        "DELETE",
        lambda t: f"/pipelines/{t.pipeline['id']}",
        None,
        "pipelines.edit",
    ),
    "add stage": (
        "POST",
        lambda t: f"/pipelines/{t.pipeline['id']}/stages",
        {"name": "Three"},
        "pipelines.edit",
    ),
    "rename stage": (
        "PATCH",
        lambda t: f"/pipelines/{t.pipeline['id']}/stages/{t.pipeline['stages'][0]['id']}",
        {"name": "Uno"},
        "pipelines.edit",
    ),
    "reorder stage": (
        "PATCH",
        lambda t: f"/pipelines/{t.pipeline['id']}/stages/{t.pipeline['stages'][0]['id']}",
        {"position": 1},
        "pipelines.edit",
    ),
    "re-kind stage": (
        "PATCH",
        lambda t: f"/pipelines/{t.pipeline['id']}/stages/{t.pipeline['stages'][1]['id']}",
        {"kind": "won"},
        "pipelines.edit",
    ),
    "delete stage": (
        "DELETE",
        lambda t: f"/pipelines/{t.pipeline['id']}/stages/{t.pipeline['stages'][1]['id']}",
        None,
        "pipelines.edit",
    ),
    "define custom field": (
        "POST",
        lambda t: "/fields/deal",
        {"key": "colour", "type": "text"},
        "fields.edit",
    ),
    "remove custom field": ("DELETE", lambda t: "/fields/deal/spare_field", None, "fields.edit"),
    "edit picklist": (
        "PUT",
        lambda t: "/picklists/lead_status",
        {"options": [{"value": "hot", "label": "Hot"}]},
        "picklists.edit",
    ),
    "create user": (
        "POST",
        lambda t: "/users",
        {"email": "new@example.com", "name": "New", "role": "agent"},
        "users.manage",
    ),
    "promote self": ("PATCH", lambda t: f"/users/{t.agent.id}", {"role": "admin"}, "users.manage"),
    "grant self a permission": (
        "PATCH",
        lambda t: f"/users/{t.agent.id}",
        {"permissions": ["pipelines.edit"]},
        "users.manage",
    ),
    "deactivate someone": (
        "PATCH",
        lambda t: f"/users/{t.agent2.id}",
        {"active": False},
        "users.manage",
    ),
    "token for someone else": (
        "POST",
        lambda t: "/tokens",
        lambda t: {"name": "stolen", "user_id": t.owner_id},
        "tokens.manage",
    ),
    "revoke someone else's token": (
        "DELETE",
        lambda t: f"/tokens/{t.owner_token_id}",
        None,
        "tokens.manage",
    ),
}


def _body(body: Any, team: Team) -> Any:
    return body(team) if callable(body) else body


@pytest.mark.parametrize("role", ["agent", "manager"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_action_needs_its_permission(team: Team, role: str, action: str) -> None:
    method, path, body, permission = ACTIONS[action]
    before = _configuration(team.owner)
    response = _send(team.member(role).api, method, path(team), _body(body, team))
    assert response.status_code == 403, f"{role} could {action}: {response.text}"
    error = response.json()
    assert error["code"] == "permission_denied"
    assert permission in error["message"], error
    assert _configuration(team.owner) == before, f"a refused '{action}' changed something"


PIPELINE_ACTIONS = [a for a, (_, _, _, perm) in ACTIONS.items() if perm == "pipelines.edit"]


@pytest.mark.parametrize("holder", ["admin", "agent with pipelines.edit"])
def test_pipeline_editors_can_edit_pipelines(team: Team, holder: str) -> None:
    who = (
        team.admin
        if holder == "admin"
        else add_member(team.owner, "agent", permissions=("pipelines.edit",))
    )
    api = who.api
    pipeline = api.post(
        "/pipelines", {"object_type": "lead", "name": f"By {holder}", "stages": [{"name": "First"}]}
    )
    stage = api.post(f"/pipelines/{pipeline['id']}/stages", {"name": "Second", "position": 0})
    assert stage["position"] == 0
    renamed = api.patch(
        f"/pipelines/{pipeline['id']}/stages/{stage['id']}", {"name": "Zeroth", "kind": "won"}
    )
    assert renamed["name"] == "Zeroth" and renamed["kind"] == "won"
    assert api.patch(f"/pipelines/{pipeline['id']}", {"name": "Renamed"})["name"] == "Renamed"
    api.delete(f"/pipelines/{pipeline['id']}/stages/{stage['id']}")
    assert [s["name"] for s in api.get(f"/pipelines/{pipeline['id']}")["stages"]] == ["First"]
    api.delete(f"/pipelines/{pipeline['id']}")
    api.get(f"/pipelines/{pipeline['id']}", expect=404)
    # The spare pipeline made by the owner can be changed too.
    api.patch(f"/pipelines/{team.pipeline['id']}", {"is_default": True})
    assert api.get(f"/pipelines/{team.pipeline['id']}")["is_default"] is True


def test_one_extra_permission_grants_only_that(team: Team) -> None:
    editor = add_member(team.owner, "agent", permissions=("pipelines.edit",))
    editor.api.post(f"/pipelines/{team.pipeline['id']}/stages", {"name": "Three"})
    for action in ("define custom field", "edit picklist", "create user"):
        method, path, body, permission = ACTIONS[action]
        response = _send(editor.api, method, path(team), _body(body, team))
        assert response.status_code == 403, f"{action}: {response.text}"
        assert permission in response.json()["message"]
    assert sorted(editor.api.get("/me")["permissions"]) == ["pipelines.edit"]


def test_admin_can_configure_the_workspace(team: Team) -> None:
    api = team.admin.api
    assert api.post("/fields/deal", {"key": "colour", "type": "text"})["key"] == "colour"
    api.delete("/fields/deal/spare_field")
    options = api.put("/picklists/lead_type", {"options": [{"value": "hot", "label": "Hot"}]})
    assert options == [{"value": "hot", "label": "Hot"}]
    user = api.post("/users", {"email": "by-admin@example.com", "name": "New", "role": "manager"})
    assert user["role"] == "manager"


def test_granted_permission_can_be_revoked(team: Team) -> None:
    editor = add_member(team.owner, "agent", permissions=("pipelines.edit",))
    editor.api.patch(f"/pipelines/{team.pipeline['id']}", {"name": "Mine now"})
    team.owner.patch(f"/users/{editor.id}", {"permissions": []})
    error = editor.api.patch(f"/pipelines/{team.pipeline['id']}", {"name": "Again"}, expect=403)
    assert "pipelines.edit" in error["message"]
    assert team.owner.get(f"/pipelines/{team.pipeline['id']}")["name"] == "Mine now"


def test_unknown_permission_name_is_rejected(team: Team) -> None:
    error = team.owner.post(
        "/users",
        {"email": "x@example.com", "name": "X", "permissions": ["pipelines.destroy"]},
        expect=422,
    )
    assert error["field"] == "permissions" and "pipelines.destroy" in error["message"]


# Whose records an agent sees ---------------------------------------------------------------------


@pytest.fixture
def deals(team: Team) -> dict[str, dict[str, Any]]:
    o = team.owner
    return {
        "owner": o.post("/deals", {"name": "Owner's deal"}),
        "agent": o.post("/deals", {"name": "Agnes's deal", "owner_id": team.agent.id}),
        "unowned": o.post("/deals", {"name": "Nobody's deal", "owner_id": None}),
        "agent2": o.post("/deals", {"name": "Arthur's deal", "owner_id": team.agent2.id}),
        "manager": o.post("/deals", {"name": "Mona's deal", "owner_id": team.manager.id}),
    }


def test_agent_lists_only_own_and_unowned_records(
    team: Team, deals: dict[str, dict[str, Any]]
) -> None:
    mine = team.agent.api.post("/deals", {"name": "Agnes's own"})
    assert mine["owner_id"] == team.agent.id
    names = {d["name"] for d in team.agent.api.get("/deals")["items"]}
    assert names == {"Agnes's deal", "Nobody's deal", "Agnes's own"}
    assert team.agent.api.get("/deals", params={"owner_id": team.owner_id})["items"] == []
    everything = '{"field": "name", "op": "contains", "value": "deal"}'
    names = {
        d["name"] for d in team.agent.api.get("/deals", params={"filter": everything})["items"]
    }
    assert names == {"Agnes's deal", "Nobody's deal"}


def test_manager_sees_and_edits_everything(team: Team, deals: dict[str, dict[str, Any]]) -> None:
    names = {d["name"] for d in team.manager.api.get("/deals")["items"]}
    assert names == {
        "Owner's deal",
        "Agnes's deal",
        "Nobody's deal",
        "Arthur's deal",
        "Mona's deal",
    }
    assert team.manager.api.get(f"/deals/{deals['owner']['id']}")["name"] == "Owner's deal"
    updated = team.manager.api.patch(
        f"/deals/{deals['agent']['id']}", {"fields": {"amount": 5}, "owner_id": team.agent2.id}
    )
    assert updated["owner_id"] == team.agent2.id


HIDDEN_FROM_AGENT: dict[str, tuple[str, str, Any]] = {
    "read": ("GET", "/deals/{id}", None),
    "update": ("PATCH", "/deals/{id}", {"name": "Mine now"}),
    "take": ("PATCH", "/deals/{id}", {"owner_id": "{agent}"}),
    "delete": ("DELETE", "/deals/{id}", None),
    "timeline": ("GET", "/deals/{id}/timeline", None),
    "move": ("POST", "/deals/{id}/move", {"stage_id": "{stage}"}),
    "list its activities": ("GET", "/activities?record_id={id}", None),
    "log an activity on it": (
        "POST",
        "/activities",
        {"record_id": "{id}", "type": "note", "subject": "Peek"},
    ),
}


def _fill(value: Any, **ids: int) -> Any:
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
            return ids[value[1:-1]]
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, **ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("whose", ["owner", "agent2", "manager"])
@pytest.mark.parametrize("what", list(HIDDEN_FROM_AGENT))
def test_agent_gets_404_for_another_users_record(
    team: Team, deals: dict[str, dict[str, Any]], what: str, whose: str
) -> None:
    deal = deals[whose]
    stage = team.owner.get(f"/pipelines/{deal['pipeline_id']}")["stages"][1]["id"]
    ids = {"id": deal["id"], "agent": team.agent.id, "stage": stage}
    method, path, body = HIDDEN_FROM_AGENT[what]
    before = team.owner.get(f"/deals/{deal['id']}")
    response = _send(team.agent.api, method, _fill(path, **ids), _fill(body, **ids))
    assert response.status_code == 404, f"agent could {what} {whose}'s deal: {response.text}"
    assert response.json()["code"] == "not_found"
    assert deal["name"] not in response.text
    assert team.owner.get(f"/deals/{deal['id']}") == before


def test_agent_cannot_associate_a_contact_it_cannot_see(team: Team) -> None:
    """M1: associations obey visibility, and a hidden contact answers as a missing one does."""
    hidden = team.owner.post("/contacts", {"fields": {"first_name": "Hidden"}})
    mine = team.agent.api.post("/contacts", {"fields": {"first_name": "Mine"}})
    missing = hidden["id"] + mine["id"] + 1000

    answers = []
    for contact_id in (hidden["id"], missing):
        body = {"name": "Probe", "associations": {"contact": [contact_id]}}
        error = team.agent.api.post("/deals", body, expect=422)
        answers.append(
            (error["code"], error["field"], error["message"].replace(str(contact_id), "N"))
        )
    assert answers[0] == answers[1] == ("validation_error", "associations.contact", "no contact N")

    deal = team.agent.api.post(
        "/deals", {"name": "Mine", "associations": {"contact": [mine["id"]]}}
    )
    error = team.agent.api.patch(
        f"/deals/{deal['id']}", {"associations": {"contact": [hidden["id"]]}}, expect=422
    )
    assert error["field"] == "associations.contact"
    assert team.owner.get(f"/deals/{deal['id']}")["associations"] == {"contact": [mine["id"]]}


def test_agent_replacing_associations_keeps_those_it_cannot_see(team: Team) -> None:
    hidden = team.owner.post("/contacts", {"fields": {"first_name": "Hidden"}})
    mine = team.agent.api.post("/contacts", {"fields": {"first_name": "Mine"}})
    deal = team.owner.post(
        "/deals",
        {"name": "Shared", "owner_id": team.agent.id, "associations": {"contact": [hidden["id"]]}},
    )
    team.agent.api.patch(f"/deals/{deal['id']}", {"associations": {"contact": [mine["id"]]}})
    kept = team.owner.get(f"/deals/{deal['id']}")["associations"]["contact"]
    assert sorted(kept) == sorted([hidden["id"], mine["id"]])


def test_agent_sees_only_own_activities(team: Team, deals: dict[str, dict[str, Any]]) -> None:
    owners = team.owner.post(
        "/activities",
        {"record_id": deals["owner"]["id"], "type": "task", "subject": "Owner's task"},
    )
    agents = team.owner.post(
        "/activities",
        {"record_id": deals["agent"]["id"], "type": "task", "subject": "Agnes's task"},
    )
    assert agents["responsible_id"] == team.agent.id
    listed = [a["subject"] for a in team.agent.api.get("/activities")["items"]]
    assert listed == ["Agnes's task"]
    team.agent.api.get(f"/activities/{owners['id']}", expect=404)
    team.agent.api.patch(f"/activities/{owners['id']}", {"status": "completed"}, expect=404)
    assert team.owner.get(f"/activities/{owners['id']}")["status"] == "open"


def test_agent_cannot_give_a_record_to_another_user(
    team: Team, deals: dict[str, dict[str, Any]]
) -> None:
    agent = team.agent.api
    error = agent.post("/deals", {"name": "Gift", "owner_id": team.manager.id}, expect=403)
    assert error["code"] == "permission_denied" and "records.edit_all" in error["message"]
    assert all(d["name"] != "Gift" for d in team.owner.get("/deals")["items"])

    own = deals["agent"]
    error = agent.patch(f"/deals/{own['id']}", {"owner_id": team.agent2.id}, expect=403)
    assert error["code"] == "permission_denied" and "records.edit_all" in error["message"]
    assert team.owner.get(f"/deals/{own['id']}")["owner_id"] == team.agent.id

    unowned = deals["unowned"]
    agent.patch(f"/deals/{unowned['id']}", {"owner_id": team.manager.id}, expect=403)
    assert team.owner.get(f"/deals/{unowned['id']}")["owner_id"] is None

    # Taking an unowned record and keeping one's own is fine.
    assert (
        agent.patch(f"/deals/{unowned['id']}", {"owner_id": team.agent.id})["owner_id"]
        == team.agent.id
    )
    assert agent.post("/deals", {"name": "Mine", "owner_id": team.agent.id})["owner_id"] == (
        team.agent.id
    )


def test_agent_changes_own_records(team: Team, deals: dict[str, dict[str, Any]]) -> None:
    agent = team.agent.api
    own = deals["agent"]
    stage = team.owner.get(f"/pipelines/{own['pipeline_id']}")["stages"][1]["id"]
    assert agent.patch(f"/deals/{own['id']}", {"fields": {"amount": 9}})["fields"] == {"amount": 9}
    assert (
        agent.post(f"/deals/{own['id']}/move", {"stage_id": stage}, expect=200)["stage_id"] == stage
    )
    agent.post("/activities", {"record_id": own["id"], "type": "note", "subject": "Called"})
    agent.delete(f"/deals/{own['id']}")
    team.owner.get(f"/deals/{own['id']}", expect=404)


# Tokens and authentication ----------------------------------------------------------------------


def _token_id(owner: Api, user_id: int) -> int:
    return next(t["id"] for t in owner.get("/tokens") if t["user_id"] == user_id)


def test_revoked_token_is_401(team: Team) -> None:
    team.agent.api.get("/me")
    team.owner.delete(f"/tokens/{_token_id(team.owner, team.agent.id)}")
    error = team.agent.api.get("/me", expect=401)
    assert error["code"] == "unauthenticated"
    team.agent.api.get("/deals", expect=401)
    revoked = [t for t in team.owner.get("/tokens") if t["user_id"] == team.agent.id]
    assert revoked and revoked[0]["revoked_at"] is not None


def test_user_revokes_own_token(team: Team) -> None:
    spare = team.agent.api.post("/tokens", {"name": "laptop"})
    assert spare["user_id"] == team.agent.id
    laptop = team.agent.api.as_token(spare["token"])
    mine = team.agent.api.get("/tokens")
    assert {t["user_id"] for t in mine} == {team.agent.id} and len(mine) == 2
    laptop_id = next(t["id"] for t in mine if t["name"] == "laptop")
    team.agent.api.delete(f"/tokens/{laptop_id}")
    laptop.get("/me", expect=401)
    team.agent.api.get("/me")


def test_deactivated_user_is_401(team: Team) -> None:
    team.owner.patch(f"/users/{team.agent.id}", {"active": False})
    assert team.agent.api.get("/me", expect=401)["code"] == "unauthenticated"
    team.owner.patch(f"/users/{team.agent.id}", {"active": True})
    team.agent.api.get("/me")


BAD_AUTH: dict[str, dict[str, str]] = {
    "no header": {},
    "unknown token": {"Authorization": "Bearer sf_thisisnotatokenanyonewasgiven"},
    "empty bearer": {"Authorization": "Bearer "},
    "basic auth": {"Authorization": "Basic b3duZXI6c2VjcmV0"},
    "token without scheme": {"Authorization": "sf_abc"},
}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/me"),
        ("GET", "/deals"),
        ("POST", "/deals"),
        ("DELETE", "/pipelines/1"),
        ("PATCH", "/users/1"),
    ],
)
@pytest.mark.parametrize("auth", list(BAD_AUTH))
def test_missing_or_unknown_token_is_401(
    client: TestClient, api: Api, auth: str, method: str, path: str
) -> None:
    body = {"name": "Sneaky"} if method in ("POST", "PATCH") else None
    response = client.request(method, "/api/v1" + path, headers=BAD_AUTH[auth], json=body)
    assert response.status_code == 401, response.text
    error = response.json()
    assert error["code"] == "unauthenticated" and error["message"]
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    assert api.get("/deals")["items"] == []


# Owners ------------------------------------------------------------------------------------------


def test_only_an_owner_creates_an_owner(team: Team) -> None:
    error = team.admin.api.post(
        "/users", {"email": "boss@example.com", "name": "Boss", "role": "owner"}, expect=403
    )
    assert error["code"] == "permission_denied"
    assert all(u["email"] != "boss@example.com" for u in team.owner.get("/users"))
    created = team.owner.post(
        "/users", {"email": "boss@example.com", "name": "Boss", "role": "owner"}
    )
    assert created["role"] == "owner"


def test_only_an_owner_makes_or_unmakes_an_owner(team: Team) -> None:
    admin = team.admin.api
    error = admin.patch(f"/users/{team.agent.id}", {"role": "owner"}, expect=403)
    assert error["code"] == "permission_denied"
    error = admin.patch(f"/users/{team.owner_id}", {"role": "agent"}, expect=403)
    assert error["code"] == "permission_denied"
    assert team.owner.get(f"/users/{team.owner_id}")["role"] == "owner"
    assert team.owner.get(f"/users/{team.agent.id}")["role"] == "agent"
    # Admins manage everyone else.
    assert admin.patch(f"/users/{team.agent.id}", {"role": "manager"})["role"] == "manager"
    assert team.owner.patch(f"/users/{team.admin.id}", {"role": "owner"})["role"] == "owner"


def test_an_admin_cannot_become_an_owner_through_an_owners_token(team: Team) -> None:
    """Minting a token for the owner would let an admin act as the owner, and so create
    owners: only an owner may hold an owner's token."""
    response = _send(
        team.admin.api, "POST", "/tokens", {"name": "borrowed", "user_id": team.owner_id}
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "permission_denied"
    assert [t["user_id"] for t in team.owner.get("/tokens")].count(team.owner_id) == 1


def test_an_admin_cannot_lock_out_an_owner(team: Team) -> None:
    response = _send(team.admin.api, "PATCH", f"/users/{team.owner_id}", {"active": False})
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "permission_denied"
    assert team.owner.get("/me")["user"]["active"] is True


def test_agent_can_open_every_activity_in_its_list(
    team: Team, deals: dict[str, dict[str, Any]]
) -> None:
    """What an agent's activity list shows, the agent can open and complete."""
    team.owner.post(
        "/activities",
        {
            "record_id": deals["owner"]["id"],
            "type": "task",
            "subject": "Call the owner's client",
            "responsible_id": team.agent.id,
        },
    )
    team.owner.post(
        "/activities",
        {"record_id": deals["agent"]["id"], "type": "task", "subject": "Agnes's task"},
    )
    for activity in team.agent.api.get("/activities")["items"]:
        response = _send(team.agent.api, "GET", f"/activities/{activity['id']}")
        assert response.status_code == 200, (
            f"'{activity['subject']}' is in the agent's list but reading it gives "
            f"{response.status_code}: {response.text}"
        )
        response = _send(
            team.agent.api, "PATCH", f"/activities/{activity['id']}", {"status": "completed"}
        )
        assert response.status_code == 200, (
            f"'{activity['subject']}' is in the agent's list but completing it gives "
            f"{response.status_code}: {response.text}"
        )
