"""The vLLM dialect against recorded vLLM responses (tests/pools/data/vllm_recorded.json): what Hanlin sends
(guided decoding, sampling names) and how it reads vLLM's answers, streams and errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from hanlin.engine.config_file import MemberConfig
from hanlin.engine.pool import DialectEngine
from hanlin.errors import ContextOverflow, EngineError

REC = json.loads((Path(__file__).parent / "data" / "vllm_recorded.json").read_text(encoding="utf-8"))


def _engine(reply: Any, seen: list[dict[str, Any]], status: int = 200, stream: bool = False) -> DialectEngine:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if stream:
            body = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in reply) + "data: [DONE]\n\n"
            return httpx.Response(status, content=body.encode(), headers={"content-type": "text/event-stream"})
        return httpx.Response(status, json=reply)

    eng = DialectEngine("vllm-a", "Qwen/Qwen2.5-72B-Instruct",
                        MemberConfig(kind="vllm", base_url="http://vllm.invalid/v1", structured_output="guided_json"))
    eng._client = httpx.AsyncClient(base_url="http://vllm.invalid/v1", transport=httpx.MockTransport(handler))
    eng._use_aiohttp = False  # the recorded answers come through the mock transport
    return eng


def test_chat_request_is_adapted_and_answer_read():
    seen: list[dict[str, Any]] = []
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    resp = asyncio.run(_engine(REC["chat"], seen).chat({
        "messages": [{"role": "user", "content": "数字"}], "repeat_penalty": 1.1,
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}}))
    sent = seen[0]
    assert sent["model"] == "Qwen/Qwen2.5-72B-Instruct" and sent["guided_json"] == schema
    assert "response_format" not in sent and sent["repetition_penalty"] == 1.1 and "repeat_penalty" not in sent
    assert resp["model"] == "vllm-a"  # renamed to the member, then to the pool by the pool
    assert json.loads(resp["choices"][0]["message"]["content"]) == {"n": 7}
    assert resp["usage"]["total_tokens"] == 27


def test_stream_is_read_chunk_by_chunk_with_usage():
    seen: list[dict[str, Any]] = []

    async def run() -> list[dict[str, Any]]:
        return [c async for c in _engine(REC["stream"], seen, stream=True).stream(
            {"messages": [{"role": "user", "content": "你好"}], "stream_options": {"include_usage": True}})]

    chunks = asyncio.run(run())
    assert seen[0]["stream"] is True
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    assert text == "你好！" and chunks[-1]["usage"]["completion_tokens"] == 2
    assert all(c["model"] == "vllm-a" for c in chunks)


def test_context_overflow_keeps_openai_wording_and_code():
    with pytest.raises(ContextOverflow) as exc:
        asyncio.run(_engine(REC["context_error"], [], status=400).chat({"messages": [{"role": "user", "content": "x"}]}))
    assert exc.value.code == "context_length_exceeded" and "maximum context length is 4096" in exc.value.message


def test_upstream_refusing_hanlins_key_is_a_502_not_the_clients_fault():
    with pytest.raises(EngineError) as exc:
        asyncio.run(_engine(REC["auth_error"], [], status=401).chat({"messages": [{"role": "user", "content": "x"}]}))
    assert exc.value.status == 502 and exc.value.code == "upstream_auth_failed"
