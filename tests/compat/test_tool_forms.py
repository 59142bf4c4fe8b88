"""``tool_choice: auto`` takes a call in the forms small Qwen models reach for first (a fenced ```json block, a
bare JSON object) as well as Qwen's ``<tool_call>`` block, and verifies it names a declared tool; answers that
merely look like code or JSON stay answers. Fast: grammar text, parsing and streaming, and the API over the fake
engine (the real grammar is exercised by tests/compat/test_openai_sdk.py and bench/tool_decision.py)."""

from __future__ import annotations

import json
import math
import re

import pytest

from hanlin.engine.tokens import estimate_tokens
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.serving.tools import (
    ANSWER_RE,
    DECISION_LOGODDS,
    ToolStream,
    call_logodds,
    parse_output,
    plan_tools,
)

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TOOLS = ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "x"}],
                                             "tools": [WEATHER]}).tools
FENCED = '```json\n{"name": "get_weather", "arguments": {"city": "北京"}}\n```'


def _plan(**kw):
    req = ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER],
                                                **kw})
    return plan_tools(req, {"messages": [{"role": "user", "content": "x"}]})


def test_answer_branch_cannot_start_like_a_call_but_may_start_with_code():
    for answer in ["你好，我是翰林。", "`len()` 返回长度。", "```python\nprint(1)\n```", "```java\nclass A {}\n```",
                   "```\nprint(1)\n```", "```jsx\n<A/>\n```", "**要点**：…"]:
        assert re.fullmatch(ANSWER_RE, answer), answer
    for call in ["<tool_call>\n{}", '{"name": "x"}', "```json\n{", "```\n{", "``` {", "[1]", " 你好", "```json\n[1]"]:
        assert not re.fullmatch(ANSWER_RE, call), call


def test_auto_grammar_takes_fenced_and_bare_calls_required_keeps_tool_call_blocks():
    auto = _plan(tool_choice="auto")
    assert auto and "start: calls | answer" in auto.grammar
    call_line = next(x for x in auto.grammar.splitlines() if x.startswith("call:"))
    assert call_line == 'call: "<tool_call>\\n" call_body "\\n</tool_call>" | FENCE call_body "\\n```" | call_body'
    required = _plan(tool_choice="required")
    assert required and "FENCE" not in required.grammar and "answer" not in required.grammar
    named = _plan(tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert named and "FENCE" not in named.grammar
    # with response_format the JSON answer starts with "{" too: no bare call form then
    both = _plan(response_format={"type": "json_object"})
    assert both and "FENCE call_body" in both.grammar and "| call_body" not in both.grammar


def test_fenced_and_bare_calls_are_tool_calls_when_they_name_a_declared_tool():
    msg, finish = parse_output(FENCED, tools=TOOLS)
    assert finish == "tool_calls" and json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"city": "北京"}
    two = FENCED + "\n" + FENCED.replace("北京", "上海")
    msg, finish = parse_output(two, tools=TOOLS)
    assert [json.loads(c["function"]["arguments"])["city"] for c in msg["tool_calls"]] == ["北京", "上海"]
    bare = '{"name": "get_weather", "arguments": {"city": "北京"}}\n{"name": "get_weather", "arguments": {"city": "上海"}}'
    msg, finish = parse_output(bare, tools=TOOLS)
    assert finish == "tool_calls" and len(msg["tool_calls"]) == 2


def test_json_that_does_not_call_a_declared_tool_stays_an_answer():
    for text in ['```json\n{"name": "send_fax", "arguments": {"to": "x"}}\n```',  # not a declared tool
                 '```json\n{"name": "get_weather", "arguments": {}}\n```',  # its required argument missing
                 '```json\n{"name": "张三", "age": 3}\n```',  # JSON the user asked for
                 '```python\nprint("hi")\n```']:
        msg, finish = parse_output(text, tools=TOOLS)
        assert finish == "stop" and msg["content"] == text and "tool_calls" not in msg
    assert parse_output('```json\n{"name": "get_weather", "arguments": {"ci', tools=TOOLS)[1] == "length"


def _stream(text, size=3):
    ts, deltas = ToolStream(tools=TOOLS), []
    for i in range(0, len(text), size):
        deltas += ts.feed(text[i:i + size])
    rest, reason = ts.finish()
    return deltas + rest, reason


def test_fenced_call_streams_as_header_then_fragments():
    cities = ["黑龙江省哈尔滨市南岗区", "新疆维吾尔自治区乌鲁木齐市"]
    deltas, reason = _stream("\n".join(FENCED.replace("北京", c) for c in cities))
    assert reason == "tool_calls" and not any("content" in d for d in deltas)
    calls = [d["tool_calls"][0] for d in deltas]
    assert [c["function"]["name"] for c in calls if "id" in c] == ["get_weather", "get_weather"]
    for i, city in enumerate(cities):
        frags = [c["function"]["arguments"] for c in calls if c["index"] == i and "id" not in c]
        assert len(frags) > 1 and json.loads("".join(frags)) == {"city": city}


def test_code_and_inline_code_answers_stream_as_content():
    for text in ["```python\nprint(1)\n```", "`len()` 返回长度。", "``"]:
        deltas, reason = _stream(text, size=2)
        assert reason is None and "".join(d["content"] for d in deltas) == text
    deltas, _ = _stream("```python\n" + "x = 1\n" * 5, size=2)
    assert len(deltas) > 3  # streamed once the fence's language showed it is code, not held to the end


def test_fenced_call_from_the_fake_engine_through_the_api(fake_client, fake_engine):
    body = {"messages": [{"role": "user", "content": "北京天气"}], "tools": [WEATHER], "tool_choice": "auto"}
    fake_engine.enqueue(FENCED)
    r = fake_client.post("/v1/chat/completions", json=body).json()
    call = r["choices"][0]["message"]["tool_calls"][0]
    assert r["choices"][0]["finish_reason"] == "tool_calls" and call["function"]["name"] == "get_weather"
    fake_engine.enqueue(FENCED)
    with fake_client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]
    calls = [tc for e in events for c in e["choices"] for tc in (c["delta"].get("tool_calls") or [])]
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "北京"}
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"
    fake_engine.enqueue('```json\n{"name": "send_fax", "arguments": {}}\n```')  # undeclared: an answer
    r = fake_client.post("/v1/chat/completions", json=body).json()
    assert r["choices"][0]["message"]["content"].startswith("```json") and r["choices"][0]["finish_reason"] == "stop"


TOOLISH = [("```", -0.5), ('{"', -1.2), ("{\n", -2.5), ("要", -5.5), ("请", -7.0)]  # 1.5B, "北京今天天气怎么样？"
CHATTY = [("你好", -1.1), ("我是", -1.1), ("我", -2.0), ('{"', -2.1), ("您好", -4.8)]  # 1.5B, "你好，你是谁？"


def _decision(top):
    return {"choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "x"},
                         "logprobs": {"content": [{"token": top[0][0], "logprob": top[0][1], "top_logprobs": [
                             {"token": t, "logprob": lp} for t, lp in top]}]}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def test_call_logodds_compares_call_like_and_prose_first_tokens():
    assert call_logodds(_decision(TOOLISH)) > DECISION_LOGODDS > call_logodds(_decision(CHATTY))
    only_calls = call_logodds(_decision([("```", -0.1), ("{", -3.0)]))
    assert only_calls == pytest.approx(math.log(math.exp(-0.1) + math.exp(-3.0)) - (-3.5))  # prose just below
    assert call_logodds({"choices": [{"message": {"content": "x"}}]}) is None  # no logprobs: no decision


@pytest.fixture
def grammar_engine(fake_engine, monkeypatch):
    """The fake engine posing as in-process llama.cpp (it takes grammars), answering the one-token decision
    request with scripted logprobs (``grammar_engine.top``)."""
    monkeypatch.setattr(fake_engine.info, "kind", "llamacpp")
    fake_engine.top = TOOLISH
    plain = fake_engine.chat

    async def chat(request):
        if request.get("max_tokens") == 1 and request.get("logprobs"):
            fake_engine.requests.append(request)
            return _decision(fake_engine.top)
        return await plain(request)

    monkeypatch.setattr(fake_engine, "chat", chat)
    return fake_engine


def test_auto_decides_first_then_generates_on_the_chosen_branch(fake_client, grammar_engine):
    body = {"messages": [{"role": "user", "content": "北京天气"}], "tools": [WEATHER], "tool_choice": "auto"}
    grammar_engine.enqueue(FENCED)
    r = fake_client.post("/v1/chat/completions", json=body).json()
    decision, answer = grammar_engine.requests[-2:]
    assert decision["repeat_penalty"] == 1.0 and decision["top_logprobs"] == 20 and "grammar" not in decision
    assert decision["messages"] == answer["messages"]  # same prompt: the answer reuses its KV
    assert answer["grammar"].splitlines()[1] == "start: calls" and "FENCE" in answer["grammar"]
    assert r["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert r["usage"]["completion_tokens"] == estimate_tokens(FENCED)  # the decision's token is not billed

    grammar_engine.top = CHATTY
    grammar_engine.enqueue("你好，我是翰林。")
    with fake_client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]
    answer = grammar_engine.requests[-1]
    assert answer["grammar"].splitlines()[1] == "start: answer" and "call_body" not in answer["grammar"]
    assert "".join(c["delta"].get("content") or "" for e in events for c in e["choices"]) == "你好，我是翰林。"


def test_no_decision_after_tool_results_or_when_a_call_is_required(fake_client, grammar_engine):
    history = [{"role": "user", "content": "北京天气"},
               {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
                   "name": "get_weather", "arguments": '{"city": "北京"}'}}]},
               {"role": "tool", "tool_call_id": "c1", "content": "晴，25°C"}]
    grammar_engine.enqueue("北京今天晴，25°C。")
    r = fake_client.post("/v1/chat/completions", json={"messages": history, "tools": [WEATHER]}).json()
    assert r["choices"][0]["message"]["content"] == "北京今天晴，25°C。"
    answer = grammar_engine.requests[-1]
    assert len(grammar_engine.requests) == 1  # no decision request
    # answering from the results: only Qwen's own <tool_call> block may call again
    assert "start: calls | answer" in answer["grammar"] and "FENCE" not in answer["grammar"]
    for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
        grammar_engine.enqueue('<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京"}}\n</tool_call>')
        fake_client.post("/v1/chat/completions", json={"messages": history[:1], "tools": [WEATHER],
                                                       "tool_choice": choice})
        assert "FENCE" not in grammar_engine.requests[-1]["grammar"]
    assert not any(q.get("max_tokens") == 1 for q in grammar_engine.requests)


def test_after_tool_results_the_answer_may_not_open_a_code_fence_and_stops_at_a_made_up_result():
    req = ChatCompletionRequest.model_validate({"messages": [
        {"role": "user", "content": "北京天气"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "北京"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "晴"}], "tools": [WEATHER], "stop": "。"})
    body = {"messages": [m.model_dump(exclude_none=True) for m in req.messages], "stop": "。"}
    plan = plan_tools(req, body)
    assert plan and not plan.decide
    answer = re.search(r"ANSWER: /(.*)/\n", plan.grammar)
    assert answer and not re.fullmatch(answer.group(1), "```python\n{}\n```")
    assert re.fullmatch(answer.group(1), "北京今天晴。")
    assert body["stop"] == ["。", "<tool_response>"]
