"""What conditions and templates see of a record: flat values (``amount``, ``contact.email``)
for the filter language, nested ones (``record.amount``) for templates."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from stageflow.domain.records import Record
from stageflow.services.unit_of_work import UnitOfWork


def record_dict(uow: UnitOfWork, record: Record, *, associations: bool = True) -> dict[str, Any]:
    """A record as templates see it: core attributes, fields and association ids."""
    values: dict[str, Any] = {
        "id": record.id,
        "object": record.object_type.value,
        "name": record.name,
        "owner_id": record.owner_id,
        "source": record.source,
        "pipeline_id": record.pipeline_id,
        "stage_id": record.stage_id,
        "lifecycle_stage_id": record.lifecycle_stage_id,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "stage_entered_at": record.stage_entered_at.isoformat()
        if record.stage_entered_at
        else None,
        **record.fields,
    }
    if associations and record.id is not None:
        values["associations"] = uow.records.associations([record.id])[record.id]
    return values


def related(
    uow: UnitOfWork, record: Record, associations: dict[str, list[int]]
) -> dict[str, dict[str, Any]]:
    """The first associated contact and company, and the owner."""
    result: dict[str, dict[str, Any]] = {}
    for kind in ("contact", "company"):
        ids = associations.get(kind, [])
        other = uow.records.get(record.workspace_id, ids[0]) if ids else None
        result[kind] = record_dict(uow, other, associations=False) if other else {}
    owner = uow.users.get(record.workspace_id, record.owner_id) if record.owner_id else None
    result["owner"] = {"id": owner.id, "name": owner.name, "email": owner.email} if owner else {}
    return result


def flat_values(
    record: dict[str, Any],
    related_values: dict[str, dict[str, Any]] | None,
) -> dict[str, Any]:
    """Flatten for the filter language: record fields bare, related ones prefixed."""
    values = {k: v for k, v in record.items() if k != "associations"}
    for prefix, other in (related_values or {}).items():
        for key, value in other.items():
            values[f"{prefix}.{key}"] = value
    return values


class RecordValues(Mapping[str, Any]):
    """A record's flat values; the contact, company and owner are loaded only if asked for."""

    def __init__(self, uow: UnitOfWork, record: Record) -> None:
        self.uow, self.record = uow, record
        self._own = record_dict(uow, record, associations=False)
        self._all: dict[str, Any] | None = None

    def _related(self) -> dict[str, Any]:
        if self._all is None:
            base = record_dict(self.uow, self.record)
            self._all = flat_values(base, related(self.uow, self.record, base["associations"]))
        return self._all

    def __getitem__(self, key: str) -> Any:
        if key in self._own:
            return self._own[key]
        if key.startswith(("contact.", "company.", "owner.")):
            return self._related()[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._related())

    def __len__(self) -> int:
        return len(self._related())
