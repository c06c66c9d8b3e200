"""Input errors through the REST API: each is a 4xx JSON answer that names what is wrong
(SPEC M2 typed and custom fields, M4 picklists and stages), never a 500."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api

PLURALS = {
    "contact": "contacts",
    "company": "companies",
    "lead": "leads",
    "deal": "deals",
    "opportunity": "opportunities",
}


def _send(
    api: Api,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    kwargs: dict[str, Any] = {"headers": dict(api.headers), "params": params}
    if raw is not None:
        kwargs["content"] = raw
        kwargs["headers"]["Content-Type"] = "application/json"
    elif body is not None:
        kwargs["json"] = body
    return api.client.request(
        method, path if path.startswith("/api") else "/api/v1" + path, **kwargs
    )


def _error(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, (
        f"expected {status}: {response.status_code} {response.text}"
    )
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), error
    return error


def _minimal(object_type: str) -> dict[str, Any]:
    return {"name": f"A {object_type}"}


def _stages(api: Api, object_type: str) -> list[dict[str, Any]]:
    default = next(p for p in api.get(f"/pipelines?object_type={object_type}") if p["is_default"])
    stages: list[dict[str, Any]] = default["stages"]
    return stages


# Unknown fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize("object_type", list(PLURALS))
def test_unknown_field_is_named(api: Api, object_type: str) -> None:
    plural = PLURALS[object_type]
    error = _error(
        _send(api, "POST", f"/{plural}", {**_minimal(object_type), "fields": {"colour": "red"}})
    )
    assert error["code"] == "validation_error"
    assert "colour" in error["message"] and error["field"] == "fields.colour"
    assert api.get(f"/{plural}")["items"] == []

    record = api.post(f"/{plural}", _minimal(object_type))
    error = _error(
        _send(api, "PATCH", f"/{plural}/{record['id']}", {"fields": {"favourite_colour": "red"}})
    )
    assert error["code"] == "validation_error"
    assert "favourite_colour" in error["message"]
    assert error["field"] == "fields.favourite_colour"
    assert api.get(f"/{plural}/{record['id']}") == record


def test_custom_field_of_another_object_type_is_unknown(api: Api) -> None:
    api.post("/fields/deal", {"key": "region", "type": "text"})
    error = _error(_send(api, "POST", "/leads", {"name": "L", "fields": {"region": "EU"}}))
    assert error["field"] == "fields.region" and "region" in error["message"]
    assert api.post("/deals", {"name": "D", "fields": {"region": "EU"}})["fields"] == {
        "region": "EU"
    }


def test_unknown_top_level_key_is_named(api: Api) -> None:
    error = _error(_send(api, "POST", "/deals", {"name": "D", "colour": "red"}))
    assert error["code"] == "invalid_request"
    assert error["field"] == "colour" and "colour" in error["message"]


# Custom field types -----------------------------------------------------------------------------

OWNER = object()  # stands for the workspace owner's user id

# type: (good value, how it is stored, bad values)
FIELD_TYPES: dict[str, tuple[Any, Any, list[Any]]] = {
    "text": ("hello", "hello", [42, ["hello"], {"a": 1}, "x" * 10_001]),
    "number": (12.5, 12.5, ["12.5", True, [1], "NaN"]),
    "date": ("2026-05-01", "2026-05-01", ["01/05/2026", "2026-02-30", 20260501, "soon"]),
    "datetime": (
        "2026-05-01T14:00:00+02:00",
        "2026-05-01T12:00:00+00:00",
        ["2026-05-01T14:00:00", "yesterday", 1777644000, "2026-13-01T00:00:00Z"],
    ),
    "bool": (True, True, ["yes", 1, "true", 0]),
    "picklist": ("gold", "gold", ["platinum", "GOLD", 1, ["gold"]]),
    "user": (OWNER, OWNER, [999_999, True, "1", 1.5, -1]),
}


def _declare(api: Api, type_: str, **extra: Any) -> str:
    key = f"my_{type_}"
    body = {"key": key, "type": type_, **extra}
    if type_ == "picklist":
        body["options"] = ["gold", "silver"]
    field = api.post("/fields/deal", body)
    assert field["key"] == key and field["type"] == type_ and field["builtin"] is False
    return key


@pytest.mark.parametrize("type_", list(FIELD_TYPES))
def test_custom_field_type_accepts_good_and_rejects_bad(api: Api, type_: str) -> None:
    owner_id = api.get("/me")["user"]["id"]
    good, stored, bads = FIELD_TYPES[type_]
    good = owner_id if good is OWNER else good
    stored = owner_id if stored is OWNER else stored
    key = _declare(api, type_)

    record = api.post("/deals", {"name": "Typed", "fields": {key: good}})
    assert record["fields"] == {key: stored}
    assert api.get(f"/deals/{record['id']}")["fields"] == {key: stored}
    assert api.patch(f"/deals/{record['id']}", {"fields": {key: good}})["fields"] == {key: stored}
    before = api.get(f"/deals/{record['id']}")

    for bad in bads:
        error = _error(_send(api, "POST", "/deals", {"name": "Bad", "fields": {key: bad}}))
        assert error["code"] == "validation_error", (bad, error)
        assert error["field"] == f"fields.{key}" and key in error["message"], (bad, error)
        error = _error(_send(api, "PATCH", f"/deals/{record['id']}", {"fields": {key: bad}}))
        assert error["field"] == f"fields.{key}" and key in error["message"], (bad, error)
    assert [d["id"] for d in api.get("/deals")["items"]] == [record["id"]]
    assert api.get(f"/deals/{record['id']}") == before


def test_null_clears_an_optional_custom_field(api: Api) -> None:
    key = _declare(api, "number")
    record = api.post("/deals", {"name": "N", "fields": {key: 3}})
    assert api.patch(f"/deals/{record['id']}", {"fields": {key: None}})["fields"] == {}


def test_required_custom_field(api: Api) -> None:
    key = _declare(api, "text", required=True)
    error = _error(_send(api, "POST", "/deals", {"name": "Missing"}))
    assert error["code"] == "validation_error"
    assert error["field"] == f"fields.{key}" and key in error["message"]
    error = _error(_send(api, "POST", "/deals", {"name": "Null", "fields": {key: None}}))
    assert error["field"] == f"fields.{key}"
    assert api.get("/deals")["items"] == []

    record = api.post("/deals", {"name": "Present", "fields": {key: "here"}})
    error = _error(_send(api, "PATCH", f"/deals/{record['id']}", {"fields": {key: None}}))
    assert error["field"] == f"fields.{key}"
    assert api.get(f"/deals/{record['id']}")["fields"] == {key: "here"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "Bad Key", "type": "text"}, "key"),
        ({"key": "9lives", "type": "text"}, "key"),
        ({"key": "amount", "type": "number"}, "key"),
        ({"key": "name", "type": "text"}, "key"),
        ({"key": "tier", "type": "picklist"}, "options"),
        ({"key": "tier", "type": "text", "options": ["a"]}, "options"),
        ({"key": "tier", "type": "colour"}, "type"),
        ({"type": "text"}, "key"),
    ],
)
def test_bad_field_declaration_is_named(api: Api, body: dict[str, Any], field: str) -> None:
    response = _send(api, "POST", "/fields/deal", body)
    assert response.status_code in (409, 422), response.text
    assert _error(response, response.status_code)["field"] == field
    assert all(f["builtin"] for f in api.get("/fields/deal"))


# Picklists and source ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("status", "in_progress", "on_fire"),
        ("lead_type", "follow_up", "cold_call"),
        ("disqualification_reason", "no_budget", "too_tall"),
    ],
)
def test_lead_picklists_reject_unknown_values(api: Api, key: str, good: str, bad: str) -> None:
    lead = api.post("/leads", {"name": "L", "fields": {key: good}})
    assert lead["fields"] == {key: good}
    error = _error(_send(api, "POST", "/leads", {"name": "L2", "fields": {key: bad}}))
    assert error["code"] == "validation_error"
    assert error["field"] == f"fields.{key}" and key in error["message"]
    assert good in error["message"]  # the message lists what is allowed
    error = _error(_send(api, "PATCH", f"/leads/{lead['id']}", {"fields": {key: bad}}))
    assert error["field"] == f"fields.{key}"
    assert api.get(f"/leads/{lead['id']}")["fields"] == {key: good}


def test_lead_status_follows_the_workspace_picklist(api: Api) -> None:
    api.put(
        "/picklists/lead_status",
        {"options": [{"value": "hot", "label": "Hot"}, {"value": "cold", "label": "Cold"}]},
    )
    assert api.post("/leads", {"name": "L", "fields": {"status": "hot"}})["fields"] == {
        "status": "hot"
    }
    error = _error(_send(api, "POST", "/leads", {"name": "L", "fields": {"status": "new"}}))
    assert error["field"] == "fields.status"


def test_bad_picklist_edits(api: Api) -> None:
    error = _error(
        _send(
            api,
            "PUT",
            "/picklists/lead_status",
            {"options": [{"value": "a", "label": "A"}, {"value": "a", "label": "Again"}]},
        )
    )
    assert error["field"] == "options"
    error = _error(_send(api, "PUT", "/picklists/lead_status", {"options": []}))
    assert error["field"] == "options"
    _error(
        _send(api, "PUT", "/picklists/no_such_list", {"options": [{"value": "a", "label": "A"}]}),
        404,
    )
    assert api.get("/picklists")["lead_status"][0]["value"] == "new"


@pytest.mark.parametrize("object_type", list(PLURALS))
def test_bad_source_is_rejected(api: Api, object_type: str) -> None:
    plural = PLURALS[object_type]
    error = _error(
        _send(api, "POST", f"/{plural}", {**_minimal(object_type), "source": "carrier_pigeon"})
    )
    assert error["code"] == "validation_error" and error["field"] == "source"
    assert "whatsapp" in error["message"]
    record = api.post(f"/{plural}", {**_minimal(object_type), "source": "whatsapp"})
    assert record["source"] == "whatsapp"
    error = _error(_send(api, "PATCH", f"/{plural}/{record['id']}", {"source": "WhatsApp"}))
    assert error["field"] == "source"
    assert api.get(f"/{plural}/{record['id']}")["source"] == "whatsapp"


# Malformed bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [b'{"name": "x",', b"{name: 'x'}", b'{"name": "x"} trailing', b"\xff\xfe{}", b""]
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/deals"), ("POST", "/activities"), ("POST", "/pipelines"), ("POST", "/users")],
)
def test_malformed_json_is_invalid_request(api: Api, raw: bytes, method: str, path: str) -> None:
    error = _error(_send(api, method, path, raw=raw))
    assert error["code"] == "invalid_request"
    assert ("JSON" in error["message"]) or (raw == b"" and "required" in error["message"])


def test_malformed_json_on_update(api: Api) -> None:
    deal = api.post("/deals", {"name": "D"})
    error = _error(_send(api, "PATCH", f"/deals/{deal['id']}", raw=b'{"name": '))
    assert error["code"] == "invalid_request" and "JSON" in error["message"]
    assert api.get(f"/deals/{deal['id']}") == deal


WRONG_TYPES: list[Any] = [
    pytest.param("POST", "/deals", {"name": 123}, "name", id="name number"),
    pytest.param("POST", "/deals", {"name": "D", "owner_id": "me"}, "owner_id", id="owner text"),
    pytest.param("POST", "/deals", {"name": "D", "fields": ["amount"]}, "fields", id="fields list"),
    pytest.param("POST", "/deals", {"name": "D", "stage_id": [1]}, "stage_id", id="stage list"),
    pytest.param(
        "POST",
        "/deals",
        {"name": "D", "associations": {"contact": "1"}},
        "associations.contact",
        id="associations not a list",
    ),
    pytest.param(
        "POST",
        "/deals",
        {"name": "D", "associations": {"planet": [1]}},
        "associations.planet",
        id="associations unknown type",
    ),
    pytest.param("PATCH", "/deals/{deal}", {"version": "one"}, "version", id="version text"),
    pytest.param("PATCH", "/deals/{deal}", {"name": ["D"]}, "name", id="update name list"),
    pytest.param(
        "POST", "/deals/{deal}/move", {"stage_id": "first"}, "stage_id", id="move stage text"
    ),
    pytest.param("POST", "/deals/{deal}/move", {}, "stage_id", id="move without stage"),
    pytest.param(
        "POST",
        "/activities",
        {"record_id": "{deal}", "type": "carrier_pigeon", "subject": "S"},
        "type",
        id="activity type",
    ),
    pytest.param(
        "POST",
        "/activities",
        {"record_id": "{deal}", "type": "task", "subject": "S", "due_at": "tomorrow"},
        "due_at",
        id="activity due",
    ),
    pytest.param(
        "POST",
        "/activities",
        {"record_id": "{deal}", "type": "task", "subject": "S", "due_at": "2026-05-01T10:00:00"},
        "due_at",
        id="activity due without time zone",
    ),
    pytest.param(
        "PATCH",
        "/activities/{activity}",
        {"due_at": "2026-05-01T10:00:00"},
        "due_at",
        id="activity due update without time zone",
    ),
    pytest.param(
        "POST",
        "/activities",
        {
            "record_id": "{deal}",
            "type": "task",
            "subject": "S",
            "due_at": "9999-12-31T23:59:59-14:00",
        },
        "due_at",
        id="activity due beyond year 9999 in UTC",
    ),
    pytest.param(
        "POST",
        "/activities",
        {"record_id": "{deal}", "type": "task", "subject": ""},
        "subject",
        id="activity empty subject",
    ),
    pytest.param(
        "POST",
        "/activities",
        {"type": "task", "subject": "S"},
        "record_id",
        id="activity without record",
    ),
    pytest.param(
        "POST",
        "/activities",
        {"record_id": "{deal}", "type": "call", "subject": "S", "outcome": "exploded"},
        "outcome",
        id="activity bad outcome",
    ),
    pytest.param(
        "POST",
        "/activities",
        {"record_id": "{deal}", "type": "note", "subject": "S", "outcome": "connected"},
        "outcome",
        id="note with outcome",
    ),
    pytest.param(
        "PATCH", "/activities/{activity}", {"status": "done"}, "status", id="activity status"
    ),
    pytest.param(
        "PATCH", "/activities/{activity}", {"subject": None}, "subject", id="activity null subject"
    ),
    pytest.param(
        "POST",
        "/pipelines",
        {"object_type": "deal", "name": "P", "stages": []},
        "stages",
        id="pipeline without stages",
    ),
    pytest.param(
        "POST",
        "/pipelines",
        {"object_type": "planet", "name": "P", "stages": [{"name": "S"}]},
        "object_type",
        id="pipeline object type",
    ),
    pytest.param(
        "POST",
        "/pipelines",
        {"object_type": "contact", "name": "P", "stages": [{"name": "S"}]},
        "object_type",
        id="pipeline for contacts",
    ),
    pytest.param(
        "POST",
        "/pipelines/{pipeline}/stages",
        {"name": "S", "kind": "maybe"},
        "kind",
        id="stage kind",
    ),
    pytest.param(
        "PATCH",
        "/pipelines/{pipeline}/stages/{stage}",
        {"position": -1},
        "position",
        id="stage position",
    ),
    pytest.param(
        "POST", "/users", {"email": "not-an-email", "name": "U"}, "email", id="user email"
    ),
    pytest.param(
        "POST",
        "/users",
        {"email": "u@example.com", "name": "U", "role": "emperor"},
        "role",
        id="user role",
    ),
    pytest.param("PATCH", "/users/{owner}", {"active": "yes please"}, "active", id="user active"),
    pytest.param("POST", "/tokens", {"name": 5}, "name", id="token name"),
]


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
def ids(api: Api) -> dict[str, int]:
    deal = api.post("/deals", {"name": "D"})
    activity = api.post("/activities", {"record_id": deal["id"], "type": "task", "subject": "T"})
    pipeline = api.post(
        "/pipelines",
        {"object_type": "deal", "name": "Spare", "stages": [{"name": "One"}, {"name": "Two"}]},
    )
    return {
        "deal": deal["id"],
        "activity": activity["id"],
        "pipeline": pipeline["id"],
        "stage": pipeline["stages"][0]["id"],
        "owner": api.get("/me")["user"]["id"],
    }


@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_TYPES)
def test_wrong_type_in_body_names_the_field(
    api: Api, ids: dict[str, int], method: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = _send(api, method, path.format(**ids), _fill(body, ids))
    error = _error(response)
    assert error["code"] in ("invalid_request", "validation_error")
    assert error["field"] is not None and error["field"].startswith(field), error


@pytest.mark.parametrize("attribute", ["name", "role", "permissions", "active"])
def test_null_for_a_user_attribute_is_422(api: Api, ids: dict[str, int], attribute: str) -> None:
    user = api.post("/users", {"email": "nully@example.com", "name": "Nully"})
    error = _error(_send(api, "PATCH", f"/users/{user['id']}", {attribute: None}))
    assert error["field"] == attribute, error
    assert api.get(f"/users/{user['id']}") == user


# List parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flt", "named"),
    [
        ("{nope", None),
        ("[1, 2]", None),
        ('"amount"', None),
        ('{"field": "colour", "op": "eq", "value": "red"}', "colour"),
        ('{"field": "fields.colour", "op": "eq", "value": "red"}', "colour"),
        ('{"field": "amount", "op": "bigger", "value": 1}', None),
        ('{"field": "amount", "op": "gt"}', "amount"),
        ('{"field": "amount", "op": "in", "value": 5}', "amount"),
        ('{"field": "amount", "op": "changed_to", "value": 5}', "changed_to"),
        ('{"all": [{"field": "amount", "op": "gt", "value": 1}], "extra": 1}', None),
        ('{"field": "created_at", "op": "gt", "value": "last week"}', "created_at"),
        ('{"not": ' * 12 + '{"field": "amount", "op": "gt", "value": 1}' + "}" * 12, None),
    ],
)
def test_bad_filter_is_422(api: Api, flt: str, named: str | None) -> None:
    api.post("/deals", {"name": "D", "fields": {"amount": 5}})
    error = _error(_send(api, "GET", "/deals", params={"filter": flt}))
    assert error["code"] == "validation_error" and error["field"] == "filter"
    if named:
        assert named in error["message"], error


@pytest.mark.parametrize(
    "flt",
    [
        {"field": "amount", "op": "gt", "value": "a lot"},
        {"field": "amount", "op": "eq", "value": {"a": 1}},
        {"field": "amount", "op": "in", "value": ["five", {"a": 1}]},
        {"field": "name", "op": "eq", "value": {"a": 1}},
        {"field": "name", "op": "in", "value": [["x"]]},
        {"field": "owner_id", "op": "eq", "value": "me"},
        {"field": "stage_id", "op": "gt", "value": [1]},
    ],
    ids=[
        "number gt text",
        "number eq object",
        "number in mixed",
        "name eq object",
        "name in lists",
        "owner_id eq text",
        "stage_id gt list",
    ],
)
def test_filter_value_of_the_wrong_type_is_422(api: Api, flt: dict[str, Any]) -> None:
    api.post("/deals", {"name": "D", "fields": {"amount": 5}})
    error = _error(_send(api, "GET", "/deals", params={"filter": json.dumps(flt)}))
    assert error["code"] == "validation_error" and error["field"] == "filter"
    assert flt["field"] in error["message"], error


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    ["garbage!!", "%%%", _cursor("id:abc"), _cursor("page:3"), _cursor("id:"), _cursor("id:1:2")],
)
@pytest.mark.parametrize("path", ["/deals", "/deals/{deal}/timeline", "/activities"])
def test_bad_cursor_is_422(api: Api, ids: dict[str, int], cursor: str, path: str) -> None:
    error = _error(_send(api, "GET", path.format(**ids), params={"cursor": cursor}))
    assert error["code"] == "validation_error" and error["field"] == "cursor"


@pytest.mark.parametrize("limit", ["0", "-1", "201", "1000000", "ten", "1.5"])
@pytest.mark.parametrize("path", ["/deals", "/deals/{deal}/timeline", "/activities"])
def test_limit_out_of_range_is_422(api: Api, ids: dict[str, int], limit: str, path: str) -> None:
    error = _error(_send(api, "GET", path.format(**ids), params={"limit": limit}))
    assert error["code"] in ("invalid_request", "validation_error")
    assert error["field"] == "limit"


def test_limit_bounds_are_accepted(api: Api, ids: dict[str, int]) -> None:
    assert len(api.get("/deals", params={"limit": 1})["items"]) == 1
    assert len(api.get("/deals", params={"limit": 200})["items"]) == 1


# Stages in create and move ----------------------------------------------------------------------


def test_move_to_a_stage_of_another_object_type_or_pipeline_is_422(api: Api) -> None:
    deal_stages = _stages(api, "deal")
    lead_stages = _stages(api, "lead")
    spare = api.post(
        "/pipelines",
        {"object_type": "deal", "name": "Spare", "stages": [{"name": "One"}, {"name": "Two"}]},
    )
    deal = api.post("/deals", {"name": "D"})
    lead = api.post("/leads", {"name": "L"})

    bad_moves: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("/deals", deal, {"stage_id": lead_stages[1]["id"]}),
        ("/leads", lead, {"stage_id": deal_stages[1]["id"]}),
        (
            "/deals",
            deal,
            {"stage_id": spare["stages"][1]["id"], "pipeline_id": deal["pipeline_id"]},
        ),
        ("/deals", deal, {"stage_id": deal_stages[1]["id"], "pipeline_id": spare["id"]}),
        ("/deals", deal, {"stage_id": 987_654_321}),
        (
            "/opportunities",
            api.post("/opportunities", {"name": "O"}),
            {"stage_id": deal_stages[1]["id"]},
        ),
    ]
    for plural, record, body in bad_moves:
        error = _error(_send(api, "POST", f"/{plural.strip('/')}/{record['id']}/move", body))
        assert error["code"] == "validation_error", (body, error)
        assert error["field"] in ("stage_id", "pipeline_id"), (body, error)
        assert str(body["stage_id"]) in error["message"] or "pipeline" in error["message"]
        after = api.get(f"{plural}/{record['id']}")
        assert after["stage_id"] == record["stage_id"] and after["version"] == record["version"]

    # The same stage ids are fine where they belong.
    moved = api.post(
        f"/deals/{deal['id']}/move",
        {"stage_id": spare["stages"][1]["id"], "pipeline_id": spare["id"]},
        expect=200,
    )
    assert moved["pipeline_id"] == spare["id"]


@pytest.mark.parametrize(
    ("plural", "body", "field"),
    [
        ("deals", {"name": "D", "stage_id": "lead:1"}, "stage_id"),
        ("deals", {"name": "D", "pipeline_id": "lead"}, "pipeline_id"),
        ("contacts", {"name": "C", "stage_id": "deal:1"}, "stage_id"),
        ("companies", {"name": "C", "pipeline_id": "deal"}, None),
        ("deals", {"name": "D", "pipeline_id": "spare", "stage_id": "deal:1"}, None),
    ],
)
def test_create_in_a_stage_that_does_not_fit_is_422(
    api: Api, plural: str, body: dict[str, Any], field: str | None
) -> None:
    spare = api.post(
        "/pipelines", {"object_type": "deal", "name": "Spare", "stages": [{"name": "One"}]}
    )
    refs = {
        "lead:1": _stages(api, "lead")[1]["id"],
        "deal:1": _stages(api, "deal")[1]["id"],
        "spare": spare["id"],
        "lead": next(p["id"] for p in api.get("/pipelines?object_type=lead")),
        "deal": next(p["id"] for p in api.get("/pipelines?object_type=deal")),
    }
    resolved = {k: refs.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    error = _error(_send(api, "POST", f"/{plural}", resolved))
    assert error["code"] == "validation_error"
    if field:
        assert error["field"] == field, error
    else:
        assert error["field"] in ("stage_id", "pipeline_id"), error
    assert api.get(f"/{plural}")["items"] == []


# Routes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/planets"),
        ("GET", "/api/v1/deals/1/comments"),
        ("POST", "/api/v1/contacts/1/move"),
        ("GET", "/api/v2/deals"),
        ("GET", "/nope"),
        ("GET", "/api/v1/deals/not-a-number/timeline/extra"),
    ],
)
def test_unknown_route_is_404_json(api: Api, method: str, path: str) -> None:
    error = _error(_send(api, method, path, {"name": "x"} if method == "POST" else None), 404)
    assert error["code"] == "not_found"


WRONG_METHODS = [
    ("PUT", "/api/v1/deals", {"GET", "POST"}),
    ("DELETE", "/api/v1/pipelines", {"GET", "POST"}),
    ("PATCH", "/api/v1/activities", {"GET", "POST"}),
    ("POST", "/api/v1/users/1", {"GET", "PATCH"}),
    ("PUT", "/api/v1/deals/1", {"GET", "PATCH", "DELETE"}),
    ("GET", "/api/v1/deals/1/move", {"POST"}),
]


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
def test_wrong_method_is_405_json(api: Api, method: str, path: str, allowed: set[str]) -> None:
    response = _send(api, method, path, {"name": "x"} if method != "GET" else None)
    error = _error(response, 405)
    assert error["code"] == "method_not_allowed"


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
def test_405_says_which_methods_are_allowed(
    api: Api, method: str, path: str, allowed: set[str]
) -> None:
    """HTTP (RFC 9110, 15.5.6) requires a 405 to list the allowed methods in ``Allow``."""
    response = _send(api, method, path, {"name": "x"} if method != "GET" else None)
    assert response.status_code == 405
    assert "allow" in response.headers, dict(response.headers)
    assert {m.strip() for m in response.headers["allow"].split(",")} >= allowed


def test_non_numeric_id_in_path_is_a_json_error(api: Api) -> None:
    response = _send(api, "GET", "/deals/abc")
    assert response.status_code in (404, 422), response.text
    _error(response, response.status_code)


# Values the database cannot hold ----------------------------------------------------------------

BIG = 10**20  # beyond any 64-bit id


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/deals/{big}", None),
        ("PATCH", "/deals/{big}", {"name": "x"}),
        ("DELETE", "/deals/{big}", None),
        ("GET", "/deals/{big}/timeline", None),
        ("POST", "/deals/{big}/move", {"stage_id": 1}),
        ("GET", "/activities/{big}", None),
        ("PATCH", "/activities/{big}", {"subject": "x"}),
        ("GET", "/activities?record_id={big}", None),
        ("GET", "/pipelines/{big}", None),
        ("PATCH", "/pipelines/{big}", {"name": "x"}),
        ("DELETE", "/pipelines/{big}", None),
        ("POST", "/pipelines/{big}/stages", {"name": "x"}),
        ("PATCH", "/pipelines/{pipeline}/stages/{big}", {"name": "x"}),
        ("GET", "/users/{big}", None),
        ("PATCH", "/users/{big}", {"name": "x"}),
        ("DELETE", "/tokens/{big}", None),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_too_large_id_in_path_is_not_found(
    api: Api, ids: dict[str, int], method: str, path: str, body: dict[str, Any] | None
) -> None:
    error = _error(_send(api, method, path.format(big=BIG, **ids), body), 404)
    assert error["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/deals", {"name": "D", "associations": {"contact": [BIG]}}),
        ("POST", "/deals", {"name": "D", "owner_id": BIG}),
        ("POST", "/deals", {"name": "D", "stage_id": BIG}),
        ("POST", "/deals", {"name": "D", "pipeline_id": BIG}),
        ("PATCH", "/deals/{deal}", {"associations": {"company": [BIG]}}),
        ("POST", "/deals/{deal}/move", {"stage_id": BIG}),
        ("POST", "/activities", {"record_id": BIG, "type": "note", "subject": "S"}),
        (
            "POST",
            "/activities",
            {"record_id": "{deal}", "type": "task", "subject": "S", "responsible_id": BIG},
        ),
        ("POST", "/tokens", {"name": "T", "user_id": BIG}),
    ],
    ids=[
        "deal association",
        "deal owner",
        "deal stage",
        "deal pipeline",
        "update association",
        "move stage",
        "activity record",
        "activity responsible",
        "token user",
    ],
)
def test_too_large_id_in_body_is_rejected(
    api: Api, ids: dict[str, int], method: str, path: str, body: dict[str, Any]
) -> None:
    response = _send(api, method, path.format(**ids), _fill(body, ids))
    assert response.status_code in (404, 422), response.text
    _error(response, response.status_code)


@pytest.mark.parametrize(
    "params",
    [
        {"stage_id": BIG},
        {"pipeline_id": BIG},
        {"owner_id": BIG},
        {"cursor": _cursor(f"id:{BIG}")},
        {"filter": json.dumps({"field": "owner_id", "op": "eq", "value": BIG})},
        {"filter": json.dumps({"field": "amount", "op": "gt", "value": 10**400})},
    ],
    ids=["stage_id", "pipeline_id", "owner_id", "cursor", "owner_id filter", "amount filter"],
)
def test_too_large_numbers_in_list_queries_are_answered(
    api: Api, ids: dict[str, int], params: dict[str, Any]
) -> None:
    response = _send(api, "GET", "/deals", params=params)
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert response.json()["items"] == []
    else:
        _error(response)


NUL_CASES: list[Any] = [
    pytest.param("POST", "/deals", {"name": "Nul\x00deal"}, "name", id="record name"),
    pytest.param(
        "POST",
        "/deals",
        {"name": "D", "fields": {"currency": "E\x00UR"}},
        "fields.currency",
        id="text field",
    ),
    pytest.param(
        "POST",
        "/contacts",
        {"fields": {"first_name": "\x00"}},
        ("fields.first_name", "name"),
        id="contact first name",
    ),
    pytest.param(
        "POST",
        "/activities",
        {"record_id": "{deal}", "type": "note", "subject": "a\x00b"},
        "subject",
        id="activity subject",
    ),
    pytest.param(
        "POST",
        "/pipelines",
        {"object_type": "deal", "name": "P\x00", "stages": [{"name": "S"}]},
        "name",
        id="pipeline name",
    ),
    pytest.param(
        "POST",
        "/fields/deal",
        {"key": "tier", "type": "picklist", "options": ["a\x00"]},
        ("options", "options.0"),
        id="picklist field option",
    ),
    pytest.param(
        "POST", "/users", {"email": "nul\x00@example.com", "name": "N"}, "email", id="user email"
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_CASES)
def test_nul_character_is_kept_or_rejected(
    api: Api,
    ids: dict[str, int],
    method: str,
    path: str,
    body: dict[str, Any],
    field: str | tuple[str, ...],
) -> None:
    """A NUL character in text is stored as sent or refused naming the field, never a 500."""
    response = _send(api, method, path, _fill(body, ids))
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert _error(response)["field"] in ((field,) if isinstance(field, str) else field)


# Robustness: garbage never gets a 500 -----------------------------------------------------------

Endpoint = tuple[str, str, dict[str, Any]]


def _endpoints(api: Api) -> dict[str, Endpoint]:
    owner = api.get("/me")["user"]["id"]
    contact = api.post("/contacts", {"name": "C"})
    company = api.post("/companies", {"name": "Co"})
    deal = api.post("/deals", {"name": "D", "associations": {"contact": [contact["id"]]}})
    activity = api.post("/activities", {"record_id": deal["id"], "type": "call", "subject": "Call"})
    pipeline = api.post(
        "/pipelines",
        {"object_type": "deal", "name": "Spare", "stages": [{"name": "One"}, {"name": "Two"}]},
    )
    stage = pipeline["stages"][0]["id"]
    user = api.post("/users", {"email": "u@example.com", "name": "U"})
    return {
        "create contact": (
            "POST",
            "/contacts",
            {
                "name": "C",
                "owner_id": owner,
                "source": "email",
                "fields": {"first_name": "Ada", "email": "a@example.com"},
                "associations": {"company": [company["id"]]},
            },
        ),
        "create deal": (
            "POST",
            "/deals",
            {
                "name": "D",
                "owner_id": owner,
                "source": "web_form",
                "pipeline_id": pipeline["id"],
                "stage_id": stage,
                "fields": {"amount": 10, "close_date": "2026-01-31"},
                "associations": {"contact": [contact["id"]], "company": [company["id"]]},
            },
        ),
        "update deal": (
            "PATCH",
            f"/deals/{deal['id']}",
            {
                "name": "D2",
                "owner_id": owner,
                "source": "phone",
                "fields": {"amount": 20, "currency": "EUR"},
                "associations": {"contact": [contact["id"]]},
                "version": None,
            },
        ),
        "move deal": (
            "POST",
            f"/deals/{deal['id']}/move",
            {"stage_id": stage, "pipeline_id": pipeline["id"], "version": None},
        ),
        "log activity": (
            "POST",
            "/activities",
            {
                "record_id": deal["id"],
                "type": "call",
                "subject": "S",
                "description": "D",
                "due_at": "2026-05-01T10:00:00Z",
                "responsible_id": owner,
                "status": "open",
                "outcome": "connected",
                "direction": "outbound",
                "channel": "phone",
            },
        ),
        "update activity": (
            "PATCH",
            f"/activities/{activity['id']}",
            {
                "subject": "S2",
                "description": "D2",
                "due_at": "2026-05-02T10:00:00Z",
                "responsible_id": owner,
                "status": "completed",
                "outcome": "busy",
                "version": None,
            },
        ),
        "create pipeline": (
            "POST",
            "/pipelines",
            {
                "object_type": "deal",
                "name": "P",
                "is_default": False,
                "stages": [{"name": "S", "kind": "open"}],
            },
        ),
        "update pipeline": (
            "PATCH",
            f"/pipelines/{pipeline['id']}",
            {"name": "Spare 2", "is_default": None},
        ),
        "add stage": (
            "POST",
            f"/pipelines/{pipeline['id']}/stages",
            {"name": "S", "kind": "won", "position": 0},
        ),
        "update stage": (
            "PATCH",
            f"/pipelines/{pipeline['id']}/stages/{stage}",
            {"name": "Uno", "kind": "open", "position": 1},
        ),
        "define field": (
            "POST",
            "/fields/deal",
            {
                "key": "tier",
                "label": "Tier",
                "type": "picklist",
                "options": ["a", "b"],
                "required": False,
            },
        ),
        "edit picklist": (
            "PUT",
            "/picklists/lead_type",
            {"options": [{"value": "v", "label": "V"}]},
        ),
        "create user": (
            "POST",
            "/users",
            {
                "email": "new@example.com",
                "name": "N",
                "role": "agent",
                "permissions": ["pipelines.edit"],
                "password": "correct horse",
            },
        ),
        "update user": (
            "PATCH",
            f"/users/{user['id']}",
            {"name": "N", "role": "manager", "permissions": [], "active": True},
        ),
        "create token": ("POST", "/tokens", {"name": "T", "user_id": user["id"]}),
    }


RAW_GARBAGE: list[bytes] = [
    b"",
    b"{",
    b"}",
    b"null",
    b"[]",
    b"[{}]",
    b'"text"',
    b"42",
    b"-0",
    b"true",
    b"1e999",
    b"\x00",
    b"\xff\xfe\x00\x00",
    b"{'single': 'quotes'}",
    b'{"a": 1,}',
    b'{"a" 1}',
    b"[" * 5000 + b"]" * 5000,
    b'{"name": NaN}',
    b'{"name": Infinity}',
    b'{"name": "\\ud800"}',
    b'{"fields": {"amount": -Infinity}}',
    b'{"name": "x", "name": 5}',
    b'{"\\u0000": 1}',
    b'{"fields": {"\\u0000": 1}}',
    b"\xef\xbb\xbf{}",
]

NASTY_VALUES: list[Any] = [
    None,
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x" * 20_000,
    "🎉" * 50,
    "'; drop table records;--",
    0,
    -1,
    2**31,
    2**63,
    BIG,
    -BIG,
    10**400,
    1.5,
    1e308,
    True,
    False,
    [],
    [None],
    [BIG],
    {},
    {"$gt": ""},
    {"a": {"b": {"c": []}}},
    "2026-02-30",
    "1970-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59-14:00",
]


def _small(values: list[Any]) -> list[Any]:
    """The values whose repr is short (hypothesis prints failing examples)."""
    return [v for v in values if len(repr(v)) <= 200]


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(_small(NASTY_VALUES))
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a body that can be replaced or dropped."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list) and value:
        found.append((*prefix, 0))
        found += _paths(value[0], (*prefix, 0))
    return found


def _replace(base: dict[str, Any], path: tuple[Any, ...], value: Any, drop: bool) -> Any:
    body = copy.deepcopy(base)
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return body


def _garbage(base: dict[str, Any]) -> st.SearchStrategy[bytes]:
    paths = _paths(base)
    nasty = st.sampled_from(_small(NASTY_VALUES))
    replaced = st.builds(
        lambda p, v: _replace(base, p, v, drop=False),
        st.sampled_from(paths),
        nasty | nasty | JSON_VALUES,
    )
    dropped = st.sampled_from(paths).map(lambda p: _replace(base, p, None, drop=True))
    extra = JSON_VALUES.map(lambda v: {**base, "unexpected": v})
    encoded = (replaced | replaced | dropped | extra | JSON_VALUES).map(
        lambda body: json.dumps(body, ensure_ascii=True).encode()
    )
    return encoded | st.sampled_from(_small(RAW_GARBAGE))


def _problem(response: Any) -> str | None:
    """What is wrong with an answer to a bad request, or None: never a 500, and every error
    is JSON with a code and a message."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:150]}"
    if response.status_code >= 400:
        if not response.headers.get("content-type", "").startswith("application/json"):
            return f"{response.status_code} not JSON: {response.text[:150]}"
        error = response.json()
        if not (
            isinstance(error, dict)
            and isinstance(error.get("code"), str)
            and error["code"]
            and isinstance(error.get("message"), str)
            and error["message"]
        ):
            return f"{response.status_code} without code and message: {response.text[:150]}"
    return None


def _check_answer(method: str, path: str, raw: bytes, response: Any) -> None:
    problem = _problem(response)
    assert problem is None, f"{method} {path} with {raw[:300]!r}: {problem}"


ENDPOINT_NAMES = [
    "create contact",
    "create deal",
    "update deal",
    "move deal",
    "log activity",
    "update activity",
    "create pipeline",
    "update pipeline",
    "add stage",
    "update stage",
    "define field",
    "edit picklist",
    "create user",
    "update user",
    "create token",
]


@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
def test_raw_garbage_is_a_json_error(api: Api, endpoint: str) -> None:
    method, path, _ = _endpoints(api)[endpoint]
    failures = []
    for raw in RAW_GARBAGE:
        if problem := _problem(_send(api, method, path, raw=raw)):
            failures.append(f"{raw[:60]!r}: {problem}")
    assert not failures, f"{method} {path}:\n" + "\n".join(failures)


# A few values of each kind that storage layers choke on.
SWEEP_VALUES: list[Any] = [
    None,
    "a\x00b",
    "\ud800",
    "x" * 20_000,
    2**63,
    BIG,
    -BIG,
    10**400,
    1e308,
    True,
    [],
    {},
    [BIG],
    "2026-05-01T10:00:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
]


@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
def test_nasty_value_in_any_place_is_never_a_500(api: Api, endpoint: str) -> None:
    """Each place of a good body in turn gets each nasty value; all failures are listed."""
    method, path, base = _endpoints(api)[endpoint]
    failures = []
    for place in _paths(base):
        for value in SWEEP_VALUES:
            raw = json.dumps(_replace(base, place, value, drop=False), ensure_ascii=True).encode()
            if problem := _problem(_send(api, method, path, raw=raw)):
                where = ".".join(str(p) for p in place)
                failures.append(f"{where} = {value!r:.30}: {problem[:60]}")
    assert not failures, (
        f"{method} {path}: {len(failures)} bodies got a 500 or a non-JSON "
        "error:\n" + "\n".join(failures)
    )


@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
def test_garbage_bodies_never_get_a_500(api: Api, endpoint: str) -> None:
    method, path, base = _endpoints(api)[endpoint]

    @settings(
        max_examples=50,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(raw=_garbage(base))
    def throw(raw: bytes) -> None:
        _check_answer(method, path, raw, _send(api, method, path, raw=raw))

    throw()


# Unknown query parameters ---------------------------------------------------------------------


def test_an_unknown_query_parameter_is_refused_naming_it(api: Api) -> None:
    deal = api.post("/deals", {"name": "Roof"})
    api.post("/activities", {"record_id": deal["id"], "type": "task", "subject": "Measure"})
    error = api.get("/activities?record=5", expect=422)
    assert error["field"] == "record" and "'record'" in error["message"], error
    assert "record_id" in error["message"], error  # what it takes instead
    assert len(api.get(f"/activities?record_id={deal['id']}")["items"]) == 1
    api.get("/activities?record_id=999999", expect=404)  # the filter it takes is applied


def test_every_list_refuses_an_unknown_query_parameter(api: Api) -> None:
    paths = api.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    lists = [p for p, ops in paths.items() if "get" in ops and "{" not in p]
    assert "/api/v1/activities" in lists and "/api/v1/deals" in lists
    for path in lists:
        response = api.client.get(path + "?bogus=1", headers=api.headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["field"] == "bogus", (path, response.text)
