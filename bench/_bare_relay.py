"""The floor under a gateway on this stack: FastAPI + uvicorn (httptools, uvloop) + one aiohttp session, relaying
``/v1/chat/completions`` to one upstream and renaming the model, with nothing else (no auth, quotas, metering,
metrics, validation or pool). ``bench/gateway_overhead.py`` measures it beside Hanlin's node, so the added latency
splits into what the framework and the second hop cost and what Hanlin's own request path adds.

    python bench/_bare_relay.py PORT UPSTREAM_BASE_URL UPSTREAM_MODEL
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response, StreamingResponse

PORT, UPSTREAM, MODEL = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
app = FastAPI()
session: dict[str, aiohttp.ClientSession] = {}


def _session() -> aiohttp.ClientSession:
    if "s" not in session:
        session["s"] = aiohttp.ClientSession()
    return session["s"]


@app.post("/v1/chat/completions", response_model=None)
async def chat(request: Request) -> Any:
    body = json.loads(await request.body())
    asked = body.get("model", "")
    body["model"] = MODEL
    data = json.dumps(body).encode()
    if body.get("stream"):
        async def relay() -> AsyncIterator[bytes]:
            async with _session().post(UPSTREAM + "/chat/completions", data=data,
                                       headers={"content-type": "application/json"}) as r:
                async for piece in r.content.iter_any():
                    yield piece
        return StreamingResponse(relay(), media_type="text/event-stream")
    async with _session().post(UPSTREAM + "/chat/completions", data=data,
                               headers={"content-type": "application/json"}) as r:
        answer = json.loads(await r.read())
    answer["model"] = asked
    return Response(json.dumps(answer).encode(), media_type="application/json")


@app.get("/v1/models")
async def models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": "bare", "object": "model"}]}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", http="httptools", loop="uvloop")
