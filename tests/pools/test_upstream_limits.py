"""A broken or hostile upstream cannot fill the node's memory: answers, stream events and lines are capped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hanlin.engine import upstream
from hanlin.engine.upstream import UpstreamEngine
from hanlin.errors import EngineError
from hanlin.limits import MB

Body = Callable[[asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(body: Body) -> AsyncIterator[str]:
    """An HTTP server on 127.0.0.1 that answers every request with ``body`` (written straight to the socket)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            await body(writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()


def endless(content_type: bytes, piece: bytes) -> Body:
    """A chunked answer that never ends (until the client hangs up)."""
    async def body(w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(100_000):
            w.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await w.drain()
    return body


def claims(length: int) -> Body:
    async def body(w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{" % length)
        await w.drain()
    return body


async def with_engine(body: Body, use: Callable[[UpstreamEngine], Awaitable[Any]]) -> Any:
    async with raw_server(body) as url:
        engine = UpstreamEngine("up", url)
        try:
            return await asyncio.wait_for(use(engine), 60)
        finally:
            await engine.close()


@pytest.fixture(autouse=True)
def small_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "MAX_REPLY_BYTES", 1 * MB)
    monkeypatch.setattr(upstream, "MAX_EVENT_BYTES", 1 * MB)


def test_an_answer_without_end_is_refused_at_the_cap() -> None:
    with pytest.raises(EngineError) as e:
        asyncio.run(with_engine(endless(b"application/json", b"[1.0," * 2000), lambda u: u.chat({"messages": []})))
    assert e.value.code == "upstream_reply_too_large" and "'up'" in e.value.message
    assert e.value.status == 502


def test_an_answer_announcing_too_much_is_refused_before_reading() -> None:
    with pytest.raises(EngineError) as e:
        asyncio.run(with_engine(claims(10 * MB), lambda u: u.embed_raw({"input": ["x"]})))
    assert e.value.code == "upstream_reply_too_large"


def test_a_relayed_event_without_end_is_refused() -> None:
    async def relay(u: UpstreamEngine) -> list[Any]:
        return [b async for b in u.stream_sse({"messages": []}, "chat")]

    with pytest.raises(EngineError) as e:
        asyncio.run(with_engine(endless(b"text/event-stream", b'data: {"x": "' + b"a" * 8000), relay))
    assert e.value.code == "upstream_reply_too_large" and "event" in e.value.message


def test_a_parsed_stream_line_without_end_is_refused() -> None:
    async def parse(u: UpstreamEngine) -> list[Any]:
        return [c async for c in u.stream({"messages": []})]

    with pytest.raises(EngineError) as e:
        asyncio.run(with_engine(endless(b"text/event-stream", b"data: " + b"a" * 8000), parse))
    assert e.value.code == "upstream_reply_too_large" and "line" in e.value.message


def test_normal_streams_still_parse() -> None:
    async def body(w: asyncio.StreamWriter) -> None:
        events = b"".join(b'data: {"choices": [{"index": 0, "delta": {"content": "%d"}}], "model": "m"}\n\n' % i
                          for i in range(3)) + b"data: [DONE]\n\n"
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(events)
                + events)
        await w.drain()

    async def parse(u: UpstreamEngine) -> list[Any]:
        return [c async for c in u.stream({"messages": []})]

    chunks = asyncio.run(with_engine(body, parse))
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["0", "1", "2"]
    assert all(c["model"] == "up" for c in chunks)


def test_an_answer_that_is_not_a_json_object_is_a_clear_502() -> None:
    async def body(w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n[1, 2, 3]")
        await w.drain()

    with pytest.raises(EngineError) as e:
        asyncio.run(with_engine(body, lambda u: u.chat({"messages": []})))
    assert e.value.status == 502 and "not a JSON object" in e.value.message
