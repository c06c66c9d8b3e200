"""Workspaces, users and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.bulk import insert_many
from stageflow.domain.users import Principal, Role, parse_permissions
from stageflow.domain.workspaces import Workspace


class WorkspaceRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, workspace: Workspace) -> Workspace:
        workspace.id = self.conn.execute(
            insert(t.workspaces)
            .values(
                name=workspace.name,
                slug=workspace.slug,
                settings=workspace.settings,
                created_at=workspace.created_at,
            )
            .returning(t.workspaces.c.id)
        ).scalar_one()
        return workspace

    def get(self, workspace_id: int, *, for_update: bool = False) -> Workspace | None:
        """The workspace; ``for_update`` holds its row until commit (PostgreSQL; SQLite has
        one writer anyway), so read-change-write of its settings take turns."""
        query = select(t.workspaces).where(t.workspaces.c.id == workspace_id)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return _workspace(row) if row else None

    def get_by_slug(self, slug: str) -> Workspace | None:
        row = self.conn.execute(select(t.workspaces).where(t.workspaces.c.slug == slug)).first()
        return _workspace(row) if row else None

    def list(self) -> list[Workspace]:
        rows = self.conn.execute(select(t.workspaces).order_by(t.workspaces.c.id))
        return [_workspace(r) for r in rows]

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.workspaces)).scalar_one())

    def update_settings(self, workspace_id: int, settings: dict[str, Any]) -> None:
        self.conn.execute(
            update(t.workspaces).where(t.workspaces.c.id == workspace_id).values(settings=settings)
        )

    def secret(self, workspace_id: int, name: str) -> str | None:
        """A sealed secret (see adapters/crypto), or None."""
        s = t.workspace_secrets.c
        value = self.conn.execute(
            select(s.sealed).where(s.workspace_id == workspace_id, s.name == name)
        ).scalar()
        return None if value is None else str(value)

    def keep_secret(self, workspace_id: int, name: str, sealed: str, now: datetime) -> str:
        """Store ``sealed`` unless the secret exists already; returns the stored one (two
        processes making a secret at once end up with the same)."""
        insert_many(
            self.conn,
            t.workspace_secrets,
            [(workspace_id, name, sealed, now)],
            columns=("workspace_id", "name", "sealed", "updated_at"),
            skip_conflicts=True,
        )
        stored = self.secret(workspace_id, name)
        assert stored is not None
        return stored

    def set_secret(self, workspace_id: int, name: str, sealed: str, now: datetime) -> None:
        s = t.workspace_secrets.c
        changed = self.conn.execute(
            update(t.workspace_secrets)
            .where(s.workspace_id == workspace_id, s.name == name)
            .values(sealed=sealed, updated_at=now)
        ).rowcount
        if not changed:
            self.conn.execute(
                insert(t.workspace_secrets).values(
                    workspace_id=workspace_id, name=name, sealed=sealed, updated_at=now
                )
            )


def _workspace(row: Any) -> Workspace:
    return Workspace(
        id=row.id,
        name=row.name,
        slug=row.slug,
        settings=dict(row.settings),
        created_at=row.created_at,
    )


class UserRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        workspace_id: int,
        *,
        email: str,
        name: str,
        role: Role,
        permissions: list[str],
        password_hash: str | None,
        created_at: datetime,
        must_change_password: bool = False,
    ) -> int:
        return int(
            self.conn.execute(
                insert(t.users)
                .values(
                    workspace_id=workspace_id,
                    email=email,
                    name=name,
                    role=role.value,
                    permissions=permissions,
                    password_hash=password_hash,
                    must_change_password=must_change_password,
                    active=True,
                    created_at=created_at,
                )
                .returning(t.users.c.id)
            ).scalar_one()
        )

    def get(self, workspace_id: int, user_id: int) -> Any | None:
        return self.conn.execute(
            select(t.users).where(t.users.c.workspace_id == workspace_id, t.users.c.id == user_id)
        ).first()

    def get_by_email(self, workspace_id: int, email: str) -> Any | None:
        return self.conn.execute(
            select(t.users).where(
                t.users.c.workspace_id == workspace_id, func.lower(t.users.c.email) == email.lower()
            )
        ).first()

    def list(self, workspace_id: int) -> list[Any]:
        return list(
            self.conn.execute(
                select(t.users).where(t.users.c.workspace_id == workspace_id).order_by(t.users.c.id)
            )
        )

    def ids(self, workspace_id: int) -> set[int]:
        return set(
            self.conn.execute(
                select(t.users.c.id).where(
                    t.users.c.workspace_id == workspace_id, t.users.c.active.is_(True)
                )
            ).scalars()
        )

    def update(self, workspace_id: int, user_id: int, values: dict[str, Any]) -> None:
        self.conn.execute(
            update(t.users)
            .where(t.users.c.workspace_id == workspace_id, t.users.c.id == user_id)
            .values(**values)
        )


class TokenRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        workspace_id: int,
        user_id: int,
        *,
        name: str,
        token_hash: str,
        prefix: str,
        created_at: datetime,
    ) -> int:
        return int(
            self.conn.execute(
                insert(t.api_tokens)
                .values(
                    workspace_id=workspace_id,
                    user_id=user_id,
                    name=name,
                    token_hash=token_hash,
                    prefix=prefix,
                    created_at=created_at,
                )
                .returning(t.api_tokens.c.id)
            ).scalar_one()
        )

    def principal_for(self, token_hash: str) -> Principal | None:
        """The active user behind a live token, or None."""
        row = self.conn.execute(
            select(
                t.api_tokens.c.id,
                t.users.c.id.label("user_id"),
                t.users.c.workspace_id,
                t.users.c.role,
                t.users.c.permissions,
            )
            .join(t.users, t.users.c.id == t.api_tokens.c.user_id)
            .where(
                t.api_tokens.c.token_hash == token_hash,
                t.api_tokens.c.revoked_at.is_(None),
                t.users.c.active.is_(True),
            )
        ).first()
        if row is None:
            return None
        return Principal(
            workspace_id=row.workspace_id,
            user_id=row.user_id,
            role=Role(row.role),
            extra_permissions=parse_permissions(list(row.permissions)),
            token_id=row.id,
        )

    def list(self, workspace_id: int) -> list[Any]:
        return list(
            self.conn.execute(
                select(t.api_tokens)
                .where(t.api_tokens.c.workspace_id == workspace_id)
                .order_by(t.api_tokens.c.id)
            )
        )

    def get(self, workspace_id: int, token_id: int) -> Any | None:
        return self.conn.execute(
            select(t.api_tokens).where(
                t.api_tokens.c.workspace_id == workspace_id, t.api_tokens.c.id == token_id
            )
        ).first()

    def revoke(self, workspace_id: int, token_id: int, at: datetime) -> None:
        self.conn.execute(
            update(t.api_tokens)
            .where(t.api_tokens.c.workspace_id == workspace_id, t.api_tokens.c.id == token_id)
            .values(revoked_at=at)
        )
