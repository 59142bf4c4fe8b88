"""EnginePool in-process: routing, circuit breaker, retries before the first token, mid-stream errors,
upstream dialects and the YAML schema. Fast; no network."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hanlin.engine.base import EngineInfo
from hanlin.engine.config_file import load_config, parse_config
from hanlin.engine.pool import EnginePool, Member, adapt_body, build_pool
from hanlin.errors import BadRequest, EngineError, Unavailable

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"


class ScriptedEngine:
    """Streams ``[name] t0 t1 ...``; can fail before the first token, after ``fail_after`` tokens, or hang."""

    def __init__(self, name: str, *, fail_before: bool = False, fail_after: int | None = None,
                 gate: asyncio.Event | None = None, error: Exception | None = None) -> None:
        self.info = EngineInfo(name=name, kind="fake")
        self.name, self.fail_before, self.fail_after, self.gate = name, fail_before, fail_after, gate
        self.error = error or EngineError(f"{name} is down")
        self.calls = 0
        self.healthy = True

    async def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.fail_before:
            raise self.error
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": self.name},
                             "finish_reason": "stop"}], "usage": {}}

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.chat(request)

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        self.calls += 1
        yield {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        if self.fail_before:
            raise self.error
        if self.gate:
            await self.gate.wait()
        for i in range(4):
            if self.fail_after is not None and i >= self.fail_after:
                raise self.error
            yield {"choices": [{"index": 0, "delta": {"content": f"[{self.name}]t{i}"}, "finish_reason": None}]}
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}

    async def health(self) -> bool:
        return self.healthy

    async def close(self) -> None:
        return None


def pool_of(*engines: ScriptedEngine, **kw: Any) -> EnginePool:
    return EnginePool("m", [Member(e.name, e) for e in engines], **kw)


async def collect(pool: EnginePool) -> str:
    text = ""
    async for chunk in pool.stream({"messages": []}):
        assert chunk["model"] == "m"
        for c in chunk["choices"]:
            text += c["delta"].get("content") or ""
    return text


def test_least_outstanding_spreads_concurrent_streams() -> None:
    async def run() -> list[int]:
        gate = asyncio.Event()
        a, b, c = (ScriptedEngine(n, gate=gate) for n in "abc")
        pool = pool_of(a, b, c)
        tasks = [asyncio.create_task(collect(pool)) for _ in range(9)]
        await asyncio.sleep(0.05)
        outstanding = [m.outstanding for m in pool.members]
        gate.set()
        await asyncio.gather(*tasks)
        assert pool.busy == 0
        return outstanding
    assert asyncio.run(run()) == [3, 3, 3]


def test_failure_before_first_token_is_retried_and_member_taken_out() -> None:
    async def run() -> None:
        bad, good = ScriptedEngine("bad", fail_before=True), ScriptedEngine("good")
        pool = pool_of(bad, good, cooldown_s=60)
        pool._rr = -1
        texts = [await collect(pool) for _ in range(4)]
        assert all(t.startswith("[good]") for t in texts)
        assert bad.calls == 1  # taken out after its first failure: later requests go straight to "good"
        assert pool.retries == 1
        st = {s["member"]: s for s in pool.status()}
        assert st["bad"]["state"] == "down" and "bad is down" in st["bad"]["last_error"]
        assert st["good"]["state"] == "up" and st["good"]["served"] == 4
        reply = await pool.chat({"messages": []})
        assert reply["choices"][0]["message"]["content"] == "good" and reply["model"] == "m"
    asyncio.run(run())


def test_mid_stream_failure_ends_with_an_engine_error_after_the_tokens() -> None:
    async def run() -> None:
        pool = pool_of(ScriptedEngine("x", fail_after=2))
        got: list[str] = []
        with pytest.raises(EngineError) as ei:
            async for chunk in pool.stream({"messages": []}):
                got += [c["delta"].get("content") or "" for c in chunk["choices"]]
        assert "".join(got) == "[x]t0[x]t1"
        assert ei.value.code == "engine_failed_mid_stream" and "incomplete" in ei.value.message
    asyncio.run(run())


def test_client_errors_are_not_retried_and_do_not_open_the_circuit() -> None:
    async def run() -> None:
        a = ScriptedEngine("a", fail_before=True, error=BadRequest("messages too long"))
        b = ScriptedEngine("b")
        pool = pool_of(a, b)
        pool._rr = -1  # ties go to the first member
        with pytest.raises(BadRequest):
            await pool.chat({"messages": []})
        assert b.calls == 0 and pool.status()[0]["state"] == "up"
    asyncio.run(run())


def test_all_members_down_is_a_503_that_names_the_pool() -> None:
    async def run() -> None:
        pool = pool_of(ScriptedEngine("a", fail_before=True), ScriptedEngine("b", fail_before=True))
        with pytest.raises(Unavailable) as ei:
            await collect(pool)
        assert "'m'" in ei.value.message and ei.value.status == 503
        assert pool.retries == 1  # moved once, from the first member to the second; the last failure is not a retry
        with pytest.raises(Unavailable) as ei2:  # both circuits open now: fail fast, no engine called
            await pool.chat({"messages": []})
        assert "2 of 2 down" in ei2.value.message
        assert not await pool.health()
    asyncio.run(run())


def test_open_circuit_is_retried_after_cooldown_and_by_health_checks() -> None:
    async def run() -> None:
        a, b = ScriptedEngine("a", fail_before=True), ScriptedEngine("b")
        pool = pool_of(a, b, cooldown_s=0.05)
        pool._rr = -1
        await collect(pool)  # a fails, b serves
        assert pool.status()[0]["state"] == "down"
        await asyncio.sleep(0.08)
        assert pool.status()[0]["state"] == "half-open"
        a.fail_before = False
        pool._rr = -1  # make the tie go to "a"
        texts = [await collect(pool) for _ in range(2)]
        assert any(t.startswith("[a]") for t in texts)
        assert pool.status()[0]["state"] == "up"
        # a health check takes a member out and brings it back without any request
        a.healthy = False
        await pool.check_members()
        assert pool.status()[0]["state"] == "down"
        a.healthy = True
        await pool.check_members()
        assert pool.status()[0]["state"] == "up"
    asyncio.run(run())


def test_half_open_member_that_fails_again_waits_longer() -> None:
    async def run() -> None:
        a, b = ScriptedEngine("a", fail_before=True), ScriptedEngine("b")
        pool = pool_of(a, b, cooldown_s=0.05, max_cooldown_s=10)
        pool._rr = -1
        await collect(pool)
        first_wait = pool.members[0].cooldown_s
        await asyncio.sleep(0.08)
        pool._rr = -1
        await collect(pool)  # "a" is tried (half-open), fails, is retried on "b"
        assert a.calls == 2 and pool.members[0].cooldown_s == first_wait * 2
    asyncio.run(run())


def test_dialects_map_structured_output_per_upstream() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    body = {"messages": [], "repeat_penalty": 1.1, "top_k": 20,
            "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}}
    assert adapt_body(body, "vllm", "guided_json")["guided_json"] == schema
    vllm = adapt_body(body, "vllm", "response_format")
    assert vllm["response_format"]["json_schema"]["schema"] == schema and vllm["repetition_penalty"] == 1.1
    assert "repeat_penalty" not in vllm
    assert adapt_body(body, "vllm", "structured_outputs")["structured_outputs"] == {"json": schema}
    lcpp = adapt_body(body, "llamacpp", "json_schema")
    assert lcpp["json_schema"] == schema and "response_format" not in lcpp and lcpp["top_k"] == 20
    oai = adapt_body(body, "openai", "response_format")
    assert "top_k" not in oai and "repeat_penalty" not in oai
    assert "response_format" not in adapt_body(body, "openai", "none")
    # llama.cpp's JSON mode with a schema becomes OpenAI's json_schema for servers that ignore "schema"
    js = adapt_body({"response_format": {"type": "json_object", "schema": schema}}, "vllm", "response_format")
    assert js["response_format"]["type"] == "json_schema" and js["response_format"]["json_schema"]["schema"] == schema
    assert adapt_body({"response_format": {"type": "text"}}, "vllm", "guided_json") == {
        "response_format": {"type": "text"}}


def test_config_errors_say_where_and_what() -> None:
    with pytest.raises(BadRequest, match=r"pools\.0\.members\.0.*base_url"):
        parse_config({"pools": [{"name": "p", "members": [{"kind": "vllm"}]}]})
    with pytest.raises(BadRequest, match="unique"):
        parse_config({"pools": [{"name": "p", "members": [{"kind": "local", "model": "x"}]}] * 2})
    with pytest.raises(BadRequest, match="same name"):
        parse_config({"pools": [{"name": "x", "members": [{"kind": "local", "model": "x"}]}]})
    with pytest.raises(BadRequest, match="(?i)membrs.*extra"):
        parse_config({"pools": [{"name": "p", "membrs": []}]})


def _yaml_blocks() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")  # yaml blocks, and YAML written by the recipes' heredocs
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S) + re.findall(r"<<'EOF'\n(.*?)\nEOF", text, flags=re.S)


def test_every_yaml_example_in_the_docs_is_a_valid_config(tmp_path: Path) -> None:
    blocks = [b for b in _yaml_blocks() if "pools:" in b]
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        f = tmp_path / f"ex{i}.yaml"
        f.write_text(block, encoding="utf-8")
        cfg = load_config(f)
        for p in cfg.pools:
            pool = build_pool(p, manager=None) if all(m.kind != "local" for m in p.members) else None
            if pool:
                assert pool.info.name == p.name and len(pool.members) == len(p.members)
    assert yaml.safe_load(blocks[0])["pools"]


def test_pool_is_listed_once_in_models_and_serves_the_api(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from hanlin.api.app import create_app
    from hanlin.config import Settings
    from hanlin.engine.manager import EngineManager
    from hanlin.services import build_services

    settings = Settings(home=tmp_path, model="m", auth="off")
    engines = EngineManager(settings)
    engines.add(pool_of(ScriptedEngine("a", fail_before=True), ScriptedEngine("b")))
    services = build_services(settings, engines=engines)
    with TestClient(create_app(settings, services)) as client:
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert ids.count("m") == 1
        r = client.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                                      "stream": True})
        assert r.status_code == 200 and "[b]t0" in r.text and '"error"' not in r.text
        assert r.text.rstrip().endswith("data: [DONE]")
        health = client.get("/health").json()["engines"]["m"]
        assert health["kind"] == "pool" and health["busy"] == 0


def test_install_reads_the_config_file_local_members_and_metrics(tmp_path: Path) -> None:
    """`hanlin serve --config`: a pool of a dead remote server and a local model; the dead one is skipped."""
    from fastapi.testclient import TestClient

    from hanlin.api.app import create_app
    from hanlin.config import Settings
    from hanlin.engine.fake import FakeEngine
    from hanlin.engine.manager import EngineManager
    from hanlin.services import build_services
    from tests.support.server import free_port

    cfg = tmp_path / "hanlin.yaml"
    cfg.write_text(yaml.safe_dump({"pools": [{"name": "team", "members": [
        {"kind": "vllm", "base_url": f"http://127.0.0.1:{free_port()}/v1", "name": "dead", "connect_timeout_s": 1},
        {"kind": "local", "model": "fake"}]}]}), encoding="utf-8")
    settings = Settings(home=tmp_path, model="team", auth="off", config_file=cfg)
    engines = EngineManager(settings)
    engines.add(FakeEngine("fake", responder=lambda body: "本地回答"))
    services = build_services(settings, engines=engines, features={"pools"})
    assert services.pools["team"].info.meta["members"] == ["dead", "local:fake"]
    with TestClient(create_app(settings, services)) as client:
        for _ in range(3):
            r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "本地回答"
            assert r.json()["model"] == "team"
        metrics = client.get("/metrics").text
    assert 'hanlin_pool_member_up{member="dead",pool="team"} 0.0' in metrics
    assert 'hanlin_pool_member_served_total{member="local:fake",pool="team"} 3.0' in metrics
    assert 'hanlin_pool_member_failed_total{member="dead",pool="team"} 1.0' in metrics


def test_streams_cut_together_open_the_circuit_once() -> None:
    """Many in-flight requests failing from one crash must not stack up the member's cooldown."""
    async def run() -> None:
        gate = asyncio.Event()
        a = ScriptedEngine("a", gate=gate, fail_after=1)
        pool = pool_of(a, ScriptedEngine("b", gate=gate), cooldown_s=5)
        tasks = [asyncio.create_task(collect(pool)) for _ in range(8)]
        await asyncio.sleep(0.02)
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        cut = [r for r in results if isinstance(r, EngineError)]
        assert len(cut) == 4  # the four streams on "a" had started: they end with an error
        m = pool.members[0]
        assert m.failed == 4 and m.cooldown_s == 10  # opened once: 5 s now, 10 s next time
        assert 4 < m.open_until - time.monotonic() <= 5
    asyncio.run(run())


def test_health_checks_take_members_out_and_back_but_do_not_end_a_circuit() -> None:
    async def run() -> None:
        a = ScriptedEngine("a")
        a.healthy = False
        pool = pool_of(a, ScriptedEngine("b"), cooldown_s=60)
        await pool.check_members()
        st = pool.status()[0]
        assert st["state"] == "down" and not st["healthy"] and st["failed"] == 0  # not a failed request
        assert st["last_error"] == "health check failed"
        a.healthy = True
        await pool.check_members()
        assert pool.status()[0]["state"] == "up"  # answers again: back at once
        # a member that answers health checks but fails requests stays out for its cooldown
        a.fail_before = True
        pool._rr = -1
        await collect(pool)
        await pool.check_members()
        st = pool.status()[0]
        assert st["state"] == "down" and st["healthy"] and 59 < st["retry_in_s"] <= 60
    asyncio.run(run())
