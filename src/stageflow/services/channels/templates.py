"""Named templates (email templates, report templates): created, changed and deleted the same
way. Each kind says which texts it has and what else makes its texts valid; every text is a
sandboxed Jinja2 template that may only read fields (automation/templates)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stageflow.adapters.db.repositories.templates import TemplateRepository
from stageflow.automation import templates
from stageflow.domain.errors import Conflict, NotFound, StaleVersion, ValidationFailed
from stageflow.domain.events import Actor, EventType
from stageflow.domain.references import RefKind
from stageflow.domain.users import Permission, Principal
from stageflow.services.crm import signals
from stageflow.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class TemplateKind:
    label: str  # "email template"
    repository: Callable[[UnitOfWork], TemplateRepository]
    texts: tuple[str, ...]  # the text columns, e.g. subject, html, text
    saved: EventType
    deleted: EventType
    ref: RefKind  # how automations name it (by its name)
    check: Callable[[dict[str, str]], None] = lambda _texts: None  # beyond field-only reads


def get(kind: TemplateKind, uow: UnitOfWork, principal: Principal, template_id: int) -> Any:
    row = kind.repository(uow).get(principal.workspace_id, template_id)
    if row is None:
        raise NotFound(f"{kind.label} {template_id} not found")
    return row


def create(
    kind: TemplateKind,
    uow: UnitOfWork,
    principal: Principal,
    name: str,
    texts: dict[str, str],
    actor: Actor,
) -> Any:
    principal.require(Permission.AUTOMATIONS_EDIT)
    ws = principal.workspace_id
    repository = kind.repository(uow)
    name = name.strip()
    if repository.by_name(ws, name) is not None:
        raise Conflict(f"another {kind.label} is named '{name}'", field="name")
    _check(kind, texts)
    template_id = repository.add(ws, name=name, now=uow.clock.now(), **texts)
    uow.emit_config(ws, actor, kind.saved, template_id=template_id, name=name)
    return get(kind, uow, principal, template_id)


def update(
    kind: TemplateKind,
    uow: UnitOfWork,
    principal: Principal,
    template_id: int,
    changes: dict[str, Any],
    actor: Actor,
) -> Any:
    """Change the name or texts given (None: leave as it is)."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    ws = principal.workspace_id
    repository = kind.repository(uow)
    row = get(kind, uow, principal, template_id)
    values = {k: v for k, v in changes.items() if v is not None}
    if "name" in values:
        values["name"] = values["name"].strip()
        other = repository.by_name(ws, values["name"])
        if other is not None and other.id != template_id:
            raise Conflict(f"another {kind.label} is named '{values['name']}'", field="name")
        if values["name"] != row.name:
            label = f"{kind.label} '{row.name}' (automations name it)"
            signals.check_unreferenced(uow, ws, kind.ref, row.name, label)
    _check(kind, {t: values.get(t, getattr(row, t)) for t in kind.texts})
    if values:
        values["updated_at"] = uow.clock.now()
        if not repository.save(ws, template_id, row.version, values):
            raise StaleVersion("the template changed meanwhile; read it again")
        uow.emit_config(
            ws, actor, kind.saved, template_id=template_id, name=values.get("name", row.name)
        )
    return get(kind, uow, principal, template_id)


def delete(
    kind: TemplateKind, uow: UnitOfWork, principal: Principal, template_id: int, actor: Actor
) -> None:
    """Delete a template nothing uses: an active automation that names it keeps it."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    row = get(kind, uow, principal, template_id)
    signals.check_unreferenced(
        uow, principal.workspace_id, kind.ref, row.name, f"{kind.label} '{row.name}'"
    )
    kind.repository(uow).delete(principal.workspace_id, template_id)
    uow.emit_config(
        principal.workspace_id, actor, kind.deleted, template_id=template_id, name=row.name
    )


def _check(kind: TemplateKind, texts: dict[str, str]) -> None:
    kind.check(texts)
    for name, source in texts.items():
        try:
            templates.references(source)
        except templates.TemplateProblem as exc:
            raise ValidationFailed(str(exc), field=name) from None
