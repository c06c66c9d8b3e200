"""assign_owner: round robin, least loaded, and assignment criteria (SPEC E3)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


def _team(api: Api, *names: str) -> list[int]:
    return [
        api.post("/users", {"email": f"{n.lower()}@acme.example", "name": n, "role": "agent"})["id"]
        for n in names
    ]


def _assign_rule(**settings: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "record_created", "object_type": "lead"},
        "steps": [
            {"id": "assign", "type": "action", "action": "assign_owner", "settings": settings}
        ],
    }


def _leads(api: Api, n: int, **body: Any) -> list[dict[str, Any]]:
    made = [api.post("/leads", {"name": f"Lead {i}", **body}) for i in range(n)]
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    return [api.get(f"/leads/{lead['id']}") for lead in made]


def test_round_robin_takes_turns(api: Api) -> None:
    ann, bob, cy = _team(api, "Ann", "Bob", "Cy")
    api.post(
        "/automations",
        {
            "name": "Spread",
            "definition": _assign_rule(strategy="round_robin", users=[ann, bob, cy]),
            "publish": True,
        },
    )
    leads = _leads(api, 7)
    assert [lead["owner_id"] for lead in leads] == [ann, bob, cy, ann, bob, cy, ann]


def test_least_loaded_picks_who_holds_fewest_open_records(api: Api) -> None:
    ann, bob = _team(api, "Ann", "Bob")
    for i in range(2):
        api.post("/leads", {"name": f"Ann's {i}", "owner_id": ann})
    api.post("/leads", {"name": "Bob's", "owner_id": bob})
    api.post(
        "/automations",
        {
            "name": "Balance",
            "definition": _assign_rule(strategy="least_loaded", users=[ann, bob]),
            "publish": True,
        },
    )
    leads = _leads(api, 3)
    # Bob has 1 open and Ann 2: Bob; then 2 and 2: Ann (listed first); then Ann 3, Bob 2: Bob
    assert [lead["owner_id"] for lead in leads] == [bob, ann, bob]


def test_criteria_assign_by_the_records_fields_into_a_user_field(api: Api) -> None:
    north, south, fallback = _team(api, "North", "South", "Desk")
    api.post("/fields/lead", {"key": "region", "type": "text"})
    api.post("/fields/lead", {"key": "installer", "type": "user"})
    api.post(
        "/automations",
        {
            "name": "Installers",
            "definition": _assign_rule(
                strategy="criteria",
                target="installer",
                criteria=[
                    {
                        "condition": {"field": "region", "op": "eq", "value": "north"},
                        "user_id": north,
                    },
                    {
                        "condition": {
                            "any": [
                                {"field": "region", "op": "eq", "value": "south"},
                                {"field": "source", "op": "eq", "value": "partner"},
                            ]
                        },
                        "user_id": south,
                    },
                ],
                fallback_user_id=fallback,
            ),
            "publish": True,
        },
    )
    made = {
        "n": api.post("/leads", {"name": "N", "fields": {"region": "north"}}),
        "s": api.post("/leads", {"name": "S", "fields": {"region": "south"}}),
        "p": api.post("/leads", {"name": "P", "source": "partner"}),
        "x": api.post("/leads", {"name": "X", "fields": {"region": "east"}}),
    }
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    installers = {
        k: api.get(f"/leads/{v['id']}")["fields"].get("installer") for k, v in made.items()
    }
    assert installers == {"n": north, "s": south, "p": south, "x": fallback}
    (run,) = api.get(f"/runs?record={made['x']['id']}")["items"]
    step = api.get(f"/runs/{run['id']}")["steps"][-1]
    assert step["output"]["reason"] == "no criterion holds: the fallback user"


def test_only_if_empty_keeps_an_existing_owner(api: Api) -> None:
    ann, bob = _team(api, "Ann", "Bob")
    api.post(
        "/automations",
        {
            "name": "Spread",
            "definition": _assign_rule(strategy="round_robin", users=[ann], only_if_empty=True),
            "publish": True,
        },
    )
    lead = api.post("/leads", {"name": "Kept", "owner_id": bob})
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    assert api.get(f"/leads/{lead['id']}")["owner_id"] == bob


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"strategy": "criteria"}, "needs assignment criteria"),
        ({"strategy": "round_robin"}, "needs the users"),
        ({"strategy": "round_robin", "users": [999_999]}, "no user 999999"),
        (
            {
                "strategy": "criteria",
                "criteria": [
                    {"condition": {"field": "colour", "op": "eq", "value": 1}, "user_id": 1}
                ],
            },
            "no field 'colour'",
        ),
        ({"strategy": "least_loaded", "users": [], "target": "amount"}, "needs the users"),
    ],
)
def test_assignment_settings_are_checked_on_save(
    api: Api, settings: dict[str, Any], words: str
) -> None:
    error = api.post(
        "/automations",
        {"name": "Bad", "definition": _assign_rule(**settings), "publish": True},
        expect=422,
    )
    assert words in error["message"]


def test_target_must_be_owner_or_a_user_field(api: Api) -> None:
    (ann,) = _team(api, "Ann")
    error = api.post(
        "/automations",
        {
            "name": "Bad",
            "definition": _assign_rule(strategy="round_robin", users=[ann], target="name"),
            "publish": True,
        },
        expect=422,
    )
    assert "neither 'owner' nor a user or company field" in error["message"]


def _opportunity_rule(**settings: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "record_created", "object_type": "opportunity"},
        "steps": [
            {"id": "assign", "type": "action", "action": "assign_owner", "settings": settings}
        ],
    }


def test_installer_company_is_assigned_by_criteria(api: Api) -> None:
    """SPEC E3: the installer company of an opportunity, by assignment criteria."""
    north = api.post("/companies", {"name": "Nord Installa"})["id"]
    south = api.post("/companies", {"name": "Sud Impianti"})["id"]
    api.post("/fields/opportunity", {"key": "region", "type": "text"})
    api.post("/fields/opportunity", {"key": "installer_company", "type": "company"})
    api.post(
        "/automations",
        {
            "name": "Installer company",
            "definition": _opportunity_rule(
                strategy="criteria",
                target="installer_company",
                criteria=[
                    {
                        "condition": {"field": "region", "op": "eq", "value": "north"},
                        "company_id": north,
                    }
                ],
                fallback_company_id=south,
            ),
            "publish": True,
        },
    )
    made = {
        region: api.post("/opportunities", {"name": region, "fields": {"region": region}})
        for region in ("north", "east")
    }
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    got = {
        region: api.get(f"/opportunities/{o['id']}")["fields"].get("installer_company")
        for region, o in made.items()
    }
    assert got == {"north": north, "east": south}


def test_sales_companies_take_turns(api: Api) -> None:
    a = api.post("/companies", {"name": "Alpha Sales"})["id"]
    b = api.post("/companies", {"name": "Beta Sales"})["id"]
    api.post("/fields/opportunity", {"key": "sales_company", "type": "company"})
    api.post(
        "/automations",
        {
            "name": "Sales company",
            "definition": _opportunity_rule(
                strategy="round_robin", target="sales_company", companies=[a, b]
            ),
            "publish": True,
        },
    )
    made = [api.post("/opportunities", {"name": f"O{i}"}) for i in range(3)]
    api.post("/admin/clock/advance", {"by": "PT0S"}, expect=200)
    assert [api.get(f"/opportunities/{o['id']}")["fields"]["sales_company"] for o in made] == [
        a,
        b,
        a,
    ]


def test_company_assignment_is_checked_on_save(api: Api) -> None:
    (ann,) = _team(api, "Ann")
    deal = api.post("/deals", {"name": "Not a company"})
    api.post("/fields/opportunity", {"key": "installer_company", "type": "company"})
    for settings, words in (
        (
            {"strategy": "round_robin", "target": "installer_company", "companies": [deal["id"]]},
            f"no company {deal['id']}",
        ),
        (
            {"strategy": "round_robin", "target": "installer_company", "users": [ann]},
            "assign companies (company_id), not users",
        ),
        ({"strategy": "round_robin", "target": "installer_company"}, "needs the companies"),
        (
            {"strategy": "round_robin", "target": "owner", "users": [ann], "companies": [1]},
            "is not one",
        ),
    ):
        error = api.post(
            "/automations",
            {"name": "Bad", "definition": _opportunity_rule(**settings), "publish": True},
            expect=422,
        )
        assert words in error["message"], (settings, error)
    # A company field takes only companies of the workspace, on any write.
    opp = api.post("/opportunities", {"name": "O"})
    error = api.patch(
        f"/opportunities/{opp['id']}", {"fields": {"installer_company": deal["id"]}}, expect=422
    )
    assert "must be the id of a company" in error["message"]
