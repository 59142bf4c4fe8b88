"""The platform: database-backed tenants, keys, quotas, usage metering, audit and custom apps.

The composition root (``hanlin.services``) wires it in: ``auth.key_lookup``, the quota and custom-app chat hooks,
the usage sink, the metering engine wrapper and job around-hook. Routes that generate besides chat declare the
API's ``Metered`` dependency, which runs :meth:`Platform.metered` around them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from hanlin.config import Settings
from hanlin.engine.manager import EngineManager
from hanlin.engine.tokens import prompt_tokens
from hanlin.errors import HanlinError, RateLimited
from hanlin.platform.apps import AppStore
from hanlin.platform.audit import AuditLog
from hanlin.platform.key_cache import KeyCache
from hanlin.platform.keys import KeyStore
from hanlin.platform.limits import RateLimiter, make_rate_limiter
from hanlin.platform.metering import Tally, current_tally, start_tally, stop_tally
from hanlin.platform.quotas import QuotaService, Reservation
from hanlin.platform.tenants import TenantStore
from hanlin.platform.usage import UsageMeter
from hanlin.principal import Principal
from hanlin.serving.chat import Prepared
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.store.db import Store

log = logging.getLogger(__name__)


@dataclass
class HoldBox:
    """Carries a chat request's budget hold from the quota hook to the usage sink (or the error path)."""

    held: Reservation | None = None


_hold_box: ContextVar[HoldBox | None] = ContextVar("hanlin_budget_hold", default=None)


async def reserve_estimate(engines: EngineManager, principal: Principal, prepared: Prepared, default_max_tokens: int) -> int:
    """What a chat request may cost at most: its real prompt token count (tokenized by the engine, or a safe
    upper bound) plus max_tokens — which a request under a token quota always gets, so it cannot outgrow this."""
    body = prepared.body
    if not body.get("max_tokens"):
        body["max_tokens"] = default_max_tokens
    engine = await engines.get(prepared.model, principal=principal, app=prepared.app)
    tokens, _ = await prompt_tokens(engine, body)
    return tokens + int(body["max_tokens"])


class Platform:
    def __init__(self, store: Store, settings: Settings, limiter: RateLimiter | None = None,
                 engines: EngineManager | None = None) -> None:
        self.store = store
        self.settings = settings
        self.audit = AuditLog(store)
        self.key_cache = KeyCache(settings.home / "keys.stamp")
        self.tenants = TenantStore(store, self.audit, self.key_cache)
        self.keys = KeyStore(store, self.tenants, self.audit, self.key_cache)
        self.usage = UsageMeter(store)
        self.quotas = QuotaService(store, limiter or make_rate_limiter(settings), self.usage)
        self.apps = AppStore(store, self.audit)
        self.engines = engines  # the quota hook tokenizes prompts with the request's engine

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

    def app_models(self, principal: Principal) -> list[dict[str, Any]]:
        """The caller's custom apps as OpenAI model objects (``app:NAME``) for ``/v1/models``."""
        return [{"id": f"app:{a.name}", "object": "model", "created": int(a.created_at), "owned_by": a.tenant_id}
                for a in self.apps.list(principal.tenant_id) if principal.allows(f"app:{a.name}")]

    # --- metered routes (the API's ``Metered`` dependency) ---------------------------------------------------
    def admit(self, principal: Principal, route: str) -> None:
        """Rate limits and budgets before a non-chat generation route; its tokens are charged when it ends."""
        try:
            self.quotas.release(self.quotas.admit(principal))
        except RateLimited:
            self.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id, model="", route=route,
                              status="rate_limited")
            raise

    @asynccontextmanager
    async def metered(self, principal: Principal, route: str) -> AsyncIterator[Callable[[int], None]]:
        """Quotas before, and a usage row with the tokens its engines used after, a non-chat generation route.
        Yields ``set_status(http_status)`` for a failure the caller maps to an HTTP status."""
        self.admit(principal, route)
        started = time.time()
        status = {"code": 200}
        tally, token = start_tally()
        try:
            yield lambda code: status.update(code=code)
        finally:
            stop_tally(token)
            code = status["code"]
            self.record_tally(principal, route, tally, time.time() - started, "ok" if code < 400 else f"http_{code}")

    @asynccontextmanager
    async def chat_request(self, principal: Callable[[], Principal | None],
                           route: str) -> AsyncIterator[Callable[[int], None]]:
        """Around ``/v1/chat/completions``: the chat service meters what it serves; this records refused requests
        (404 app, 403 scope, 400…) and drops a budget hold that the quota hook made for a refused request.
        ``principal`` gives the caller once the request is done (None when it never authenticated)."""
        started = time.time()
        box = HoldBox()  # the quota hook, running in the route's task, puts its budget hold here
        token = _hold_box.set(box)
        status = {"code": 200}
        try:
            yield lambda code: status.update(code=code)
        finally:
            try:
                _hold_box.reset(token)
            except ValueError:
                _hold_box.set(None)
            code = status["code"]
            if code >= 400:  # refused after admission (unknown app, scope...): nothing to hold
                self.quotas.release(box.held)
            caller = principal()
            if code >= 400 and code not in (401, 429) and caller is not None:  # 429s: recorded by the quota hook
                self.usage.record(tenant_id=caller.tenant_id, key_id=caller.key_id, model="", route=route,
                                  latency_s=time.time() - started, status=f"http_{code}")
