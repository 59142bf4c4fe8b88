"""A tiny OpenAI-compatible server with synthetic answers, for pool tests and the gateway benchmarks.

    python tests/support/stub_upstream.py --port 9001 --name a --tokens 20 --token-delay 0.02

Binds 127.0.0.1 only. Every answer is ``[NAME] 词0 词1 ...`` so a test can tell which upstream served it.
``GET /stats`` returns how many requests it got and the last request body (to check upstream dialects).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, StreamingResponse


def make_app(name: str, model: str, tokens: int, token_delay: float, ttft: float) -> FastAPI:
    app = FastAPI()
    stats: dict[str, Any] = {"requests": 0, "last_body": None, "in_flight": 0}

    def words(n: int) -> list[str]:
        return [f"[{name}]"] + [f" 词{i}" for i in range(n - 1)]

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "stub"}]}

    @app.get("/stats")
    async def get_stats() -> dict[str, Any]:
        return stats

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        body = await request.json()
        stats["requests"] += 1
        stats["last_body"] = body
        stats["last_authorization"] = request.headers.get("authorization")
        n = max(1, min(int(body.get("max_tokens") or tokens), tokens))
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        usage = {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n}
        if not body.get("stream"):
            if ttft or token_delay:
                await asyncio.sleep(ttft + token_delay * n)
            return {"id": cid, "object": "chat.completion", "created": created, "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "".join(words(n))}}],
                    "usage": usage}

        async def events() -> AsyncIterator[bytes]:
            stats["in_flight"] += 1
            try:
                base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.get("model")}

                def ev(obj: dict[str, Any]) -> bytes:
                    return f"data: {json.dumps({**base, **obj}, ensure_ascii=False)}\n\n".encode()
                yield ev({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                       "finish_reason": None}]})
                if ttft:
                    await asyncio.sleep(ttft)
                for w in words(n):
                    if token_delay:
                        await asyncio.sleep(token_delay)
                    yield ev({"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]})
                yield ev({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    yield ev({"choices": [], "usage": usage})
                yield b"data: [DONE]\n\n"
            finally:
                stats["in_flight"] -= 1
        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/completions")
    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        stats["requests"] += 1
        return JSONResponse({"id": "cmpl-stub", "object": "text_completion", "created": int(time.time()),
                             "model": body.get("model"),
                             "choices": [{"index": 0, "text": "".join(words(3)), "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}})
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="stub")
    ap.add_argument("--model", default="stub-model")
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--token-delay", type=float, default=0.0)
    ap.add_argument("--ttft", type=float, default=0.0)
    a = ap.parse_args()
    import uvicorn

    uvicorn.run(make_app(a.name, a.model, a.tokens, a.token_delay, a.ttft), host="127.0.0.1", port=a.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
