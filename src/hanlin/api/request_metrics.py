"""Request count and latency per route, as a plain ASGI middleware.

Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) re-wraps every response body message in anyio memory
streams; for a token stream that is several task switches per chunk, and it made relayed SSE ~5x slower than the
upstream it relayed (bench/gateway_overhead.py). This middleware only watches the ``http.response.start`` message
and the end of the call, so body messages pass straight through.

It also enforces HANLIN_MAX_UPLOAD_MB on request bodies: a declared ``Content-Length`` over the limit is refused
at once, and bytes are counted as they stream in, so a chunked body (no ``Content-Length``) over the limit is
refused too (413; the app sees a disconnect and whatever it answers is dropped).
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanlin.limits import too_large
from hanlin.metrics import Metrics


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app, self.metrics, self.max_body_bytes = app, metrics, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.time()
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _too_large(send, declared, self.max_body_bytes)
            self._observe(scope, 413, started)
            return
        status = 500
        received, refused, responded, ours = 0, False, False, False

        async def counted() -> Message:
            nonlocal received, refused, responded, status, ours
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    refused = True
                    if not responded:
                        responded, status, ours = True, 413, True
                        await _too_large(send, None, self.max_body_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def watch(message: Message) -> None:
            nonlocal status, responded
            if ours:  # our 413 went out: the app's own answer is dropped
                return
            if message["type"] == "http.response.start":
                status, responded = int(message["status"]), True
            await send(message)
        try:
            await self.app(scope, counted, watch)
        except Exception:
            if not refused:
                raise
        finally:
            self._observe(scope, status, started)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", "unmatched")
        self.metrics.request_done(path, status, time.time() - started)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers") or ():
        if key == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _too_large(send: Send, size: int | None, limit: int) -> None:
    err = too_large("The request body", limit, "HANLIN_MAX_UPLOAD_MB", size=size, param=None)
    body: dict[str, Any] = {"error": {"message": err.message, "type": err.type, "param": None,
                                      "code": "payload_too_large"}}
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": data})
