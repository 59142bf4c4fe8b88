"""Prompt cache: time to first token when an app's long system prompt repeats (custom apps, KB chat, app pipelines).

Loads the model in-process (llama.cpp through xllamacpp, the same engine `hanlin serve` uses) and asks three
questions that share one system prompt of ~1,500 tokens (the knowledge-base answer rules with five news passages
from RGB): the first call pays for the whole prompt; the second, with a different question, reuses the cached prefix
(llama.cpp `cache_prompt`, on in Hanlin); the third repeats the second with ``cache_prompt: false`` as the baseline
measured in the same run.

    python bench/prompt_cache.py [--model qwen2.5-coder-0.5b-instruct] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from hanlin.config import Settings
from hanlin.engine.manager import EngineManager
from hanlin.evals.base import default_data_dir
from hanlin.knowledge.answer import SYSTEM_PROMPT

QUESTIONS = ["这些资料里提到的最大数字是什么？", "第一条资料讲的是哪件事？", "资料中提到了哪些城市？",
             "哪条资料与经济有关？", "请用一句话概括第三条资料。", "资料里有没有提到时间？"]


def system_prompt() -> str:
    rows = (default_data_dir() / "rgb_zh" / "zh_refine_dev.jsonl").read_text(encoding="utf-8").splitlines()
    passages = [p for r in rows[:3] for p in json.loads(r)["positive"]][:5]
    return SYSTEM_PROMPT + "\n\n资料：\n" + "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))


async def ttft(engine: Any, system: str, question: str, cache: bool) -> float:
    body = {"messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
            "max_tokens": 4, "temperature": 0, "cache_prompt": cache}
    t0 = time.perf_counter()
    async for chunk in engine.stream(body):
        if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
            break
    return (time.perf_counter() - t0) * 1000


async def run(model: str, repeats: int) -> dict[str, Any]:
    engines = EngineManager(Settings(model=model))
    engine = await engines.load(model)  # the bench is its own caller: no principal, no wrappers
    system = system_prompt()
    first, second, uncached = [], [], []
    try:
        for i in range(repeats):
            sys_i = f"（会话 {i}）" + system  # a new prefix each round, so the first call is really cold
            first.append(await ttft(engine, sys_i, QUESTIONS[0], True))
            second.append(await ttft(engine, sys_i, QUESTIONS[1 + i % 5], True))
            uncached.append(await ttft(engine, sys_i, QUESTIONS[1 + i % 5], False))
    finally:
        await engines.close()
    med = statistics.median
    return {"model": model, "system_prompt_chars": len(system), "repeats": repeats,
            "ttft_first_ms": round(med(first), 1), "ttft_second_cached_ms": round(med(second), 1),
            "ttft_second_uncached_ms": round(med(uncached), 1),
            "cached_over_uncached": round(med(second) / med(uncached), 3),
            "threads": Settings().n_threads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = asyncio.run(run(args.model, max(1, min(args.repeats, 20))))
    print(json.dumps(res, ensure_ascii=False, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
