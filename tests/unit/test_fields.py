"""Field validation: every type accepts good values and names the field on bad ones."""

from __future__ import annotations

from typing import Any

import pytest

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.fields import FieldContext, FieldDef, FieldType, coerce, validate_key

CTX = FieldContext(
    picklist_options={"lead_status": ["new", "open"]}, user_exists=lambda user_id: user_id in {1, 2}
)


@pytest.mark.parametrize(
    ("type_", "value", "stored"),
    [
        (FieldType.TEXT, "hello", "hello"),
        (FieldType.NUMBER, 3, 3),
        (FieldType.NUMBER, 2.5, 2.5),
        (FieldType.DATE, "2026-05-01", "2026-05-01"),
        (FieldType.DATETIME, "2026-05-01T14:00:00+02:00", "2026-05-01T12:00:00+00:00"),
        (FieldType.DATETIME, "2026-05-01T14:00:00Z", "2026-05-01T14:00:00+00:00"),
        (FieldType.BOOL, False, False),
        (FieldType.USER, 2, 2),
    ],
)
def test_good_values_are_stored_normalised(type_: FieldType, value: Any, stored: Any) -> None:
    assert coerce(FieldDef(key="f", type=type_), value, CTX, "fields.f") == stored


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (FieldType.TEXT, 5),
        (FieldType.TEXT, "x" * 10_001),
        (FieldType.NUMBER, "5"),
        (FieldType.NUMBER, True),
        (FieldType.NUMBER, float("nan")),
        (FieldType.DATE, "01/05/2026"),
        (FieldType.DATE, 20260501),
        (FieldType.DATETIME, "2026-05-01T14:00:00"),
        (FieldType.DATETIME, "tomorrow"),
        (FieldType.BOOL, "yes"),
        (FieldType.USER, 99),
        (FieldType.USER, True),
    ],
)
def test_bad_values_name_the_field(type_: FieldType, value: Any) -> None:
    with pytest.raises(ValidationFailed) as error:
        coerce(FieldDef(key="f", type=type_), value, CTX, "fields.f")
    assert error.value.field == "fields.f"


def test_picklists_use_workspace_options_for_builtins_and_own_for_custom() -> None:
    status = FieldDef(key="status", type=FieldType.PICKLIST, picklist="lead_status")
    assert coerce(status, "open", CTX, "fields.status") == "open"
    with pytest.raises(ValidationFailed, match="new, open"):
        coerce(status, "closed", CTX, "fields.status")
    region = FieldDef(key="region", type=FieldType.PICKLIST, options=("north", "south"))
    assert coerce(region, "south", CTX, "fields.region") == "south"
    with pytest.raises(ValidationFailed):
        coerce(region, "east", CTX, "fields.region")


def test_required_field_cannot_be_cleared() -> None:
    with pytest.raises(ValidationFailed, match="required"):
        coerce(FieldDef(key="f", type=FieldType.TEXT, required=True), None, CTX, "fields.f")
    assert coerce(FieldDef(key="f", type=FieldType.TEXT), None, CTX, "fields.f") is None


@pytest.mark.parametrize("key", ["Region", "1st", "a-b", "", "x" * 64])
def test_bad_custom_field_keys(key: str) -> None:
    with pytest.raises(ValidationFailed):
        validate_key(key)
