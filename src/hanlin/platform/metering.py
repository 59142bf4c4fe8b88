"""Token metering for the office apps and background jobs, which call engines directly (not the chat service).

While a metered request (``POST /v1/apps/*``…) or a job runs, a :class:`Tally` sits in a context variable;
``services.engines.get`` then hands out engines wrapped in :class:`MeteredEngine`, which add every response's
``usage`` to the tally. The request's (or job's) usage row is written with the tally when it ends.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from hanlin.platform.principal import Principal, reset_current_principal, set_current_principal

_current: ContextVar[Tally | None] = ContextVar("hanlin_usage_tally", default=None)


@dataclass
class Tally:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    models: list[str] = field(default_factory=list)
    pages: int = 0  # pages OCR'd (POST /v1/ocr)

    def add(self, model: str, usage: dict[str, Any] | None) -> None:
        u = usage or {}
        self.prompt_tokens += int(u.get("prompt_tokens") or 0)
        self.completion_tokens += int(u.get("completion_tokens") or 0)
        self.calls += 1
        if model not in self.models:
            self.models.append(model)

    @property
    def model(self) -> str:
        return ",".join(self.models)


def current_tally() -> Tally | None:
    return _current.get()


def start_tally() -> tuple[Tally, Any]:
    tally = Tally()
    return tally, _current.set(tally)


def stop_tally(token: Any) -> None:
    _current.reset(token)


class MeteredEngine:
    """Passes everything through to the engine and counts the tokens of each answer."""

    def __init__(self, inner: Any, tally: Tally) -> None:
        self._inner = inner
        self._tally = tally
        self.info = inner.info

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        resp: dict[str, Any] = await self._inner.chat(request)
        self._tally.add(self.info.name, resp.get("usage"))
        return resp

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        resp: dict[str, Any] = await self._inner.complete(request)
        self._tally.add(self.info.name, resp.get("usage"))
        return resp

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        it = self._inner.stream(request)
        try:
            async for chunk in it:
                if chunk.get("usage"):
                    self._tally.add(self.info.name, chunk["usage"])
                yield chunk
        finally:
            if hasattr(it, "aclose"):
                await it.aclose()  # an early close must still free the engine's slot


JobRecorder = Callable[[Principal, str, Tally, float, str], None]


def install_metering(services: Any, record: JobRecorder) -> None:
    """Wrap ``engines.get`` (tally-aware engines) and ``jobs.register`` (each job runs with its own tally)."""
    engines = services.engines
    original_get = engines.get

    async def metered_get(name: str | None = None, **kw: Any) -> Any:
        engine = await original_get(name, **kw)
        tally = _current.get()
        if tally is None or isinstance(engine, MeteredEngine):
            return engine
        return MeteredEngine(engine, tally)
    engines.get = metered_get

    jobs = services.jobs
    original_register = jobs.register

    def register(kind: str, fn: Callable[[Any], Awaitable[dict[str, Any]]], *, resumable: bool = False) -> None:
        async def metered_job(ctx: Any) -> dict[str, Any]:
            tally, token = start_tally()
            started, status = time.time(), "ok"
            caller = set_current_principal(Principal(tenant_id=ctx.tenant_id))  # the job's models are its tenant's
            try:
                return await fn(ctx)
            except BaseException as e:
                status = "cancelled" if type(e).__name__ in ("JobCancelled", "CancelledError") else "failed"
                raise
            finally:
                stop_tally(token)
                reset_current_principal(caller)
                record(Principal(tenant_id=ctx.tenant_id), f"job:{kind}", tally, time.time() - started, status)
        original_register(kind, metered_job, resumable=resumable)
    jobs.register = register
