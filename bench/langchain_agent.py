"""A LangChain tool-calling agent loop against the real server: does it finish (tool calls, tool results, then
a final answer in text) within a few steps?

    python bench/langchain_agent.py --url http://127.0.0.1:8000 --model qwen2.5-coder-1.5b-instruct

Runs each task once with greedy decoding and prints, per task, the steps taken, the calls made, whether the loop
finished, and the final answer.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI


@tool
def get_weather(city: str) -> str:
    """查询某个城市的实时天气。"""
    return {"北京": "晴，25°C", "上海": "小雨，21°C"}.get(city, "多云，23°C")


@tool
def calculate(expression: str) -> str:
    """计算只含数字和 + - * / ( ) 的算术表达式，返回精确结果。"""
    if not set(expression) <= set("0123456789+-*/(). "):
        return "只支持四则运算"
    return str(eval(expression, {"__builtins__": {}}))  # noqa: S307 - digits and operators only, checked above


TOOLS = {t.name: t for t in (get_weather, calculate)}
TASKS = ["北京今天天气怎么样？适合户外跑步吗？", "帮我算一下 1234 乘以 5678 等于多少。", "分别查询北京和上海的天气，然后告诉我哪里更适合出门。"]


def run(llm: Any, task: str, max_steps: int) -> dict[str, Any]:
    msgs: list[BaseMessage] = [HumanMessage(task)]
    calls: list[str] = []
    for step in range(1, max_steps + 1):
        ai = llm.invoke(msgs)
        msgs.append(ai)
        if not ai.tool_calls:
            return {"task": task, "finished": True, "steps": step, "calls": calls, "answer": ai.content}
        for tc in ai.tool_calls:
            calls.append(f"{tc['name']}({json.dumps(tc['args'], ensure_ascii=False)})")
            out = TOOLS[tc["name"]].invoke(tc["args"]) if tc["name"] in TOOLS else "unknown tool"
            msgs.append(ToolMessage(str(out), tool_call_id=tc["id"]))
    return {"task": task, "finished": False, "steps": max_steps, "calls": calls, "answer": ""}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    ap.add_argument("--max-steps", type=int, default=4)
    args = ap.parse_args()
    llm = ChatOpenAI(model=args.model, base_url=args.url.rstrip("/") + "/v1", api_key="bench", temperature=0,
                     max_tokens=160, max_retries=0, timeout=900).bind_tools(list(TOOLS.values()))
    done = 0
    for task in TASKS:
        started = time.time()
        res = run(llm, task, args.max_steps)
        done += res["finished"]
        print(json.dumps({**res, "seconds": round(time.time() - started, 1)}, ensure_ascii=False), flush=True)
    print(f"{args.model}: {done}/{len(TASKS)} agent loops finished", flush=True)


if __name__ == "__main__":
    main()
