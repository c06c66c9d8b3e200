"""Templates in automations: empty values, fallbacks and save-time checks (SPEC X6, W4)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api


def _on_new_deal(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"trigger": {"type": "record_created", "object_type": "deal"}, "steps": list(steps)}


def _create_lead(name: str) -> dict[str, Any]:
    return {
        "id": "lead",
        "type": "action",
        "action": "create_record",
        "settings": {"object_type": "lead", "name": name},
    }


def _lead_names(api: Api) -> list[str]:
    return [lead["name"] for lead in api.get("/leads")["items"]]


def test_empty_fields_and_a_missing_contact_render_as_empty_text(api: Api) -> None:
    template = "Repeat: {{ record.name }} {{ record.amount }}|Hi {{ contact.first_name }}|"
    api.post(
        "/automations",
        {"name": "Repeat", "definition": _on_new_deal(_create_lead(template)), "publish": True},
    )
    deal = api.post("/deals", {"name": "No amount"})
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)

    (run,) = api.get(f"/runs?record={deal['id']}")["items"]
    assert api.get(f"/runs/{run['id']}")["status"] == "completed"
    assert _lead_names(api) == ["Repeat: No amount |Hi |"]


def test_default_gives_a_fallback_for_an_empty_field(api: Api) -> None:
    template = (
        'Call {{ contact.first_name | default("there") }}'
        ' about {{ record.amount | default("an unknown amount") }}'
    )
    api.post(
        "/automations",
        {"name": "Call", "definition": _on_new_deal(_create_lead(template)), "publish": True},
    )
    nameless = api.post("/contacts", {"fields": {"email": "who@x.example"}})
    api.post("/deals", {"name": "A", "associations": {"contact": [nameless["id"]]}})
    ann = api.post("/contacts", {"fields": {"first_name": "Ann"}})
    api.post(
        "/deals", {"name": "B", "fields": {"amount": 5}, "associations": {"contact": [ann["id"]]}}
    )
    api.post("/deals", {"name": "C"})
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)

    assert sorted(_lead_names(api)) == [
        "Call Ann about 5",
        "Call there about an unknown amount",
        "Call there about an unknown amount",
    ]


def test_an_unknown_field_is_still_refused_when_saved(api: Api) -> None:
    response = api.post(
        "/automations",
        {
            "name": "Typo",
            "definition": _on_new_deal(_create_lead("Hi {{ contact.frist_name }}")),
            "publish": True,
        },
        expect=422,
    )
    assert "contact has no field 'frist_name'" in str(response)
