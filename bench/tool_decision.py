"""Tool vs no-tool decision accuracy on Chinese prompts (half need a tool, half do not), through the real server.

Each prompt is sent with five tools and ``tool_choice: auto`` as a stream; the decision is read from the first
delta (a tool-call header or answer text), so only a few tokens are generated per prompt. Reports, per model:
decision accuracy, tool prompts answered with the right tool, and chit-chat answered without a tool — for the
40 original prompts in two halves (A: pairs 1, 3, 5…, B: pairs 2, 4, 6…) and for 20 held-out prompts written
before the threshold was chosen (``--set extra``).

    python bench/tool_decision.py --url http://127.0.0.1:8000 --model qwen2.5-coder-0.5b-instruct --set all

``--calibrate`` loads the model in-process instead (no server) and prints, per prompt, the log-odds Hanlin's
decision uses (``serving.tools.call_logodds``), the threshold that is best on half A, and its accuracy on half B
and the held-out set — how ``ModelSpec.tool_call_logodds`` / ``DECISION_LOGODDS`` were chosen.

    python bench/tool_decision.py --calibrate --model qwen2.5-coder-1.5b-instruct
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from openai import OpenAI

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "查询某个城市的实时天气", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "description": "城市名"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "description": "查询当前日期和时间", "parameters": {
        "type": "object", "properties": {"timezone": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "calculate", "description": "计算数学表达式的精确结果", "parameters": {
        "type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}},
    {"type": "function", "function": {"name": "search_kb", "description": "在公司内部知识库（制度、流程、文件）中检索",
                                      "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                                                     "required": ["query"]}}},
    {"type": "function", "function": {"name": "send_email", "description": "给同事发送电子邮件", "parameters": {
        "type": "object", "properties": {"to": {"type": "string"}, "subject": {"type": "string"},
                                         "body": {"type": "string"}}, "required": ["to", "subject", "body"]}}},
]

NEED_TOOL = [  # (prompt, expected tool)
    ("北京今天天气怎么样？", "get_weather"), ("上海明天会下雨吗？", "get_weather"), ("深圳现在多少度？", "get_weather"),
    ("帮我看看杭州的天气，要不要带伞。", "get_weather"), ("现在几点了？", "get_time"), ("今天是几月几号？", "get_time"),
    ("告诉我现在的准确时间。", "get_time"), ("今天星期几？", "get_time"), ("计算 123456 乘以 789 等于多少。", "calculate"),
    ("帮我算一下 (358+642)*17/4 的精确结果。", "calculate"), ("3 的 20 次方是多少？请精确计算。", "calculate"),
    ("把 98765 除以 321，结果保留四位小数。", "calculate"), ("公司的差旅报销流程是什么？查一下内部制度。", "search_kb"),
    ("在知识库里找一下年假规定。", "search_kb"), ("我们公司的采购审批需要几级签字？查内部文件。", "search_kb"),
    ("检索一下内部的信息安全管理办法。", "search_kb"), ("给张经理发邮件，告诉他周五的会议改到下午三点。", "send_email"),
    ("发一封邮件给财务部李娜，主题是发票补交，内容说下周一前补齐。", "send_email"),
    ("帮我给王总发邮件汇报一下项目已经上线。", "send_email"), ("邮件通知人事部小陈，我明天请假一天。", "send_email"),
]

NO_TOOL = [
    "你好，你是谁？", "早上好！", "谢谢你的帮助。", "给我讲个笑话吧。", "写一首关于春天的五言绝句。",
    "解释一下什么是机器学习。", "把“谢谢”翻译成英文。", "帮我润色这句话：我们会尽快处理您的问题。",
    "Python 里列表和元组有什么区别？", "写一段 Python 代码，反转一个字符串。", "给新员工写一句欢迎词。",
    "什么是区块链？用一句话说明。", "推荐三本管理类的书。", "怎么写一份好的周报？给几点建议。",
    "“塞翁失马”是什么意思？", "你能做些什么？", "请用三句话介绍长城。", "1 加 1 等于几？", "帮我想一个团队建设活动的名字。",
    "总结一下：今天开会讨论了预算和招聘两件事。",
]


# written before the threshold was chosen, used only to check it (harder: several mention weather, mail or
# the knowledge base without needing a tool)
EXTRA_NEED = [
    ("广州这周末天气如何？", "get_weather"), ("成都现在冷不冷？查一下气温。", "get_weather"), ("现在北京时间是几点？", "get_time"),
    ("今天几号了？我要填日期。", "get_time"), ("2 的 64 次方精确等于多少？", "calculate"), ("帮我算 4567 × 8910 - 1234。", "calculate"),
    ("查一下公司加班调休的规定。", "search_kb"), ("内部文件里关于报销发票的要求是什么？", "search_kb"),
    ("给项目组的赵磊发邮件，说明天的评审取消。", "send_email"), ("发邮件提醒行政部周一前提交预算表。", "send_email"),
]
EXTRA_NO = [
    "“天气”用英文怎么说？", "帮我写一封请假邮件的草稿，我自己来发。", "乘法交换律是什么？", "知识库是什么意思？", "你喜欢什么季节？", "晚安。",
    "给我一个学习英语的建议。", "写一句祝同事生日快乐的话。", "SQL 中 JOIN 有哪几种？", "为什么天空是蓝色的？",
]


def prompts(which: str) -> list[tuple[str, str, str | None]]:
    """(set, prompt, expected tool or None), tool and no-tool prompts interleaved so a run cut short is balanced;
    set is "A"/"B" (halves of the 40 originals, by pair) or "extra"."""
    out: list[tuple[str, str, str | None]] = []
    if which in ("main", "all"):
        for i, ((p, tool), q) in enumerate(zip(NEED_TOOL, NO_TOOL, strict=True)):
            half = "AB"[i % 2]
            out += [(half, p, tool), (half, q, None)]
    if which in ("extra", "all"):
        for (p, tool), q in zip(EXTRA_NEED, EXTRA_NO, strict=True):
            out += [("extra", p, tool), ("extra", q, None)]
    return out


def decide(client: OpenAI, model: str, prompt: str) -> tuple[str, str]:
    """('tool', name) when the first delta is a call's header, ('text', its first words) when it is answer
    text (Hanlin decides the branch before the first token, so the first delta shows it)."""
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],  # type: ignore[call-overload]
                                            tools=TOOLS, tool_choice="auto", max_tokens=48, temperature=0,
                                            stream=True)
    text = ""
    try:
        for chunk in stream:
            for c in chunk.choices:
                if c.delta.tool_calls and c.delta.tool_calls[0].function.name:
                    return "tool", c.delta.tool_calls[0].function.name
                text += c.delta.content or ""
                if text.strip():
                    return "text", text[:12]
    finally:
        stream.close()
    return ("text", text[:12]) if text else ("none", "")


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    need = [r for r in rows if r["expected"]]
    chat = [r for r in rows if not r["expected"]]
    called = sum(r["kind"] == "tool" for r in need)
    return {"decision_accuracy": round((called + sum(r["kind"] == "text" for r in chat)) / max(1, len(rows)), 3),
            "tool_prompts_called_a_tool": f"{called}/{len(need)}",
            "tool_prompts_right_tool": f"{sum(r['what'] == r['expected'] for r in need)}/{len(need)}",
            "no_tool_prompts_answered": f"{sum(r['kind'] == 'text' for r in chat)}/{len(chat)}"}


def run_server(args: argparse.Namespace) -> dict[str, Any]:
    client = OpenAI(base_url=args.url.rstrip("/") + "/v1", api_key=args.api_key, max_retries=0, timeout=900)
    results: dict[str, Any] = {}
    for model in args.model:
        started = time.time()
        rows: list[dict[str, Any]] = []
        for n, (part, prompt, tool) in enumerate(prompts(args.set), 1):
            kind, what = decide(client, model, prompt)
            rows.append({"set": part, "prompt": prompt, "expected": tool, "kind": kind, "what": what})
            ok = (kind == "tool") if tool else (kind == "text")
            print(f"{model} {n} [{part}] {'ok ' if ok else 'MISS'} {prompt} -> {kind} {what!r}", flush=True)
        sets = sorted({r["set"] for r in rows})
        results[model] = {"all": summary(rows), **{s: summary([r for r in rows if r["set"] == s]) for s in sets},
                          "seconds": round(time.time() - started, 1)}
        print(model, json.dumps(results[model], ensure_ascii=False), flush=True)
    return results


def _right(scored: list[tuple[str, str, str | None, float]], th: float, part: str) -> tuple[int, int]:
    """(decisions right, prompts) in one set when a log-odds of ``th`` or more means "call a tool"."""
    rows = [s for s in scored if s[0] == part]
    return sum((s[3] >= th) == bool(s[2]) for s in rows), len(rows)


def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    """Log-odds per prompt with the model in-process; the threshold best on half A, checked on B and extra."""
    import asyncio

    from hanlin.config import Settings
    from hanlin.engine.llamacpp import LlamaCppEngine
    from hanlin.models.registry import BUILTIN
    from hanlin.serving.schemas import ChatCompletionRequest
    from hanlin.serving.tools import call_logodds, decision_body, plan_tools

    settings = Settings()
    results: dict[str, Any] = {}
    for model in args.model:
        path = settings.models_dir / f"{model}.gguf"
        engine = LlamaCppEngine(model, path, slots=1, ctx_per_slot=4096, threads=settings.n_threads,
                                sampling=BUILTIN[model].sampling if model in BUILTIN else None)
        scored = []
        for part, prompt, tool in prompts("all"):
            messages = [{"role": "user", "content": prompt}]
            body: dict[str, Any] = {"messages": messages}
            plan_tools(ChatCompletionRequest(messages=messages, tools=TOOLS, tool_choice="auto"), body)
            score = call_logodds(asyncio.run(engine.chat(decision_body(body))))
            scored.append((part, prompt, tool, score if score is not None else float("-inf")))
            print(f"{model} [{part}] {scored[-1][3]:+.2f} {'tool' if tool else '-   '} {prompt}", flush=True)

        candidates = sorted({round(s[3], 2) for s in scored if s[0] == "A"})
        best = max(candidates, key=lambda th: (_right(scored, th, "A")[0], -abs(th)))
        results[model] = {"threshold": best,
                          **{p: "{}/{}".format(*_right(scored, best, p)) for p in ("A", "B", "extra")}}
        print(model, json.dumps(results[model], ensure_ascii=False), flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--api-key", default="bench")
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--set", choices=["main", "extra", "all"], default="main")
    ap.add_argument("--calibrate", action="store_true", help="score log-odds in-process and choose a threshold")
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args()
    results = calibrate(args) if args.calibrate else run_server(args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
