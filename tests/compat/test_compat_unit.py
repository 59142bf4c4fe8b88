"""Fast unit tests of the OpenAI-compatibility layer: schema hoisting, tool output parsing and streaming, legacy
logprobs, request ids, refusals (the e2e files drive the same paths through client libraries)."""

from __future__ import annotations

import json

import pytest

from hanlin.errors import BadRequest
from hanlin.serving.completions import legacy_logprobs
from hanlin.serving.jsonschema import hoist, normalize
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.serving.tools import ToolStream, call_schema, flatten_tool_history, parse_output, plan_tools

TREE = {"type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}}, "required": ["root"],
        "$defs": {"Node": {"type": "object", "properties": {
            "name": {"type": "string"}, "kind": {"enum": ["a", "b"]}, "tag": {"const": "x"},
            "note": {"type": "string", "nullable": True},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}, "required": ["name"]}}}


def _req(**kw):
    return ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "x"}], **kw})


def _tool(name, params):
    return {"type": "function", "function": {"name": name, "parameters": params}}


def test_normalize_rewrites_definitions_and_nullable_and_checks_refs():
    out = normalize({"properties": {"a": {"$ref": "#/definitions/A"}, "b": {"type": "string", "nullable": True},
                                    "nullable": {"type": "integer"}},  # a property named "nullable" stays
                     "definitions": {"A": {"type": "integer"}}})
    assert out["properties"]["a"] == {"$ref": "#/$defs/A"} and out["$defs"] == {"A": {"type": "integer"}}
    assert out["properties"]["b"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert out["properties"]["nullable"] == {"type": "integer"}
    with pytest.raises(BadRequest, match="#/\\$defs/Missing"):
        normalize({"properties": {"a": {"$ref": "#/$defs/Missing"}}})


def test_hoist_renames_recursive_defs_and_root_refs():
    body, defs = hoist(TREE, "t0_")
    assert "$defs" not in body and body["properties"]["root"] == {"$ref": "#/$defs/t0_Node"}
    assert defs["t0_Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/t0_Node"}
    body, defs = hoist({"type": "object", "properties": {"next": {"$ref": "#"}}}, "t1_")
    assert body == {"$ref": "#/$defs/t1_root"} and defs["t1_root"]["properties"]["next"] == {"$ref": "#/$defs/t1_root"}


def test_two_tools_with_same_def_names_do_not_collide():
    a = {"type": "object", "properties": {"x": {"$ref": "#/$defs/Item"}}, "$defs": {"Item": {"type": "string"}}}
    b = {"type": "object", "properties": {"y": {"$ref": "#/$defs/Item"}}, "$defs": {"Item": {"type": "integer"}}}
    req = _req(tools=[_tool("a", a), _tool("b", b)])
    schema = call_schema(req.tools)
    assert schema["$defs"] == {"t0_Item": {"type": "string"}, "t1_Item": {"type": "integer"}}
    assert normalize(schema)  # every ref of the combined document resolves


def test_tools_with_response_format_make_the_answer_branch_that_schema():
    req = _req(tools=[_tool("w", {"type": "object", "properties": {}})],
               response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": TREE}})
    plan = plan_tools(req, {"messages": [{"role": "user", "content": "x"}]})
    assert plan and plan.answer_schema and "answer: %json" in plan.grammar
    assert any("root" in (o.get("properties") or {}) for o in plan.schema["anyOf"])


def test_parallel_false_and_named_choice_allow_one_call():
    req = _req(tools=[_tool("w", {})], parallel_tool_calls=False)
    plan = plan_tools(req, {"messages": []})
    assert plan and not plan.parallel and "calls: call\n" in plan.grammar
    req = _req(tools=[_tool("w", {})], tool_choice={"type": "function", "function": {"name": "w"}})
    plan = plan_tools(req, {"messages": []})
    assert plan and not plan.allow_text and "answer" not in plan.grammar


def test_parse_output_forms():
    two = ('<tool_call>\n{"name": "w", "arguments": {"city": "北京"}}\n</tool_call>\n'
           '<tool_call>\n{"name": "w", "arguments": {"city": "上海"}}\n</tool_call>')
    msg, finish = parse_output(two)
    assert finish == "tool_calls" and [json.loads(c["function"]["arguments"])["city"] for c in msg["tool_calls"]] \
        == ["北京", "上海"]
    assert len({c["id"] for c in msg["tool_calls"]}) == 2
    msg, finish = parse_output('```json\n{"name": "w", "arguments": {}}\n```')
    assert finish == "tool_calls"
    msg, finish = parse_output(json.dumps({"tool_calls": [{"name": "w", "arguments": {"a": 1}}]}))
    assert finish == "tool_calls" and msg["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'
    assert parse_output("你好，我是翰林。") == ({"role": "assistant", "content": "你好，我是翰林。"}, "stop")
    assert parse_output('<tool_call>\n{"name": "w", "argu')[1] == "length"
    # with response_format as the answer branch, a {"content": ...} object is the answer itself
    assert parse_output('{"content": "x"}', allow_json_content=False)[0]["content"] == '{"content": "x"}'


def _run_stream(pieces):
    ts, deltas = ToolStream(), []
    for p in pieces:
        deltas += ts.feed(p)
    rest, reason = ts.finish()
    return deltas + rest, reason


def test_tool_stream_sends_header_then_argument_fragments():
    text = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京", "unit": "c"}}\n</tool_call>\n'
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "上海"}}\n</tool_call>')
    deltas, reason = _run_stream([text[i:i + 3] for i in range(0, len(text), 3)])
    assert reason == "tool_calls"
    calls = [d["tool_calls"][0] for d in deltas]
    heads = [c for c in calls if "id" in c]
    assert [h["function"]["name"] for h in heads] == ["get_weather", "get_weather"] and \
        all(h["function"]["arguments"] == "" for h in heads)
    for i, city in enumerate(["北京", "上海"]):
        frags = [c["function"]["arguments"] for c in calls if c["index"] == i and "id" not in c]
        assert len(frags) > 1  # incremental, not one blob
        assert json.loads("".join(frags))["city"] == city


def test_tool_stream_plain_answer_streams_as_content():
    deltas, reason = _run_stream(["你好", "，我是", "翰林。"])
    assert reason is None and "".join(d["content"] for d in deltas) == "你好，我是翰林。"
    assert deltas[0] == {"content": "你好"}  # sent as it came, not held back


def test_history_replay_decodes_arguments_once():
    msgs = flatten_tool_history([
        {"role": "user", "content": "北京天气"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"city": "北京"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "晴"},
        {"role": "tool", "tool_call_id": "c2", "content": "多云"}])
    assert msgs[1]["content"] == '<tool_call>\n{"name": "w", "arguments": {"city": "北京"}}\n</tool_call>'
    assert '\\"' not in msgs[1]["content"]  # not a JSON string inside JSON
    assert msgs[2]["role"] == "user" and msgs[2]["content"].count("<tool_response>") == 2 and len(msgs) == 3


def test_tool_prompt_has_no_copyable_placeholder_answer():
    body = {"messages": [{"role": "system", "content": "你是助手。"}, {"role": "user", "content": "你好"}]}
    plan_tools(_req(tools=[_tool("w", {})]), body)
    system = body["messages"][0]["content"]
    assert system.startswith("你是助手。") and "你的回答" not in system and len(body["messages"]) == 2


def test_legacy_logprobs_shape():
    content = [{"token": "ab", "logprob": -0.1, "top_logprobs": [{"token": "ab", "logprob": -0.1},
                                                                {"token": "a", "logprob": -2.0}]},
               {"token": "c", "logprob": -0.5, "top_logprobs": [{"token": "c", "logprob": -0.5}]}]
    out = legacy_logprobs(content, 1, 0)
    assert out == {"tokens": ["ab", "c"], "token_logprobs": [-0.1, -0.5], "top_logprobs": [{"ab": -0.1}, {"c": -0.5}],
                   "text_offset": [0, 2]}


def test_top_logprobs_without_logprobs_and_n_above_one_are_400(fake_client):
    r = fake_client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}],
                                                       "top_logprobs": 2})
    assert r.status_code == 400 and "logprobs" in r.json()["error"]["message"]
    r = fake_client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}], "n": 2})
    assert r.status_code == 400 and r.json()["error"]["param"] == "n"


def test_request_id_echoed_or_made(fake_client):
    r = fake_client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]},
                         headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = fake_client.get("/v1/models/nope", headers={"x-request-id": "bad id\twith tab"})
    assert r.status_code == 404 and r.headers["x-request-id"].startswith("req_")


def test_fake_tool_stream_over_the_fallback_schema(fake_client, fake_engine):
    fake_engine.enqueue({"tool_calls": [{"name": "w", "arguments": {"city": "北京"}},
                                        {"name": "w", "arguments": {"city": "上海"}}]})
    with fake_client.stream("POST", "/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "分别查询北京和上海的天气"}], "stream": True,
            "tools": [_tool("w", {"type": "object", "properties": {"city": {"type": "string"}}})]}) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    sent = fake_engine.requests[-1]
    assert sent["response_format"]["json_schema"]["name"] == "tool_call"  # the fake takes no grammar
    calls = [tc for e in events for c in e["choices"] for tc in (c["delta"].get("tool_calls") or [])]
    assert [c["index"] for c in calls] == [0, 1]
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_completions_stream_echo_and_ids_over_fake(fake_client, fake_engine):
    fake_engine.enqueue(" return a + b")
    with fake_client.stream("POST", "/v1/completions", json={"prompt": "def add(a, b):", "stream": True,
                                                             "echo": True, "max_tokens": 8}) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    assert all(e["id"].startswith("cmpl-") and e["object"] == "text_completion" for e in events)
    assert "".join(e["choices"][0]["text"] for e in events) == "def add(a, b): return a + b"
    r = fake_client.post("/v1/completions", json={"prompt": "x", "echo": True, "logprobs": 1})
    assert r.status_code == 400 and "echo" in r.json()["error"]["message"]


def test_embeddings_dimensions_other_than_native_is_400(fake_client):
    r = fake_client.post("/v1/embeddings", json={"model": "e5-small", "input": "x", "dimensions": 128})
    assert r.status_code == 400 and r.json()["error"]["param"] == "dimensions"
    assert "384" in r.json()["error"]["message"]


def test_completion_prompt_list_is_limited(fake_client):
    r = fake_client.post("/v1/completions", json={"prompt": ["x"] * 17})
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"
