"""What automations may refer to by id or name, and how a reference is spelled.

A CRM change that deletes or renames such a thing asks first whether an active automation
refers to it (``services/crm/signals.reference_deleting``); action settings say which of their
values name one (``refers`` below), so one lookup finds them all.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class RefKind(StrEnum):
    """A kind of thing an automation can name; the key says which one."""

    STAGE = "stage"  # key: the stage id
    LIFECYCLE_STAGE = "lifecycle_stage"  # key: the lifecycle stage id
    PIPELINE = "pipeline"  # key: the pipeline id
    USER = "user"  # key: the user id
    FIELD = "field"  # key: "<object type>.<field key>", e.g. "deal.budget"
    PICKLIST_VALUE = "picklist_value"  # key: "<picklist>:<value>", e.g. "lead_type:repeat"
    EMAIL_TEMPLATE = "email_template"  # key: the template's name
    REPORT_TEMPLATE = "report_template"  # key: the template's name
    OPPORTUNITY_TYPE = "opportunity_type"  # key: the type's name
    SUBSTATE = "substate"  # key: "<type name>/<sub-state>"; "*/<sub-state>": of any type
    SEGMENT = "segment"  # key: the segment id

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


# Setting-level markers, for ``refers(...)``: not kinds of things, but how to read a setting.
FILTER = "filter"  # the setting is a filter: its fields and the values it compares with
FIELDS = "fields"  # the setting maps field keys to values (set_field, create_record)

ANY_TYPE = "*"


def field_key(object_type: str, key: str) -> str:
    return f"{object_type}.{key}"


def substate_key(opportunity_type: str | None, substate: str) -> str:
    return f"{opportunity_type or ANY_TYPE}/{substate}"


def refers(kind: str, *, object_type_from: str | None = None) -> dict[str, Any]:
    """``json_schema_extra`` for a setting that names a thing of ``kind`` (a ``RefKind`` value,
    ``FILTER`` or ``FIELDS``); ``object_type_from`` names the setting that says whose fields
    these are (default: the record's the automation runs on)."""
    extra: dict[str, Any] = {"refers": kind}
    if object_type_from is not None:
        extra["refers_object_type"] = object_type_from
    return extra
