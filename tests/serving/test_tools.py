"""Tool-call planning: the grammar schema and refusals."""

from __future__ import annotations

import json

import pytest

from hanlin.errors import BadRequest
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.serving.tools import parse_output, plan_tools


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
