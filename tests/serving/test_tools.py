"""Tool-call planning: the grammar schema and refusals."""

from __future__ import annotations

import json

import pytest

from hanlin.errors import BadRequest
from hanlin.serving.schemas import ChatCompletionRequest
from hanlin.serving.tools import plan_tools, to_tool_message


def test_tool_planning_builds_a_grammar_schema():
    req = ChatCompletionRequest.model_validate({
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "auto"})
    body = {"messages": [m.model_dump(exclude_none=True) for m in req.messages]}
    assert plan_tools(req, body)
    schema = body["response_format"]["json_schema"]["schema"]
    assert {o["required"][0] for o in schema["anyOf"]} == {"name", "content"}
    msg, finish = to_tool_message(json.dumps({"name": "w", "arguments": {"city": "北京"}}))
    assert finish == "tool_calls" and json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"city": "北京"}
    msg, finish = to_tool_message(json.dumps({"content": "你好"}))
    assert finish == "stop" and msg["content"] == "你好"


def test_tool_choice_naming_unknown_tool_is_400():
    req = ChatCompletionRequest.model_validate({
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "a"}}],
        "tool_choice": {"type": "function", "function": {"name": "b"}}})
    with pytest.raises(BadRequest, match="not in tools"):
        plan_tools(req, {"messages": []})
