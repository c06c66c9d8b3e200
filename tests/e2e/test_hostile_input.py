"""Hostile input answers with a clear refusal, never a 500 (issue 16: items 1 and 8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from stageflow.adapters.crypto import SecretBox
from stageflow.bootstrap import App
from stageflow.domain.filters import MAX_CONDITIONS
from stageflow.entrypoints.web.session import Session, SessionSigner
from tests.conftest import Api, make_tenant


def test_a_non_ascii_callback_token_is_refused_not_a_crash(client: TestClient) -> None:
    response = client.post("/api/v1/esign/callback/1/%C3%9C", json={"status": "completed"})
    assert response.status_code in (403, 404), response.text


def test_a_secret_box_checks_any_text_as_a_token() -> None:
    box = SecretBox("a passphrase")
    assert box.check_token("label", box.token("label"))
    assert not box.check_token("label", "Ü" * 43)
    assert not box.check_token("label", "")


def test_a_non_ascii_csrf_token_is_refused_not_a_crash() -> None:
    signer = SessionSigner(b"k" * 32)
    session = Session.for_user(1, 1, "hash")
    assert signer.check_csrf(session, signer.csrf_token(session))
    assert not signer.check_csrf(session, "Ü" * 40)


def test_a_filter_nested_hundreds_of_levels_deep_is_refused(api: Api) -> None:
    condition = '{"field": "name", "op": "eq", "value": "x"}'
    deep = '{"all": [' * 500 + condition + "]}" * 500
    refused = api.get("/deals", params={"filter": deep}, expect=422)
    assert refused["field"] == "filter" and "deeper" in refused["message"]
    body = '{"name": "s", "object_type": "contact", "filter": ' + deep + "}"
    response = api.client.post(
        "/api/v1/segments",
        content=body,
        headers={**api.headers, "Content-Type": "application/json"},
    )
    # The body itself is too deep to parse: FastAPI answers 400 before any route runs.
    assert response.status_code == 400, response.text
    assert "parsing the body" in response.json()["message"]


def test_a_filter_with_thousands_of_conditions_is_refused_with_the_limit(api: Api) -> None:
    many = {"any": [{"field": "name", "op": "eq", "value": f"v{n}"} for n in range(5000)]}
    refused = api.post(
        "/segments", {"name": "big", "object_type": "contact", "filter": many}, expect=422
    )
    assert str(MAX_CONDITIONS) in refused["message"]
    # At the limit the filter is saved and runs.
    most = {"any": [{"field": "name", "op": "eq", "value": f"v{n}"} for n in range(500)]}
    segment = api.post("/segments", {"name": "most", "object_type": "contact", "filter": most})
    assert api.get(f"/segments/{segment['id']}/members")["items"] == []
    assert json.dumps(most)  # a plain JSON document, as a client would send it


def test_an_api_request_without_a_token_is_refused_before_its_body_is_read(
    client: TestClient,
) -> None:
    chunks_read = 0

    def body() -> Iterator[bytes]:
        nonlocal chunks_read
        for _ in range(200):  # 200 MB, were it read
            chunks_read += 1
            yield b"x" * (1024 * 1024)

    response = client.post(
        "/api/v1/deals", content=body(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert chunks_read <= 1


def test_bodies_over_the_limit_are_refused_with_413(api: Api) -> None:
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    declared = api.client.post(
        "/api/v1/deals", content=big, headers={**api.headers, "Content-Type": "application/json"}
    )
    assert declared.status_code == 413, declared.text
    assert "1,048,576 bytes" in declared.json()["message"]

    def chunked() -> Iterator[bytes]:
        yield big[: len(big) // 2]
        yield big[len(big) // 2 :]

    streamed = api.client.post(
        "/api/v1/deals",
        content=chunked(),
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413, streamed.text
    # The public callback is bounded too.
    callback = api.client.post(
        "/api/v1/esign/callback/1/token", content=big, headers={"Content-Type": "application/json"}
    )
    assert callback.status_code == 413
    # Under the limit nothing changes.
    api.post("/deals", {"name": "x" * 200})


def test_uploads_have_their_own_larger_limit(api: Api) -> None:
    two_mb = b"name\n" + b"Ada\n" * (512 * 1024)
    response = api.client.post(
        "/api/v1/deals", files={"file": ("contacts.csv", two_mb, "text/csv")}, headers=api.headers
    )
    assert response.status_code != 413  # the route refuses it for what it is, not its size


def _step(action: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [{"id": "s", "type": "action", "action": action, "settings": settings}],
    }


def test_ids_of_another_workspace_are_refused_when_an_automation_is_saved(
    api: Api, app: App
) -> None:
    """Issue 16, item 7: they used to be saved and fail only when the run came."""
    other = make_tenant(app, "Other")
    other_api = api.as_token(other.token)
    their_pipeline = next(
        p for p in other_api.get("/pipelines?object_type=lead") if p["is_default"]
    )
    their_user = other.new.owner_id
    mine = next(p for p in api.get("/pipelines?object_type=lead") if p["is_default"])
    deal_stage = next(p for p in api.get("/pipelines?object_type=deal") if p["is_default"])[
        "stages"
    ][0]["id"]
    cases = [
        (
            _step("create_record", {"object_type": "lead", "pipeline_id": their_pipeline["id"]}),
            "steps.s.pipeline_id",
        ),
        (
            _step(
                "create_record",
                {"object_type": "lead", "pipeline_id": mine["id"], "stage_id": deal_stage},
            ),
            "steps.s.stage_id",
        ),
        (_step("set_field", {"fields": {"owner_id": their_user}}), "steps.s.fields.owner_id"),
    ]
    for definition, field in cases:
        refused = api.post("/automations", {"name": "cross", "definition": definition}, expect=422)
        assert refused["field"] == field, refused
    # The workspace's own ids are taken.
    ok = _step(
        "create_record",
        {"object_type": "lead", "pipeline_id": mine["id"], "stage_id": mine["stages"][0]["id"]},
    )
    api.post("/automations", {"name": "own", "definition": ok})
    my_id = api.get("/me")["user"]["id"]
    own_owner = _step("set_field", {"fields": {"owner_id": my_id}})
    api.post("/automations", {"name": "own owner", "definition": own_owner})
