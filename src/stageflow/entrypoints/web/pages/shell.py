"""The home address and the screens still to come (each says what to use meanwhile)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stageflow.entrypoints.web.auth import WebUser, signed_in_user
from stageflow.entrypoints.web.render import page

router = APIRouter()

# Screens of issue 14 not built yet: what each will do, and what to use until then.
COMING = {
    "automations": (
        "Automations",
        "workflows, stage rules, lead automation and opportunity types",
        "the /api/v1/automations endpoints",
    ),
}


@router.get("/", include_in_schema=False)
def home(_: WebUser = Depends(signed_in_user)) -> Response:
    return RedirectResponse("/boards/deal", status_code=303)


def _coming_soon(slug: str) -> None:
    title, what, meanwhile = COMING[slug]

    def screen(request: Request, user: WebUser = Depends(signed_in_user)) -> HTMLResponse:
        return page(
            request,
            "coming_soon.html",
            {"title": title, "what": what, "meanwhile": meanwhile},
            user=user,
        )

    router.add_api_route(
        f"/{slug}", screen, methods=["GET"], response_class=HTMLResponse, include_in_schema=False
    )


for _slug in COMING:
    _coming_soon(_slug)
