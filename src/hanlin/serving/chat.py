"""Chat completions: validation, tool calls, app/knowledge hooks, usage — no HTTP here."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hanlin.engine.base import Engine
from hanlin.engine.manager import EngineManager
from hanlin.engine.tokens import estimate_tokens
from hanlin.metrics import Metrics
from hanlin.principal import Principal
from hanlin.serving.jsonschema import normalize
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.serving.tools import (
    DECISION_LOGODDS,
    GRAMMAR_KINDS,
    ToolPlan,
    ToolStream,
    call_logodds,
    constrain,
    decision_body,
    narrowed,
    parse_output,
    plan_tools,
)

log = logging.getLogger(__name__)

# Passed through to engines when set; everything else in the body is dropped.
ENGINE_KEYS = ("messages", "temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "presence_penalty",
               "frequency_penalty", "repeat_penalty", "response_format", "ignore_eos", "min_p", "logprobs",
               "top_logprobs")


@dataclass
class Prepared:
    """A request after hooks: what to send to which engine, and what to add to the answer."""

    model: str
    body: dict[str, Any]
    tools: ToolPlan | None = None
    knowledge_base: str | None = None  # set from the request or by a custom app; grounded by the KB hook
    app: str | None = None  # "app:NAME" when a custom app is called: its scope lets a key use the app's model
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
        prepared.tools = plan_tools(req, prepared.body)
        _normalize_response_format(prepared.body)
        requested = req.model or prepared.model
        if requested.startswith("app:"):  # scope of a custom app: "app:NAME" ("app:NAME@2" is covered by it)
            prepared.app = requested.split("@", 1)[0]
        self.engines.check(principal, prepared.model, prepared.app)  # 403 before any hook's work is used
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
        engine = await self.engines.get(prepared.model, principal=principal, app=prepared.app)
        gauge = self.metrics.in_flight_of(engine.info.name)
        gauge.inc()
        status = "error"
        resp: dict[str, Any] = {}
        try:
            await self._decide(engine, prepared)
            body = constrain(prepared.body, prepared.tools, engine.info.kind) if prepared.tools else prepared.body
            resp = await engine.chat(body)
            status = "ok"
        finally:
            gauge.dec()
            if status != "ok":
                self._record(principal, req.model or engine.info.name, usage_of(resp), started, status)
        if prepared.tools:
            choice = resp["choices"][0]
            msg, finish = parse_output(choice["message"].get("content") or "",
                                       allow_json_content=prepared.tools.answer_schema is None,
                                       tools=prepared.tools.tools)
            if finish != "length" or choice.get("finish_reason") == "length":
                choice["finish_reason"] = finish
            choice["message"] = msg
            choice.pop("logprobs", None)  # they would describe the tool-call markup, not the answer
        resp["model"] = req.model or engine.info.name
        finalize(resp, engine)
        resp.update(prepared.extra)
        if prepared.finish and not prepared.tools:
            await prepared.finish(engine, resp)
        self._record(principal, resp["model"], usage_of(resp), started, "ok")
        return resp

    async def stream(self, principal: Principal, req: ChatCompletionRequest
                     ) -> AsyncIterator[dict[str, Any] | bytes]:
        """Chunks as OpenAI sends them; the usage chunk only when ``stream_options.include_usage``. Tool calls
        stream incrementally (``ToolStream``); a plain answer in tool mode streams as content. Streams from HTTP
        upstreams are relayed as the upstream's SSE bytes (already framed events) instead of dicts, unless tool
        output has to be rewritten."""
        started = time.time()
        prepared = await self.prepare(principal, req)
        engine = await self.engines.get(prepared.model, principal=principal, app=prepared.app)
        want_usage = bool(req.stream_options and req.stream_options.include_usage)
        name = req.model or engine.info.name
        if _relays_sse(engine) and not prepared.extra and not prepared.tools:
            async for block in self._relay(principal, engine, prepared, name, want_usage, started):
                yield block
            return
        await self._decide(engine, prepared)
        body = constrain(prepared.body, prepared.tools, engine.info.kind) if prepared.tools else prepared.body
        tools = ToolStream(prepared.tools.answer_schema is None, prepared.tools.tools) if prepared.tools else None
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        status = "client_closed"
        gauge = self.metrics.in_flight_of(engine.info.name)
        gauge.inc()
        first = True
        streamed = 0  # content chunks: llama.cpp sends at most one token per chunk
        fingerprint = fingerprint_of(engine)
        try:
            async for chunk in engine.stream({**body, "stream_options": {"include_usage": True}}):
                chunk["model"] = name
                if fingerprint:
                    chunk["system_fingerprint"] = fingerprint
                streamed += sum(1 for c in chunk.get("choices") or [] if (c.get("delta") or {}).get("content"))
                if chunk.get("usage"):
                    usage = usage_of(chunk)
                    finalize(chunk, engine)
                    if not want_usage:
                        continue
                elif want_usage:
                    chunk["usage"] = None
                if tools is not None and chunk.get("choices"):
                    rewritten = _tool_chunk(chunk, tools)
                    if rewritten is None:
                        continue
                    chunk = rewritten
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

    async def _decide(self, engine: Engine, prepared: Prepared) -> None:
        """tool_choice auto on a fresh user turn, on an engine that takes grammars: keep only the branch (call or
        answer) that the first token's log-odds choose (``tools.call_logodds``). The decision's one token is not
        billed; its prompt is the answer's, whose KV llama.cpp reuses."""
        plan = prepared.tools
        if plan is None or not plan.decide or engine.info.kind not in GRAMMAR_KINDS:
            return
        score = call_logodds(await engine.chat(decision_body(prepared.body)))
        if score is None:
            return
        threshold = float(engine.info.meta.get("tool_call_logodds", DECISION_LOGODDS))
        prepared.tools = narrowed(plan, score >= threshold)
        log.debug("tool decision for %s: log-odds %.2f vs %.2f", engine.info.name, score, threshold)

    async def _relay(self, principal: Principal, engine: Engine, prepared: Prepared, name: str, want_usage: bool,
                     started: float) -> AsyncIterator[bytes]:
        """Forward an HTTP upstream's events without parsing them: the bytes arrive framed, with the model renamed;
        usage comes from the upstream's final event (asked for always, passed on only when the client asked)."""
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        status, events = "client_closed", 0
        gauge = self.metrics.in_flight_of(engine.info.name)
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


def _tool_chunk(chunk: dict[str, Any], tools: ToolStream) -> dict[str, Any] | None:
    """Rewrite one engine chunk of tool-mode output into OpenAI deltas (None: nothing to send yet)."""
    choice = chunk["choices"][0]
    delta = choice.get("delta") or {}
    choice.pop("logprobs", None)
    out: list[dict[str, Any]] = []
    if delta.get("content"):
        out = tools.feed(delta["content"])
    finish = choice.get("finish_reason")
    if finish is not None:
        rest, reason = tools.finish()
        out += rest
        if reason and not (reason == "length" and finish != "length"):
            finish = reason
    merged: dict[str, Any] = {"role": "assistant"} if delta.get("role") else {}
    for d in out:
        if "content" in d:
            merged["content"] = merged.get("content", "") + d["content"]
        else:
            merged.setdefault("tool_calls", []).extend(d["tool_calls"])
    if not merged and finish is None:
        return None
    if "tool_calls" in merged:  # a call's header and its first fragment in one chunk: join them
        merged["tool_calls"] = _join_calls(merged["tool_calls"])
    choice["delta"], choice["finish_reason"] = merged, finish
    return chunk


def _join_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in calls:
        if out and out[-1]["index"] == c["index"]:
            out[-1]["function"]["arguments"] += c["function"]["arguments"]
        else:
            out.append({**c, "function": dict(c["function"])})
    return out


def _normalize_response_format(body: dict[str, Any]) -> None:
    """``$defs``/``definitions``/``nullable`` in a response_format schema made self-contained (400 if a ref
    does not resolve)."""
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema" and isinstance(rf.get("json_schema"), dict):
        inner = rf["json_schema"]
        if isinstance(inner.get("schema"), dict):
            body["response_format"] = {**rf, "json_schema": {
                **inner, "schema": normalize(inner["schema"], "response_format.json_schema.schema")}}


def fingerprint_of(engine: Engine) -> str:
    return str(engine.info.meta.get("fingerprint", ""))


def finalize(resp: dict[str, Any], engine: Engine) -> None:
    """OpenAI fields llama.cpp leaves out or fills generically: system_fingerprint (engine build + model hash)
    and usage.completion_tokens_details (no reasoning or predicted-output tokens: they are known to be 0)."""
    fp = fingerprint_of(engine)
    if fp:
        resp["system_fingerprint"] = fp
    usage = resp.get("usage")
    if isinstance(usage, dict):
        usage.setdefault("completion_tokens_details", {"reasoning_tokens": 0, "accepted_prediction_tokens": 0,
                                                       "rejected_prediction_tokens": 0})
        usage.setdefault("prompt_tokens_details", {"cached_tokens": 0})


def _estimated_usage(body: dict[str, Any], completion: int) -> dict[str, int]:
    prompt = estimate_tokens("".join(str(m.get("content") or "") for m in body.get("messages", [])))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
