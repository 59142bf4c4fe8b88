"""Tool calls enforced by grammar.

Qwen2.5-Coder through llama.cpp's templates answers ``tools`` with fenced JSON in ``content``. We instead
constrain the output to ``{"name": <one of the tools>, "arguments": <that tool's schema>}`` (or, for
``tool_choice="auto"``, alternatively ``{"content": "..."}``) and turn it into OpenAI ``tool_calls``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hanlin.errors import BadRequest
from hanlin.serving.schemas import ChatCompletionRequest, Tool


def _selected(req: ChatCompletionRequest) -> tuple[list[Tool], bool]:
    """(tools the model may call, whether a plain text answer is allowed)."""
    tools = req.tools or []
    choice = req.tool_choice
    if not tools or choice == "none":
        return [], True
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        picked = [t for t in tools if t.function.name == name]
        if not picked:
            raise BadRequest(f"tool_choice names '{name}', which is not in tools", param="tool_choice")
        return picked, False
    return tools, choice in (None, "auto")


def tool_schema(tools: list[Tool], allow_text: bool) -> dict[str, Any]:
    options: list[dict[str, Any]] = []
    for t in tools:
        params = t.function.parameters or {"type": "object"}
        options.append({"type": "object",
                        "properties": {"name": {"const": t.function.name}, "arguments": params},
                        "required": ["name", "arguments"]})
    if allow_text:
        options.append({"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]})
    return options[0] if len(options) == 1 else {"anyOf": options}


def tool_system_prompt(tools: list[Tool], allow_text: bool) -> str:
    lines = ["你可以调用以下工具（You can call these tools）:"]
    for t in tools:
        lines.append(f"- {t.function.name}: {t.function.description} 参数 JSON Schema: "
                     f"{json.dumps(t.function.parameters, ensure_ascii=False)}")
    lines.append('调用工具时输出 {"name": 工具名, "arguments": {...}}。')
    if allow_text:
        lines.append('不需要工具时输出 {"content": "你的回答"}。')
    return "\n".join(lines)


def flatten_tool_history(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier tool calls/results as plain text, which every chat template understands."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("role") == "assistant" and m.get("tool_calls"):
            calls = [{"name": c["function"]["name"], "arguments": c["function"].get("arguments")}
                     for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": json.dumps(calls[0] if len(calls) == 1 else calls,
                                                                   ensure_ascii=False)})
        elif m.get("role") == "tool":
            out.append({"role": "user", "content": f"工具返回结果 (tool result {m.get('tool_call_id', '')}): "
                                                   f"{m.get('content')}"})
        else:
            out.append({k: v for k, v in m.items() if k in ("role", "content", "name")})
    return out


def plan_tools(req: ChatCompletionRequest, body: dict[str, Any]) -> bool:
    """Rewrite ``body`` for grammar-enforced tool calls. Returns True when tool output must be converted."""
    tools, allow_text = _selected(req)
    body.pop("tools", None)
    body.pop("tool_choice", None)
    body["messages"] = flatten_tool_history(body["messages"])
    if not tools:
        return False
    if req.response_format and req.response_format.type != "text":
        raise BadRequest("tools and response_format cannot be combined", param="response_format")
    body["messages"] = [{"role": "system", "content": tool_system_prompt(tools, allow_text)}, *body["messages"]]
    body["response_format"] = {"type": "json_schema",
                               "json_schema": {"name": "tool_call", "schema": tool_schema(tools, allow_text)}}
    return True


def to_tool_message(content: str) -> tuple[dict[str, Any], str]:
    """Constrained JSON text -> (assistant message, finish_reason)."""
    try:
        obj = json.loads(content)
    except json.JSONDecodeError:
        return {"role": "assistant", "content": content}, "length"
    if isinstance(obj, dict) and "name" in obj and "arguments" in obj:
        call = {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                "function": {"name": obj["name"], "arguments": json.dumps(obj["arguments"], ensure_ascii=False)}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    if isinstance(obj, dict) and "content" in obj:
        return {"role": "assistant", "content": str(obj["content"])}, "stop"
    return {"role": "assistant", "content": content}, "stop"
