"""A user's own password: the first one after a one-time password, and changing it (SQLite
and PostgreSQL)."""

from __future__ import annotations

import pytest

from stageflow.bootstrap import App
from stageflow.domain.errors import Conflict, ValidationFailed
from stageflow.domain.events import Actor, ActorKind, Source
from stageflow.domain.users import Principal, Role
from stageflow.services.commands import ChangePassword, CreateUser
from stageflow.services.crm import accounts, security, workspaces
from tests.conftest import Tenant

ACTOR = Actor(kind=ActorKind.SYSTEM, source=Source.SYSTEM)


def _add(app: App, tenant: Tenant, password: str, *, one_time: bool) -> Principal:
    with app.uow() as uow:
        user_id = workspaces.add_user(
            uow,
            tenant.owner,
            CreateUser(email="ann@example.com", name="Ann", password=password),
            ACTOR,
            one_time_password=one_time,
        )
        uow.commit()
    return Principal(workspace_id=tenant.id, user_id=user_id, role=Role.AGENT)


def _row(app: App, who: Principal):  # type: ignore[no-untyped-def]
    with app.uow(read_only=True) as uow:
        return uow.users.get(who.workspace_id, who.user_id)


def test_a_one_time_password_is_replaced_once_and_stops_working(app: App, tenant: Tenant) -> None:
    ann = _add(app, tenant, "one-time-secret", one_time=True)
    assert _row(app, ann).must_change_password is True
    with app.uow() as uow, pytest.raises(ValidationFailed) as short:
        accounts.choose_password(uow, ann, ChangePassword(new_password="short"), ACTOR)
    assert short.value.field == "new_password" and "at least 8" in short.value.message
    with app.uow() as uow, pytest.raises(ValidationFailed) as same:
        accounts.choose_password(uow, ann, ChangePassword(new_password="one-time-secret"), ACTOR)
    assert same.value.field == "new_password"

    with app.uow() as uow:
        accounts.choose_password(uow, ann, ChangePassword(new_password="annes-own-pass"), ACTOR)
        uow.commit()
    row = _row(app, ann)
    assert row.must_change_password is False
    assert security.verify_password("annes-own-pass", row.password_hash)
    assert not security.verify_password("one-time-secret", row.password_hash)
    with app.uow() as uow, pytest.raises(Conflict):  # only once: now it is a change
        accounts.choose_password(uow, ann, ChangePassword(new_password="another-pass"), ACTOR)


def test_changing_a_password_needs_the_current_one(app: App, tenant: Tenant) -> None:
    ann = _add(app, tenant, "first-password", one_time=False)
    assert _row(app, ann).must_change_password is False
    wrong = ChangePassword(current_password="not-it", new_password="second-password")
    with app.uow() as uow, pytest.raises(ValidationFailed) as refused:
        accounts.change_password(uow, ann, wrong, ACTOR)
    assert refused.value.field == "current_password"
    right = ChangePassword(current_password="first-password", new_password="second-password")
    with app.uow() as uow:
        accounts.change_password(uow, ann, right, ACTOR)
        uow.commit()
    assert security.verify_password("second-password", _row(app, ann).password_hash)
