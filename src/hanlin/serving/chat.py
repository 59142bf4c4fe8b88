"""Chat completions: validation, tool calls, app/knowledge hooks, usage — no HTTP here."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hanlin.engine.base import Engine
from hanlin.engine.manager import EngineManager
from hanlin.errors import PermissionDenied
from hanlin.metrics import Metrics
from hanlin.platform.principal import Principal
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.serving.tools import plan_tools, to_tool_message

# Passed through to engines when set; everything else in the body is dropped.
ENGINE_KEYS = ("messages", "temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "presence_penalty",
               "frequency_penalty", "repeat_penalty", "response_format", "ignore_eos", "min_p")


@dataclass
class Prepared:
    """A request after hooks: what to send to which engine, and what to add to the answer."""

    model: str
    body: dict[str, Any]
    tool_mode: bool = False
    knowledge_base: str | None = None  # set from the request or by a custom app; grounded by the KB hook
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. citations from a knowledge base
    # rewrites a complete (non-streamed) answer in place, e.g. checks a grounded answer's [n] markers; may ask the
    # engine again (its usage then counts)
    finish: Callable[[Engine, dict[str, Any]], Awaitable[None]] | None = None


# A hook may rewrite the request (custom app "app:NAME", knowledge base grounding) before it is sent.
ChatHook = Callable[[Principal, ChatCompletionRequest, Prepared], Awaitable[Prepared]]
UsageSink = Callable[[Principal, str, dict[str, int], float, str], None]


def usage_of(resp: dict[str, Any]) -> dict[str, int]:
    u = resp.get("usage") or {}
    return {"prompt_tokens": int(u.get("prompt_tokens", 0)), "completion_tokens": int(u.get("completion_tokens", 0)),
            "total_tokens": int(u.get("total_tokens", 0))}


class ChatService:
    def __init__(self, engines: EngineManager, metrics: Metrics | None = None) -> None:
        self.engines = engines
        self.metrics = metrics or Metrics()
        self.hooks: list[ChatHook] = []
        # run last, on the final request (app prompt, knowledge passages and tool prompt included): quota admission
        self.admission: list[ChatHook] = []
        self.usage_sinks: list[UsageSink] = []

    async def prepare(self, principal: Principal, req: ChatCompletionRequest) -> Prepared:
        raw = req.model_dump(exclude_none=True)
        body = {k: raw[k] for k in ENGINE_KEYS if k in raw}
        if req.max_completion_tokens and not req.max_tokens:
            body["max_tokens"] = req.max_completion_tokens
        body["messages"] = [m.model_dump(exclude_none=True) for m in req.messages]
        for m in body["messages"]:
            if isinstance(m.get("content"), list):
                m["content"] = "".join(str(p.get("text", "")) for p in m["content"])
            if m["role"] == "developer":
                m["role"] = "system"
        prepared = Prepared(model=req.model or self.engines.settings.model, body=body,
                            knowledge_base=req.knowledge_base)
        for hook in self.hooks:
            prepared = await hook(principal, req, prepared)
        prepared.tool_mode = plan_tools(req, prepared.body)
        requested = req.model or prepared.model
        app_ref = requested if requested.startswith("app:") else ""  # scope of a custom app: "app:NAME"
        if app_ref:
            app_ref = app_ref.split("@", 1)[0]  # "app:NAME@2" is covered by a scope on "app:NAME"
        if not principal.allows(f"model:{prepared.model}") and not (app_ref and principal.allows(app_ref)):
            raise PermissionDenied(f"This API key may not use model '{req.model}'", param="model")
        for hook in self.admission:
            prepared = await hook(principal, req, prepared)
        return prepared

    def _record(self, principal: Principal, model: str, usage: dict[str, int], started: float, status: str) -> None:
        self.metrics.record_tokens(model, usage["prompt_tokens"], usage["completion_tokens"])
        for sink in self.usage_sinks:
            sink(principal, model, usage, time.time() - started, status)

    async def create(self, principal: Principal, req: ChatCompletionRequest) -> dict[str, Any]:
        started = time.time()
        prepared = await self.prepare(principal, req)
        return await self._generate(principal, req, prepared, started)

    async def _generate(self, principal: Principal, req: ChatCompletionRequest, prepared: Prepared,
                        started: float) -> dict[str, Any]:
        engine = await self.engines.get(prepared.model, principal=principal)
        gauge = self.metrics.in_flight.labels(engine.info.name)
        gauge.inc()
        status = "error"
        resp: dict[str, Any] = {}
        try:
            resp = await engine.chat(prepared.body)
            status = "ok"
        finally:
            gauge.dec()
            if status != "ok":
                self._record(principal, req.model or engine.info.name, usage_of(resp), started, status)
        if prepared.tool_mode:
            choice = resp["choices"][0]
            msg, finish = to_tool_message(choice["message"].get("content") or "")
            choice["message"], choice["finish_reason"] = msg, finish
        resp["model"] = req.model or engine.info.name
        resp.update(prepared.extra)
        if prepared.finish and not prepared.tool_mode:
            await prepared.finish(engine, resp)
        self._record(principal, resp["model"], usage_of(resp), started, "ok")
        return resp

    async def stream(self, principal: Principal, req: ChatCompletionRequest
                     ) -> AsyncIterator[dict[str, Any] | bytes]:
        """Chunks as OpenAI sends them; the usage chunk only when ``stream_options.include_usage``. Streams from
        HTTP upstreams are relayed as the upstream's SSE bytes (already framed events) instead of dicts."""
        started = time.time()
        prepared = await self.prepare(principal, req)
        engine = await self.engines.get(prepared.model, principal=principal)
        want_usage = bool(req.stream_options and req.stream_options.include_usage)
        name = req.model or engine.info.name
        if prepared.tool_mode:  # tool JSON must be complete before it can be converted: generate, then chunk
            resp = await self._generate(principal, req, prepared, started)
            for chunk in _chunks_from_response(resp, want_usage):
                yield chunk
            return
        if _relays_sse(engine) and not prepared.extra:
            async for block in self._relay(principal, engine, prepared, name, want_usage, started):
                yield block
            return
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        status = "client_closed"
        gauge = self.metrics.in_flight.labels(engine.info.name)
        gauge.inc()
        first = True
        streamed = 0  # content chunks: llama.cpp sends at most one token per chunk
        try:
            async for chunk in engine.stream({**prepared.body, "stream_options": {"include_usage": True}}):
                chunk["model"] = name
                streamed += sum(1 for c in chunk.get("choices") or [] if (c.get("delta") or {}).get("content"))
                if chunk.get("usage"):
                    usage = usage_of(chunk)
                    if not want_usage:
                        continue
                elif want_usage:
                    chunk["usage"] = None
                if first and prepared.extra:
                    chunk.update(prepared.extra)
                first = False
                yield chunk
            status = "ok"
        finally:
            gauge.dec()
            if not usage["total_tokens"] and streamed:  # the client left before the usage chunk: bill what
                usage = _estimated_usage(prepared.body, streamed)  # was generated, prompt estimated
            self._record(principal, name, usage, started, status)

    async def _relay(self, principal: Principal, engine: Engine, prepared: Prepared, name: str, want_usage: bool,
                     started: float) -> AsyncIterator[bytes]:
        """Forward an HTTP upstream's events without parsing them: the bytes arrive framed, with the model renamed;
        usage comes from the upstream's final event (asked for always, passed on only when the client asked)."""
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        status, events = "client_closed", 0
        gauge = self.metrics.in_flight.labels(engine.info.name)
        gauge.inc()
        body = {**prepared.body, "stream_options": {"include_usage": True}}
        try:
            async for block in engine.stream_sse(body, name):  # type: ignore[attr-defined]
                events += block.events
                if block.usage is not None:
                    usage = usage_of({"usage": block.usage})
                data = block.data + block.usage_event if want_usage else block.data
                if data:
                    yield data
            status = "ok"
        finally:
            gauge.dec()
            if not usage["total_tokens"] and events > 2:  # left early: bill what was sent (minus role and end)
                usage = _estimated_usage(prepared.body, events - 2)
            self._record(principal, name, usage, started, status)


def _relays_sse(engine: Engine) -> bool:
    return callable(getattr(engine, "stream_sse", None)) and bool(getattr(engine, "relays_sse", True))


def _estimated_usage(body: dict[str, Any], completion: int) -> dict[str, int]:
    chars = sum(len(str(m.get("content") or "")) for m in body.get("messages", []))
    prompt = max(1, chars * 2 // 3)  # ≈ tokens for mixed Chinese/Latin text with Qwen's tokenizer
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chunks_from_response(resp: dict[str, Any], want_usage: bool) -> list[dict[str, Any]]:
    base: dict[str, Any] = {k: resp[k] for k in ("id", "created", "model") if k in resp}
    base["object"] = "chat.completion.chunk"
    choice = resp["choices"][0]
    msg = choice["message"]
    delta: dict[str, Any] = {"role": "assistant"}
    if msg.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(msg["tool_calls"])]
    else:
        delta["content"] = msg.get("content") or ""
    extra = {k: v for k, v in resp.items() if k not in ("id", "created", "model", "object", "choices", "usage")}
    out = [{**base, **extra, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
           {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]}]
    if want_usage:
        out.append({**base, "choices": [], "usage": resp.get("usage")})
    return out
