"""create_app(): the FastAPI application — middleware, error mapping, routers."""

from __future__ import annotations

import importlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanlin.api.request_metrics import RequestMetricsMiddleware
from hanlin.config import Settings
from hanlin.errors import HanlinError, RateLimited
from hanlin.services import Services, build_services

log = logging.getLogger(__name__)

# Routers: core first; feature routers are imported when their module exists.
ROUTER_MODULES = [
    "hanlin.api.routers.system",
    "hanlin.api.routers.openai",
    "hanlin.api.routers.apps",
    "hanlin.api.routers.minutes",
    "hanlin.api.routers.audio",
    "hanlin.api.routers.spreadsheet",
    "hanlin.api.routers.documents",
    "hanlin.api.routers.knowledge",
    "hanlin.api.routers.ocr",
    "hanlin.api.routers.admin",
    "hanlin.api.routers.evals",
    "hanlin.api.routers.tuning",
    "hanlin.api.routers.files",
    "hanlin.web.routes",
]


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id(sent: str | None) -> str:
    """The client's ``x-request-id`` when it is a sane token (echoed back, as OpenAI and proxies do), else a
    new ``req_…`` id."""
    if sent and _REQUEST_ID.match(sent):
        return sent
    return f"req_{uuid.uuid4().hex}"


class RequestIdMiddleware:
    """Pure ASGI (streams pass through untouched): sets ``x-request-id`` on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(Headers(scope=scope).get("x-request-id"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = rid
            await send(message)

        await self.app(scope, receive, send_with_id)


def _error_response(err: HanlinError) -> JSONResponse:
    headers = {}
    if isinstance(err, RateLimited):
        headers["Retry-After"] = str(max(1, int(err.retry_after + 0.999)))
    return JSONResponse(err.to_dict(), status_code=err.status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errs = exc.errors()
    if not errs:
        return "Invalid request body", None
    first = errs[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
    param = ".".join(loc) or None
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON: " + str(first.get("msg")), None
    more = f" (and {len(errs) - 1} more problems)" if len(errs) > 1 else ""
    return f"Invalid value for '{param}': {first.get('msg')}{more}", param


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.jobs.start()
        for fn in services.startup:
            res = fn()
            if hasattr(res, "__await__"):
                await res
        try:
            yield
        finally:
            for fn in services.shutdown:
                res = fn()
                if hasattr(res, "__await__"):
                    await res
            await services.jobs.stop()
            await services.engines.close()

    app = FastAPI(title="Hanlin 翰林", version="0.1.0", lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    app.state.services = services
    app.state.settings = settings

    @app.exception_handler(HanlinError)
    async def _hanlin_error(_req: Request, exc: HanlinError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req: Request, exc: RequestValidationError) -> JSONResponse:
        msg, param = _validation_message(exc)
        return JSONResponse({"error": {"message": msg, "type": "invalid_request_error", "param": param,
                                       "code": "invalid_parameter"}}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        typ = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return JSONResponse({"error": {"message": str(exc.detail), "type": typ, "param": None, "code": None}},
                            status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"error": {"message": f"internal error: {type(exc).__name__}",
                                       "type": "server_error", "param": None, "code": None}}, status_code=500)

    app.add_middleware(RequestMetricsMiddleware, metrics=services.metrics,
                       max_body_bytes=settings.max_upload_mb * 1024 * 1024)

    for feature_middleware in services.extras.get("http_middleware", []):  # e.g. platform quotas on /v1/apps
        app.middleware("http")(feature_middleware)

    app.add_middleware(RequestIdMiddleware)  # added last: outermost, so every response carries the id

    for mod_name in ROUTER_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name and mod_name.startswith(e.name):
                continue
            raise
        app.include_router(mod.router)
    return app


def error_json(err: HanlinError) -> str:
    return json.dumps(err.to_dict(), ensure_ascii=False)
