"""Any OpenAI-compatible server as an engine: vLLM, llama.cpp's server, Hunyuan's endpoint, another Hanlin."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
import httpx

from hanlin.engine.base import ChatRequest, Chunk, EngineInfo, SSEBlock
from hanlin.errors import (
    BadRequest,
    ContextOverflow,
    EngineError,
    HanlinError,
    NotFound,
    RateLimited,
    context_overflow,
)
from hanlin.limits import MB


def _error_from(resp: httpx.Response, name: str) -> HanlinError:
    """An upstream's error as Hanlin's: context overflow (llama.cpp's ``exceed_context_size_error`` with counts,
    vLLM's/OpenAI's "maximum context length" wording) keeps OpenAI's wording and code; an upstream refusing
    Hanlin's own credentials is Hanlin's fault (502), not the client's."""
    err: Any = {}
    try:
        body = resp.json()
        err = body.get("error", body) if isinstance(body, dict) else body
        msg = err.get("message") if isinstance(err, dict) else str(err)
    except ValueError:
        msg = resp.text[:500]
    msg = str(msg or "")
    if isinstance(err, dict) and err.get("type") == "exceed_context_size_error":
        return context_overflow(err.get("n_prompt_tokens"), err.get("n_ctx"))
    if resp.status_code == 400 and ("maximum context length" in msg or "context_length_exceeded" in str(err)
                                    or "context" in msg.lower()):
        return ContextOverflow(msg, param="messages", code="context_length_exceeded")
    shown = f"upstream '{name}' answered {resp.status_code}: {msg}"
    if resp.status_code == 404:
        return NotFound(shown)
    if resp.status_code == 429:
        return RateLimited(shown, retry_after=float(resp.headers.get("retry-after", "1") or 1))
    if resp.status_code in (401, 403):
        return EngineError(f"{shown} (check the member's api_key_env)", code="upstream_auth_failed")
    if 400 <= resp.status_code < 500:
        return BadRequest(shown)
    return EngineError(shown)


def _kept_headers(headers: Any) -> dict[str, str]:
    """The headers of an aiohttp answer that ``_error_from`` reads; not the encoding ones (aiohttp has already
    decompressed the body, and an ``httpx.Response`` built from it must not decode it again)."""
    return {k: v for k, v in headers.items() if k.lower() in ("content-type", "retry-after")}


# What one upstream may send: a whole non-streamed answer (an embeddings batch of 2,048 inputs × 1,024 dims as JSON is
# ~45 MB), and one server-sent event or line of a stream. An upstream is configured by an admin, but a broken or
# hostile one must not be able to fill the node's memory: past these it is an error (502), not a read without end.
MAX_REPLY_BYTES = 128 * MB
MAX_EVENT_BYTES = 8 * MB


def _too_big(name: str, what: str, limit: int) -> EngineError:
    return EngineError(f"upstream '{name}' sent {what} over {limit // MB} MB; refused (a broken or misconfigured "
                       "upstream?)", code="upstream_reply_too_large")


_MODEL_FIELD = re.compile(rb'"model":\s*"(?:[^"\\]|\\.)*"')
_USAGE = re.compile(rb'"usage":\s*\{')


def _split_special(block: SSEBlock, name: str) -> SSEBlock:
    """Take the usage event and the end marker out of a block, and raise on an error event. Only events that
    mention usage or an error are parsed."""
    kept: list[bytes] = []
    for event in block.data.split(b"\n\n"):
        if not event.strip():
            continue
        payload = event.split(b"data:", 1)[1].strip() if b"data:" in event else b""
        if payload == b"[DONE]":
            block.done = True
            break
        if b'"error"' in payload or _USAGE.search(payload):
            try:
                obj = json.loads(payload)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and obj.get("error"):
                raise EngineError(f"upstream '{name}' failed mid-stream: {obj['error']}")
            if isinstance(obj, dict) and obj.get("usage"):
                block.usage = obj["usage"]
                if not obj.get("choices"):  # the usage-only event: the caller decides whether to send it
                    block.usage_event = event + b"\n\n"
                    continue
        kept.append(event + b"\n\n")
    block.data = b"".join(kept)
    return block


class UpstreamEngine:
    """Forwards OpenAI requests to ``base_url`` (which ends in ``/v1``), renaming the model on the way."""

    def __init__(self, name: str, base_url: str, *, upstream_model: str = "", api_key: str = "",
                 api_key_env: str = "", timeout: float = 600.0, connect_timeout: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        key = api_key or (os.environ.get(api_key_env, "") if api_key_env else "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, transport=transport,
                                         timeout=httpx.Timeout(timeout, connect=connect_timeout))
        # The byte relay reads streams with aiohttp (its C HTTP parser costs a fraction of h11's per read); a test
        # transport keeps everything on httpx.
        self._base_url = base_url.rstrip("/")
        self._headers = headers
        self._timeouts = (timeout, connect_timeout)
        self._use_aiohttp = transport is None
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self.upstream_model = upstream_model or name
        self.info = EngineInfo(name=name, kind="upstream", owned_by="upstream", meta={"base_url": base_url})
        self.busy = 0

    def _body(self, request: dict[str, Any]) -> dict[str, Any]:
        return {**request, "model": self.upstream_model}

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.busy += 1
        try:
            if self._use_aiohttp:
                status, headers, raw = await self._post_aiohttp(path, self._body(body))
                if status < 400:  # the common case needs no Response object (~0.1 ms a request at a gateway)
                    return self._answer(raw)
                resp = httpx.Response(status, content=raw, headers=headers)
            else:
                try:
                    async with self._client.stream("POST", path, json=self._body(body)) as streamed:
                        raw_reply = await self._read_capped(streamed.aiter_bytes(), MAX_REPLY_BYTES, "an answer")
                        resp = httpx.Response(streamed.status_code, content=raw_reply,
                                              headers=_kept_headers(streamed.headers))
                except httpx.HTTPError as e:
                    raise EngineError(f"upstream '{self.info.name}' unreachable: {e!r}") from e
            if resp.status_code >= 400:
                raise _error_from(resp, self.info.name)
            return self._answer(resp.content)
        finally:
            self.busy -= 1

    def _answer(self, raw: bytes) -> dict[str, Any]:
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise EngineError(f"upstream '{self.info.name}' answered something that is not a JSON object: "
                              f"{raw[:200]!r}")
        answer["model"] = self.info.name
        return answer

    async def _post_aiohttp(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        try:
            async with self._aiohttp().post(self._base_url + path, json=body) as resp:
                if (resp.content_length or 0) > MAX_REPLY_BYTES:
                    raise _too_big(self.info.name, "an answer", MAX_REPLY_BYTES)
                raw = await self._read_capped(resp.content.iter_any(), MAX_REPLY_BYTES, "an answer")  # decompressed
                return resp.status, _kept_headers(resp.headers), raw
        except (aiohttp.ClientError, TimeoutError) as e:
            raise EngineError(f"upstream '{self.info.name}' unreachable: {e!r}") from e

    async def _read_capped(self, pieces: AsyncIterator[bytes], limit: int, what: str) -> bytes:
        raw = bytearray()
        async for piece in pieces:
            raw += piece
            if len(raw) > limit:
                raise _too_big(self.info.name, what, limit)
        return bytes(raw)

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        return await self._post("/chat/completions", {**request, "stream": False})

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self._post("/completions", {**request, "stream": False})

    async def embed_raw(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self._post("/embeddings", request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """The upstream's stream parsed into chunk dicts (the relay, :meth:`stream_sse`, forwards bytes instead)."""
        body = self._body({**request, "stream": True})
        reads = self._reads_aiohttp(body) if self._use_aiohttp else self._reads_httpx(body)
        self.busy += 1
        try:
            pending = b""
            done = False
            async for data in reads:
                pending += data
                *lines, pending = pending.split(b"\n")
                if len(pending) > MAX_EVENT_BYTES:
                    raise _too_big(self.info.name, "a stream line", MAX_EVENT_BYTES)
                for line in lines:
                    chunk = self._chunk(line)
                    if chunk is None:
                        done = True
                        break
                    if chunk:
                        yield chunk
                if done:
                    return
            last = self._chunk(pending)
            if last:
                yield last
        finally:
            self.busy -= 1
            await reads.aclose()

    def _chunk(self, line: bytes) -> dict[str, Any] | None:
        """One SSE line as a chunk: ``{}`` for a line that is not data, ``None`` at ``[DONE]``."""
        if not line.startswith(b"data:"):
            return {}
        payload = line[5:].strip()
        if payload == b"[DONE]":
            return None
        chunk = json.loads(payload)
        if not isinstance(chunk, dict):
            return {}
        if chunk.get("error"):
            raise EngineError(f"upstream '{self.info.name}' failed mid-stream: {chunk['error']}")
        chunk["model"] = self.info.name
        return chunk

    async def stream_sse(self, request: ChatRequest, model: str) -> AsyncIterator[SSEBlock]:
        """The upstream's SSE events as bytes, forwarded per network read (see ``SSEBlock``); ``model`` replaces the
        upstream's model name. No JSON is parsed except the events that carry usage or an error."""
        body = self._body({**request, "stream": True})
        rename = b'"model":' + json.dumps(model, ensure_ascii=False).encode()
        reads = self._reads_aiohttp(body) if self._use_aiohttp else self._reads_httpx(body)
        self.busy += 1
        try:
            pending = b""
            async for data in reads:
                pending += data
                if b"\r" in pending:  # CRLF framing: normalize so every event ends in a blank line
                    pending = pending.replace(b"\r\n", b"\n")
                cut = pending.rfind(b"\n\n")
                if cut < 0:
                    if len(pending) > MAX_EVENT_BYTES:
                        raise _too_big(self.info.name, "a stream event", MAX_EVENT_BYTES)
                    continue
                block, pending = pending[:cut + 2], pending[cut + 2:]
                out = self._block(block, rename)
                if out.data or out.usage is not None:
                    yield out
                if out.done:
                    return
            if pending.strip():
                out = self._block(pending + b"\n\n", rename)
                if out.data or out.usage is not None:
                    yield out
        finally:
            self.busy -= 1
            await reads.aclose()

    async def _reads_httpx(self, body: dict[str, Any]) -> AsyncGenerator[bytes, None]:
        try:
            async with self._client.stream("POST", "/chat/completions", json=body) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _error_from(resp, self.info.name)
                async for data in resp.aiter_bytes():
                    yield data
        except httpx.HTTPError as e:
            raise EngineError(f"upstream '{self.info.name}' unreachable: {e!r}") from e

    def _aiohttp(self) -> aiohttp.ClientSession:
        """One session per event loop (a session is bound to the loop that made it). Like httpx's, the timeout
        bounds each read and the connect, not the whole stream."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            read, connect = self._timeouts
            self._session = aiohttp.ClientSession(
                headers=self._headers, connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read))
            self._session_loop = loop
        return self._session

    async def _reads_aiohttp(self, body: dict[str, Any]) -> AsyncGenerator[bytes, None]:
        try:
            async with self._aiohttp().post(self._base_url + "/chat/completions", json=body) as resp:
                if resp.status >= 400:
                    raw = await resp.read()
                    raise _error_from(httpx.Response(resp.status, content=raw, headers=_kept_headers(resp.headers)),
                                      self.info.name)
                async for data in resp.content.iter_any():
                    yield data
        except (aiohttp.ClientError, TimeoutError) as e:
            raise EngineError(f"upstream '{self.info.name}' unreachable: {e!r}") from e

    def _block(self, block: bytes, rename: bytes) -> SSEBlock:
        out = SSEBlock(data=_MODEL_FIELD.sub(lambda _m: rename, block))
        if b"[DONE]" in block or b'"error"' in block or _USAGE.search(block):
            out = _split_special(out, self.info.name)
        out.events = out.data.count(b"data:")
        return out

    async def list_models(self) -> list[str]:
        async with self._client.stream("GET", "/models") as resp:
            resp.raise_for_status()
            raw = await self._read_capped(resp.aiter_bytes(), MAX_EVENT_BYTES, "a model list")
        return [m["id"] for m in json.loads(raw).get("data", [])]

    async def health(self) -> bool:
        try:  # the status is enough: the body is not read
            async with self._client.stream("GET", "/models", timeout=3.0) as resp:
                return resp.status_code < 500
        except httpx.HTTPError:
            return False

    async def close(self) -> None:
        await self._client.aclose()
        if self._session is not None and self._session_loop is asyncio.get_running_loop():
            await self._session.close()
