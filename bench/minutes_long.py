"""Benchmark (not a test): a ≥45k-character meeting (VCSum dev meetings concatenated) → minutes.

    HANLIN_THREADS=2 python bench/minutes_long.py [--model qwen2.5-coder-1.5b-instruct] [--chars 45000]
        [--url http://127.0.0.1:8000] [--out /tmp/minutes.json]

Prints the time of each stage (filter+segment, chapter calls, repair, overview), per-chapter seconds, token counts
and the verification stats. Speakers are renamed per source meeting (会议13-发言人1…) so no two meetings share one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

from hanlin.apps.minutes.pipeline import Options, make_minutes
from hanlin.apps.minutes.transcript import Transcript, Utterance
from hanlin.cli.common import local_engine, settings_from
from hanlin.evals.base import default_data_dir


def long_meeting(min_chars: int) -> Transcript:
    rows = [json.loads(x) for x in (default_data_dir() / "vcsum" / "vcsum_dev.jsonl").read_text().splitlines()]
    utts: list[Utterance] = []
    for r in rows:
        for u in r["utterances"]:
            utts.append(Utterance(len(utts), f"会议{r['id']}-发言人{u['speaker']}", u["text"]))
        if sum(len(u.text) for u in utts) >= min_chars:
            break
    return Transcript(utts, "json")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--url", default=None)
    ap.add_argument("--chars", type=int, default=45_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    transcript = long_meeting(args.chars)
    print(f"meeting: {len(transcript.utterances)} utterances, {transcript.chars} chars, "
          f"{len(transcript.speakers)} speakers", flush=True)
    settings = settings_from(model=args.model)
    t0 = time.perf_counter()
    engine = await local_engine(settings, args.model, args.url)
    load_s = time.perf_counter() - t0
    print(f"model: {engine.info.name} ({engine.info.kind}, {engine.info.slots} slots, threads={settings.n_threads}); "
          f"load {load_s:.1f} s", flush=True)
    t1 = time.perf_counter()
    cpu0 = _cpu()

    def progress(fraction: float, stage: str) -> None:
        print(f"  [{time.perf_counter() - t1:7.1f} s] {fraction:5.1%} {stage}", flush=True)

    m = await make_minutes(engine, transcript, Options(), progress=progress)
    await engine.close()
    s = m["stats"]
    print("\n== time per stage (s) ==")
    for k, v in s["timings_s"].items():
        print(f"  {k:20s} {v:8.1f}")
    print(f"  {'(repair, inside chapters)':20s} {s['repair_seconds']:8.1f}")
    print(f"  chapter seconds: {s['chapter_seconds']}")
    print(f"  tokens: {s['usage']}")
    print(f"== output == chapters {len(m['chapters'])}, speakers with views {len(m['views'])}, "
          f"decisions {len(m['decisions'])}, action items {len(m['action_items'])}")
    print(f"== verification == {m['verification']}")
    print(f"title: {m['title']}\nsummary: {m['summary'][:300]}")
    if args.out:
        args.out.write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")
    total = s["timings_s"]["total"]
    cpu = _cpu() - cpu0
    print(f"\nTOTAL wall {total:.1f} s ({total / 60:.1f} min) for {transcript.chars} characters; "
          f"process CPU {cpu:.0f} s = {cpu / max(1, settings.n_threads):.0f} s on {settings.n_threads} idle cores "
          f"(the wall time counts other processes on shared cores; the CPU time does not)", file=sys.stderr)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


if __name__ == "__main__":
    asyncio.run(main())
