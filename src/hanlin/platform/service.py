"""Wires the platform into the service container: database-backed keys, quotas, usage metering, custom apps.

``install(services)`` sets ``services.auth.key_lookup``, adds the quota and custom-app chat hooks and the usage
sink, an HTTP middleware that applies quotas and metering to the non-chat generation routes (office apps,
knowledge base questions, completions, embeddings), and puts :class:`Platform` in ``services.extras``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hanlin.config import Settings
from hanlin.engine.tokens import prompt_tokens
from hanlin.errors import AuthenticationError, HanlinError, PermissionDenied, RateLimited
from hanlin.platform.apps import AppStore, make_app_hook
from hanlin.platform.audit import AuditLog, actor_of
from hanlin.platform.auth import Authenticator
from hanlin.platform.keys import KeyStore
from hanlin.platform.limits import RateLimiter, make_rate_limiter
from hanlin.platform.metering import Tally, current_tally, install_metering, start_tally, stop_tally
from hanlin.platform.principal import Principal, reset_current_principal, set_current_principal
from hanlin.platform.quotas import QuotaService, Reservation
from hanlin.platform.tenants import TenantStore
from hanlin.platform.usage import UsageMeter
from hanlin.serving.chat import Prepared
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.store.db import Store

log = logging.getLogger(__name__)

# POST routes that generate (and so count against quotas) besides /v1/chat/completions, which the chat
# service meters itself with exact token counts.
METERED_PREFIXES = ("/v1/apps/", "/v1/completions", "/v1/embeddings", "/v1/rerank", "/v1/ocr")
METERED_SUFFIXES = ("/ask", "/search")
SCHEMA_PATHS = ("/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc")


def is_metered(method: str, path: str) -> bool:
    if method != "POST":
        return False
    if path.startswith(METERED_PREFIXES):
        return True
    return path.startswith("/v1/knowledge-bases/") and path.endswith(METERED_SUFFIXES)


@dataclass
class HoldBox:
    """Carries a chat request's budget hold from the quota hook to the usage sink (or the error path)."""

    held: Reservation | None = None


_hold_box: ContextVar[HoldBox | None] = ContextVar("hanlin_budget_hold", default=None)


async def reserve_estimate(engines: Any, principal: Principal, prepared: Prepared, default_max_tokens: int) -> int:
    """What a chat request may cost at most: its real prompt token count (tokenized by the engine, or a safe
    upper bound) plus max_tokens — which a request under a token quota always gets, so it cannot outgrow this."""
    body = prepared.body
    if not body.get("max_tokens"):
        body["max_tokens"] = default_max_tokens
    engine = await engines.get(prepared.model, principal=principal)
    tokens, _ = await prompt_tokens(engine, body)
    return tokens + int(body["max_tokens"])


class Platform:
    def __init__(self, store: Store, settings: Settings, limiter: RateLimiter | None = None) -> None:
        self.store = store
        self.settings = settings
        self.audit = AuditLog(store)
        self.tenants = TenantStore(store, self.audit)
        self.keys = KeyStore(store, self.tenants, self.audit)
        self.usage = UsageMeter(store)
        self.quotas = QuotaService(store, limiter or make_rate_limiter(settings), self.usage)
        self.apps = AppStore(store, self.audit)
        self.engines: Any = None  # set by install(): the quota hook tokenizes prompts with the request's engine

    # --- chat hooks ------------------------------------------------------------------------------------------
    async def quota_hook(self, principal: Principal, req: ChatCompletionRequest, prepared: Prepared) -> Prepared:
        estimate = 0  # rpm only: nothing to tokenize
        if self.engines is not None and self.quotas.has_token_limits(principal):
            estimate = await reserve_estimate(self.engines, principal, prepared,
                                              self.settings.quota_default_max_tokens)
        try:
            held = self.quotas.admit(principal, estimate)
        except RateLimited:
            self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id,
                              model=req.model or self.settings.model, status="rate_limited")
            raise
        box = _hold_box.get()
        if box is None:  # called without the middleware (in-process use): the sink runs in this context
            box = HoldBox()
            _hold_box.set(box)
        self.quotas.release(box.held)
        box.held = held
        return prepared

    def usage_sink(self, principal: Principal, model: str, usage: dict[str, int], latency_s: float,
                   status: str) -> None:
        if current_tally() is not None:  # inside a metered app request or job: its own row counts these tokens
            return
        total = usage.get("total_tokens") or usage["prompt_tokens"] + usage["completion_tokens"]
        self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id, model=model,
                          prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"],
                          total_tokens=total, latency_s=latency_s, status=status)
        box = _hold_box.get()
        self._charge(principal, total, box.held if box is not None else None)  # settles this request's reservation

    def _charge(self, principal: Principal, tokens: int, held: Reservation | None = None) -> None:
        try:
            self.quotas.charge(principal, tokens, held)
        except HanlinError:  # e.g. Redis gone after the answer was made: the usage row is already written
            log.warning("could not charge %d tokens to tenant %s", tokens, principal.tenant_id)

    def record_tally(self, principal: Principal, route: str, tally: Tally, latency_s: float, status: str) -> None:
        total = tally.prompt_tokens + tally.completion_tokens
        self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id, model=tally.model, route=route,
                          prompt_tokens=tally.prompt_tokens, completion_tokens=tally.completion_tokens,
                          latency_s=latency_s, status=status, pages=tally.pages)
        self._charge(principal, total)

    # --- HTTP middleware for the other generation routes -------------------------------------------------------
    def middleware(self, auth: Authenticator) -> Any:
        def who(request: Request) -> Principal | None:
            try:
                return auth.authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
            except HanlinError:
                return None

        async def platform_middleware(request: Request,
                                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            path, method = request.url.path, request.method
            if method == "POST" and path == "/v1/chat/completions":
                return await self._chat_errors(request, call_next, who)
            if path in SCHEMA_PATHS and auth.required and who(request) is None:
                err = AuthenticationError("The API schema needs an API key when auth is on.", code="missing_api_key")
                return JSONResponse(err.to_dict(), status_code=err.status)
            if path.startswith("/v1/knowledge-bases") and method in ("POST", "PUT", "PATCH", "DELETE") \
                    and not is_metered(method, path):
                response = await call_next(request)
                principal = who(request) if response.status_code < 300 else None
                if principal is not None:
                    self._audit_knowledge(principal, method, path)
                return response
            if not is_metered(method, path):
                return await call_next(request)
            principal = who(request)
            if principal is None:
                return await call_next(request)  # the route's own dependency answers 401
            return await self._metered(request, call_next, principal)
        return platform_middleware

    async def _metered(self, request: Request, call_next: Callable[[Request], Awaitable[Response]],
                       principal: Principal) -> Response:
        """Quotas before, and a usage row with the tokens its engines used after, a non-chat generation route."""
        started = time.time()
        route = request.url.path[len("/v1/"):]
        denied = await self._scope_check(request, principal)
        if denied is not None:
            return denied
        try:
            self.quotas.release(self.quotas.admit(principal))  # these routes' tokens are charged when they end
        except RateLimited as e:
            self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id, model="", route=route,
                              status="rate_limited")
            return JSONResponse(e.to_dict(), status_code=e.status,
                                headers={"Retry-After": str(max(1, int(e.retry_after + 0.999)))})
        except HanlinError as e:  # e.g. the shared limiter (Redis) is down: outside the app's error handlers here
            return JSONResponse(e.to_dict(), status_code=e.status)
        tally, token = start_tally()
        caller = set_current_principal(principal)  # engines handed out below are checked against this tenant
        try:
            response = await call_next(request)
        finally:
            reset_current_principal(caller)
            stop_tally(token)
        status = "ok" if response.status_code < 400 else f"http_{response.status_code}"
        self.record_tally(principal, route, tally, time.time() - started, status)
        return response

    async def _scope_check(self, request: Request, principal: Principal) -> Response | None:
        """/v1/completions and /v1/embeddings name a model in their JSON body: keep scoped keys to theirs."""
        path = request.url.path
        if not principal.scopes or path not in ("/v1/completions", "/v1/embeddings"):
            return None
        try:
            model = (json.loads(await request.body() or b"{}") or {}).get("model")
        except (ValueError, AttributeError):
            return None  # the route answers the malformed body with 400
        default = self.settings.embedding_model if path.endswith("embeddings") else self.settings.model
        if principal.allows(f"model:{model or default}"):
            return None
        err = PermissionDenied(f"This API key may not use model '{model or default}'", param="model")
        return JSONResponse(err.to_dict(), status_code=err.status)

    def _audit_knowledge(self, principal: Principal, method: str, path: str) -> None:
        parts = path.strip("/").split("/")[2:]  # after v1/knowledge-bases
        if not parts:
            action, target = "kb.create", None
        elif len(parts) == 1:
            action, target = ("kb.delete" if method == "DELETE" else "kb.update"), parts[0]
        elif parts[1] == "documents":
            action = "kb.document.delete" if method == "DELETE" else "kb.document.add"
            target = "/".join(parts)
        else:
            action, target = f"kb.{parts[-1]}", "/".join(parts)
        self.audit.record(actor_of(principal), action, tenant_id=principal.tenant_id, target=target)

    async def _chat_errors(self, request: Request, call_next: Callable[[Request], Awaitable[Response]],
                           who: Callable[[Request], Principal | None]) -> Response:
        """The chat service meters what it serves; record refused chat requests (404 app, 403 scope, 400...)."""
        started = time.time()
        box = HoldBox()  # the quota hook, running in the route's task, puts its budget hold here
        token = _hold_box.set(box)
        try:
            response = await call_next(request)
        finally:
            _hold_box.reset(token)
        if response.status_code >= 400:  # refused after admission (unknown app, scope...): nothing to hold
            self.quotas.release(box.held)
        if response.status_code < 400 or response.status_code in (401, 429):  # 429s are recorded by the hook
            return response
        principal = who(request)
        if principal is None:
            return response
        self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id, model="",
                          route="chat/completions", latency_s=time.time() - started,
                          status=f"http_{response.status_code}")
        return response


def install(services: Any) -> None:
    platform = Platform(services.store, services.settings)
    services.auth.key_lookup = platform.keys.lookup
    platform.engines = services.engines
    services.chat.admission.append(platform.quota_hook)  # after every hook: it counts the final prompt
    services.chat.hooks.append(make_app_hook(platform.apps, services.settings.model))
    services.chat.usage_sinks.append(platform.usage_sink)
    services.extras["platform"] = platform
    services.extras["audit"] = platform.audit
    services.extras.setdefault("http_middleware", []).append(platform.middleware(services.auth))
    install_metering(services, platform.record_tally)
