"""Records and their associations."""

from __future__ import annotations

import builtins
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.bulk import update_many
from stageflow.adapters.db.repositories.paging import newest_first
from stageflow.domain.errors import StaleVersion
from stageflow.domain.records import ObjectType, Record


class RecordRepository:
    """Records. With ``identity_map`` on (the worker's batches), each record is loaded once
    per transaction and every reader shares the one object that writes go through."""

    def __init__(self, conn: Connection, *, identity_map: bool = False) -> None:
        self.conn = conn
        self._identity: dict[int, Record] | None = {} if identity_map else None
        # With the identity map, saves are written together by flush(): id -> the version
        # the database holds (what the UPDATE's optimistic check compares against).
        self._dirty: dict[int, int] = {}

    def add(self, record: Record) -> Record:
        record.id = self.conn.execute(
            insert(t.records).values(_values(record)).returning(t.records.c.id)
        ).scalar_one()
        for event in record.events:
            event.record_id = record.id
        if self._identity is not None:
            self._identity[record.id] = record
        return record

    def get(
        self, workspace_id: int, record_id: int, object_type: ObjectType | None = None
    ) -> Record | None:
        if self._identity is not None and record_id in self._identity:
            known = self._identity[record_id]
            if known.workspace_id != workspace_id or (
                object_type is not None and known.object_type is not object_type
            ):
                return None
            return known
        query = select(t.records).where(
            t.records.c.workspace_id == workspace_id, t.records.c.id == record_id
        )
        if object_type is not None:
            query = query.where(t.records.c.object_type == object_type.value)
        row = self.conn.execute(query).first()
        record = _record(row) if row else None
        if record is not None and self._identity is not None:
            self._identity[record_id] = record
        return record

    def preload(self, record_ids: builtins.list[int]) -> None:
        """Load many records in one query into the identity map."""
        if self._identity is None:
            return
        wanted = [i for i in set(record_ids) if i not in self._identity]
        if wanted:
            for row in self.conn.execute(select(t.records).where(t.records.c.id.in_(wanted))):
                record = _record(row)
                assert record.id is not None
                self._identity[record.id] = record

    def get_many(self, workspace_id: int, record_ids: set[int]) -> dict[int, Record]:
        """The workspace's records of ``record_ids`` that exist, by id (500 per query)."""
        found: dict[int, Record] = {}
        wanted = sorted(record_ids)
        for start in range(0, len(wanted), 500):
            query = select(t.records).where(
                t.records.c.workspace_id == workspace_id,
                t.records.c.id.in_(wanted[start : start + 500]),
            )
            for row in self.conn.execute(query):
                record = _record(row)
                assert record.id is not None
                found[record.id] = record
        return found

    def forget(self) -> None:
        """Drop the identity map and unwritten saves (after a rollback to a savepoint taken
        when nothing was unwritten, they may be ahead of the database)."""
        if self._identity is not None:
            self._identity.clear()
        self._dirty.clear()

    def flush(self) -> None:
        """Write the saved records in one statement; StaleVersion if any changed meanwhile."""
        if not self._dirty or self._identity is None:
            return
        rows = [
            {**_changeable(self._identity[i]), "_id": i, "_read_version": v}
            for i, v in self._dirty.items()
        ]
        changed = update_many(
            self.conn, t.records, rows, where={"_id": "id", "_read_version": "version"}
        )
        if changed not in (len(rows), -1):
            raise StaleVersion("a record was changed by someone else; read it again and retry")
        self._dirty.clear()

    def save(self, record: Record, read_version: int) -> None:
        """Write a changed record; fails with StaleVersion if someone wrote it meanwhile."""
        if self._identity is not None and self._identity.get(record.id or 0) is record:
            assert record.id is not None
            self._dirty.setdefault(record.id, read_version)
            return
        result = self.conn.execute(
            _SAVE, {**_changeable(record), "_id": record.id, "_read_version": read_version}
        )
        if result.rowcount != 1:
            raise StaleVersion(
                f"{record.object_type.value} {record.id} was changed by someone else "
                f"(you had version {read_version}); read it again and retry",
                field="version",
            )

    def delete(self, record: Record) -> None:
        """Delete the record as read: StaleVersion if someone changed or deleted it since."""
        self.flush()
        result = self.conn.execute(
            delete(t.records).where(
                t.records.c.id == record.id, t.records.c.version == record.version
            )
        )
        if result.rowcount != 1:
            raise StaleVersion(
                f"{record.object_type.value} {record.id} was changed or deleted by someone "
                "else; read it again",
                field="version",
            )
        if self._identity is not None and record.id is not None:
            self._identity.pop(record.id, None)

    def lock(self, record: Record) -> None:
        """Hold the record's row until commit (PostgreSQL; SQLite has one writer anyway) and
        make sure it is still as read. Whatever reads the contact's stage or conversation to
        keep the dashboard counts takes this lock first, so such readers take turns."""
        if self.conn.dialect.name != "postgresql" or record.id is None:
            return
        version = self.conn.execute(
            select(t.records.c.version)
            .where(t.records.c.id == record.id)
            .with_for_update(key_share=True)
        ).scalar()
        if version is None or (version != record.version and record.id not in self._dirty):
            raise StaleVersion(
                f"{record.object_type.value} {record.id} was changed or deleted by someone "
                "else; read it again",
                field="version",
            )

    def locked_stage(self, record_id: int) -> tuple[bool, int | None]:
        """Lock a record's row (PostgreSQL) and read its lifecycle stage as it is now:
        (exists, stage id)."""
        query = select(t.records.c.lifecycle_stage_id).where(t.records.c.id == record_id)
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(key_share=True)
        row = self.conn.execute(query).first()
        if row is None:
            return False, None
        stage_id: int | None = row.lifecycle_stage_id
        if self._identity is not None and record_id in self._identity:
            self._identity[record_id].lifecycle_stage_id = stage_id
        return True, stage_id

    def list(
        self,
        workspace_id: int,
        object_type: ObjectType,
        *,
        where: list[ColumnElement[bool]],
        before_id: int | None,
        limit: int,
    ) -> list[Record]:
        self.flush()
        where = [t.records.c.object_type == object_type.value, *where]
        rows = newest_first(
            self.conn, t.records, workspace_id, where, before_id=before_id, limit=limit
        )
        return [_record(r) for r in rows]

    def object_types(self, workspace_id: int, ids: set[int]) -> dict[int, ObjectType]:
        """The object type of each id that exists in the workspace."""
        if not ids:
            return {}
        rows = self.conn.execute(
            select(t.records.c.id, t.records.c.object_type).where(
                t.records.c.workspace_id == workspace_id, t.records.c.id.in_(ids)
            )
        )
        return {r.id: ObjectType(r.object_type) for r in rows}

    def types_and_owners(
        self, workspace_id: int, ids: set[int]
    ) -> dict[int, tuple[ObjectType, int | None]]:
        """The object type and owner of each id that exists in the workspace."""
        if not ids:
            return {}
        c = t.records.c
        rows = self.conn.execute(
            select(c.id, c.object_type, c.owner_id).where(
                c.workspace_id == workspace_id, c.id.in_(ids)
            )
        )
        return {r.id: (ObjectType(r.object_type), r.owner_id) for r in rows}

    # associations -------------------------------------------------------------------------

    def associate(self, workspace_id: int, record_id: int, related_id: int) -> None:
        self.conn.execute(
            insert(t.associations).values(
                workspace_id=workspace_id, record_id=record_id, related_id=related_id
            )
        )

    def open_leads_of(self, workspace_id: int, contact_id: int) -> builtins.list[int]:
        """The leads linked to a contact that are in an open stage."""
        a, r, s = t.associations, t.records, t.stages
        return [
            int(i)
            for i in self.conn.execute(
                select(r.c.id)
                .join(a, a.c.record_id == r.c.id)
                .join(s, s.c.id == r.c.stage_id)
                .where(
                    a.c.related_id == contact_id,
                    r.c.workspace_id == workspace_id,
                    r.c.object_type == ObjectType.LEAD.value,
                    s.c.kind == "open",
                )
                .order_by(r.c.id)
            ).scalars()
        ]

    def dissociate(self, record_id: int, related_id: int) -> None:
        self.conn.execute(
            delete(t.associations).where(
                or_(
                    (t.associations.c.record_id == record_id)
                    & (t.associations.c.related_id == related_id),
                    (t.associations.c.record_id == related_id)
                    & (t.associations.c.related_id == record_id),
                )
            )
        )

    def open_load(
        self,
        workspace_id: int,
        object_type: str,
        user_ids: builtins.list[int],
        field: str | None = None,
    ) -> dict[int, int]:
        """How many open records (no stage, or an open stage) of a type each user holds, as
        owner or in a user ``field``. Saved records are written first, so assignments made
        earlier in this transaction count."""
        self.flush()
        r, s = t.records.c, t.stages.c
        holder = r.owner_id if field is None else r.fields[field].as_integer()
        rows = self.conn.execute(
            select(holder, func.count())
            .select_from(t.records.outerjoin(t.stages, s.id == r.stage_id))
            .where(
                r.workspace_id == workspace_id,
                r.object_type == object_type,
                holder.in_(user_ids),
                or_(r.stage_id.is_(None), s.kind == "open"),
            )
            .group_by(holder)
        )
        counts = dict.fromkeys(user_ids, 0)
        for user_id, n in rows:
            counts[int(user_id)] = int(n)
        return counts

    def substates(self, workspace_id: int, record_id: int) -> builtins.list[Any]:
        s = t.record_substates.c
        return builtins.list(
            self.conn.execute(
                select(t.record_substates)
                .where(s.workspace_id == workspace_id, s.record_id == record_id)
                .order_by(s.opened_at, s.substate)
            )
        )

    def substate(self, record_id: int, substate: str) -> Any | None:
        s = t.record_substates.c
        return self.conn.execute(
            select(t.record_substates).where(s.record_id == record_id, s.substate == substate)
        ).first()

    def open_substate(
        self, workspace_id: int, record_id: int, substate: str, now: datetime
    ) -> None:
        s = t.record_substates.c
        changed = self.conn.execute(
            update(t.record_substates)
            .where(s.record_id == record_id, s.substate == substate)
            .values(status="open", opened_at=now, closed_at=None)
        ).rowcount
        if not changed:
            self.conn.execute(
                insert(t.record_substates).values(
                    workspace_id=workspace_id,
                    record_id=record_id,
                    substate=substate,
                    status="open",
                    opened_at=now,
                )
            )

    def close_substate(self, record_id: int, substate: str, now: datetime) -> None:
        s = t.record_substates.c
        self.conn.execute(
            update(t.record_substates)
            .where(s.record_id == record_id, s.substate == substate)
            .values(status="closed", closed_at=now)
        )

    def next_turn(self, workspace_id: int, key: str) -> int:
        """Count one more turn of a rotation; returns the turns so far (1 the first time).
        One statement, so concurrent transactions on PostgreSQL queue on the row."""
        return int(
            self.conn.execute(
                text(
                    "INSERT INTO assignment_rotations (workspace_id, key, turns) "
                    "VALUES (:ws, :key, 1) ON CONFLICT (workspace_id, key) "
                    "DO UPDATE SET turns = assignment_rotations.turns + 1 RETURNING turns"
                ),
                {"ws": workspace_id, "key": key},
            ).scalar_one()
        )

    def associations(
        self, record_ids: builtins.list[int]
    ) -> dict[int, dict[str, builtins.list[int]]]:
        """For each record, its associated ids grouped by object type (both directions)."""
        result: dict[int, dict[str, builtins.list[int]]] = {
            rid: defaultdict(list) for rid in record_ids
        }
        if not record_ids:
            return result
        a, r = t.associations, t.records
        forward = (
            select(a.c.record_id.label("owner"), a.c.related_id.label("other"), r.c.object_type)
            .join(r, r.c.id == a.c.related_id)
            .where(a.c.record_id.in_(record_ids))
        )
        backward = (
            select(a.c.related_id.label("owner"), a.c.record_id.label("other"), r.c.object_type)
            .join(r, r.c.id == a.c.record_id)
            .where(a.c.related_id.in_(record_ids))
        )
        for row in self.conn.execute(forward.union_all(backward)):
            result[row.owner][row.object_type].append(row.other)
        return {rid: {k: sorted(v) for k, v in groups.items()} for rid, groups in result.items()}


_FIXED = frozenset({"id", "workspace_id", "object_type", "created_at"})  # never rewritten
_SAVE = (
    update(t.records)
    .where(t.records.c.id == bindparam("_id"), t.records.c.version == bindparam("_read_version"))
    .values({c.name: bindparam(c.name) for c in t.records.c if c.name not in _FIXED})
)


def _values(record: Record) -> dict[str, Any]:
    return {
        "workspace_id": record.workspace_id,
        "object_type": record.object_type.value,
        "created_at": record.created_at,
        **_changeable(record),
    }


def _changeable(record: Record) -> dict[str, Any]:
    """The columns a save writes (all but ``_FIXED``)."""
    return {
        "name": record.name,
        "owner_id": record.owner_id,
        "source": record.source,
        "pipeline_id": record.pipeline_id,
        "stage_id": record.stage_id,
        "stage_entered_at": record.stage_entered_at,
        "lifecycle_stage_id": record.lifecycle_stage_id,
        "fields": record.fields,
        "version": record.version,
        "updated_at": record.updated_at,
    }


# The records table's columns in order: rows are read by position (a SQLAlchemy Row's read
# by name fails a lookup and formats an AttributeError before finding the column, ~3,000
# instructions, and the worker reads every column of every record it touches).
RECORD_COLUMNS = (
    "id",
    "workspace_id",
    "object_type",
    "name",
    "owner_id",
    "source",
    "pipeline_id",
    "stage_id",
    "stage_entered_at",
    "lifecycle_stage_id",
    "fields",
    "version",
    "created_at",
    "updated_at",
)
_OBJECT_TYPES = {o.value: o for o in ObjectType}


def _record(row: Any) -> Record:
    """A record from a row of ``select(t.records)`` (its columns in RECORD_COLUMNS order)."""
    (
        id_,
        workspace_id,
        object_type,
        name,
        owner_id,
        source,
        pipeline_id,
        stage_id,
        stage_entered_at,
        lifecycle_stage_id,
        fields,
        version,
        created_at,
        updated_at,
    ) = row
    return Record(
        id=id_,
        workspace_id=workspace_id,
        object_type=_OBJECT_TYPES[object_type],
        name=name,
        owner_id=owner_id,
        source=source,
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        stage_entered_at=stage_entered_at,
        lifecycle_stage_id=lifecycle_stage_id,
        fields=dict(fields),
        version=version,
        created_at=created_at,
        updated_at=updated_at,
    )
