"""create_app(): the FastAPI application — middleware, error mapping, routers."""

from __future__ import annotations

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

from hanlin import __version__
from hanlin.api.chat_metering import ChatMeteringMiddleware
from hanlin.api.deps import authenticate
from hanlin.api.request_metrics import RequestMetricsMiddleware
from hanlin.api.routers import (
    admin,
    ads,
    audio,
    custom_apps,
    documents,
    evals,
    files,
    knowledge,
    minutes,
    ocr,
    openai,
    spreadsheet,
    system,
    tuning,
)
from hanlin.config import Settings
from hanlin.errors import AuthenticationError, BadRequest, HanlinError, RateLimited
from hanlin.limits import mb_bytes
from hanlin.platform.auth import Authenticator
from hanlin.services import Services, build_services
from hanlin.web import routes as web

log = logging.getLogger(__name__)

ROUTERS = (system.router, openai.router, custom_apps.router, minutes.router, audio.router, spreadsheet.router,
           documents.router, ads.router, knowledge.router, ocr.router, admin.router, evals.router, tuning.router,
           files.router, web.router)
SCHEMA_PATHS = ("/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc")


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


# Multipart form fields and file names are decoded with the charset the client names in Content-Type. UTF-7 and the
# *_escape codecs turn plain ASCII into lone surrogates ("+2AA-" is "\ud800"), which no database or JSON encoder
# accepts: a knowledge-base upload named that way was a 500. Only charsets that cannot produce them are read.
_FORM_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"})
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\";\s]*)")  # matched against the lower-cased header


class FormCharsetMiddleware:
    """Pure ASGI: a multipart or urlencoded body in a charset other than UTF-8, ASCII or Latin-1 is a 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] != "GET":
            ctype = next((v for k, v in scope["headers"] if k == b"content-type"), b"").decode("latin-1").lower()
            if "charset" in ctype and ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
                m = _CHARSET.search(ctype)
                charset = m.group(1) if m else ""
                if charset not in _FORM_CHARSETS:
                    err = BadRequest(f"Form data in charset '{charset[:40]}' is not accepted: send it as UTF-8 "
                                     "(drop the charset parameter or use charset=utf-8).", code="unsupported_charset")
                    await JSONResponse(err.to_dict(), status_code=err.status)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


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


class SchemaNeedsAKey:
    """The API schema lists every route: with auth on, only callers with a key may read it (plain ASGI, so
    streamed bodies pass straight through)."""

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in SCHEMA_PATHS:
            headers = Headers(scope=scope)
            try:
                await authenticate(self.auth, headers.get("authorization"), headers.get("x-api-key"))
            except AuthenticationError:
                err = AuthenticationError("The API schema needs an API key when auth is on.", code="missing_api_key")
                await JSONResponse(err.to_dict(), status_code=err.status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


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

    app = FastAPI(title="Hanlin 翰林", version=__version__, lifespan=lifespan,
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

    if services.platform is not None:  # innermost of ours: around the chat route and its whole response
        app.add_middleware(ChatMeteringMiddleware, platform=services.platform)
    app.add_middleware(RequestMetricsMiddleware, metrics=services.metrics,
                       max_body_bytes=mb_bytes(settings.max_upload_mb))

    if services.auth.required:
        app.add_middleware(SchemaNeedsAKey, auth=services.auth)

    app.add_middleware(FormCharsetMiddleware)
    app.add_middleware(RequestIdMiddleware)  # added last: outermost, so every response carries the id

    for router in ROUTERS:
        app.include_router(router)
    return app
