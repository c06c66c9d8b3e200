"""Privilege edges (issue 16, item 3), over the whole matrix — every role x extra
permissions x target role x operation, generated: nobody acts on the tokens or permissions
of a user above their own role, nobody grants what they do not hold, and the last owner
stays an owner. Each case runs in its own transaction, rolled back."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from stageflow.bootstrap import App
from stageflow.domain.errors import Conflict, PermissionDenied
from stageflow.domain.events import Actor
from stageflow.domain.users import ROLE_PERMISSIONS, Permission, Principal, Role
from stageflow.services.commands import CreateToken, CreateUser, UpdateUser
from stageflow.services.crm import workspaces
from tests.conftest import Tenant

RANK = {Role.AGENT: 0, Role.MANAGER: 1, Role.ADMIN: 2, Role.OWNER: 3}
EXTRAS: list[frozenset[Permission]] = [
    frozenset(),
    frozenset({Permission.USERS_MANAGE}),
    frozenset({Permission.TOKENS_MANAGE}),
    frozenset({Permission.USERS_MANAGE, Permission.TOKENS_MANAGE}),
]


@dataclass(frozen=True)
class Case:
    actor_role: Role
    actor_extra: frozenset[Permission]
    target: Role | None  # None: the actor acts on itself
    operation: str  # "revoke", "deactivate", "role:<role>", "grant:<permission>"

    def __str__(self) -> str:
        extra = "+".join(sorted(p.value for p in self.actor_extra)) or "-"
        target = self.target.value if self.target else "self"
        return f"{self.actor_role.value}[{extra}]->{target}:{self.operation}"


def _cases() -> Iterator[Case]:
    operations = [
        "revoke",
        "deactivate",
        *(f"role:{r.value}" for r in Role),
        *(f"grant:{p.value}" for p in Permission),
    ]
    targets: list[Role | None] = [None, *Role]
    for role, extra, target, operation in itertools.product(Role, EXTRAS, targets, operations):
        yield Case(role, extra, target, operation)


def expected(case: Case) -> bool:
    """The rule, stated on its own: may the actor do it?"""
    held = ROLE_PERMISSIONS[case.actor_role] | case.actor_extra
    target = case.target or case.actor_role
    target_perms = ROLE_PERMISSIONS[target] | (case.actor_extra if case.target is None else set())
    if case.operation == "revoke":
        if case.target is None:
            return True  # your own token
        return Permission.TOKENS_MANAGE in held and RANK[target] <= RANK[case.actor_role]
    if Permission.USERS_MANAGE not in held or RANK[target] > RANK[case.actor_role]:
        return False
    if target is Role.OWNER and case.actor_role is not Role.OWNER:
        return False
    if case.operation == "deactivate":
        return True  # another owner keeps the workspace (the tenant's own owner)
    kind, _, value = case.operation.partition(":")
    if kind == "role":
        new = Role(value)
        if RANK[new] > RANK[case.actor_role]:
            return False
        if Role.OWNER in (new, target) and case.actor_role is not Role.OWNER:
            return False
        extra = case.actor_extra if case.target is None else frozenset()
        gained = (ROLE_PERMISSIONS[new] | extra) - target_perms
        return gained <= held
    permission = Permission(value)
    return permission in target_perms or permission in held


@pytest.fixture
def owner(tenant: Tenant) -> Principal:
    return tenant.owner


def _attempt(app: App, owner: Principal, case: Case) -> bool:
    actor = Actor.system()
    with app.uow() as uow:
        actor_id = workspaces.create_user(
            uow,
            owner.workspace_id,
            CreateUser(
                email="actor@example.com",
                name="Actor",
                role=case.actor_role,
                permissions=[p.value for p in case.actor_extra],
            ),
            actor,
        )
        principal = Principal(owner.workspace_id, actor_id, case.actor_role, case.actor_extra)
        if case.target is None:
            target_id = actor_id
        else:
            target_id = workspaces.create_user(
                uow,
                owner.workspace_id,
                CreateUser(email="target@example.com", name="Target", role=case.target),
                actor,
            )
        try:
            if case.operation == "revoke":
                workspaces.create_token(
                    uow, owner.workspace_id, target_id, CreateToken(name="t"), actor
                )
                token = max(t.id for t in uow.tokens.list(owner.workspace_id))
                workspaces.revoke_token(uow, principal, token, actor)
            else:
                kind, _, value = case.operation.partition(":")
                if kind == "deactivate":
                    cmd = UpdateUser(active=False)
                elif kind == "role":
                    cmd = UpdateUser(role=Role(value))
                else:
                    held = [p.value for p in (case.actor_extra if case.target is None else ())]
                    cmd = UpdateUser(permissions=[*held, value])
                workspaces.update_user(uow, principal, target_id, cmd, actor)
            return True
        except PermissionDenied:
            return False
        finally:
            uow.rollback()


def test_the_whole_privilege_matrix(app: App, owner: Principal) -> None:
    cases = list(_cases())
    assert len(cases) == 4 * 4 * 5 * (2 + len(Role) + len(Permission))
    wrong = [
        f"{case}: {'allowed' if got else 'refused'}, expected the opposite"
        for case in cases
        if (got := _attempt(app, owner, case)) != expected(case)
    ]
    assert not wrong, f"{len(wrong)} of {len(cases)} cases wrong:\n" + "\n".join(wrong[:40])


def test_the_last_owner_cannot_be_demoted_or_deactivated(app: App, owner: Principal) -> None:
    actor = Actor.system()
    for cmd in (UpdateUser(role=Role.ADMIN), UpdateUser(active=False)):
        with app.uow() as uow, pytest.raises(Conflict, match="only owner"):
            workspaces.update_user(uow, owner, owner.user_id, cmd, actor)
    with app.uow() as uow:
        second = workspaces.create_user(
            uow,
            owner.workspace_id,
            CreateUser(email="second@example.com", name="Second", role=Role.OWNER),
            actor,
        )
        uow.commit()
    with app.uow() as uow:  # with a second owner, the first may step down
        workspaces.update_user(uow, owner, owner.user_id, UpdateUser(role=Role.ADMIN), actor)
        uow.commit()
    second_owner = Principal(owner.workspace_id, second, Role.OWNER)
    with app.uow() as uow, pytest.raises(Conflict, match="only owner"):
        workspaces.update_user(uow, second_owner, second, UpdateUser(active=False), actor)
