"""Tool calls enforced by grammar, in the format Qwen models were trained on.

The tools are described in the system prompt the way Qwen's own chat template does (``<tools>`` … ``</tools>``),
and earlier calls/results are replayed as ``<tool_call>``/``<tool_response>`` blocks. Decoding is constrained to
one of two first-class branches:

- a tool branch: one or more ``<tool_call>\\n{"name": <tool>, "arguments": <its schema>}\\n</tool_call>`` blocks
  (several only when ``parallel_tool_calls`` is not false), or
- an answer branch (``tool_choice`` auto only): plain text that cannot start like a tool call (``<``, ``{``,
  a code fence), or — with ``response_format`` — JSON in that schema.

In-process llama.cpp takes this as an llguidance grammar. Engines that only take a JSON schema (upstream
servers, pools) get the same choice as one schema (``{"tool_calls": [...]}`` or ``{"content": ...}`` / the
response schema). ``parse_output`` reads either form; ``ToolStream`` turns a token stream into OpenAI's
incremental ``tool_calls`` deltas.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from hanlin.errors import BadRequest
from hanlin.serving.jsonschema import hoist, normalize
from hanlin.serving.schemas import ChatCompletionRequest, Tool

GRAMMAR_KINDS = ("llamacpp",)  # engines that take an llguidance ``grammar`` in the request body
ANSWER_START = r"[^<{`\[\s]"  # a plain answer may not begin like a tool call, JSON or a code fence
_CALL_RE = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
_FENCE_RE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


@dataclass
class ToolPlan:
    tools: list[Tool]
    allow_text: bool  # tool_choice auto: answering without a tool is a first-class branch
    parallel: bool  # several calls in one turn
    answer_schema: dict[str, Any] | None = None  # response_format's schema for the answer branch
    grammar: str = ""
    schema: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> set[str]:
        return {t.function.name for t in self.tools}


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


def call_schema(tools: list[Tool]) -> dict[str, Any]:
    """``{"name": <tool>, "arguments": <its parameters>}`` for any of the tools, with every tool's ``$defs``
    hoisted to the root under ``<index>_<name>`` so nested and recursive refs resolve."""
    options: list[dict[str, Any]] = []
    defs: dict[str, Any] = {}
    for i, t in enumerate(tools):
        params = t.function.parameters or {"type": "object"}
        body, hoisted = hoist(params, f"t{i}_", where=f"tools[{i}].function.parameters")
        defs.update(hoisted)
        options.append({"type": "object", "properties": {"name": {"const": t.function.name}, "arguments": body},
                        "required": ["name", "arguments"]})
    out: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    if defs:
        out = {**out, "$defs": defs}
    return out


def _json_grammar(schema: dict[str, Any]) -> str:
    return "%json " + json.dumps(schema, ensure_ascii=False)


def tool_grammar(calls: dict[str, Any], parallel: bool, allow_text: bool,
                 answer_schema: dict[str, Any] | None) -> str:
    lines = ["%llguidance {}"]
    lines.append("start: calls | answer" if allow_text else "start: calls")
    lines.append('calls: call ("\\n" call)*' if parallel else "calls: call")
    lines.append('call: "<tool_call>\\n" call_body "\\n</tool_call>"')
    lines.append("call_body: " + _json_grammar(calls))
    if allow_text:
        if answer_schema is not None:
            lines.append("answer: " + _json_grammar(answer_schema))
        else:
            lines.append("answer: ANSWER")
            lines.append(f"ANSWER: /{ANSWER_START}[\\s\\S]*/")
    return "\n".join(lines) + "\n"


def fallback_schema(calls: dict[str, Any], parallel: bool, allow_text: bool,
                    answer_schema: dict[str, Any] | None) -> dict[str, Any]:
    """The same choice as one JSON schema, for engines without grammars."""
    defs = calls.get("$defs", {})
    call = {k: v for k, v in calls.items() if k != "$defs"}
    options: list[dict[str, Any]] = [{
        "type": "object", "required": ["tool_calls"],
        "properties": {"tool_calls": {"type": "array", "items": call, "minItems": 1,
                                      **({} if parallel else {"maxItems": 1})}}}]
    if allow_text:
        if answer_schema is not None:
            answer = dict(answer_schema)
            defs = {**defs, **answer.pop("$defs", {})}
            options.append(answer)
        else:
            options.append({"type": "object", "properties": {"content": {"type": "string"}},
                            "required": ["content"]})
    out: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    return {**out, "$defs": defs} if defs else out


def tool_system_prompt(tools: list[Tool], allow_text: bool, parallel: bool) -> str:
    """Qwen's own tool section (what the model was trained on) plus when not to call a tool."""
    specs = "\n".join(json.dumps({"type": "function", "function": {
        "name": t.function.name, "description": t.function.description,
        "parameters": t.function.parameters}}, ensure_ascii=False) for t in tools)
    lines = ["# Tools", "", "You may call one or more functions to assist with the user query.", "",
             "You are provided with function signatures within <tools></tools> XML tags:",
             "<tools>", specs, "</tools>", "",
             "For each function call, return a json object with function name and arguments within "
             "<tool_call></tool_call> XML tags:",
             "<tool_call>", '{"name": <function-name>, "arguments": <args-json-object>}', "</tool_call>"]
    if parallel:
        lines.append("一个请求明确需要多次调用时，才依次输出多个 <tool_call> 块；不要重复同一个调用。")
    if allow_text:
        lines.append("当用户的请求与某个工具的用途相符（例如需要实时信息、精确计算、内部资料或执行操作）时，必须调用该工具，"
                     "不要自己编造结果；与所有工具都无关的问候、闲聊、介绍自己、写作和常识问题，直接用中文回答。")
    return "\n".join(lines)


def _arguments_obj(raw: Any) -> Any:
    """An earlier call's ``arguments`` as an object: clients send a JSON string (OpenAI's shape); decoding it
    here is what keeps it from being encoded twice when the turn is replayed to the model."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw if raw is not None else {}


def flatten_tool_history(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier tool calls/results as Qwen's ``<tool_call>``/``<tool_response>`` text, which every template
    renders (consecutive tool results go into one user turn, as Qwen's template does)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("role") == "assistant" and m.get("tool_calls"):
            blocks = [json.dumps({"name": (c.get("function") or {}).get("name"),
                                  "arguments": _arguments_obj((c.get("function") or {}).get("arguments"))},
                                 ensure_ascii=False) for c in m["tool_calls"]]
            text = (m.get("content") or "").strip()
            calls = "\n".join(f"<tool_call>\n{b}\n</tool_call>" for b in blocks)
            out.append({"role": "assistant", "content": f"{text}\n{calls}" if text else calls})
        elif m.get("role") in ("tool", "function"):
            block = f"<tool_response>\n{m.get('content') or ''}\n</tool_response>"
            prev = out[-1] if out else None
            if prev and prev.get("_tool_results"):
                prev["content"] += "\n" + block
            else:
                out.append({"role": "user", "content": block, "_tool_results": True})
        else:
            out.append({k: v for k, v in m.items() if k in ("role", "content", "name")})
    for m in out:
        m.pop("_tool_results", None)
    return out


def _answer_schema(req: ChatCompletionRequest) -> dict[str, Any] | None:
    rf = req.response_format
    if rf is None or rf.type == "text":
        return None
    if rf.type == "json_object":
        return {"type": "object"}
    return normalize((rf.json_schema or {}).get("schema") or {"type": "object"}, "response_format.json_schema")


def plan_tools(req: ChatCompletionRequest, body: dict[str, Any]) -> ToolPlan | None:
    """Rewrite ``body`` for grammar-enforced tool calls; None when no tool may be called."""
    tools, allow_text = _selected(req)
    body.pop("tools", None)
    body.pop("tool_choice", None)
    body["messages"] = flatten_tool_history(body["messages"])
    if not tools:
        return None
    parallel = req.parallel_tool_calls is not False and not isinstance(req.tool_choice, dict)
    answer = _answer_schema(req) if allow_text else None
    calls = call_schema(tools)
    plan = ToolPlan(tools=tools, allow_text=allow_text, parallel=parallel, answer_schema=answer,
                    grammar=tool_grammar(calls, parallel, allow_text, answer),
                    schema=fallback_schema(calls, parallel, allow_text, answer))
    body.pop("response_format", None)
    prompt = tool_system_prompt(tools, allow_text, parallel)
    msgs = body["messages"]
    if msgs and msgs[0].get("role") == "system":  # one system turn: the caller's first, then the tools
        body["messages"] = [{"role": "system", "content": f"{msgs[0].get('content') or ''}\n\n{prompt}"},
                            *msgs[1:]]
    else:
        body["messages"] = [{"role": "system", "content": prompt}, *msgs]
    return plan


def constrain(body: dict[str, Any], plan: ToolPlan, engine_kind: str) -> dict[str, Any]:
    """The request for one engine: an llguidance grammar where it takes one, else the fallback schema."""
    if engine_kind in GRAMMAR_KINDS:
        return {**body, "grammar": plan.grammar}
    return {**body, "response_format": {"type": "json_schema",
                                        "json_schema": {"name": "tool_call", "schema": plan.schema}}}


def new_call(name: str, arguments: str) -> dict[str, Any]:
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": name, "arguments": arguments}}


def _call_of(obj: Any) -> dict[str, Any] | None:
    if isinstance(obj, dict) and isinstance(obj.get("name"), str) and "arguments" in obj:
        args = obj["arguments"]
        return new_call(obj["name"], args if isinstance(args, str) else json.dumps(args, ensure_ascii=False))
    return None


def parse_output(content: str, allow_json_content: bool = True) -> tuple[dict[str, Any], str]:
    """Constrained output -> (assistant message, finish_reason). ``finish_reason`` "length" means cut off."""
    text = content.strip()
    calls = [_call_of(_loads(m)) for m in _CALL_RE.findall(text)]
    if calls:
        if all(calls):
            return {"role": "assistant", "content": None, "tool_calls": _distinct(calls)}, "tool_calls"
        return {"role": "assistant", "content": content}, "length"
    if text.startswith("<tool_call>"):
        return {"role": "assistant", "content": content}, "length"  # cut off inside a call
    fenced = _FENCE_RE.match(text)
    obj = _loads(fenced.group(1) if fenced else text) if text[:1] in "{`[" else None
    if obj is not None:
        single = _call_of(obj)
        if single:
            return {"role": "assistant", "content": None, "tool_calls": [single]}, "tool_calls"
        if isinstance(obj, dict) and isinstance(obj.get("tool_calls"), list):
            many = [_call_of(c) for c in obj["tool_calls"]]
            if many and all(many):
                return {"role": "assistant", "content": None, "tool_calls": many}, "tool_calls"
        if allow_json_content and isinstance(obj, dict) and set(obj) == {"content"}:
            return {"role": "assistant", "content": str(obj["content"])}, "stop"
    return {"role": "assistant", "content": content}, "stop"


def _distinct(calls: list[Any]) -> list[dict[str, Any]]:
    """A small model sometimes repeats a call word for word; the same call twice in one turn is sent once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for c in calls:
        key = (c["function"]["name"], c["function"]["arguments"])
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


_HEADER_RE = re.compile(r'<tool_call>\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*')
_END_RE = re.compile(r"\}\s*</tool_call>")
_HOLD = len("}\n</tool_call>") + 4  # argument text held back: it may turn out to be the call's closing


class ToolStream:
    """Feeds on generated text; yields OpenAI deltas. A plain answer streams as content from its first token;
    tool calls stream as ``{"index", "id", "type", "function": {"name", "arguments": ""}}`` followed by
    argument fragments, like OpenAI's own streams. Output in the fallback JSON form is parsed at the end."""

    def __init__(self, allow_json_content: bool = True) -> None:
        self.buf = ""
        self.mode = ""  # "" undecided | text | calls | json
        self.calls: list[dict[str, Any]] = []
        self.sent = 0  # chars of the current call's arguments already sent
        self.pos = 0  # where in buf the current call starts
        self.in_call = False
        self.allow_json_content = allow_json_content

    def feed(self, piece: str) -> list[dict[str, Any]]:
        self.buf += piece
        if not self.mode:
            head = self.buf.lstrip()
            if not head:
                return []
            self.mode = "calls" if head[0] == "<" else "json" if head[0] in "{`[" else "text"
            if self.mode == "text":
                return [{"content": self.buf}]
            return self._calls() if self.mode == "calls" else []
        if self.mode == "text":
            return [{"content": piece}]
        return self._calls() if self.mode == "calls" else []

    def _calls(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            if not self.in_call:
                m = _HEADER_RE.search(self.buf, self.pos)
                if not m:
                    return out
                name = json.loads(f'"{m.group(1)}"')
                call = new_call(name, "")
                self.calls.append(call)
                out.append({"tool_calls": [{"index": len(self.calls) - 1, "id": call["id"], "type": "function",
                                            "function": {"name": name, "arguments": ""}}]})
                self.in_call, self.pos, self.sent = True, m.end(), 0
            if self.sent == 0:  # the arguments start at their first non-blank character
                skipped = len(self.buf) - len(self.buf[self.pos:].lstrip()) - self.pos
                self.pos += skipped
            args = self.buf[self.pos:]
            end = _END_RE.search(args)
            upto = end.start() if end else max(0, len(args) - _HOLD)
            if upto > self.sent:
                frag = args[self.sent:upto]
                self.calls[-1]["function"]["arguments"] += frag
                out.append({"tool_calls": [{"index": len(self.calls) - 1, "function": {"arguments": frag}}]})
                self.sent = upto
            if not end:
                return out
            self.in_call = False
            self.pos += end.end()

    def finish(self) -> tuple[list[dict[str, Any]], str | None]:
        """(deltas still to send, finish_reason override) once generation ended."""
        if self.mode == "json":
            msg, reason = parse_output(self.buf, self.allow_json_content)
            if msg.get("tool_calls"):
                return [{"tool_calls": [{"index": i, **c} for i, c in enumerate(msg["tool_calls"])]}], reason
            return [{"content": msg["content"]}], None
        if self.mode == "calls":
            if self.in_call or not self.calls:
                return ([{"content": self.buf}] if not self.calls else []), "length"
            return [], "tool_calls"
        return [], None
