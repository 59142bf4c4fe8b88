"""API errors and chat/streaming over a fake engine, in-process."""

from __future__ import annotations

import json


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
