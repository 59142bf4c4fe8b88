"""Tool vs no-tool decision accuracy on 40 Chinese prompts (20 need a tool, 20 do not), through the real server.

Each prompt is sent with five tools and ``tool_choice: auto`` as a stream; the decision is read from the first
delta (a tool-call header or answer text), so only a few tokens are generated per prompt. Reports, per model:
decision accuracy, tool prompts answered with the right tool, and chit-chat answered without a tool.

    python bench/tool_decision.py --url http://127.0.0.1:8000 --model qwen2.5-coder-0.5b-instruct
"""

from __future__ import annotations

import argparse
import json
import time

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


def decide(client: OpenAI, model: str, prompt: str) -> tuple[str, str]:
    """('tool', name) as soon as a call's header streams (a short preface may come first), else ('text', the
    answer's first words) once the answer is longer than a preface would be or ends."""
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                            tools=TOOLS, tool_choice="auto", max_tokens=48, temperature=0,
                                            stream=True)
    text = ""
    try:
        for chunk in stream:
            for c in chunk.choices:
                if c.delta.tool_calls and c.delta.tool_calls[0].function.name:
                    return "tool", c.delta.tool_calls[0].function.name
                text += c.delta.content or ""
    finally:
        stream.close()
    return ("text", text[:12]) if text else ("none", "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args()
    client = OpenAI(base_url=args.url.rstrip("/") + "/v1", api_key="bench", max_retries=0, timeout=900)
    results = {}
    for model in args.model:
        started = time.time()
        tool_ok = right_tool = chat_ok = 0
        misses = []
        for i in range(len(NEED_TOOL)):  # interleaved, so a run cut short is still balanced
            prompt, tool = NEED_TOOL[i]
            kind, what = decide(client, model, prompt)
            tool_ok += kind == "tool"
            right_tool += kind == "tool" and what == tool
            if what != tool:
                misses.append(f"  need {tool}: {prompt} -> {kind} {what!r}")
            prompt = NO_TOOL[i]
            kind, what = decide(client, model, prompt)
            chat_ok += kind == "text"
            if kind != "text":
                misses.append(f"  no tool: {prompt} -> {kind} {what!r}")
            print(f"{model} {2 * (i + 1)}/{len(NEED_TOOL) + len(NO_TOOL)}: tool {tool_ok}/{i + 1} "
                  f"(right {right_tool}) no-tool {chat_ok}/{i + 1}", flush=True)
            if misses:
                print(misses[-1], flush=True)
        n = len(NEED_TOOL) + len(NO_TOOL)
        results[model] = {"decision_accuracy": round((tool_ok + chat_ok) / n, 3),
                          "tool_prompts_called_a_tool": f"{tool_ok}/{len(NEED_TOOL)}",
                          "tool_prompts_right_tool": f"{right_tool}/{len(NEED_TOOL)}",
                          "no_tool_prompts_answered": f"{chat_ok}/{len(NO_TOOL)}",
                          "seconds": round(time.time() - started, 1)}
        print(model, json.dumps(results[model], ensure_ascii=False), flush=True)
        print("\n".join(misses), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
