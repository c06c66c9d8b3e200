"""Users, roles and named permissions (SPEC M1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from stageflow.domain.errors import PermissionDenied


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"


class Permission(StrEnum):
    """Named permissions. Roles grant a set; a user may be granted more."""

    RECORDS_READ_ALL = "records.read_all"
    RECORDS_EDIT_ALL = "records.edit_all"
    RECORDS_DELETE = "records.delete"
    PIPELINES_EDIT = "pipelines.edit"
    FIELDS_EDIT = "fields.edit"
    PICKLISTS_EDIT = "picklists.edit"
    USERS_MANAGE = "users.manage"
    TOKENS_MANAGE = "tokens.manage"
    AUTOMATIONS_EDIT = "automations.edit"
    LEAD_AUTOMATION_EDIT = "lead_automation.edit"
    OPPORTUNITY_STATES_EDIT = "opportunity_states.edit"
    LIFECYCLE_EDIT = "lifecycle.edit"
    WORKSPACE_SETTINGS = "workspace.settings"


ALL_PERMISSIONS: frozenset[Permission] = frozenset(Permission)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: ALL_PERMISSIONS,
    Role.ADMIN: ALL_PERMISSIONS,
    Role.MANAGER: frozenset(
        {
            Permission.RECORDS_READ_ALL,
            Permission.RECORDS_EDIT_ALL,
            Permission.RECORDS_DELETE,
            Permission.AUTOMATIONS_EDIT,
        }
    ),
    Role.AGENT: frozenset(),
}


def parse_permissions(names: list[str]) -> frozenset[Permission]:
    """Turn permission names into permissions; an unknown name is an error naming it."""
    from stageflow.domain.errors import ValidationFailed

    result: set[Permission] = set()
    for name in names:
        try:
            result.add(Permission(name))
        except ValueError:
            known = ", ".join(sorted(p.value for p in Permission))
            raise ValidationFailed(
                f"unknown permission '{name}' (known: {known})", field="permissions"
            ) from None
    return frozenset(result)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user of one workspace, possibly acting through a token."""

    workspace_id: int
    user_id: int
    role: Role
    extra_permissions: frozenset[Permission] = field(default_factory=frozenset)
    token_id: int | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role] | self.extra_permissions

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if not self.has(permission):
            raise PermissionDenied(
                f"this action needs the '{permission.value}' permission "
                f"(your role is '{self.role.value}')"
            )

    def can_see_owner(self, owner_id: int | None) -> bool:
        """Agents see their own records (and unowned ones); others see all."""
        return self.has(Permission.RECORDS_READ_ALL) or owner_id in (None, self.user_id)

    def can_edit_owner(self, owner_id: int | None) -> bool:
        return self.has(Permission.RECORDS_EDIT_ALL) or owner_id in (None, self.user_id)
