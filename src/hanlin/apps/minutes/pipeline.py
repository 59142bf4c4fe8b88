"""Minutes for meetings of any length: segment → per-chapter cited JSON (concurrent) → verify/repair → merge.

Every model call is schema-constrained (speakers and line numbers as enums). A chapter's answer is verified by
code (verify.py); failed items get one repair turn with the reason, then are dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hanlin.apps.llm import generate_json
from hanlin.apps.minutes import prompts
from hanlin.apps.minutes.extract import extractive_items, fallback_summary
from hanlin.apps.minutes.instruction import Plan, apply_plan, parse_instruction
from hanlin.apps.minutes.schema import chapter_schema, overview_schema, repair_schema
from hanlin.apps.minutes.segment import segment
from hanlin.apps.minutes.transcript import Transcript, Utterance
from hanlin.apps.minutes.verify import KINDS, Checker, VerifyStats, verify_items
from hanlin.engine.base import Engine
from hanlin.errors import HanlinError

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


@dataclass
class Options:
    instruction: str | None = None
    chunk_chars: int = 2000  # transcript characters shown to the model per chapter (utterances are clipped)
    chapter_chars: int = 4000  # transcript characters per chapter before clipping
    max_chapters: int = 12
    max_utts: int = 60
    concurrency: int = 4
    max_tokens: int = 500
    repair: bool = True
    extractive: bool = True  # add keyword-found decisions/action items when the model gives none
    title: str | None = None


def _usage_add(total: dict[str, int], usage: dict[str, int]) -> None:
    for k, v in usage.items():
        total[k] = total.get(k, 0) + int(v)


async def _ask(engine: Engine, messages: list[dict[str, Any]], schema: dict[str, Any], max_tokens: int,
               usage: dict[str, int]) -> dict[str, Any] | None:
    try:
        res = await generate_json(engine, messages, schema, max_tokens=max_tokens, attempts=2)
    except HanlinError as e:
        log.warning("minutes: model call failed: %s", e.message)
        usage["failed_calls"] = usage.get("failed_calls", 0) + 1
        return None
    _usage_add(usage, res.usage)
    usage["calls"] = usage.get("calls", 0) + 1
    return res.data if isinstance(res.data, dict) else None


async def summarise_chapter(engine: Engine, utts: list[Utterance], by_index: dict[int, Utterance], lang: str,
                            plan: Plan, opts: Options) -> dict[str, Any]:
    """One chapter → verified items; JSON-serialisable so a job can checkpoint it."""
    t0 = time.perf_counter()
    usage: dict[str, int] = {}
    speakers = list(dict.fromkeys(u.speaker for u in utts))
    line_ids = [u.index for u in utts]
    lines = prompts.render_lines(utts, opts.chunk_chars)
    msgs = prompts.chapter_messages(lang, lines, plan.focus, plan.topic)
    data = await _ask(engine, msgs, chapter_schema(speakers, line_ids), opts.max_tokens, usage) or {}
    checker = Checker(by_index, set(line_ids), set(speakers))
    stats = VerifyStats()
    good, failures = verify_items(checker, data, stats)
    repair_s = 0.0
    repaired = {k: 0 for k in KINDS}
    if failures and opts.repair:
        t1 = time.perf_counter()
        fixed = await _ask(engine, prompts.repair_messages(msgs, data, lang, failures),
                           repair_schema(speakers, line_ids), opts.max_tokens // 2, usage) or {}
        again, _ = verify_items(checker, fixed, VerifyStats())
        for kind in KINDS:  # a repaired item stands in for a failed one of its kind
            n_failed = sum(1 for f in failures if f["kind"] == kind)
            good[kind].extend(again[kind][:n_failed])
            repaired[kind] = min(n_failed, len(again[kind]))
        repair_s = time.perf_counter() - t1
    dropped = {k: sum(1 for f in failures if f["kind"] == k) - repaired[k] for k in KINDS}
    stats.repaired = sum(repaired.values())
    stats.dropped = sum(dropped.values())
    stats.reasons = [f"{f['kind']}: {f['reason']}" for f in failures]
    if opts.extractive:
        _add_extractive(checker, utts, good, plan)
    return {
        "start_line": utts[0].index, "end_line": utts[-1].index,
        "title": str(data.get("title") or "").strip() or fallback_summary(utts, 15),
        "summary": str(data.get("summary") or "").strip() or fallback_summary(utts, 120),
        **good, "dropped_by_kind": dropped, "verification": stats.to_dict(),
        "usage": usage, "seconds": round(time.perf_counter() - t0, 2), "repair_seconds": round(repair_s, 2),
        "model_failed": not data,
    }


def _add_extractive(checker: Checker, utts: list[Utterance], good: dict[str, list[dict[str, Any]]],
                    plan: Plan) -> None:
    for kind, items in extractive_items(utts, checker.speakers).items():
        if good[kind] and plan.focus != kind:
            continue
        seen = {tuple(x["lines"]) for x in good[kind]}
        for item in items:
            fixed, _ = checker.check(kind, item)
            if fixed is not None and tuple(fixed["lines"]) not in seen:
                good[kind].append({**fixed, "source": "extractive"})
                seen.add(tuple(fixed["lines"]))


async def overview(engine: Engine, chapters: list[dict[str, Any]], lang: str, usage: dict[str, int]
                   ) -> tuple[str, str]:
    data = await _ask(engine, prompts.overview_messages(lang, chapters), overview_schema(), 500, usage) or {}
    title = str(data.get("title") or "").strip()
    summary = str(data.get("summary") or "").strip()
    if not summary:
        summary = "；".join(c["summary"] for c in chapters)[:400]
    return title or chapters[0]["title"], summary


def merge(chapters: list[dict[str, Any]], speakers_order: list[str]) -> dict[str, Any]:
    views: dict[str, list[dict[str, Any]]] = {}
    decisions: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for ch in chapters:
        for v in ch["views"]:
            pts = views.setdefault(v["speaker"], [])
            if all(p["text"] != v["text"] for p in pts):
                pts.append({"text": v["text"], "lines": v["lines"], "chapter": chapters.index(ch)})
        for d in ch["decisions"]:
            if all(x["text"] != d["text"] for x in decisions):
                decisions.append({"text": d["text"], "lines": d["lines"], **_src(d)})
        for a in ch["action_items"]:
            if all(x["task"] != a["task"] for x in actions):
                actions.append({"owner": a["owner"], "task": a["task"], "due": (a.get("due") or "").strip() or None,
                                "lines": a["lines"], **_src(a)})
    order = {s: i for i, s in enumerate(speakers_order)}
    return {"views": [{"speaker": s, "points": views[s]} for s in sorted(views, key=lambda s: order.get(s, 1 << 30))],
            "decisions": decisions, "action_items": actions}


def _src(item: dict[str, Any]) -> dict[str, Any]:
    return {"source": item["source"]} if item.get("source") else {}


def _total_stats(chapters: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, int], dict[str, int]]:
    total = VerifyStats()
    usage: dict[str, int] = {}
    dropped = {k: 0 for k in KINDS}
    for ch in chapters:
        v = ch["verification"]
        part = VerifyStats(v["checked"], v["passed"], v["repaired"], v["dropped"], v["cited_lines"],
                           v["cited_lines_valid"], list(v["reasons"]))
        total.add(part)
        _usage_add(usage, ch["usage"])
        for k in KINDS:
            dropped[k] += ch["dropped_by_kind"][k]
    dropped["total"] = total.dropped
    return total.to_dict(), usage, dropped


async def make_minutes(engine: Engine, transcript: Transcript, opts: Options | None = None,
                       progress: Progress | None = None, done: dict[int, dict[str, Any]] | None = None,
                       on_chapter: Callable[[int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The whole pipeline. ``done`` holds chapters finished before an interruption (job resume)."""
    opts = opts or Options()
    report = progress or (lambda f, s: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    plan = parse_instruction(opts.instruction, transcript.speakers)
    utts = apply_plan(plan, transcript.utterances)
    lang = "en" if prompts.is_english(utts) else "zh"
    parts = segment(utts, target_chars=opts.chapter_chars, max_chapters=opts.max_chapters, max_utts=opts.max_utts)
    timings["filter_and_segment"] = time.perf_counter() - t0
    report(0.05, f"分章完成：{len(parts)} 章")
    by_index = {u.index: u for u in transcript.utterances}
    results: dict[int, dict[str, Any]] = dict(done or {})
    sem = asyncio.Semaphore(max(1, opts.concurrency))
    t1 = time.perf_counter()

    async def run_one(i: int) -> None:
        async with sem:
            res = await summarise_chapter(engine, parts[i], by_index, lang, plan, opts)
        results[i] = res
        if on_chapter:
            on_chapter(i, res)
        report(0.05 + 0.8 * len(results) / len(parts), f"章节摘要 {len(results)}/{len(parts)}")

    await asyncio.gather(*(run_one(i) for i in range(len(parts)) if i not in results))
    timings["chapters"] = time.perf_counter() - t1
    chapters = [results[i] for i in range(len(parts))]
    report(0.87, "合并与总体摘要")
    t2 = time.perf_counter()
    usage: dict[str, int] = {}
    title, summary = await overview(engine, chapters, lang, usage)
    timings["overview"] = time.perf_counter() - t2
    verification, chapter_usage, dropped = _total_stats(chapters)
    _usage_add(usage, chapter_usage)
    merged = merge(chapters, transcript.speakers)
    timings["total"] = time.perf_counter() - t0
    report(1.0, "完成")
    return {
        "title": opts.title or title, "summary": summary,
        "chapters": [{"title": c["title"], "start_line": c["start_line"], "end_line": c["end_line"],
                      "summary": c["summary"]} for c in chapters],
        **merged, "dropped": dropped, "verification": verification,
        "speakers": transcript.speakers, "utterances": len(transcript.utterances), "covered_utterances": len(utts),
        "language": lang, "instruction": plan.to_dict(),
        "stats": {"timings_s": {k: round(v, 2) for k, v in timings.items()},
                  "chapter_seconds": [c["seconds"] for c in chapters],
                  "repair_seconds": round(sum(c["repair_seconds"] for c in chapters), 2),
                  "usage": usage, "chapters_model_failed": sum(1 for c in chapters if c["model_failed"])},
    }
