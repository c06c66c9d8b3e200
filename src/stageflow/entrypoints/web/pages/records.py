"""Creating a record from a board ("New deal"): the same ``create_record`` command as the
API; a refused value comes back next to its field."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from stageflow.domain.errors import PermissionDenied, StageflowError, first_problem
from stageflow.domain.records import ObjectType
from stageflow.entrypoints.web import board as boards
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.pages.boards import filters_of, is_htmx
from stageflow.entrypoints.web.render import page
from stageflow.services.commands import CreateRecord
from stageflow.services.crm.records import create_record

router = APIRouter()

# Where a refusal's ``field`` is shown in the form.
FIELD_OF = {
    "name": "name",
    "owner_id": "owner_id",
    "stage_id": "stage_id",
    "pipeline_id": "stage_id",
    "fields.amount": "amount",
    "amount": "amount",
    "fields.currency": "currency",
    "currency": "currency",
}


def _number(text: str) -> float | int | None:
    cleaned = text.strip().replace(",", "").replace(" ", "")
    if not cleaned:
        return None
    value = float(cleaned)
    return int(value) if value.is_integer() else value


@router.post(
    "/boards/{slug}/records", dependencies=[Depends(require_csrf)], response_class=HTMLResponse
)
def create(
    request: Request,
    slug: str,
    name: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    currency: Annotated[str, Form()] = "",
    owner_id: Annotated[str, Form()] = "",
    stage_id: Annotated[str, Form()] = "",
    view: Annotated[str, Form()] = "board",
    pipeline: Annotated[str | None, Form()] = None,
    owner: Annotated[str | None, Form()] = None,
    q: Annotated[str | None, Form()] = None,
    segment: Annotated[str | None, Form()] = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    filters = filters_of(pipeline, owner, q, segment)
    values: dict[str, Any] = {
        "name": name,
        "amount": amount,
        "currency": currency,
        "owner_id": boards.parse_id(owner_id),
        "stage_id": boards.parse_id(stage_id),
    }
    errors: dict[str, str] = {}
    try:
        object_type = boards.board_type(slug)
        fields: dict[str, Any] = {}
        if amount.strip():
            try:
                fields["amount"] = _number(amount)
            except ValueError:
                errors["amount"] = "Write the amount as a number, e.g. 12500 or 12,500.50"
        if currency.strip():
            fields["currency"] = currency.strip().upper()
        if not name.strip():
            errors["name"] = "Give it a name"
        with user.uow() as uow:
            _, chosen = boards.pipeline_of(uow, user, object_type, filters.pipeline_id)
            names = boards.users_by_id(uow, user.principal.workspace_id)
            if not errors:
                try:
                    cmd = CreateRecord(
                        name=name.strip(),
                        owner_id=values["owner_id"],
                        pipeline_id=chosen.id,
                        stage_id=values["stage_id"],
                        fields=fields,
                    )
                except ValidationError as exc:
                    raise first_problem(exc, named=False) from None
                record = create_record(uow, user.principal, object_type, cmd, user.actor)
                uow.commit()
    except PermissionDenied as exc:
        errors["owner_id"] = exc.message
    except StageflowError as exc:
        if exc.status == 404:
            return Response(exc.message, status_code=404, media_type="text/plain")
        errors[FIELD_OF.get(exc.field or "", "form")] = exc.message
    board = {
        "slug": slug,
        "object_type": object_type,
        "pipeline": chosen,
        "filters": filters,
        "owners": sorted(names.items(), key=lambda item: item[1].lower()),
        "has_amounts": object_type in (ObjectType.DEAL, ObjectType.OPPORTUNITY),
    }
    if errors:
        return page(
            request,
            "partials/new_record_form.html",
            {"board": board, "errors": errors, "values": values},
            user=user,
        )  # 200: the form is the answer, with each error at its field
    if not is_htmx(request):
        return RedirectResponse(f"/boards/{slug}", status_code=303)
    stage = next(s for s in chosen.stages if s.id == record.stage_id)
    with user.uow(read_only=True) as uow:
        filters = boards.with_segment(uow, user, object_type, filters)
        card = boards.cards_of(uow, [record], chosen, names)[0]
        heads = boards.column_head(uow, user, object_type, chosen, filters, {stage.id or 0})
    response = page(
        request,
        "partials/created.html",
        {"board": board, "card": card, "heads": heads, "created": True},
        user=user,
    )
    trigger = {"toast": f"Created '{record.name}' in {stage.name}", "recordCreated": True}
    response.headers["HX-Trigger"] = json.dumps(trigger)
    if view == "list":
        response.headers["HX-Refresh"] = "true"
    return response
