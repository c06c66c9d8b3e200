"""A record's links and an opportunity's sub-states, from its page: link a contact or company
and unlink it (``update_record`` with the associations, as ``PATCH`` does), open and close
sub-states (``open_substate`` / ``close_substate``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from stageflow.domain.errors import StageflowError, ValidationFailed
from stageflow.domain.records import ObjectType
from stageflow.entrypoints.web import record_view
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.board import parse_id
from stageflow.entrypoints.web.pages.htmx_helpers import refused, sentence
from stageflow.entrypoints.web.pages.record_page import BY_PLURAL, body_answer, record_id_of
from stageflow.entrypoints.web.render import page
from stageflow.services.commands import UpdateRecord
from stageflow.services.crm import records as service
from stageflow.services.crm.substates import close_substate, open_substate
from stageflow.services.unit_of_work import UnitOfWork

router = APIRouter()


def _form_again(
    request: Request,
    user: WebUser,
    object_type: ObjectType,
    record_id: int,
    template: str,
    extra: dict[str, Any],
) -> Response:
    try:
        with user.uow(read_only=True) as uow:
            context = record_view.load(uow, user, object_type, record_id)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    if "link_kind" in extra:  # the form of the kind that failed, with its choices
        found = [(k, c) for k, c in context["links"] if k.value == extra["link_kind"]]
        if not found:
            return refused(extra["link_error"], 422)
        extra = {**extra, "kind": found[0][0], "choices": found[0][1]}
    return page(request, template, {**context, **extra}, user=user, status=422)


def _linked(uow: UnitOfWork, user: WebUser, record_id: int, kind: ObjectType) -> list[int]:
    """The records of a type the record is linked with that the user may see (the ones they
    cannot see stay linked whatever the command says)."""
    ids = uow.records.associations([record_id])[record_id].get(kind.value, [])
    owners = uow.records.types_and_owners(user.principal.workspace_id, set(ids))
    return [i for i in ids if i in owners and user.principal.can_see_owner(owners[i][1])]


def _relink(
    user: WebUser, object_type: ObjectType, record_id: int, kind: ObjectType, add: int | None
) -> tuple[str, str]:
    """Link (``add``) or keep the links as they are; the names of the record and the other."""
    with user.uow() as uow:
        ids = _linked(uow, user, record_id, kind)
        if add is not None:
            ids.append(add)
        cmd = UpdateRecord(associations={kind: ids})
        record = service.update_record(uow, user.principal, object_type, record_id, cmd, user.actor)
        other = uow.records.get(user.principal.workspace_id, add) if add else None
        uow.commit()
    return record.name, other.name if other else ""


def _routes(plural: str) -> None:
    object_type = BY_PLURAL[plural]

    def link(
        request: Request,
        record_id: str,
        kind: Annotated[str, Form()] = "",
        related_id: Annotated[str, Form()] = "",
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        wanted = 0
        try:
            wanted = record_id_of(object_type, record_id)
            if kind not in {t.value for t in ObjectType}:
                raise ValidationFailed(f"no kind of record '{kind}'", field="related_id")
            target = parse_id(related_id)
            if target is None:
                raise ValidationFailed(f"choose the {kind} to link", field="related_id")
            name, other = _relink(user, object_type, wanted, ObjectType(kind), target)
        except StageflowError as exc:
            if exc.status == 404 or not wanted:
                return refused(exc.message, exc.status)
            extra = {"link_kind": kind, "link_error": sentence(exc.message)}
            return _form_again(request, user, object_type, wanted, "partials/link_form.html", extra)
        return body_answer(
            request, user, object_type, wanted, f"Linked '{name}' to '{other}'", f"link-{kind}"
        )

    def unlink(
        request: Request,
        record_id: str,
        related_id: int,
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        try:
            wanted = record_id_of(object_type, record_id)
            with user.uow() as uow:
                found = uow.records.types_and_owners(user.principal.workspace_id, {related_id})
                if related_id not in found:
                    raise ValidationFailed(f"no record {related_id}", field="related_id")
                kind = ObjectType(found[related_id][0])
                ids = [i for i in _linked(uow, user, wanted, kind) if i != related_id]
                other = uow.records.get(user.principal.workspace_id, related_id)
                record = service.update_record(
                    uow,
                    user.principal,
                    object_type,
                    wanted,
                    UpdateRecord(associations={kind: ids}),
                    user.actor,
                )
                uow.commit()
        except StageflowError as exc:
            return refused(exc.message, exc.status)
        other_name = other.name if other else "the record"
        toast = f"Unlinked '{other_name}' from '{record.name}'"
        return body_answer(request, user, object_type, wanted, toast, "assoc-title")

    def change_substate(
        request: Request,
        record_id: str,
        substate: Annotated[str, Form()] = "",
        action: Annotated[str, Form()] = "open",
        user: WebUser = Depends(signed_in_user),
    ) -> Response:
        """Open a sub-state (``action=open``) or close an open one (``action=close``)."""
        wanted = 0
        try:
            wanted = record_id_of(object_type, record_id)
            change = close_substate if action == "close" else open_substate
            with user.uow() as uow:
                changed = change(uow, user.principal, wanted, substate, user.actor, object_type)
                uow.commit()
        except StageflowError as exc:
            if exc.status == 404 or not wanted or action == "close":
                return refused(exc.message, exc.status)
            extra = {"substate_typed": substate, "substate_error": sentence(exc.message)}
            return _form_again(
                request, user, object_type, wanted, "partials/substate_form.html", extra
            )
        verb = "Closed" if action == "close" else "Opened"
        toast = (
            f"{verb} sub-state '{substate.strip()}'"
            if changed
            else f"Sub-state '{substate.strip()}' was already {verb.lower()}"
        )
        return body_answer(request, user, object_type, wanted, toast, "substates-title")

    routes: list[tuple[str, Callable[..., Any]]] = [
        ("/links", link),
        ("/links/{related_id}/remove", unlink),
        ("/substates", change_substate),
    ]
    for suffix, endpoint in routes:
        router.add_api_route(
            f"/{plural}/{{record_id}}{suffix}",
            endpoint,
            methods=["POST"],
            dependencies=[Depends(require_csrf)],
            response_class=HTMLResponse,
            include_in_schema=False,
        )


for _plural in BY_PLURAL:
    _routes(_plural)
