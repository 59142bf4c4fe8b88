"""Fast unit tests: model assembly integrity, registry, tool-call planning, API errors over a fake engine."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from hanlin.errors import BadRequest, ModelIntegrityError, NotFound
from hanlin.models import embedded
from hanlin.models.registry import EmbeddedParts, ModelRegistry, ModelSpec
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.serving.tools import parse_output, plan_tools


def _fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes], sha: str) -> ModelSpec:
    for i, data in enumerate(chunks, start=1):
        pkg = tmp_path / f"fakechunk_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path))
    for i in range(1, len(chunks) + 1):
        sys.modules.pop(f"fakechunk_part{i}", None)
    parts = EmbeddedParts("fakechunk-part{n}", "fakechunk_part{n}", "1.0", len(chunks), sum(map(len, chunks)), sha)
    return ModelSpec(name="tiny", kind="embedded", parts=parts)


def test_assembly_is_verified_and_atomic(tmp_path, monkeypatch):
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7]
    sha = hashlib.sha256(b"".join(chunks)).hexdigest()
    spec = _fake_parts(tmp_path / "pkgs", monkeypatch, chunks, sha)
    seen: list[int] = []
    out = embedded.assemble(tmp_path / "models", spec, lambda done, total: seen.append(done))
    assert out.read_bytes() == b"".join(chunks)
    assert seen[-1] == spec.parts.size  # type: ignore[union-attr]
    assert embedded.is_assembled(tmp_path / "models", spec)
    assert not list((tmp_path / "models").glob("*.partial"))


def test_hash_mismatch_refuses_and_leaves_nothing(tmp_path, monkeypatch):
    chunks = [b"GGUF" + b"x" * 10, b"y" * 10]
    spec = _fake_parts(tmp_path / "pkgs", monkeypatch, chunks, "0" * 64)
    with pytest.raises(ModelIntegrityError, match="sha256"):
        embedded.assemble(tmp_path / "models", spec)
    assert not list((tmp_path / "models").iterdir())


def test_missing_chunk_packages_explain_how_to_install(tmp_path):
    parts = EmbeddedParts("nopkg-part{n}", "nopkg_part{n}", "1.0", 2, 10, "0" * 64)
    with pytest.raises(NotFound, match="hanlin models pull"):
        embedded.assemble(tmp_path, ModelSpec(name="x", kind="embedded", parts=parts))


def test_registry_add_remove_and_refusals(tmp_path):
    reg = ModelRegistry(tmp_path)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 16)
    reg.add(ModelSpec(name="my-7b", kind="local", path=str(gguf)))
    assert ModelRegistry(tmp_path).resolve("my-7b").path == str(gguf)  # persisted
    with pytest.raises(NotFound, match="Known models"):
        reg.resolve("nope")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    with pytest.raises(BadRequest, match="not a GGUF"):
        reg.add(ModelSpec(name="bad", kind="local", path=str(bad)))
    with pytest.raises(BadRequest, match="built-in"):
        reg.add(ModelSpec(name="qwen2.5-coder-0.5b-instruct", kind="local", path=str(gguf)))
    reg.remove("my-7b")
    with pytest.raises(NotFound):
        reg.resolve("my-7b")


def test_tool_planning_builds_a_grammar_and_a_fallback_schema():
    req = ChatCompletionRequest.model_validate({
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "auto"})
    body = {"messages": [m.model_dump(exclude_none=True) for m in req.messages]}
    plan = plan_tools(req, body)
    assert plan and plan.allow_text and plan.parallel
    assert "start: calls | answer" in plan.grammar and "<tool_call>" in plan.grammar
    assert {o["required"][0] for o in plan.schema["anyOf"]} == {"tool_calls", "content"}
    msg, finish = parse_output('<tool_call>\n{"name": "w", "arguments": {"city": "北京"}}\n</tool_call>')
    assert finish == "tool_calls" and json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"city": "北京"}
    msg, finish = parse_output(json.dumps({"content": "你好"}))
    assert finish == "stop" and msg["content"] == "你好"


def test_tool_choice_naming_unknown_tool_is_400():
    req = ChatCompletionRequest.model_validate({
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "a"}}],
        "tool_choice": {"type": "function", "function": {"name": "b"}}})
    with pytest.raises(BadRequest, match="not in tools"):
        plan_tools(req, {"messages": []})


def test_api_errors_and_fake_chat(fake_client, fake_engine):
    fake_engine.enqueue("你好，我是翰林。")
    r = fake_client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "你好，我是翰林。"
    r = fake_client.post("/v1/chat/completions", json={"model": "ghost", "messages": [{"role": "user",
                                                                                       "content": "hi"}]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = fake_client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}],
                                                       "top_p": 3})
    assert r.status_code == 400 and r.json()["error"]["param"] == "top_p"
    big = b"x" * (fake_client.app.state.settings.max_upload_mb * 1024 * 1024 + 10)
    r = fake_client.post("/v1/chat/completions", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "HANLIN_MAX_UPLOAD_MB" in r.json()["error"]["message"]
    assert fake_client.get("/health").json()["status"] == "ok"


def test_fake_stream_sse(fake_client, fake_engine):
    fake_engine.enqueue("流式输出测试")
    with fake_client.stream("POST", "/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "stream_options": {"include_usage": True}}) as r:
        lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(ln[6:]) for ln in lines[:-1]]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    assert text == "流式输出测试"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_jobs_survive_restart(tmp_path):
    import asyncio

    from hanlin.jobs import JobRunner
    from hanlin.store.db import Store

    store = Store(f"sqlite:///{tmp_path / 'j.db'}")
    store.init()
    runner = JobRunner(store)
    job = runner.submit("slow", "t1", {"x": 1})
    runner.update(job["id"], state="running", node=runner.node)  # a process died mid-job
    fresh = JobRunner(Store(f"sqlite:///{tmp_path / 'j.db'}"))
    fresh.register("slow", lambda ctx: asyncio.sleep(0, {"ok": True}), resumable=False)  # type: ignore[arg-type]
    fresh.recover()
    got = fresh.get(job["id"], "t1")
    assert got["state"] == "failed" and "restart" in got["error"]
    with pytest.raises(NotFound):
        fresh.get(job["id"], "other-tenant")

    async def handler(ctx):  # type: ignore[no-untyped-def]
        ctx.progress(0.5, "half")
        return {"echo": ctx.input["x"]}

    async def run_resumable() -> dict:  # type: ignore[type-arg]
        r = JobRunner(Store(f"sqlite:///{tmp_path / 'j.db'}"))
        r.register("res", handler, resumable=True)
        j = r.submit("res", "t1", {"x": 7})
        r.update(j["id"], state="running", node=r.node)
        await r.start()
        try:
            return await r.wait(j["id"], timeout=30)
        finally:
            await r.stop()

    done = asyncio.run(run_resumable())
    assert done["state"] == "succeeded" and done["result"] == {"echo": 7}
