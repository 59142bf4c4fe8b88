"""How often does a model follow the taught support-reply format on the held-out split? Base vs tuned.

    HANLIN_MODELS_DIR=/root/.cache/hanlin/models python bench/tune_eval.py --adapter /tmp/tune-bench/adapter.gguf

Both models get the same messages (system + the customer's complaint; the format is never described) at
temperature 0 through the llama.cpp engine that serves ``ft:`` models. The rule is checked by code
(:func:`hanlin.tuning.examples.make_support_replies.follows_format`): three lines in the house format and the
ticket number copied from the order number. ``--with-instruction`` adds a run of the base model whose system
prompt spells the format out, for comparison with prompting alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from hanlin.engine.llamacpp import LlamaCppEngine
from hanlin.tuning.examples import make_support_replies as ex

INSTRUCTION = ("你是翰林科技的客服助手。回复必须严格为三行：第一行“【类别】”加账户/支付/物流/售后/技术之一；"
               "第二行“【回复】您好，”开头、以“——翰林客服”结尾；第三行“【工单号】HL-”加客户的6位订单号。")


async def run_model(label: str, engine: LlamaCppEngine, rows: list[dict[str, Any]], max_tokens: int,
                    system: str | None = None) -> dict[str, Any]:
    sem = asyncio.Semaphore(engine.info.slots)

    async def one(row: dict[str, Any]) -> dict[str, Any]:
        msgs = [dict(m) for m in row["messages"][:-1]]
        if system:
            msgs[0]["content"] = system
        async with sem:
            r = await engine.chat({"messages": msgs, "max_tokens": max_tokens, "temperature": 0, "seed": 0})
        reply = r["choices"][0]["message"]["content"] or ""
        user = row["messages"][1]["content"]
        return {"reply": reply, "format": ex.follows_format(reply, user),
                "category": ex.category_correct(reply, row["metadata"]["category"])}

    t0 = time.time()
    results = await asyncio.gather(*(one(r) for r in rows))
    n = len(results)
    return {"model": label, "n": n, "format_ok": sum(r["format"] for r in results),
            "format_rate": round(sum(r["format"] for r in results) / n, 3),
            "category_ok": sum(r["category"] for r in results), "seconds": round(time.time() - t0, 1),
            "samples": [r["reply"] for r in results[:3]]}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    models = Path(os.environ.get("HANLIN_MODELS_DIR", Path.home() / ".cache/hanlin/models"))
    ap.add_argument("--base", default=str(models / "qwen2.5-coder-0.5b-instruct.gguf"))
    ap.add_argument("--adapter", default="", help="LoRA GGUF of the tuned model (omit: base only)")
    ap.add_argument("--split", default=str(ex.HERE / "support_replies.heldout.jsonl"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=80)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--with-instruction", action="store_true")
    ap.add_argument("--skip-base", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    rows = [json.loads(x) for x in Path(args.split).read_text("utf-8").splitlines() if x.strip()]
    rows = rows[: args.limit] if args.limit else rows
    report: dict[str, Any] = {"split": args.split, "n": len(rows)}
    if not args.skip_base:
        base = LlamaCppEngine("base", Path(args.base), slots=4, ctx_per_slot=1024, threads=args.threads)
        report["base"] = await run_model("base", base, rows, args.max_tokens)
        if args.with_instruction:
            report["base_with_instruction"] = await run_model("base+instruction", base, rows, args.max_tokens,
                                                              INSTRUCTION)
        await base.close()
    if args.adapter:
        tuned = LlamaCppEngine("tuned", Path(args.base), slots=4, ctx_per_slot=1024, threads=args.threads,
                               lora_path=args.adapter)
        report["tuned"] = await run_model("tuned", tuned, rows, args.max_tokens)
        await tuned.close()
    text = json.dumps(report, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    asyncio.run(main())
