"""End to end: the real `hanlin serve` with the real 0.5B model, through the official openai client."""

from __future__ import annotations

import json
import threading

import httpx
import openai
import pytest

pytestmark = pytest.mark.e2e
MODEL = "qwen2.5-coder-0.5b-instruct"


def test_chat_non_streaming_usage(openai_client):
    resp = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "用一句话介绍北京。"}], max_tokens=24, seed=1,
        temperature=0)
    text = resp.choices[0].message.content
    assert text and text.strip()
    assert resp.model == MODEL
    u = resp.usage
    assert u.prompt_tokens > 5 and 1 <= u.completion_tokens <= 24
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    if resp.choices[0].finish_reason == "length":
        assert u.completion_tokens == 24


def test_stream_matches_non_stream_and_counts_tokens(openai_client):
    msgs = [{"role": "user", "content": "从1数到30，用逗号分隔。"}]
    full = openai_client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=16, seed=7, temperature=0)
    stream = openai_client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=16, seed=7,
                                                   temperature=0, stream=True,
                                                   stream_options={"include_usage": True})
    pieces, usage, content_chunks, finish = [], None, 0, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
                content_chunks += 1
            finish = c.finish_reason or finish
    assert "".join(pieces) == full.choices[0].message.content  # greedy decoding is deterministic
    assert usage is not None
    assert usage.prompt_tokens == full.usage.prompt_tokens  # same tokenizer, same prompt
    assert usage.completion_tokens == full.usage.completion_tokens
    assert content_chunks <= usage.completion_tokens  # llama.cpp streams one token per chunk at most
    assert finish in ("stop", "length")


def test_stream_without_usage_option_has_no_usage_chunk(openai_client):
    stream = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True)
    chunks = list(stream)
    assert chunks and all(not c.usage for c in chunks)


def test_json_schema_is_enforced(openai_client):
    schema = {"type": "object", "properties": {
        "city": {"type": "string"}, "population_million": {"type": "number"},
        "districts": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
        "required": ["city", "population_million", "districts"], "additionalProperties": False}
    resp = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "给出上海的基本信息，JSON格式。"}], max_tokens=200,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}, seed=3)
    data = json.loads(resp.choices[0].message.content)
    assert set(data) == {"city", "population_million", "districts"}
    assert isinstance(data["city"], str) and isinstance(data["population_million"], (int, float))
    assert isinstance(data["districts"], list) and len(data["districts"]) <= 3


def test_json_object_mode(openai_client):
    resp = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Return a JSON object with a key named ok."}],
        max_tokens=40, response_format={"type": "json_object"})
    assert isinstance(json.loads(resp.choices[0].message.content), dict)


def test_tool_call_for_tool_forcing_prompt(openai_client):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "查询城市天气",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "unit": {"type": "string", "enum": ["c", "f"]}},
                       "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time", "description": "查询当前时间",
                                          "parameters": {"type": "object", "properties": {}}}}]
    resp = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "北京今天天气怎么样？"}], tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, max_tokens=60)
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert isinstance(args["city"], str) and args["city"]

    # "required": some tool must be called, chosen by the model among the declared ones
    resp = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "现在几点了？"}], tools=tools, tool_choice="required",
        max_tokens=60)
    assert resp.choices[0].message.tool_calls[0].function.name in {"get_weather", "get_time"}


def test_tool_call_streaming(openai_client):
    tools = [{"type": "function", "function": {"name": "add", "description": "两数相加", "parameters": {
        "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"]}}}]
    stream = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "3加4等于多少？"}], tools=tools, tool_choice="required",
        max_tokens=40, stream=True)
    deltas = [tc for ch in stream for c in ch.choices for tc in (c.delta.tool_calls or [])]
    assert deltas and deltas[0].function.name == "add" and deltas[0].id  # the header comes first, as OpenAI's
    arguments = "".join(d.function.arguments or "" for d in deltas if d.index == 0)  # then fragments
    assert set(json.loads(arguments)) >= {"a", "b"}


def test_four_concurrent_requests_complete(openai_client):
    results: list[str] = []
    errors: list[Exception] = []

    def one(i: int) -> None:
        try:
            r = openai_client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"请写出数字{i}的中文大写。"}], max_tokens=12)
            results.append(r.choices[0].message.content or "")
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    assert len(results) == 4 and all(results)


def test_unknown_model_is_404(openai_client):
    with pytest.raises(openai.NotFoundError) as exc:
        openai_client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert "no-such-model" in str(exc.value)


def test_bad_parameters_are_4xx(server, openai_client):
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model=MODEL, messages=[], max_tokens=5)
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                              temperature=7)
    r = httpx.post(server.base_url + "/chat/completions", content=b"{not json",
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(server.base_url + "/chat/completions", json={"messages": "hello"})
    assert 400 <= r.status_code < 500 and "messages" in r.json()["error"]["message"]


def test_prompt_longer_than_context_is_400_with_counts(openai_client):
    with pytest.raises(openai.BadRequestError) as exc:
        openai_client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "测试 " * 6000}], max_tokens=8)
    body = exc.value.body
    assert body["code"] == "context_length_exceeded"
    assert body["n_prompt_tokens"] > body["n_ctx"] > 0


def test_server_keeps_serving_after_client_drops_stream(server, openai_client):
    with httpx.stream("POST", server.base_url + "/chat/completions", timeout=120, json={
            "model": MODEL, "messages": [{"role": "user", "content": "写一篇很长的文章，介绍中国的历史。"}],
            "max_tokens": 2000, "stream": True}) as r:
        assert r.status_code == 200
        for n, _line in enumerate(r.iter_lines()):
            if n > 5:
                break  # hang up mid-stream
    # the slot is freed: 4 more requests (one per slot) still complete
    test_four_concurrent_requests_complete(openai_client)
    health = httpx.get(server.url + "/health").json()
    assert health["status"] == "ok"


def test_completions_embeddings_models_metrics(server, openai_client):
    c = openai_client.completions.create(model=MODEL, prompt="def add(a, b):", max_tokens=8)
    assert c.choices[0].text and c.usage.completion_tokens <= 8
    e = openai_client.embeddings.create(model="e5-small", input=["今天天气很好", "The weather is nice today"])
    assert len(e.data) == 2 and len(e.data[0].embedding) == 384
    ids = {m.id for m in openai_client.models.list().data}
    assert MODEL in ids and "e5-small" in ids
    with pytest.raises(openai.NotFoundError):
        openai_client.embeddings.create(model=MODEL, input="x")
    metrics = httpx.get(server.url + "/metrics").text
    assert "hanlin_requests_total" in metrics and "hanlin_completion_tokens_total" in metrics
    assert "hanlin_request_latency_seconds_bucket" in metrics and "hanlin_queue_depth" in metrics


def test_cli_models_list_and_chat(server):
    r = server.cli("models", "list", "--json")
    assert r.returncode == 0, r.stderr
    models = {m["name"]: m for m in json.loads(r.stdout)["models"]}
    assert models[MODEL]["state"] == "ready" and models[MODEL]["size"] == 491_400_064
    r = server.cli("chat", "--url", server.url, "-m", "你好", "--max-tokens", "8")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    r = server.cli("chat", "--url", server.url, "--max-tokens", "8", input="你好\n/exit\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()


def test_upstream_engine_listed_and_served(server, openai_client):
    """Another Hanlin (here: this same server) registered as an upstream, served under its own name."""
    r = server.cli("models", "add-upstream", "relay-05b", server.base_url, "--upstream-model", MODEL)
    assert r.returncode == 0, r.stderr
    assert "relay-05b" in {m.id for m in openai_client.models.list().data}
    resp = openai_client.chat.completions.create(model="relay-05b", messages=[{"role": "user", "content": "hi"}],
                                                 max_tokens=6)
    assert resp.model == "relay-05b" and resp.choices[0].message.content
    chunks = list(openai_client.chat.completions.create(
        model="relay-05b", messages=[{"role": "user", "content": "hi"}], max_tokens=6, stream=True))
    assert any(c.choices and c.choices[0].delta.content for c in chunks)
    r = server.cli("models", "remove", "relay-05b")
    assert r.returncode == 0, r.stderr
