"""The home address: the deal board."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from stageflow.entrypoints.web.auth import WebUser, signed_in_user

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(_: WebUser = Depends(signed_in_user)) -> Response:
    return RedirectResponse("/boards/deal", status_code=303)
