"""Wires the platform into the service container: database-backed keys, quotas, usage metering, custom apps.

``install(services)`` sets ``services.auth.key_lookup``, adds the quota and custom-app chat hooks and the usage
sink, an HTTP middleware that applies quotas and metering to the non-chat generation routes (office apps,
knowledge base questions, completions, embeddings), and puts :class:`Platform` in ``services.extras``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hanlin.config import Settings
from hanlin.errors import HanlinError, RateLimited
from hanlin.platform.apps import AppStore, make_app_hook
from hanlin.platform.audit import AuditLog
from hanlin.platform.keys import KeyStore
from hanlin.platform.limits import RateLimiter, make_rate_limiter
from hanlin.platform.principal import Principal
from hanlin.platform.quotas import QuotaService
from hanlin.platform.tenants import TenantStore
from hanlin.platform.usage import UsageMeter
from hanlin.serving.chat import Prepared
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.store.db import Store

# POST routes that generate (and so count against quotas) besides /v1/chat/completions, which the chat
# service meters itself with exact token counts.
METERED_PREFIXES = ("/v1/apps/", "/v1/completions", "/v1/embeddings", "/v1/rerank")
METERED_SUFFIXES = ("/ask", "/search")


def is_metered(method: str, path: str) -> bool:
    if method != "POST":
        return False
    if path.startswith(METERED_PREFIXES):
        return True
    return path.startswith("/v1/knowledge-bases/") and path.endswith(METERED_SUFFIXES)


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

    # --- chat hooks ------------------------------------------------------------------------------------------
    async def quota_hook(self, principal: Principal, req: ChatCompletionRequest, prepared: Prepared) -> Prepared:
        try:
            self.quotas.admit(principal)
        except RateLimited:
            self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id,
                              model=req.model or self.settings.model, status="rate_limited")
            raise
        return prepared

    def usage_sink(self, principal: Principal, model: str, usage: dict[str, int], latency_s: float,
                   status: str) -> None:
        total = usage.get("total_tokens") or usage["prompt_tokens"] + usage["completion_tokens"]
        self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id, model=model,
                          prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"],
                          total_tokens=total, latency_s=latency_s, status=status)
        self.quotas.charge(principal, total)

    # --- HTTP middleware for the other generation routes -------------------------------------------------------
    def middleware(self, authenticate: Callable[[str | None, str | None], Principal]) -> Any:
        async def platform_middleware(request: Request,
                                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            path = request.url.path
            if request.method == "POST" and path == "/v1/chat/completions":
                return await self._chat_errors(request, call_next, authenticate)
            if not is_metered(request.method, path):
                return await call_next(request)
            try:
                principal = authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
            except HanlinError:
                return await call_next(request)  # the route's own dependency answers 401
            started = time.time()
            route = path[len("/v1/"):]
            try:
                self.quotas.admit(principal)
            except RateLimited as e:
                self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id, model="", route=route,
                                  status="rate_limited")
                return JSONResponse(e.to_dict(), status_code=e.status,
                                    headers={"Retry-After": str(max(1, int(e.retry_after + 0.999)))})
            response = await call_next(request)
            status = "ok" if response.status_code < 400 else f"http_{response.status_code}"
            self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id, model="", route=route,
                              latency_s=time.time() - started, status=status)
            return response
        return platform_middleware

    async def _chat_errors(self, request: Request, call_next: Callable[[Request], Awaitable[Response]],
                           authenticate: Callable[[str | None, str | None], Principal]) -> Response:
        """The chat service meters what it serves; record refused chat requests (404 app, 403 scope, 400...)."""
        started = time.time()
        response = await call_next(request)
        if response.status_code < 400 or response.status_code in (401, 429):  # 429s are recorded by the hook
            return response
        try:
            principal = authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
        except HanlinError:
            return response
        self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id, model="",
                          route="chat/completions", latency_s=time.time() - started,
                          status=f"http_{response.status_code}")
        return response


def install(services: Any) -> None:
    platform = Platform(services.store, services.settings)
    services.auth.key_lookup = platform.keys.lookup
    services.chat.hooks.append(platform.quota_hook)
    services.chat.hooks.append(make_app_hook(platform.apps, services.settings.model))
    services.chat.usage_sinks.append(platform.usage_sink)
    services.extras["platform"] = platform
    services.extras["audit"] = platform.audit
    services.extras.setdefault("http_middleware", []).append(platform.middleware(services.auth.authenticate))
