"""Workspaces, users and tokens: creating a tenant with its defaults, and authentication."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stageflow.adapters.crypto import SecretBox
from stageflow.adapters.http import AllowList, TargetRefused, check_url
from stageflow.automation.calendar import WorkCalendar
from stageflow.domain.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from stageflow.domain.events import Actor, ActorKind, Event, EventType, Source
from stageflow.domain.pipelines import DEFAULT_PICKLISTS, DEFAULT_PIPELINES, Pipeline, Stage
from stageflow.domain.references import RefKind
from stageflow.domain.text import a_or_an
from stageflow.domain.users import (
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    Role,
    parse_permissions,
)
from stageflow.domain.workspaces import Workspace, check_slug, slugify
from stageflow.services.commands import (
    CreateToken,
    CreateUser,
    UpdateUser,
    UpdateWorkspaceSettings,
)
from stageflow.services.crm import lifecycle, security, signals
from stageflow.services.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class NewWorkspace:
    workspace: Workspace
    owner_id: int
    token: str


def create_workspace(
    uow: UnitOfWork,
    *,
    name: str,
    owner_email: str,
    owner_name: str,
    owner_password: str | None = None,
    slug: str | None = None,
    actor: Actor | None = None,
) -> NewWorkspace:
    """Create a workspace with its owner, an owner API token, default pipelines and picklists.

    The caller commits.
    """
    name = name.strip()
    if not name:
        raise ValidationFailed("a workspace needs a name", field="name")
    slug = slug or _free_slug(uow, slugify(name))
    check_slug(slug)
    if uow.workspaces.get_by_slug(slug) is not None:
        raise Conflict(f"a workspace with slug '{slug}' exists", field="slug")
    now = uow.clock.now()
    actor = actor or Actor(kind=ActorKind.SYSTEM, source=Source.CLI)
    workspace = uow.workspaces.add(Workspace(name=name, slug=slug, created_at=now))
    assert workspace.id is not None
    ws = workspace.id
    uow.emit([Event(EventType.WORKSPACE_CREATED, ws, actor, now, data={"name": name})])
    owner = create_user(
        uow,
        ws,
        CreateUser(email=owner_email, name=owner_name, role=Role.OWNER, password=owner_password),
        actor,
    )
    for key, options in DEFAULT_PICKLISTS.items():
        uow.picklists.put(ws, key, [{"value": v, "label": label} for v, label in options])
    for object_type, (pipeline_name, stages) in DEFAULT_PIPELINES.items():
        pipeline = Pipeline(
            workspace_id=ws,
            object_type=object_type,
            name=pipeline_name,
            is_default=True,
            stages=[Stage(name=n, kind=k, position=i) for i, (n, k) in enumerate(stages)],
        )
        uow.pipelines.add(pipeline, now)
    lifecycle.create_default_stages(uow, ws)
    signals.workspace_created.send(uow, ws, actor)
    token = create_token(uow, ws, owner, CreateToken(name="owner token"), actor)
    return NewWorkspace(workspace=workspace, owner_id=owner, token=token)


def _free_slug(uow: UnitOfWork, base: str) -> str:
    slug, n = base, 1
    while uow.workspaces.get_by_slug(slug) is not None:
        n += 1
        slug = f"{base[:58]}-{n}"
    return slug


def create_user(
    uow: UnitOfWork,
    workspace_id: int,
    cmd: CreateUser,
    actor: Actor,
    *,
    one_time_password: bool = False,
) -> int:
    """A new user. With ``one_time_password`` the password was made for them: they choose
    their own at their first sign-in (``accounts.choose_password``)."""
    parse_permissions(cmd.permissions)
    if uow.users.get_by_email(workspace_id, cmd.email) is not None:
        raise Conflict(f"a user with email '{cmd.email}' exists in this workspace", field="email")
    now = uow.clock.now()
    user_id = uow.users.add(
        workspace_id,
        email=cmd.email,
        name=cmd.name,
        role=cmd.role,
        permissions=sorted(set(cmd.permissions)),
        password_hash=security.hash_password(cmd.password) if cmd.password else None,
        created_at=now,
        must_change_password=one_time_password and cmd.password is not None,
    )
    uow.emit(
        [
            Event(
                EventType.USER_CREATED,
                workspace_id,
                actor,
                now,
                data={"user_id": user_id, "email": cmd.email, "role": cmd.role.value},
            )
        ]
    )
    return user_id


def add_user(
    uow: UnitOfWork,
    principal: Principal,
    cmd: CreateUser,
    actor: Actor,
    *,
    one_time_password: bool = False,
) -> int:
    """A user added by a caller: needs 'users.manage'; only an owner adds an owner."""
    principal.require(Permission.USERS_MANAGE)
    if cmd.role is Role.OWNER and principal.role is not Role.OWNER:
        raise PermissionDenied("only an owner can add an owner")
    _check_grant(principal, cmd.role, parse_permissions(cmd.permissions), frozenset())
    return create_user(uow, principal.workspace_id, cmd, actor, one_time_password=one_time_password)


def update_user(
    uow: UnitOfWork, principal: Principal, user_id: int, cmd: UpdateUser, actor: Actor
) -> None:
    principal.require(Permission.USERS_MANAGE)
    row = uow.users.get(principal.workspace_id, user_id)
    if row is None:
        raise NotFound(f"user {user_id} not found")
    if Role(row.role) is Role.OWNER and principal.role is not Role.OWNER:
        raise PermissionDenied("only an owner can change an owner")
    _check_outranks_not(principal, row, "change")
    values: dict[str, Any] = cmd.model_dump(exclude_unset=True)
    for key, value in values.items():
        if value is None:
            raise ValidationFailed(f"'{key}' cannot be null", field=key)
    old_extra = parse_permissions(list(row.permissions or []))
    new_extra = old_extra
    if "permissions" in values:
        new_extra = parse_permissions(values["permissions"])
        values["permissions"] = sorted(p.value for p in new_extra)
    new_role = Role(row.role)
    if "role" in values:
        owner_involved = Role.OWNER in (Role(row.role), values["role"])
        if owner_involved and principal.role is not Role.OWNER:
            raise PermissionDenied("only an owner can make or unmake an owner")
        new_role = Role(values["role"])
        values["role"] = new_role.value
    old = ROLE_PERMISSIONS[Role(row.role)] | old_extra
    _check_grant(principal, new_role, new_extra, old)
    leaves_owners = (
        Role(row.role) is Role.OWNER
        and row.active
        and (new_role is not Role.OWNER or values.get("active") is False)
    )
    if leaves_owners:
        _keep_an_owner(uow, principal.workspace_id, row)
    if values.get("active") is False and row.active:
        label = f"user '{row.name}'"
        signals.check_unreferenced(uow, principal.workspace_id, RefKind.USER, user_id, label)
    if values:
        uow.users.update(principal.workspace_id, user_id, values)
        uow.emit(
            [
                Event(
                    EventType.USER_UPDATED,
                    principal.workspace_id,
                    actor,
                    uow.clock.now(),
                    data={"user_id": user_id, **values},
                )
            ]
        )


def create_token(
    uow: UnitOfWork, workspace_id: int, user_id: int, cmd: CreateToken, actor: Actor
) -> str:
    """Create an API token for ``user_id``; returns the secret (shown once, stored hashed)."""
    if uow.users.get(workspace_id, user_id) is None:
        raise NotFound(f"user {user_id} not found", field="user_id")
    secret = security.new_token()
    now = uow.clock.now()
    token_id = uow.tokens.add(
        workspace_id,
        user_id,
        name=cmd.name,
        token_hash=security.hash_token(secret),
        prefix=secret[:8],
        created_at=now,
    )
    uow.emit(
        [
            Event(
                EventType.TOKEN_CREATED,
                workspace_id,
                actor,
                now,
                data={"token_id": token_id, "user_id": user_id, "name": cmd.name},
            )
        ]
    )
    return secret


ROLE_RANK = {Role.AGENT: 0, Role.MANAGER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def issue_token(
    uow: UnitOfWork, principal: Principal, user_id: int, cmd: CreateToken, actor: Actor
) -> str:
    """A token for yourself, or — with 'tokens.manage' — for a user who does not outrank you:
    a token is the user's whole authority, so minting one for an owner would make an admin
    an owner."""
    if user_id != principal.user_id:
        principal.require(Permission.TOKENS_MANAGE)
        target = uow.users.get(principal.workspace_id, user_id)
        if target is None:
            raise NotFound(f"user {user_id} not found", field="user_id")
        if ROLE_RANK[Role(target.role)] > ROLE_RANK[principal.role]:
            raise PermissionDenied(
                f"{a_or_an(principal.role.value)} cannot create tokens for {a_or_an(target.role)}"
            )
    return create_token(uow, principal.workspace_id, user_id, cmd, actor)


def _check_outranks_not(principal: Principal, target: Any, what: str) -> None:
    """Nobody acts on the tokens or permissions of a user above their own role."""
    if ROLE_RANK[Role(target.role)] > ROLE_RANK[principal.role]:
        raise PermissionDenied(
            f"{a_or_an(principal.role.value)} cannot {what} {a_or_an(target.role)}"
        )


def _check_grant(
    principal: Principal,
    role: Role,
    extra: frozenset[Permission],
    before: frozenset[Permission],
) -> None:
    """Nobody gives a role above their own, or a permission they do not hold themselves
    (a role's permissions included): ``before`` is what the user could already do."""
    if ROLE_RANK[role] > ROLE_RANK[principal.role]:
        raise PermissionDenied(
            f"{a_or_an(principal.role.value)} cannot make anyone {a_or_an(role.value)}",
            field="role",
        )
    gained = (ROLE_PERMISSIONS[role] | extra) - before
    missing = sorted(p.value for p in gained - principal.permissions)
    if missing:
        raise PermissionDenied(
            f"you cannot grant a permission you do not hold: {', '.join(missing)}",
            field="permissions" if missing[0] in {p.value for p in extra} else "role",
        )


def _keep_an_owner(uow: UnitOfWork, workspace_id: int, leaving: Any) -> None:
    """The last active owner cannot be demoted or deactivated (the workspace row is locked so
    two owners cannot demote each other at once)."""
    uow.workspaces.get(workspace_id, for_update=True)
    owners = [
        u
        for u in uow.users.list(workspace_id)
        if Role(u.role) is Role.OWNER and u.active and u.id != leaving.id
    ]
    if not owners:
        raise Conflict(
            f"{leaving.name} is the workspace's only owner: make another user owner first",
            field="role",
        )


def authenticate(uow: UnitOfWork, token: str) -> Principal:
    principal = uow.tokens.principal_for(security.hash_token(token))
    if principal is None:
        raise AuthenticationFailed("the API token is missing, unknown or revoked")
    return principal


def actor_for(principal: Principal, source: Source = Source.API) -> Actor:
    if principal.token_id is not None:
        return Actor(
            kind=ActorKind.TOKEN, id=principal.token_id, user_id=principal.user_id, source=source
        )
    return Actor(
        kind=ActorKind.USER, id=principal.user_id, user_id=principal.user_id, source=source
    )


def revoke_token(uow: UnitOfWork, principal: Principal, token_id: int, actor: Actor) -> None:
    row = uow.tokens.get(principal.workspace_id, token_id)
    if row is None:
        raise NotFound(f"token {token_id} not found")
    if row.user_id != principal.user_id:
        principal.require(Permission.TOKENS_MANAGE)
        holder = uow.users.get(principal.workspace_id, row.user_id)
        if holder is not None:
            _check_outranks_not(principal, holder, "revoke the tokens of")
    if row.revoked_at is None:
        now = uow.clock.now()
        uow.tokens.revoke(principal.workspace_id, token_id, now)
        uow.emit(
            [
                Event(
                    EventType.TOKEN_REVOKED,
                    principal.workspace_id,
                    actor,
                    now,
                    data={"token_id": token_id},
                )
            ]
        )


def update_settings(
    uow: UnitOfWork, principal: Principal, cmd: UpdateWorkspaceSettings, actor: Actor
) -> dict[str, Any]:
    """Change workspace settings; the calendar parts are checked by building the calendar."""
    principal.require(Permission.WORKSPACE_SETTINGS)
    workspace = uow.workspaces.get(principal.workspace_id, for_update=True)
    if workspace is None:
        raise NotFound("workspace not found")
    changes = cmd.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise ValidationFailed(f"'{key}' cannot be null", field=key)
    settings = {**workspace.settings, **changes}
    try:
        calendar = WorkCalendar.from_settings(settings)
        calendar.tz  # noqa: B018 - resolves the zone name
    except ValueError as exc:
        field = next((k for k in ("timezone", "business_hours", "holidays") if k in changes), None)
        raise ValidationFailed(str(exc), field=field) from None
    hours = changes.get("business_hours")
    if hours is not None:
        if not set(hours["days"]) <= set(range(7)):
            raise ValidationFailed("weekdays are 0 (Monday) to 6", field="business_hours.days")
        if calendar.day_end <= calendar.day_start:
            raise ValidationFailed("business hours end before they start", field="business_hours")
    if "webhook_allowlist" in changes:
        try:
            AllowList.parse(changes["webhook_allowlist"])
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="webhook_allowlist") from None
    before = {k: workspace.settings.get(k) for k in changes}
    if changes:
        uow.workspaces.update_settings(principal.workspace_id, settings)
        uow.emit(
            [
                Event(
                    EventType.WORKSPACE_UPDATED,
                    principal.workspace_id,
                    actor,
                    uow.clock.now(),
                    before=before,
                    after=changes,
                )
            ]
        )
    return settings


# providers: SMTP, SMS, e-signature ------------------------------------------------------------


def provider_view(
    uow: UnitOfWork, principal: Principal, key: str, secret: str, flag: str
) -> dict[str, Any]:
    """A provider's stored settings (workspace setting ``key``) without its secret: ``flag``
    says whether one is stored."""
    principal.require(Permission.WORKSPACE_SETTINGS)
    workspace = uow.workspaces.get(principal.workspace_id)
    stored = dict((workspace.settings if workspace else {}).get(key) or {})
    if not stored:
        return {"configured": False}
    has_secret = uow.workspaces.secret(principal.workspace_id, secret) is not None
    return {"configured": True, **stored, flag: has_secret}


def store_provider(
    uow: UnitOfWork,
    box: SecretBox,
    principal: Principal,
    key: str,
    stored: dict[str, Any],
    *,
    secret: str,
    secret_value: str | None,
    actor: Actor,
) -> None:
    """Keep a provider's settings under ``key``, and its secret sealed (None: keep the one
    stored)."""
    principal.require(Permission.WORKSPACE_SETTINGS)
    ws = principal.workspace_id
    workspace = uow.workspaces.get(ws, for_update=True)
    if workspace is None:
        raise NotFound("workspace not found")
    uow.workspaces.update_settings(ws, {**workspace.settings, key: stored})
    if secret_value is not None:
        uow.workspaces.set_secret(ws, secret, box.seal(secret_value), uow.clock.now())
    uow.emit_config(ws, actor, EventType.WORKSPACE_UPDATED, changed=[key])


def check_provider_url(url: str) -> None:
    try:
        check_url(url)
    except TargetRefused as exc:
        raise ValidationFailed(str(exc), field="url") from None


def check_one_line(value: str | None, field: str) -> None:
    """A header value must not span lines."""
    if value is not None and any(c in value for c in "\r\n"):
        raise ValidationFailed(f"the {field} value is one line", field=field)


# reading: users and tokens ------------------------------------------------------------------


def list_users(uow: UnitOfWork, principal: Principal) -> list[Any]:
    """The workspace's users (as `GET /users` lists them)."""
    return list(uow.users.list(principal.workspace_id))


def list_tokens(uow: UnitOfWork, principal: Principal) -> list[Any]:
    """API tokens, never their secrets: all of them with 'tokens.manage', else the caller's."""
    rows = list(uow.tokens.list(principal.workspace_id))
    if not principal.has(Permission.TOKENS_MANAGE):
        rows = [r for r in rows if r.user_id == principal.user_id]
    return rows


def token_targets(uow: UnitOfWork, principal: Principal) -> list[Any]:
    """The users the caller may create a token for: themselves, and with 'tokens.manage'
    every active user who does not outrank them (see ``issue_token``)."""
    rows = list_users(uow, principal)
    if not principal.has(Permission.TOKENS_MANAGE):
        return [r for r in rows if r.id == principal.user_id]
    mine = ROLE_RANK[principal.role]
    return [r for r in rows if r.active and ROLE_RANK[Role(r.role)] <= mine]
