"""A real llama.cpp server (xllamacpp's HTTP listener, the 0.5B) behind a Hanlin pool member of kind
``llamacpp``: chat, stream, json_schema, tools, error mapping, and the server killed under load."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.cluster import start_node, stream_chat, write_config
from tests.support.server import MODEL_CACHE, RunningServer, free_port, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
GGUF = MODEL_CACHE / "qwen2.5-coder-0.5b-instruct.gguf"
CTX = 1024  # per slot: small, so the overflow test is cheap


@pytest.fixture(scope="module")
def llama() -> Iterator[tuple[subprocess.Popen[str], str]]:
    if not GGUF.is_file():
        pytest.skip("the 0.5B is assembled by the session server fixture first; run with tests that use it")
    port = free_port()
    script = Path(__file__).parents[1] / "support" / "llamacpp_server.py"
    proc = subprocess.Popen([sys.executable, str(script), str(GGUF), str(port), str(CTX)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY"), f"llama.cpp server did not start: {line!r}"
    yield proc, f"http://127.0.0.1:{port}/v1"
    if proc.poll() is None:
        proc.kill()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, llama: tuple[subprocess.Popen[str], str]
         ) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("llamacpp-node")
    cfg = write_config(home / "hanlin.yaml", {"real": [{"kind": "llamacpp", "base_url": llama[1], "name": "lcpp"}]},
                       health_interval_s=1, cooldown_s=2, n_ctx=CTX)
    srv = start_node(home, cfg, "real")
    yield srv
    stop_server(srv)


def test_chat_stream_schema_tools_and_errors(node: RunningServer) -> None:
    client = openai.OpenAI(base_url=node.base_url, api_key="unused", max_retries=0, timeout=600)
    r = client.chat.completions.create(model="real", messages=[{"role": "user", "content": "你好"}], max_tokens=8)
    assert r.choices[0].message.content and r.model == "real" and r.usage.completion_tokens <= 8
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="real", messages=[{"role": "user", "content": "你好"}], max_tokens=8, stream=True) if c.choices)
    assert text
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    r = client.chat.completions.create(
        model="real", messages=[{"role": "user", "content": "中国的首都是哪里？用JSON回答。"}], max_tokens=30,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}})
    assert set(json.loads(r.choices[0].message.content)) == {"city"}
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": schema}}
    r = client.chat.completions.create(model="real", messages=[{"role": "user", "content": "北京天气"}],
                                       tools=[tool], tool_choice="required", max_tokens=60, temperature=0)
    assert json.loads(r.choices[0].message.tool_calls[0].function.arguments)["city"]
    with pytest.raises(openai.BadRequestError) as exc:  # llama.cpp's exceed_context_size_error, mapped
        client.chat.completions.create(model="real", messages=[{"role": "user", "content": "测试 " * 1500}],
                                       max_tokens=4)
    assert exc.value.code == "context_length_exceeded" and "maximum context length" in exc.value.message


def test_llamacpp_killed_under_load_ends_streams_cleanly(node: RunningServer,
                                                         llama: tuple[subprocess.Popen[str], str]) -> None:
    async def run() -> list:  # type: ignore[type-arg]
        async with httpx.AsyncClient(timeout=300) as client:
            started = asyncio.Event()

            def on_token(res) -> None:  # type: ignore[no-untyped-def]
                if res.tokens >= 2:
                    started.set()

            tasks = [asyncio.create_task(stream_chat(client, node.url, "real", on_token=on_token, max_tokens=400,
                                                     messages=[{"role": "user", "content": "写一篇长文章。"}]))
                     for _ in range(2)]
            await asyncio.wait_for(started.wait(), 300)
            llama[0].kill()
            return await asyncio.gather(*tasks)

    results = asyncio.run(run())
    for res in results:  # each stream either finished or ended with an error event, and always with [DONE]
        assert res.status == 200 and res.done
        assert res.error is None or res.error["code"] == "engine_failed_mid_stream"
    assert any(res.error for res in results)
    after = httpx.post(node.base_url + "/chat/completions", timeout=60,
                       json={"model": "real", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    assert after.status_code == 503 and after.headers["x-request-id"]
