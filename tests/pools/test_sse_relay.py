"""Byte relay of upstream streams (UpstreamEngine.stream_sse, EnginePool.stream_sse, ChatService._relay): what a
client receives must equal what the parsing path would have sent, with the model renamed and usage handled."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from hanlin.engine.base import SSEBlock
from hanlin.engine.pool import EnginePool, Member
from hanlin.engine.upstream import UpstreamEngine
from hanlin.errors import EngineError

USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def events(model: str = "up-model", *, usage: bool = True, crlf: bool = False, error_after: int = 0) -> list[bytes]:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model}
    chunks: list[dict[str, Any]] = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                          "finish_reason": None}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
               for w in ("你好", "，\"model\": \"x\"", "世界")]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        chunks.append({**base, "choices": [], "usage": USAGE})
    nl = b"\r\n" if crlf else b"\n"
    out = [b"data: " + json.dumps(c, ensure_ascii=False).encode() + nl + nl for c in chunks]
    if error_after:
        out = out[:error_after] + [b'data: {"error": {"message": "boom", "code": 500}}' + nl + nl]
    return out + [b"data: [DONE]" + nl + nl]


def engine_for(body_parts: list[bytes], split: int = 0) -> UpstreamEngine:
    """An upstream whose response arrives in pieces: whole events, or ``split``-byte slices across events."""
    raw = b"".join(body_parts)
    pieces = [raw[i:i + split] for i in range(0, len(raw), split)] if split else body_parts

    async def stream() -> Any:
        for p in pieces:
            yield p

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stream())
    return UpstreamEngine("up", "http://upstream/v1", upstream_model="up-model",
                          transport=httpx.MockTransport(handler))


async def collect(it: Any) -> list[SSEBlock]:
    return [b async for b in it]


def parse(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(e.partition(b"data:")[2]) for e in data.split(b"\n\n") if e.strip()]


@pytest.mark.parametrize("split", [0, 1, 7, 64])
def test_relay_renames_model_and_keeps_every_event_byte_for_byte(split: int) -> None:
    blocks = asyncio.run(collect(engine_for(events(), split).stream_sse({"messages": []}, "chat")))
    data = b"".join(b.data for b in blocks)
    chunks = parse(data)
    assert [c["model"] for c in chunks] == ["chat"] * 5
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "你好，\"model\": \"x\"世界"
    assert b"[DONE]" not in data  # the gateway writes its own end marker
    usage_blocks = [b for b in blocks if b.usage is not None]
    assert len(usage_blocks) == 1 and usage_blocks[0].usage == USAGE
    assert parse(usage_blocks[0].usage_event)[0]["model"] == "chat"  # kept aside, renamed too
    assert sum(b.events for b in blocks) == 5


def test_relay_handles_crlf_framing() -> None:
    blocks = asyncio.run(collect(engine_for(events(crlf=True), 5).stream_sse({"messages": []}, "chat")))
    assert len(parse(b"".join(b.data for b in blocks))) == 5


def test_relay_raises_on_an_error_event() -> None:
    async def run() -> list[SSEBlock]:
        return await collect(engine_for(events(error_after=3)).stream_sse({"messages": []}, "chat"))
    with pytest.raises(EngineError, match="boom"):
        asyncio.run(run())


def test_pool_retries_a_member_that_fails_before_its_first_token() -> None:
    bad = engine_for(events(error_after=1))  # only the role chunk, then an error: no token was sent
    good = engine_for(events())
    pool = EnginePool("chat", [Member("a", bad), Member("b", good)], max_attempts=2)
    pool._rr = 1  # start with the failing member

    async def run() -> bytes:
        pool.members[0].outstanding = 0
        blocks = await collect(pool.stream_sse({"messages": []}, "chat"))
        return b"".join(b.data for b in blocks)
    data = asyncio.run(run())
    assert len(parse(data)) == 5  # one role chunk only: the failed member's held chunk was never sent
    assert pool.retries == 1 and pool.members[0].failed == 1


def test_chat_service_relays_bytes_and_bills_upstream_usage(fake_services: Any) -> None:
    from hanlin.principal import Principal
    from hanlin.serving.schemas import ChatCompletionRequest

    pool = EnginePool("chat", [Member("a", engine_for(events()))])
    fake_services.engines.add(pool)
    recorded: list[dict[str, int]] = []
    fake_services.chat.usage_sinks.append(lambda p, m, u, lat, st: recorded.append(u))

    async def run(include_usage: bool) -> list[Any]:
        req = ChatCompletionRequest.model_validate({
            "model": "chat", "stream": True, "messages": [{"role": "user", "content": "hi"}],
            "stream_options": {"include_usage": include_usage}})
        return [c async for c in fake_services.chat.stream(Principal(tenant_id="t"), req)]
    for include_usage in (False, True):
        out = asyncio.run(run(include_usage))
        assert all(isinstance(c, bytes) for c in out)
        chunks = parse(b"".join(out))
        assert all(c["model"] == "chat" for c in chunks)
        assert (chunks[-1].get("usage") == USAGE) is include_usage
    assert recorded[-2:] == [USAGE, USAGE]


async def _over_loopback(body: bytes, status: int, split: int, run: Any) -> Any:
    """Serve ``body`` from a real HTTP server on 127.0.0.1 (in ``split``-byte writes) and run ``run(engine)``
    against it: the relay's aiohttp path, which a mock transport does not reach."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.json()
        if status >= 400:
            return web.json_response({"error": {"message": "no such model up-model", "code": status}}, status=status)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(0, len(body), split):
            await resp.write(body[i:i + split])
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    engine = UpstreamEngine("up", f"http://127.0.0.1:{port}/v1", upstream_model="up-model")
    try:
        return await run(engine)
    finally:
        await engine.close()
        await runner.cleanup()


@pytest.mark.parametrize("split", [3, 4096])
def test_relay_over_a_real_socket_matches_the_mock_path(split: int) -> None:
    body = b"".join(events())
    blocks = asyncio.run(_over_loopback(body, 200, split, lambda e: collect(e.stream_sse({"messages": []}, "chat"))))
    mocked = asyncio.run(collect(engine_for(events(), split).stream_sse({"messages": []}, "chat")))
    assert b"".join(b.data for b in blocks) == b"".join(b.data for b in mocked)
    assert [b.usage for b in blocks if b.usage is not None] == [USAGE]


def test_relay_over_a_real_socket_maps_upstream_errors() -> None:
    from hanlin.errors import NotFound

    with pytest.raises(NotFound, match="answered 404: no such model"):
        asyncio.run(_over_loopback(b"", 404, 1, lambda e: collect(e.stream_sse({"messages": []}, "chat"))))


def test_relay_over_a_real_socket_reports_an_unreachable_upstream() -> None:
    async def run() -> None:
        engine = UpstreamEngine("up", "http://127.0.0.1:9/v1", connect_timeout=1)
        try:
            await collect(engine.stream_sse({"messages": []}, "chat"))
        finally:
            await engine.close()
    with pytest.raises(EngineError, match="unreachable"):
        asyncio.run(run())


def test_non_streamed_calls_over_a_real_socket() -> None:
    from aiohttp import web

    from hanlin.errors import RateLimited

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        if body["messages"][0]["content"] == "busy":
            return web.json_response({"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "3"})
        return web.json_response({"id": "x", "model": body["model"], "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "好"}, "finish_reason": "stop"}]})

    async def run() -> tuple[dict[str, Any], float]:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        engine = UpstreamEngine("up", f"http://127.0.0.1:{runner.addresses[0][1]}/v1", upstream_model="up-model")
        try:
            ok = await engine.chat({"messages": [{"role": "user", "content": "hi"}]})
            with pytest.raises(RateLimited) as e:
                await engine.chat({"messages": [{"role": "user", "content": "busy"}]})
            return ok, e.value.retry_after
        finally:
            await engine.close()
            await runner.cleanup()
    ok, retry_after = asyncio.run(run())
    assert ok["model"] == "up" and ok["choices"][0]["message"]["content"] == "好"
    assert retry_after == 3.0
