"""A pool whose live member is another Hanlin node running the real 0.5B model (the shared ``server``), next to
a member that is down: answers come from the live node, structured output is still enforced end to end."""

from __future__ import annotations

import asyncio
import json

import pytest

from hanlin.engine.config_file import parse_config
from hanlin.engine.pool import build_pool
from tests.support.server import FAST_MODEL, RunningServer, free_port

pytestmark = pytest.mark.e2e

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "population_millions": {"type": "number"}},
          "required": ["city", "population_millions"]}


def test_pool_over_a_real_hanlin_node_and_a_dead_server(server: RunningServer) -> None:
    cfg = parse_config({"pools": [{"name": "team-model", "members": [
        {"kind": "llamacpp", "base_url": f"http://127.0.0.1:{free_port()}/v1", "name": "down"},
        {"kind": "hanlin", "base_url": server.base_url, "model": FAST_MODEL, "name": "node-1"}],
        # longer than any answer on a loaded CI machine: the stream must not land in the dead member's trial
        "cooldown_s": 600}]})
    pool = build_pool(cfg.pools[0])
    pool._rr = -1  # the first request goes to the dead member first, and is retried on the live one

    async def run() -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
        try:
            reply = await pool.chat({
                "messages": [{"role": "user", "content": "上海的人口是多少百万？用 JSON 回答。"}],
                "max_tokens": 60, "temperature": 0, "seed": 1,
                "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}})
            chunks = [c async for c in pool.stream({"messages": [{"role": "user", "content": "你好"}],
                                                    "max_tokens": 8, "stream_options": {"include_usage": True}})]
            return reply, chunks
        finally:
            await pool.close()

    reply, chunks = asyncio.run(run())
    assert reply["model"] == "team-model"
    data = json.loads(reply["choices"][0]["message"]["content"])
    assert isinstance(data["city"], str) and isinstance(data["population_millions"], (int, float))
    assert reply["usage"]["completion_tokens"] > 0
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    assert text and all(c["model"] == "team-model" for c in chunks)
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    status = {s["member"]: s for s in pool.status()}
    assert status["down"]["state"] == "down" and status["down"]["failed"] == 1
    assert status["node-1"]["served"] == 2 and pool.retries == 1
