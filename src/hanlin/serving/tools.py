"""Tool calls enforced by grammar, in the format Qwen models were trained on.

The tools are described in the system prompt the way Qwen's own chat template does (``<tools>`` … ``</tools>``),
and earlier calls/results are replayed as ``<tool_call>``/``<tool_response>`` blocks. Decoding is constrained to
one of two first-class branches:

- a tool branch: one or more ``<tool_call>\\n{"name": <tool>, "arguments": <its schema>}\\n</tool_call>`` blocks
  (several only when ``parallel_tool_calls`` is not false), or
- an answer branch (``tool_choice`` auto only): plain text that cannot start like a tool call (``<``, ``{``,
  a ```` ```json ```` fence), or — with ``response_format`` — JSON in that schema.

Under ``tool_choice: auto`` the tool branch also takes a call in the form the small Qwen2.5-Coder models reach
for first: a fenced ```` ```json ```` block or a bare JSON object (measured: for a question that needs a tool,
the 1.5B's most likely first tokens are ```` ``` ```` and ``{"``, while ``<tool_call>`` is not among its top 20;
a grammar that only allowed ``<tool_call>`` pushed it into the answer branch, where it explained the call in
prose). The grammar still fixes the JSON to ``{"name": <declared tool>, "arguments": <its schema>}``, so which
branch wins is the model's own greedy choice between starting a call and starting an answer.

In-process llama.cpp takes this as an llguidance grammar. Engines that only take a JSON schema (upstream
servers, pools) get the same choice as one schema (``{"tool_calls": [...]}`` or ``{"content": ...}`` / the
response schema). ``parse_output`` reads either form; ``ToolStream`` turns a token stream into OpenAI's
incremental ``tool_calls`` deltas.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from hanlin.errors import BadRequest
from hanlin.serving.jsonschema import hoist, normalize
from hanlin.serving.schemas import ChatCompletionRequest, Tool

GRAMMAR_KINDS = ("llamacpp",)  # engines that take an llguidance ``grammar`` in the request body
# A plain answer may not begin like a tool call (``<tool_call>``, ``{``, ```` ```json ```` or ```` ``` ```` + ``{``);
# inline code and other code fences (```` ```python ````) may start it.
ANSWER_RE = (r"[^<{`\[\s][\s\S]*|`[^`][\s\S]*|```(\s*[^{\s`j]|j[^s]|js[^o]|jso[^n])[\s\S]*")
# Right after tool results the answer may not open a code fence either: there the 1.5B, kept from calling again,
# wrote the call it wanted in a ```python block as its "answer" (bench/langchain_agent.py).
ANSWER_AFTER_RESULTS_RE = r"[^<{`\[\s][\s\S]*"
_CALL_RE = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
_FENCE_RE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
_FENCED_CALLS_RE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)
_FENCED_START = re.compile(r"```(?:json)?\s*\{")
_FENCE_PREFIXES = ("`", "``", "```", "```j", "```js", "```jso", "```json")  # may still open a fenced call


@dataclass
class ToolPlan:
    tools: list[Tool]
    allow_text: bool  # tool_choice auto: answering without a tool is a first-class branch
    parallel: bool  # several calls in one turn
    answer_schema: dict[str, Any] | None = None  # response_format's schema for the answer branch
    grammar: str = ""
    schema: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)  # the call schema the grammars are built from
    decide: bool = False  # auto on a fresh user turn: decide call vs answer first (``decision_body``)

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
                 answer_schema: dict[str, Any] | None, *, allow_calls: bool = True,
                 model_forms: bool | None = None) -> str:
    """``model_forms`` (default: ``allow_text``, i.e. tool_choice auto): a call may also be written as a fenced
    ```` ```json ```` block or (without ``response_format``, whose JSON answer would start the same way) a bare
    JSON object — the forms the small models reach for first; named/required calls keep Qwen's ``<tool_call>``
    block alone. ``allow_calls=False`` leaves only the answer branch (auto, decided to answer)."""
    model_forms = allow_text if model_forms is None else model_forms
    lines = ["%llguidance {}"]
    branches = [b for b, on in (("calls", allow_calls), ("answer", allow_text)) if on]
    lines.append("start: " + " | ".join(branches))
    if allow_calls:
        lines.append('calls: call ("\\n" call)*' if parallel else "calls: call")
        forms = ['"<tool_call>\\n" call_body "\\n</tool_call>"']
        if model_forms:
            forms.append('FENCE call_body "\\n```"')
            if answer_schema is None:
                forms.append("call_body")
        lines.append("call: " + " | ".join(forms))
        lines.append("call_body: " + _json_grammar(calls))
        if model_forms:
            lines.append("FENCE: /```(json)?\\n/")
    if allow_text:
        if answer_schema is not None:
            lines.append("answer: " + _json_grammar(answer_schema))
        else:
            lines.append("answer: ANSWER")
            lines.append(f"ANSWER: /{ANSWER_RE if model_forms else ANSWER_AFTER_RESULTS_RE}/")
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
    # after tool results the model answers from them: only Qwen's own <tool_call> block may call again there (the
    # small models start nearly everything with "{" or a fence when tools are listed, so the looser forms would
    # call again and again)
    fresh = bool(req.messages) and req.messages[-1].role not in ("tool", "function")
    plan = ToolPlan(tools=tools, allow_text=allow_text, parallel=parallel, answer_schema=answer,
                    grammar=tool_grammar(calls, parallel, allow_text, answer, model_forms=allow_text and fresh),
                    schema=fallback_schema(calls, parallel, allow_text, answer), calls=calls,
                    decide=allow_text and answer is None and fresh)
    body.pop("response_format", None)
    # the tool side's marker: a small model answering from results sometimes goes on to invent the next one
    stop = body.get("stop")
    body["stop"] = [*([stop] if isinstance(stop, str) else stop or []), "<tool_response>"]
    prompt = tool_system_prompt(tools, allow_text, parallel)
    msgs = body["messages"]
    if msgs and msgs[0].get("role") == "system":  # one system turn: the caller's first, then the tools
        body["messages"] = [{"role": "system", "content": f"{msgs[0].get('content') or ''}\n\n{prompt}"},
                            *msgs[1:]]
    else:
        body["messages"] = [{"role": "system", "content": prompt}, *msgs]
    return plan


# tool_choice "auto": asked to call or answer in one go, a small model almost never calls (measured on the 1.5B with
# a grammar allowing only <tool_call> blocks: 0 of 20 prompts that needed a tool) — and with the looser call forms
# allowed it calls for greetings too ("早上好！" starts with '{"' more often than with prose). What does separate the
# two is how much more likely a call-like first token ("{", a code fence, "<") is than a prose one: one token
# with logprobs over the same prompt (whose KV the answer then reuses) gives the log-odds, and a threshold
# calibrated per model (ModelSpec.tool_call_logodds; bench/tool_decision.py) picks the branch the answer is
# generated on. Greedy over the raw distribution at repeat_penalty 1.0: the model default 1.1 would distort it.
DECISION_LOGODDS = 3.4  # measured on the 1.5B (docs/compatibility.md): the threshold for models without their own
DECISION_TOP = 20
_CALL_TOKEN = re.compile(r"[(>]?[{<`]")


def decision_body(body: dict[str, Any]) -> dict[str, Any]:
    """One token over the tool prompt, with the top logprobs of the first position."""
    return {"messages": body["messages"], "max_tokens": 1, "temperature": 0, "repeat_penalty": 1.0,
            "logprobs": True, "top_logprobs": DECISION_TOP}


def call_logodds(resp: dict[str, Any]) -> float | None:
    """log P(a call-like first token) - log P(a prose first token), from the top logprobs (a side missing from
    them counts as just below the last listed one). None when the engine returned no logprobs."""
    choice = (resp.get("choices") or [{}])[0]
    first = ((choice.get("logprobs") or {}).get("content") or [{}])[0]
    top = [(str(t.get("token", "")), float(t["logprob"])) for t in first.get("top_logprobs") or []
           if t.get("logprob") is not None]
    if not top:
        return None
    floor = min(lp for _, lp in top) - 0.5
    call = [lp for tok, lp in top if tok.strip() and _CALL_TOKEN.match(tok.strip())]
    prose = [lp for tok, lp in top if tok.strip() and not _CALL_TOKEN.match(tok.strip())]
    return _logsumexp(call or [floor]) - _logsumexp(prose or [floor])


def _logsumexp(xs: list[float]) -> float:
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def narrowed(plan: ToolPlan, call: bool) -> ToolPlan:
    """``plan`` with only the branch the decision chose: calls (in any of the forms auto allows) or the answer."""
    grammar = tool_grammar(plan.calls, plan.parallel, not call, None, allow_calls=call, model_forms=True)
    return replace(plan, allow_text=not call, grammar=grammar, decide=False)


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


def parse_output(content: str, allow_json_content: bool = True,
                 tools: list[Tool] | None = None) -> tuple[dict[str, Any], str]:
    """Constrained output -> (assistant message, finish_reason). ``finish_reason`` "length" means cut off.

    Calls are read from ``<tool_call>`` blocks, or — when the output starts with one — fenced ```` ```json ````
    blocks or bare JSON objects (one or several), or a ``{"tool_calls": [...]}`` object (the fallback schema).
    With ``tools``, a fenced or bare call only counts when every call names one of them with an arguments object
    that has the tool's required keys; otherwise the output is an answer (e.g. JSON the user asked for)."""
    text = content.strip()
    calls = [_call_of(_loads(m)) for m in _CALL_RE.findall(text)]
    if calls:
        if all(calls):
            return {"role": "assistant", "content": None, "tool_calls": _distinct(calls)}, "tool_calls"
        return {"role": "assistant", "content": content}, "length"
    if text.startswith("<tool_call>"):
        return {"role": "assistant", "content": content}, "length"  # cut off inside a call
    if text[:1] not in "{`[":
        return {"role": "assistant", "content": content}, "stop"
    objs = _json_objects(text)
    for obj in objs if len(objs) == 1 else []:
        if isinstance(obj, dict) and isinstance(obj.get("tool_calls"), list):
            objs = obj["tool_calls"]
        elif allow_json_content and isinstance(obj, dict) and set(obj) == {"content"}:
            return {"role": "assistant", "content": str(obj["content"])}, "stop"
    found = [_call_of(o) for o in objs if _declared(o, tools)]
    if found and len(found) == len(objs) and all(found):
        return {"role": "assistant", "content": None, "tool_calls": _distinct(found)}, "tool_calls"
    if _FENCED_START.match(text) and text.count("```") % 2:
        return {"role": "assistant", "content": content}, "length"  # cut off inside a fenced call
    return {"role": "assistant", "content": content}, "stop"


def _json_objects(text: str) -> list[Any]:
    """The JSON values ``text`` consists of: fenced ```` ```json ```` blocks (every block, nothing else around
    them), or one or more bare values separated by whitespace. [] when it is anything else."""
    if text.startswith("`"):
        blocks = _FENCED_CALLS_RE.findall(text)
        if not blocks or _FENCED_CALLS_RE.sub("", text).strip():
            fenced = _FENCE_RE.match(text)
            one = _loads(fenced.group(1)) if fenced else None
            return [one] if one is not None else []
        values = [_loads(b) for b in blocks]
        return values if all(v is not None for v in values) else []
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(text):
        try:
            value, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return []
        out.append(value)
        while i < len(text) and text[i].isspace():
            i += 1
    return out


def _declared(obj: Any, tools: list[Tool] | None) -> bool:
    """Does ``obj`` call one of ``tools`` (no tools given: any name) with the tool's required arguments?"""
    if tools is None or not isinstance(obj, dict):
        return True
    spec = next((t for t in tools if t.function.name == obj.get("name")), None)
    if spec is None:
        return False
    args = _arguments_obj(obj.get("arguments"))
    required = (spec.function.parameters or {}).get("required") or []
    return isinstance(args, dict) and all(k in args for k in required)


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


_HEADER_RE = re.compile(
    r'(?:<tool_call>|```(?:json)?)\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*')
_END_RE = re.compile(r"\}\s*(?:</tool_call>|```)")
_HOLD = len("}\n</tool_call>") + 4  # argument text held back: it may turn out to be the call's closing


def _stream_mode(head: str) -> str:
    """How a tool-mode output that starts with ``head`` (no leading blanks) streams: "calls" (``<tool_call>`` or
    fenced blocks, incrementally), "json" (bare JSON, read at the end), "text", or "" (too short to tell: a
    backtick may open a fenced call or inline code / another code fence)."""
    if head[0] == "<" or _FENCED_START.match(head):
        return "calls"
    if head[0] in "{[":
        return "json"
    if head[0] != "`":
        return "text"
    opening = head.rstrip()
    if opening in _FENCE_PREFIXES and (opening == head or opening.startswith("```")):
        return ""
    return "text"


class ToolStream:
    """Feeds on generated text; yields OpenAI deltas. A plain answer streams as content from its first token;
    tool calls stream as ``{"index", "id", "type", "function": {"name", "arguments": ""}}`` followed by
    argument fragments, like OpenAI's own streams. Output in the fallback JSON form is parsed at the end."""

    def __init__(self, allow_json_content: bool = True, tools: list[Tool] | None = None) -> None:
        self.buf = ""
        self.mode = ""  # "" undecided | text | calls | json
        self.calls: list[dict[str, Any]] = []
        self.sent = 0  # chars of the current call's arguments already sent
        self.pos = 0  # where in buf the current call starts
        self.in_call = False
        self.allow_json_content = allow_json_content
        self.tools = tools

    def feed(self, piece: str) -> list[dict[str, Any]]:
        self.buf += piece
        if not self.mode:
            head = self.buf.lstrip()
            if not head:
                return []
            self.mode = _stream_mode(head)
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
        if not self.mode and self.buf.strip():  # ended while it could still have opened a fenced call
            return [{"content": self.buf}], None
        if self.mode == "json":
            msg, reason = parse_output(self.buf, self.allow_json_content, self.tools)
            if msg.get("tool_calls"):
                return [{"tool_calls": [{"index": i, **c} for i, c in enumerate(msg["tool_calls"])]}], reason
            return [{"content": msg["content"]}], None
        if self.mode == "calls":
            if self.in_call or not self.calls:
                return ([{"content": self.buf}] if not self.calls else []), "length"
            return [], "tool_calls"
        return [], None
