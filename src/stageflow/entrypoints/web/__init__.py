"""The web app: server-rendered pages (Jinja2 + htmx) served by the API's FastAPI app at
``/``, static files at ``/static``. Pages call the service layer directly."""

from __future__ import annotations

import hashlib

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from stageflow.bootstrap import App
from stageflow.entrypoints.web.auth import (
    CsrfRefused,
    PasswordChoiceRequired,
    SignInRequired,
    WebState,
)
from stageflow.entrypoints.web.pages import (
    account,
    auth,
    automations,
    boards,
    contact_import,
    contacts,
    dashboard,
    inbox,
    lifecycle_settings,
    pipeline_settings,
    record_activities,
    record_edits,
    record_page,
    record_related,
    records,
    rehearsal,
    runs,
    settings,
    shell,
    stage_rules,
    users_settings,
)
from stageflow.entrypoints.web.render import HERE, page
from stageflow.entrypoints.web.session import SessionSigner
from stageflow.entrypoints.web.throttle import SignInThrottle


def mount(api: FastAPI, app: App) -> None:
    """Add the pages, the static files and the web app's two error pages to ``api``."""

    def key() -> bytes:
        return hashlib.sha256(app.secret_box().token("web-session").encode()).digest()

    api.state.web = WebState(signer=SessionSigner(key), throttle=SignInThrottle())
    api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    more = (settings, lifecycle_settings, pipeline_settings, users_settings, inbox, dashboard)
    record = (record_page, record_edits, record_activities, record_related)
    crm = (boards, records, contact_import, *record, contacts)
    for module in (auth, account, shell, runs, rehearsal, *crm, *more):
        api.include_router(module.router, include_in_schema=False)
    for module in (automations, stage_rules):
        api.include_router(module.router, include_in_schema=False)

    @api.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, _: SignInRequired) -> Response:
        target = auth.sign_in_url(request.url.path)
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @api.exception_handler(PasswordChoiceRequired)
    async def password_choice_required(request: Request, _: PasswordChoiceRequired) -> Response:
        target = account.CHOOSE
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @api.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _: CsrfRefused) -> Response:
        message = (
            "This form is out of date (its security token is missing or expired). "
            "Go back, reload the page and try again."
        )
        if request.headers.get("HX-Request") == "true":
            return Response(message, status_code=403, media_type="text/plain")
        return page(
            request, "error.html", {"title": "Refused", "message": message}, user=None, status=403
        )
