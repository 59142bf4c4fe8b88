"""A Hanlin node in front of two stub OpenAI upstreams on 127.0.0.1: one upstream is killed under load.

No request that had not started streaming may fail; requests that were streaming from the killed upstream
end with a clean SSE error event and ``[DONE]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cluster import StreamResult, Stub, start_node, start_stub, stream_chat, write_config
from tests.support.server import RunningServer, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stubs() -> Iterator[tuple[Stub, Stub, Stub]]:
    a = start_stub("a", tokens=60, token_delay=0.05)
    b = start_stub("b", tokens=60, token_delay=0.05)
    slow = start_stub("slow", tokens=4, ttft=30)  # sends the role chunk, then nothing for 30 s
    yield a, b, slow
    for s in (a, b, slow):
        if s.proc.poll() is None:
            s.kill()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, stubs: tuple[Stub, Stub, Stub]) -> Iterator[RunningServer]:
    a, b, slow = stubs
    home = tmp_path_factory.mktemp("pool-node")
    cfg = write_config(home / "hanlin.yaml", {
        "chat": [{"kind": "vllm", "base_url": a.base_url, "model": "stub-model", "name": "a"},
                 {"kind": "llamacpp", "base_url": b.base_url, "model": "stub-model", "name": "b"}],
        "guided": [{"kind": "vllm", "base_url": b.base_url, "model": "Qwen/Qwen2.5-72B-Instruct",
                    "structured_output": "guided_json", "api_key_env": "STUB_B_KEY"}],
        "timeouts": [{"kind": "vllm", "base_url": slow.base_url, "name": "slow", "timeout_s": 1},
                     {"kind": "vllm", "base_url": b.base_url, "name": "b"}],
    }, health_interval_s=1, cooldown_s=2)
    srv = start_node(home, cfg, "chat", STUB_B_KEY="sk-stub-b")
    yield srv
    stop_server(srv)


def test_pool_is_listed_once(node: RunningServer) -> None:
    ids = [m["id"] for m in httpx.get(node.base_url + "/models").json()["data"]]
    assert ids.count("chat") == 1 and ids.count("guided") == 1
    health = httpx.get(node.url + "/health").json()["engines"]["chat"]
    assert health["kind"] == "pool"


def test_structured_output_and_tools_reach_vllm_as_guided_json(node: RunningServer,
                                                              stubs: tuple[Stub, Stub, Stub]) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    r = httpx.post(node.base_url + "/chat/completions", timeout=30, json={
        "model": "guided", "messages": [{"role": "user", "content": "数字"}], "max_tokens": 3,
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}})
    assert r.status_code == 200
    stats = stubs[1].stats()
    sent = stats["last_body"]
    assert sent["model"] == "Qwen/Qwen2.5-72B-Instruct" and sent["guided_json"] == schema
    assert "response_format" not in sent
    assert stats["last_authorization"] == "Bearer sk-stub-b"  # the key named by api_key_env
    tool = {"type": "function", "function": {"name": "get_weather", "description": "天气",
                                             "parameters": {"type": "object",
                                                            "properties": {"city": {"type": "string"}}}}}
    httpx.post(node.base_url + "/chat/completions", timeout=30, json={
        "model": "guided", "messages": [{"role": "user", "content": "北京天气"}], "max_tokens": 3,
        "tools": [tool], "tool_choice": "required"})
    sent = stubs[1].stats()["last_body"]
    assert "tools" not in sent and "get_weather" in str(sent["guided_json"])


def test_a_member_past_its_timeout_before_the_first_token_is_retried(node: RunningServer,
                                                                    stubs: tuple[Stub, Stub, Stub]) -> None:
    slow = stubs[2]
    before = slow.stats()["requests"]

    async def two() -> list[StreamResult]:  # at once: least-outstanding sends one to each member
        async with httpx.AsyncClient(timeout=60) as client:
            return list(await asyncio.gather(*(stream_chat(client, node.url, "timeouts") for _ in range(2))))
    results = asyncio.run(two())
    assert all(r.status == 200 and r.error is None and r.text.startswith("[b]") for r in results)
    assert slow.stats()["requests"] == before + 1  # tried once, timed out after 1 s, retried on "b"


def test_kill_one_engine_under_load(node: RunningServer, stubs: tuple[Stub, Stub, Stub]) -> None:
    a, b, _ = stubs

    async def run() -> tuple[list[StreamResult], list[StreamResult]]:
        streaming_from_a = asyncio.Event()

        def on_token(res: StreamResult) -> None:
            if res.text.startswith("[a]") and res.tokens >= 2:
                streaming_from_a.set()
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            first = [asyncio.create_task(stream_chat(client, node.url, "chat", on_token)) for _ in range(16)]
            await asyncio.wait_for(streaming_from_a.wait(), timeout=60)
            a.kill()  # SIGKILL while it streams to about half of the clients
            second = [asyncio.create_task(stream_chat(client, node.url, "chat")) for _ in range(16)]
            return list(await asyncio.gather(*first)), list(await asyncio.gather(*second))

    first, second = asyncio.run(run())
    everything = first + second
    # no request failed before it started streaming: every one got HTTP 200 and at least one token
    assert all(r.status == 200 for r in everything), [r.error for r in everything if r.status != 200]
    assert all(r.tokens > 0 for r in everything)
    # those that failed had been streaming, and ended cleanly: an error event, then [DONE]
    failed = [r for r in everything if r.error]
    assert failed, "the kill should have cut some streams from 'a'"
    for r in failed:
        assert r.tokens_before_error and r.tokens_before_error > 0
        assert r.text.startswith("[a]") and r.done
        assert r.error["code"] == "engine_failed_mid_stream" and "incomplete" in r.error["message"]
    # every request sent after the kill was served completely, by the surviving engine
    assert all(r.error is None and r.done and r.finish_reason == "stop" for r in second)
    assert all(r.text.startswith("[b]") for r in second)
    assert any(r.text.startswith("[b]") and r.error is None for r in first)
    # the node keeps serving, and reports the dead member
    ok = asyncio.run(_one(node.url))
    assert ok.error is None and ok.text.startswith("[b]")


async def _one(url: str) -> StreamResult:
    async with httpx.AsyncClient(timeout=60) as client:
        return await stream_chat(client, url, "chat")


def test_all_engines_down_is_an_http_error_not_a_broken_stream(tmp_path: Path) -> None:
    stub = start_stub("c")
    cfg = write_config(tmp_path / "h.yaml", {"solo": [{"kind": "openai", "base_url": stub.base_url}]})
    srv = start_node(tmp_path / "home", cfg, "solo")
    try:
        assert asyncio.run(_one_model(srv.url, "solo")).error is None
        stub.kill()
        res = asyncio.run(_one_model(srv.url, "solo"))
        assert res.status == 503 and res.error and "solo" in res.error["message"]
    finally:
        stop_server(srv)


async def _one_model(url: str, model: str) -> StreamResult:
    async with httpx.AsyncClient(timeout=60) as client:
        return await stream_chat(client, url, model)
