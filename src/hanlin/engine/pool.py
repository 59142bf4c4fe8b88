"""An engine pool: one model name served by several engines (vLLM, llama.cpp servers, other Hanlin nodes,
local xllamacpp instances).

Routing picks the member with the fewest outstanding requests. A member whose requests fail is taken out (its
circuit opens) and gets a trial request after a cooldown that doubles while it keeps failing. A member that does
not answer the periodic health check is out until it answers again. A request that fails before its first token is retried on another member, so clients
never see an engine dying under them unless it had already started streaming to them; then the stream ends
with an SSE error event (``api/sse.py``) saying the answer is incomplete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from hanlin.engine.base import ChatRequest, Chunk, Engine, EngineInfo, SSEBlock
from hanlin.engine.config_file import MemberConfig, PoolConfig, StructuredOutput
from hanlin.engine.upstream import UpstreamEngine
from hanlin.errors import BadRequest, EngineError, HanlinError, RateLimited, Unavailable

if TYPE_CHECKING:
    from hanlin.engine.manager import EngineManager

log = logging.getLogger(__name__)
T = TypeVar("T")


# --- upstream dialects ---------------------------------------------------------------------------------------
def schema_of(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema a ``response_format`` asks for (``{"type": "object"}`` for plain JSON mode)."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        inner = response_format.get("json_schema") or {}
        return inner.get("schema") or {"type": "object"}
    if kind == "json_object":
        return response_format.get("schema") or {"type": "object"}
    return None


def adapt_body(body: dict[str, Any], kind: str, dialect: StructuredOutput) -> dict[str, Any]:
    """Rewrite an OpenAI body into what one upstream understands (structured output, sampling names)."""
    out = dict(body)
    schema = schema_of(out.get("response_format"))
    if schema is not None:
        if dialect == "response_format":
            name = ((out["response_format"].get("json_schema") or {}).get("name")) or "output"
            out["response_format"] = {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
        else:
            out.pop("response_format")
            if dialect == "guided_json":
                out["guided_json"] = schema
            elif dialect == "structured_outputs":
                out["structured_outputs"] = {"json": schema}
            elif dialect == "json_schema":
                out["json_schema"] = schema
    if kind == "vllm" and "repeat_penalty" in out:
        out["repetition_penalty"] = out.pop("repeat_penalty")
    if kind == "openai":
        for key in ("top_k", "repeat_penalty"):
            out.pop(key, None)
    return out


class DialectEngine(UpstreamEngine):
    """An UpstreamEngine that speaks one server's dialect."""

    def __init__(self, label: str, upstream_model: str, cfg: MemberConfig) -> None:
        super().__init__(label, cfg.base_url, upstream_model=upstream_model, api_key_env=cfg.api_key_env,
                         timeout=cfg.timeout_s, connect_timeout=cfg.connect_timeout_s)
        self.kind, self.dialect = cfg.kind, cfg.dialect
        self.info.kind = cfg.kind

    def _body(self, request: dict[str, Any]) -> dict[str, Any]:
        return adapt_body(super()._body(request), self.kind, self.dialect)


class LocalMember:
    """A model of this node's registry, loaded by the EngineManager on first use (xllamacpp in-process)."""

    def __init__(self, manager: EngineManager, model: str) -> None:
        self.manager, self.model = manager, model
        self.info = EngineInfo(name=model, kind="local")

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        return await (await self.manager.load(self.model)).chat(request)

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        return await (await self.manager.load(self.model)).complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        engine = await self.manager.load(self.model)
        async for chunk in engine.stream(request):
            yield chunk

    async def health(self) -> bool:
        return True

    async def close(self) -> None:
        return None  # the manager owns the loaded engine


# --- members and the circuit breaker ----------------------------------------------------------------------
@dataclass
class Member:
    label: str
    engine: Engine
    max_concurrency: int = 0
    outstanding: int = 0
    open_until: float = 0.0  # 0 = circuit closed; else taken out until then (after failed requests)
    healthy: bool = True  # the last health check answered
    consecutive_failures: int = 0
    cooldown_s: float = 15.0
    served: int = 0
    failed: int = 0
    last_error: str = ""
    _sem: asyncio.Semaphore | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.max_concurrency:
            self._sem = asyncio.Semaphore(self.max_concurrency)

    def available(self, now: float) -> bool:
        # healthy, and the circuit closed or half-open (its cooldown over: the next request is a trial)
        return self.healthy and (self.open_until == 0.0 or now >= self.open_until)

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        state = ("down" if not self.available(now) else "up" if self.open_until == 0.0 else "half-open")
        return {"member": self.label, "kind": self.engine.info.kind, "state": state,
                "outstanding": self.outstanding, "served": self.served, "failed": self.failed,
                "healthy": self.healthy,
                "retry_in_s": round(max(0.0, self.open_until - now), 1) if self.open_until else 0.0,
                "last_error": self.last_error}


# Errors that say "this member is unwell": try another one. Client errors (BadRequest, NotFound from a
# validation failure, ContextOverflow) are the request's fault and would fail the same way everywhere.
_RETRYABLE = (EngineError, Unavailable, RateLimited, OSError, json.JSONDecodeError)


def _member_fault(e: BaseException) -> bool:
    return isinstance(e, _RETRYABLE) and not isinstance(e, RateLimited)


def _has_token(chunk: Chunk) -> bool:
    """Does this chunk carry output (not just the opening role delta)?"""
    if chunk.get("usage"):
        return True
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or choice.get("finish_reason") is not None:
            return True
    return False


def _block_has_token(block: SSEBlock) -> bool:
    """Does this relayed block carry output? Only the first block(s) of a stream are looked into."""
    if block.usage is not None:
        return True
    for event in block.data.split(b"\n\n"):
        payload = event.partition(b"data:")[2].strip()
        if payload:
            try:
                chunk = json.loads(payload)
            except ValueError:
                continue
            if isinstance(chunk, dict) and _has_token(chunk):
                return True
    return False


class EnginePool:
    """Implements Engine over several members; see the module docstring."""

    def __init__(self, name: str, members: list[Member], *, health_interval_s: float = 10.0,
                 failure_threshold: int = 1, cooldown_s: float = 15.0, max_cooldown_s: float = 300.0,
                 max_attempts: int = 3, n_ctx: int = 0) -> None:
        if not members:
            raise BadRequest(f"pool '{name}' has no members")
        self.members = members
        for m in members:
            m.cooldown_s = cooldown_s
        self.health_interval_s, self.failure_threshold = health_interval_s, failure_threshold
        self.base_cooldown_s, self.max_cooldown_s = cooldown_s, max_cooldown_s
        self.max_attempts = max(1, max_attempts)
        self.retries = 0  # requests moved to another member after a failure before their first token
        self._rr = 0
        self._health_task: asyncio.Task[None] | None = None
        self.info = EngineInfo(name=name, kind="pool", owned_by="hanlin", n_ctx=n_ctx,
                               slots=sum(max(1, m.max_concurrency or m.engine.info.slots) for m in members),
                               meta={"members": [m.label for m in members]})

    @property
    def busy(self) -> int:
        return sum(m.outstanding for m in self.members)

    def status(self) -> list[dict[str, Any]]:
        return [m.status() for m in self.members]

    # --- routing -------------------------------------------------------------------------------------------
    def pick(self, exclude: Collection[int] = ()) -> Member:
        """Least outstanding requests among available members; ties rotate so load spreads evenly."""
        now = time.monotonic()
        candidates = [i for i, m in enumerate(self.members) if i not in exclude and m.available(now)]
        if not candidates:
            down = [m for m in self.members if not m.available(now)]
            wait = min((m.open_until - now if m.healthy else self.health_interval_s for m in down),
                       default=self.base_cooldown_s)
            raise Unavailable(f"Model '{self.info.name}': no engine of its pool can take the request "
                              f"({len(down)} of {len(self.members)} down; next retry in {max(wait, 0):.0f} s). "
                              "Check the upstream servers or the pool in the --config file.",
                              code="engines_unavailable", extra={"members": self.status()})
        self._rr += 1
        n = len(self.members)
        best = min(candidates, key=lambda i: (self.members[i].outstanding, (i - self._rr) % n))
        return self.members[best]

    def _success(self, m: Member) -> None:
        m.served += 1
        m.healthy = True
        if m.open_until or m.consecutive_failures:
            if m.open_until:
                log.info("pool %s: member %s is back", self.info.name, m.label)
            m.open_until, m.consecutive_failures, m.cooldown_s = 0.0, 0, self.base_cooldown_s

    def _failure(self, m: Member, e: BaseException) -> None:
        m.failed += 1
        m.last_error = f"{type(e).__name__}: {getattr(e, 'message', str(e))}"[:300]
        if _member_fault(e):
            self._trip(m)

    def _trip(self, m: Member) -> None:
        """Count a fault; open the circuit at the threshold, or again (with a doubled wait) after a failed trial."""
        now = time.monotonic()
        if m.open_until > now:
            return  # already out: requests that were in flight when it broke do not extend the wait
        m.consecutive_failures += 1
        if m.open_until or m.consecutive_failures >= self.failure_threshold:
            m.open_until = now + m.cooldown_s
            log.warning("pool %s: member %s taken out for %.0f s: %s", self.info.name, m.label, m.cooldown_s,
                        m.last_error)
            m.cooldown_s = min(m.cooldown_s * 2, self.max_cooldown_s)

    @contextlib.asynccontextmanager
    async def _slot(self, m: Member) -> AsyncIterator[None]:
        m.outstanding += 1
        try:
            if m._sem is None:
                yield
            else:
                async with m._sem:
                    yield
        finally:
            m.outstanding -= 1

    def _candidates(self) -> Iterator[Member]:
        """Members to try for one request, each at most once, up to max_attempts; stops when none is up."""
        tried: set[int] = set()
        for _ in range(min(self.max_attempts, len(self.members))):
            try:
                m = self.pick(tried)
            except Unavailable:
                return
            self.retries += bool(tried)  # counted when a request actually moves to another member
            tried.add(self.members.index(m))
            yield m

    async def _call(self, fn: Callable[[Engine], Awaitable[T]]) -> T:
        last: BaseException | None = None
        for m in self._candidates():
            try:
                async with self._slot(m):
                    result = await fn(m.engine)
            except _RETRYABLE as e:
                self._failure(m, e)
                last = e
                continue
            self._success(m)
            return result
        raise self._exhausted(last)

    def _exhausted(self, last: BaseException | None) -> HanlinError:
        if last is None:
            self.pick()  # raises the "all down" error
            last = EngineError("no member answered")
        if isinstance(last, RateLimited):
            return last
        msg = getattr(last, "message", str(last))
        return Unavailable(f"Model '{self.info.name}': every engine tried failed; last error: {msg}",
                           code="engines_unavailable", extra={"members": self.status()})

    # --- Engine protocol -----------------------------------------------------------------------------------
    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        resp = await self._call(lambda e: e.chat(request))
        resp["model"] = self.info.name
        return resp

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        resp = await self._call(lambda e: e.complete(request))
        resp["model"] = self.info.name
        return resp

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        async for chunk in self._failover(lambda e: e.stream(request), _has_token):
            chunk["model"] = self.info.name
            yield chunk

    @property
    def relays_sse(self) -> bool:
        """Every member is an HTTP upstream, so streams can be relayed as bytes (``stream_sse``)."""
        return all(hasattr(m.engine, "stream_sse") for m in self.members)

    async def stream_sse(self, request: ChatRequest, model: str) -> AsyncIterator[SSEBlock]:
        """``stream`` for byte relays: the same routing, retry-before-the-first-token and circuit breaking, with
        the upstream's events forwarded as they arrived."""
        async for block in self._failover(lambda e: e.stream_sse(request, model),  # type: ignore[attr-defined]
                                          _block_has_token):
            yield block

    async def _failover(self, open_stream: Callable[[Engine], AsyncIterator[T]],
                        has_token: Callable[[T], bool]) -> AsyncIterator[T]:
        """One stream from the first member that produces a token: what came before the first token is held back,
        so a member failing before it is retried on another; after it, a failure ends the stream with an error."""
        last: BaseException | None = None
        for m in self._candidates():
            held: list[T] = []
            started = False
            async with self._slot(m):
                it = open_stream(m.engine).__aiter__()
                try:
                    async for item in it:
                        if not started:
                            held.append(item)
                            if not has_token(item):
                                continue
                            started = True
                            for h in held:
                                yield h
                            held.clear()
                            continue
                        yield item
                except _RETRYABLE as e:
                    self._failure(m, e)
                    if started:
                        msg = getattr(e, "message", str(e))
                        raise EngineError(f"engine {m.label} of model '{self.info.name}' failed while streaming; "
                                          f"the answer above is incomplete ({msg})",
                                          code="engine_failed_mid_stream") from e
                    last = e
                    continue
                finally:
                    with contextlib.suppress(Exception):
                        await it.aclose()  # type: ignore[attr-defined]
            for h in held:  # an answer without any token (empty completion) is still an answer
                yield h
            self._success(m)
            return
        raise self._exhausted(last)

    async def health(self) -> bool:
        now = time.monotonic()
        return any(m.available(now) for m in self.members)

    # --- health checks -------------------------------------------------------------------------------------
    async def check_members(self) -> None:
        """One round of health checks. A member that does not answer is out until it answers again. Answering does
        not end a circuit opened by failed requests (a server can list its models yet fail to generate): that
        member gets its trial request when its cooldown is over."""
        async def one(m: Member) -> None:
            try:
                ok = await asyncio.wait_for(m.engine.health(), timeout=max(1.0, self.health_interval_s))
            except Exception:
                ok = False
            if ok != m.healthy:
                log.log(logging.INFO if ok else logging.WARNING, "pool %s: member %s %s its health check",
                        self.info.name, m.label, "passes" if ok else "fails")
                m.healthy = ok
                if not ok:
                    m.last_error = "health check failed"
        await asyncio.gather(*(one(m) for m in self.members))

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval_s)
            try:
                await self.check_members()
            except Exception:  # keep checking; one bad round must not stop the loop
                log.exception("pool %s: health check round failed", self.info.name)

    def start(self) -> None:
        if self._health_task is None:
            self._health_task = asyncio.get_running_loop().create_task(self._health_loop())

    async def close(self) -> None:
        if self._health_task:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None
        for m in self.members:
            await m.engine.close()


# --- building pools from the config file -----------------------------------------------------------------
def build_member(cfg: MemberConfig, index: int, pool_name: str, manager: EngineManager | None) -> Member:
    engine: Engine
    if cfg.kind == "local":
        if manager is None:
            raise BadRequest("a member of kind 'local' needs the node's EngineManager")
        engine = LocalMember(manager, cfg.model)
    else:
        engine = DialectEngine(cfg.label(index), cfg.model or pool_name, cfg)
    return Member(label=cfg.label(index), engine=engine, max_concurrency=cfg.max_concurrency)


def build_pool(cfg: PoolConfig, manager: EngineManager | None = None) -> EnginePool:
    members = [build_member(m, i, cfg.name, manager) for i, m in enumerate(cfg.members)]
    return EnginePool(cfg.name, members, health_interval_s=cfg.health_interval_s,
                      failure_threshold=cfg.failure_threshold, cooldown_s=cfg.cooldown_s,
                      max_cooldown_s=cfg.max_cooldown_s, max_attempts=cfg.max_attempts, n_ctx=cfg.n_ctx)


class PoolCollector:
    """Prometheus view of the pools at scrape time: member state, outstanding, served/failed, retries."""

    def __init__(self, pools: dict[str, EnginePool]) -> None:
        self.pools = pools

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        up = GaugeMetricFamily("hanlin_pool_member_up", "1 when the member takes requests (circuit closed)",
                               labels=["pool", "member"])
        outstanding = GaugeMetricFamily("hanlin_pool_member_outstanding", "requests sent to the member and not "
                                        "finished", labels=["pool", "member"])
        served = CounterMetricFamily("hanlin_pool_member_served", "requests the member answered",
                                     labels=["pool", "member"])
        failed = CounterMetricFamily("hanlin_pool_member_failed", "requests that failed on the member",
                                     labels=["pool", "member"])
        retries = CounterMetricFamily("hanlin_pool_retries", "requests moved to another member before their "
                                      "first token", labels=["pool"])
        now = time.monotonic()
        for name, pool in self.pools.items():
            retries.add_metric([name], pool.retries)
            for m in pool.members:
                up.add_metric([name, m.label], 1.0 if m.available(now) else 0.0)
                outstanding.add_metric([name, m.label], m.outstanding)
                served.add_metric([name, m.label], m.served)
                failed.add_metric([name, m.label], m.failed)
        yield from (up, outstanding, served, failed, retries)

