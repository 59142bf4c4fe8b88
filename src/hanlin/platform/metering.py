"""Token metering for the office apps and background jobs, which call engines directly (not the chat service).

While a metered request (a route that declares the ``Metered`` dependency) or a job runs, a :class:`Tally` sits
in a context variable; :func:`metered_engine`, registered as an engine wrapper, then wraps what
``EngineManager.get`` hands out in :class:`MeteredEngine`, which adds every response's ``usage`` to the tally.
The request's (or job's) usage row is written with the tally when it ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from hanlin.engine.base import Engine
from hanlin.jobs import Handler, JobCancelled, JobContext
from hanlin.principal import Principal

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
    try:
        _current.reset(token)
    except ValueError:  # ended in another context than it started (a dependency's exit): just clear it
        _current.set(None)


class MeteredEngine:
    """Passes everything through to the engine and counts the tokens of each answer."""

    def __init__(self, inner: Engine, tally: Tally) -> None:
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

    async def health(self) -> bool:
        return await self._inner.health()

    async def close(self) -> None:
        await self._inner.close()


def metered_engine(engine: Engine) -> Engine:
    """The engine wrapper: inside a metered request or job, count the tokens of what ``engine`` answers."""
    tally = _current.get()
    if tally is None or isinstance(engine, MeteredEngine):
        return engine
    return MeteredEngine(engine, tally)


JobRecorder = Callable[[Principal, str, Tally, float, str], None]


def metered_job(record: JobRecorder) -> Callable[[str, JobContext, Handler], Any]:
    """A ``JobRunner`` around-hook: each job runs with its own tally, recorded as ``job:<kind>`` when it ends."""
    async def around(kind: str, ctx: JobContext, call: Handler) -> dict[str, Any]:
        tally, token = start_tally()
        started, status = time.time(), "ok"
        try:
            return await call(ctx)
        except (JobCancelled, asyncio.CancelledError):
            status = "cancelled"
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            stop_tally(token)
            record(ctx.principal, f"job:{kind}", tally, time.time() - started, status)
    return around
