"""Benchmark (not a test): a ≥45k-character meeting → minutes, timed, and scored for quality on the way.

    HANLIN_THREADS=2 python bench/minutes_long.py [--model qwen2.5-coder-1.5b-instruct] [--chars 45000]
        [--url http://127.0.0.1:8000] [--out /tmp/minutes.json] [--no-gold] [--read-all | --read-chars N]
        [--view-text]

The meeting is VCSum dev meetings concatenated, with the five minutes-gold meetings (annotated decisions, action
items, owners, rejected proposals, corrections) spliced in between them, so speed and quality are measured on the
same long run: the gold items must still be found in a 45k-character meeting. Prints the time of each stage
(filter+segment, chapter calls, repair, overview), per-chapter seconds, token counts, verification stats and the
gold scores (decision/action recall, owner accuracy, corrections, rejected/unassigned listed). Speakers are
renamed per source meeting (会议13-发言人1…) so no two meetings share one; the gold meetings keep their names.

By default the model reads what the server would let it read (``HANLIN_MINUTES_READ_CHARS``, 9,000: a longer
meeting is shown to it condensed); ``--read-all`` shows it every line, the slow path to compare against.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from hanlin.apps.minutes.pipeline import Options, make_minutes
from hanlin.apps.minutes.transcript import Transcript, Utterance, parse_transcript
from hanlin.cli.common import local_engine, settings_from
from hanlin.evals.base import default_data_dir
from hanlin.evals.minutes_gold import GOLD_DIR, aggregate, load_gold, score_meeting


def long_meeting(min_chars: int, gold: list[dict[str, Any]]) -> Transcript:
    """VCSum dev meetings until ``min_chars``; with gold meetings, each VCSum part is cut to an equal share and
    one gold meeting follows each part."""
    rows = [json.loads(x) for x in (default_data_dir() / "vcsum" / "vcsum_dev.jsonl").read_text().splitlines()]
    golds = [parse_transcript(Path(g["path"]).read_bytes(), g["file"]).utterances for g in gold]
    share = (min_chars - sum(len(u.text) for g in golds for u in g)) // len(golds) + 1 if golds else 1 << 30
    utts: list[Utterance] = []
    for k, r in enumerate(rows):
        part = 0
        for u in r["utterances"]:
            if part + len(u["text"]) > share and part:
                break
            utts.append(Utterance(len(utts), f"会议{r['id']}-发言人{u['speaker']}", u["text"]))
            part += len(u["text"])
        if k < len(golds):
            utts += [Utterance(len(utts) + i, u.speaker, u.text) for i, u in enumerate(golds[k])]
        if sum(len(u.text) for u in utts) >= min_chars and k >= len(golds) - 1:
            break
    return Transcript(utts, "json")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--url", default=None)
    ap.add_argument("--chars", type=int, default=45_000)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-gold", action="store_true", help="VCSum only (no gold meetings spliced in)")
    ap.add_argument("--read-all", action="store_true", help="the model reads every line (no condensing)")
    ap.add_argument("--read-chars", type=int, default=None, help="read budget (default: the server's setting)")
    ap.add_argument("--view-text", action="store_true",
                    help="condensed: the model words each view itself (the previous default) instead of pointing at "
                         "the line that states it")
    args = ap.parse_args()
    gold = [] if args.no_gold else load_gold(GOLD_DIR)
    transcript = long_meeting(args.chars, gold)
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

    read = 0 if args.read_all else (settings.minutes_read_chars if args.read_chars is None else args.read_chars)
    m = await make_minutes(engine, transcript, Options(read_chars=read, digest_view_text=args.view_text), progress=progress)
    await engine.close()
    s = m["stats"]
    print("\n== time per stage (s) ==")
    for k, v in s["timings_s"].items():
        print(f"  {k:20s} {v:8.1f}")
    print(f"  {'(repair, inside chapters)':20s} {s['repair_seconds']:8.1f}")
    print(f"  chapter seconds: {s['chapter_seconds']}")
    print(f"  tokens: {s['usage']}")
    print(f"  read: {s['read']}")
    print(f"== output == chapters {len(m['chapters'])}, speakers with views {len(m['views'])}, "
          f"decisions {len(m['decisions'])}, action items {len(m['action_items'])}")
    print(f"== verification == {m['verification']}")
    print(f"title: {m['title']}\nsummary: {m['summary'][:300]}")
    if gold:  # quality on the same run: each gold meeting's items must be found in the long meeting's minutes
        recs = [score_meeting({**g, "speakers": []}, {**m, "speakers": []}) for g in gold]
        for r in recs:
            print(f"  gold {r['id']}: decisions {r['decisions_found']}/{r['decisions']}, actions "
                  f"{r['actions_found']}/{r['actions']}, owners {r['owners_right']}/{r['actions_found']}; "
                  f"missed {r['missed']}")
        agg = aggregate(recs)
        agg.pop("speaker_sets_exact")
        print("== quality (gold meetings inside the long one) == " +
              ", ".join(f"{k} {v:.2f}" for k, v in agg.items()))
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
