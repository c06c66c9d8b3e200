"""The FastAPI application: routes under /api/v1, JSON errors with stable codes, never a 500
with a stack trace."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from stageflow import __version__
from stageflow.bootstrap import App
from stageflow.domain.errors import StageflowError
from stageflow.entrypoints import web
from stageflow.entrypoints.api.deps import reject_unknown_query
from stageflow.entrypoints.api.limits import BodyLimit
from stageflow.entrypoints.api.routes import (
    activities,
    automations,
    conversations,
    deliveries,
    email,
    lead_automation,
    lifecycle,
    notifications,
    opportunity_types,
    pipelines,
    records,
    reports,
    rules,
    segments,
    substates,
    users,
)

log = logging.getLogger("stageflow.api")

DESCRIPTION = """
stageflow's REST API. Authenticate with `Authorization: Bearer <token>`
(create one with `stageflow token create`). Errors are JSON:
`{"code": "validation_error", "message": "unknown field 'colour'", "field": "fields.colour"}`.
Lists are newest first; pass `next_cursor` back as `cursor` for the next page.
"""


def create_app(app: App, *, run_worker: bool = False) -> FastAPI:
    """The ASGI app; ``run_worker`` runs a worker thread inside it (embedded mode)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if run_worker:
            worker = app.worker(name="embedded")
            thread = threading.Thread(
                target=worker.run_forever, args=(stop,), name="stageflow-worker", daemon=True
            )
            thread.start()
        try:
            yield
        finally:
            stop.set()
            app.enroller.work_available.set()
            if thread is not None:
                thread.join(timeout=30)

    api = FastAPI(
        title="stageflow",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    api.state.stageflow = app
    for module in (
        records,
        activities,
        pipelines,
        lead_automation,
        lifecycle,
        conversations,
        segments,
        users,
        automations,
        deliveries,
        email,
        notifications,
        reports,
        rules,
        substates,
        opportunity_types,
    ):
        api.include_router(
            module.router, prefix="/api/v1", dependencies=[Depends(reject_unknown_query)]
        )
    _install_error_handlers(api)

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    web.mount(api, app)
    api.add_middleware(
        BodyLimit,
        max_body=app.settings.max_body_bytes,
        max_upload=app.settings.max_upload_bytes,
    )
    return api


def error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"code": code, "message": message, "field": field}
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API offers for this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern = re.sub(
            r"\{[^}/]+\}", "[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
        )
        if re.fullmatch(pattern, request.url.path):
            methods.update(method.upper() for method in operations)
    return sorted(methods)


def _install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(StageflowError)
    async def stageflow_error(_: Request, exc: StageflowError) -> JSONResponse:
        response = error(exc.status, exc.code, exc.message, exc.field)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        location = [str(p) for p in first.get("loc", ())]
        where = location[0] if location else "body"
        if where == "path":
            return error(404, "not_found", "no such resource (the id in the path is not valid)")
        field = ".".join(location[1:]) or None
        message = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":
            message, field = "the request body is not valid JSON", None
        elif field:
            message = f"{field}: {message}"
        return error(422, "invalid_request", f"{message} (in {where})", field)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthenticated",
            403: "permission_denied",
        }
        response = error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    @api.exception_handler(DataError)
    async def data_error(_: Request, exc: DataError) -> JSONResponse:
        log.warning("value refused by the database: %s", exc.orig)
        return error(422, "validation_error", "a value is out of range or cannot be stored")

    @api.exception_handler(OverflowError)
    async def overflow(_: Request, exc: OverflowError) -> JSONResponse:
        return error(422, "validation_error", "a number is out of range")

    @api.exception_handler(UnicodeError)
    async def unicode_error(_: Request, exc: UnicodeError) -> JSONResponse:
        return error(422, "validation_error", "the text contains characters that are not valid")

    @api.exception_handler(IntegrityError)
    async def integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", exc.orig)
        return error(
            409, "conflict", "the change conflicts with existing data; read it again and retry"
        )

    @api.exception_handler(OperationalError)
    async def busy(_: Request, exc: OperationalError) -> JSONResponse:
        if "Expression tree is too large" in str(exc.orig):
            # SQLite's own limit on one query's expression depth (1,000): the query asked
            # too much, retrying will not help.
            return error(
                422,
                "validation_error",
                "the filter is too large for the database (SQLite allows expressions 1,000 "
                "levels deep); use fewer conditions, or 'in' with a list of values",
            )
        log.error("database error: %s", exc.orig)
        return error(503, "unavailable", "the database is busy or unreachable; retry shortly")

    @api.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error(500, "internal_error", "something went wrong on our side; it has been logged")
