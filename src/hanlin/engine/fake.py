"""A scripted engine for fast unit tests (the llm ``MockModel.enqueue`` habit). Never the only test of a feature."""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from hanlin.engine.base import ChatRequest, Chunk, EngineInfo
from hanlin.engine.tokens import estimate_tokens

Responder = Callable[[ChatRequest], str]


class FakeEngine:
    def __init__(self, name: str = "fake", responses: list[str | dict[str, Any]] | None = None,
                 responder: Responder | None = None) -> None:
        self.info = EngineInfo(name=name, kind="fake", n_ctx=4096, slots=4)
        self.queue: deque[str] = deque()
        self.responder = responder
        self.requests: list[ChatRequest] = []
        self.busy = 0
        for r in responses or []:
            self.enqueue(r)

    def enqueue(self, response: str | dict[str, Any]) -> None:
        self.queue.append(response if isinstance(response, str) else json.dumps(response, ensure_ascii=False))

    def _next(self, request: ChatRequest) -> str:
        self.requests.append(request)
        if self.queue:
            return self.queue.popleft()
        if self.responder:
            return self.responder(request)
        return "好的。"

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        text = self._next(request)
        prompt = sum(estimate_tokens(str(m.get("content", ""))) for m in request.get("messages", []))
        done = estimate_tokens(text)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": self.info.name,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done},
        }

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        resp = await self.chat(request)
        text = resp["choices"][0]["message"]["content"]
        base = {"id": resp["id"], "object": "chat.completion.chunk", "created": resp["created"],
                "model": self.info.name}
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None}]}
        for i in range(0, len(text), 4):
            yield {**base, "choices": [{"index": 0, "delta": {"content": text[i:i + 4]}, "finish_reason": None}]}
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield {**base, "choices": [], "usage": resp["usage"]}

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        text = self._next(request)
        return {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": self.info.name,
                "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": estimate_tokens(text),
                          "total_tokens": 1 + estimate_tokens(text)}}

    async def health(self) -> bool:
        return True

    async def close(self) -> None:
        return None
