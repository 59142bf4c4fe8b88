"""Benchmark (not a test): does reading a long meeting condensed cost summary quality? VCSum dev, side by side.

    HANLIN_THREADS=2 python bench/minutes_condensed_quality.py [--model M] [--min-chars 20000] [--limit 2]
        [--read-chars 9000]

For each VCSum dev meeting of at least ``--min-chars`` characters (longest first), the minutes are made twice with
the same model: the model reading every line (``read_chars=0``) and reading it condensed (the server's default
budget), and each overall summary is scored with ROUGE-1/2/L F1 against the reference (the `hanlin eval vcsum`
metric), with lead-300 beside them. Also prints seconds, characters shown to the model and items found per run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from hanlin.apps.minutes.pipeline import Options, make_minutes
from hanlin.apps.minutes.transcript import parse_json_utterances
from hanlin.cli.common import local_engine, settings_from
from hanlin.evals.base import default_data_dir
from hanlin.evals.minutes import lead, rouge


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--min-chars", type=int, default=20_000)
    ap.add_argument("--limit", type=int, default=2)
    ap.add_argument("--read-chars", type=int, default=None)
    args = ap.parse_args()
    settings = settings_from(model=args.model)
    budget = settings.minutes_read_chars if args.read_chars is None else args.read_chars
    rows = [json.loads(x) for x in (default_data_dir() / "vcsum" / "vcsum_dev.jsonl").read_text().splitlines()]
    rows.sort(key=lambda r: -sum(len(u["text"]) for u in r["utterances"]))
    rows = [r for r in rows if sum(len(u["text"]) for u in r["utterances"]) >= args.min_chars][:args.limit]
    engine = await local_engine(settings, args.model, None)
    hyps: dict[str, list[str]] = {"read all": [], "condensed": [], "lead-300": []}
    refs: list[str] = []
    try:
        for r in rows:
            t = parse_json_utterances(r)
            refs.append(r["overall_summary"])
            hyps["lead-300"].append(lead(t, "zh"))
            for mode, read in (("condensed", budget), ("read all", 0)):
                t0 = time.perf_counter()
                m = await make_minutes(engine, t, Options(read_chars=read))
                hyps[mode].append(m["summary"])
                one = rouge([m["summary"]], [r["overall_summary"]], "zh")
                print(f"meeting {r['id']} ({t.chars} chars) {mode:9s}: {time.perf_counter() - t0:6.0f} s, "
                      f"shown {m['stats']['read']['chars_shown_to_model']} chars, {len(m['chapters'])} chapters, "
                      f"{len(m['decisions'])} decisions, {len(m['action_items'])} actions; ROUGE-1/2/L "
                      f"{one['rouge_1']:.3f}/{one['rouge_2']:.3f}/{one['rouge_l']:.3f}", flush=True)
    finally:
        await engine.close()
    print(f"\n{len(refs)} meetings, budget {budget} characters:")
    for mode, h in hyps.items():
        s = rouge(h, refs, "zh")
        print(f"  {mode:9s} ROUGE-1/2/L {s['rouge_1']:.3f} / {s['rouge_2']:.3f} / {s['rouge_l']:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
