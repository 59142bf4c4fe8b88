"""Minutes for meetings of any length: segment → per-chapter cited JSON (concurrent) → verify → merge.

Up to ``read_chars`` characters (Settings ``minutes_read_chars``) every utterance is shown to the model: chapters
are sized so a whole chapter fits one prompt (nothing clipped). A longer meeting is cut into fewer, larger chapters
and the model is shown each one condensed (condense.py) to its share of the budget, so the model's time stays
bounded; code still reads every utterance for decisions and action items, and verifies against whole lines.

Every model call is schema-constrained (speakers and line numbers as enums) and sent with ``cache_prompt`` so each slot reuses the
shared system prompt. A chapter's answer is verified by code (verify.py), which also fixes what code can decide
(the owner who committed or was assigned, corrected numbers); code-found decisions and action items (extract.py)
are added beside the model's. Failed items are dropped and counted (one repair turn is optional, off by default:
it cost more time than it saved items).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hanlin.apps.minutes import prompts
from hanlin.apps.minutes.condense import Rarity, chapter_budgets, condense
from hanlin.apps.minutes.extract import NUMBER, clause, extractive_items, fallback_summary
from hanlin.apps.minutes.instruction import Plan, apply_plan, parse_instruction
from hanlin.apps.minutes.schema import chapter_schema, digest_schema, overview_schema, repair_schema
from hanlin.apps.minutes.segment import segment
from hanlin.apps.minutes.transcript import Transcript, Utterance, format_time
from hanlin.apps.minutes.verify import KINDS, Checker, VerifyStats, support, verify_items
from hanlin.apps.minutes.views import code_views
from hanlin.engine.ask import add_usage, ask_json
from hanlin.engine.base import Engine
from hanlin.errors import EngineError, HanlinError

log = logging.getLogger(__name__)
VIEW_SPEAKERS = 4  # speakers per chapter who get a view: the model's, then code's for those it left out
Progress = Callable[[float, str], None]


@dataclass
class Options:
    instruction: str | None = None
    chapter_chars: int = 2400  # transcript characters per chapter; the whole chapter is shown to the model
    max_prompt_chars: int = 7000  # only a single utterance longer than this is clipped (it is a chapter alone)
    max_chapters: int = 40
    max_utts: int = 50
    concurrency: int | None = None  # chapter calls in flight; None = every engine slot busy (at least 4)
    max_tokens: int = 450
    repair: bool = False
    extractive: bool = True  # add code-found decisions/action items beside the model's
    title: str | None = None
    read_chars: int = 0  # past this many characters the model reads each chapter condensed; 0 = read everything
    condensed_chapter_chars: int = 6000  # chapter size when condensed: fewer model calls, each shown its share
    condensed_max_chapters: int = 16
    condensed_max_tokens: int = 256  # a condensed chapter's answer: title, summary, views (code finds the items)
    digest_view_text: bool = False  # condensed: the model words views itself (else it points at a line, code words)


@dataclass
class Reading:
    """How much of the meeting the model was shown (reported in ``stats.read``)."""

    chars_total: int
    budget: int  # 0 = no budget
    condensed: bool

    def shown(self, chapter: list[Utterance], share: int, rarity: Rarity | None) -> list[Utterance]:
        return condense(chapter, share, rarity) if self.condensed else chapter


async def _ask(engine: Engine, messages: list[dict[str, Any]], schema: dict[str, Any], max_tokens: int,
               usage: dict[str, Any]) -> dict[str, Any] | None:
    """Schema-constrained JSON, or None (the reason kept in ``usage["error"]``)."""
    try:
        res = await ask_json(engine, messages, schema, max_tokens=max_tokens, attempts=2, cache_prompt=True)
    except (HanlinError, OSError) as e:  # OSError: a server that cannot be reached
        reason = e.message if isinstance(e, HanlinError) else f"{type(e).__name__}: {e}"
        log.warning("minutes: model call failed: %s", reason)
        usage["failed_calls"] = usage.get("failed_calls", 0) + 1
        usage["error"] = reason
        return None
    add_usage(usage, res.usage)
    usage["calls"] = usage.get("calls", 0) + 1
    return res.data if isinstance(res.data, dict) else None


async def summarise_chapter(engine: Engine, utts: list[Utterance], by_index: dict[int, Utterance], lang: str,
                            plan: Plan, opts: Options, order: list[Utterance] | None = None,
                            shown: list[Utterance] | None = None) -> dict[str, Any]:
    """One chapter → verified items; JSON-serialisable so a job can checkpoint it. ``shown``: what the model
    reads of the chapter (condensed), when not all of it."""
    t0 = time.perf_counter()
    usage: dict[str, Any] = {}
    condensed = shown is not None and shown is not utts
    shown = shown or utts
    speakers = list(dict.fromkeys(u.speaker for u in shown))
    line_ids = [u.index for u in shown]
    lines = prompts.render_lines(shown, opts.max_prompt_chars)
    msgs = prompts.chapter_messages(lang, lines, plan.focus, plan.topic, digest=condensed,
                                    view_text=opts.digest_view_text)
    schema = digest_schema(speakers, line_ids, view_text=opts.digest_view_text) if condensed else \
        chapter_schema(speakers, line_ids)
    answer = await _ask(engine, msgs, schema, opts.condensed_max_tokens if condensed else opts.max_tokens, usage)
    data = answer or {}
    checker = Checker(by_index, {u.index for u in utts}, {u.speaker for u in utts}, order or [])
    stats = VerifyStats()
    # code's reading of the chapter (regexes over every line: 0.4-1.6 s a chapter of a 45k meeting) runs in a
    # worker thread: jobs run on the server's event loop
    good, failures = await asyncio.to_thread(verify_items, checker, data, stats)
    repair_s = 0.0
    repaired = {k: 0 for k in KINDS}
    if failures and opts.repair:
        t1 = time.perf_counter()
        fixed = await _ask(engine, prompts.repair_messages(msgs, data, lang, failures),
                           repair_schema(speakers, line_ids), opts.max_tokens // 2, usage) or {}
        again, _ = await asyncio.to_thread(verify_items, checker, fixed, VerifyStats())
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
        await asyncio.to_thread(_add_extractive, checker, utts, good, order or utts)
    summary = clause(str(data.get("summary") or "").strip(), 200) or fallback_summary(shown, 120)
    return {
        "start_line": utts[0].index, "end_line": utts[-1].index,
        "title": _chapter_title(str(data.get("title") or ""), utts, summary, opts.instruction),
        "summary": summary,
        **good, "dropped_by_kind": dropped, "verification": stats.to_dict(),
        "usage": usage, "seconds": round(time.perf_counter() - t0, 2), "repair_seconds": round(repair_s, 2),
        "model_failed": answer is None, "model_error": usage.pop("error", None),
        "chars_shown": sum(len(u.text) for u in shown), "chars": sum(len(u.text) for u in utts),
    }


def _condensed_chapters(chars: int, opts: Options, slots: int) -> int:
    """How many chapters a condensed meeting gets: about one per ``condensed_chapter_chars``, rounded down to a
    multiple of the slots working on them, so the last wave of chapter calls does not run with slots idle (10
    chapters on 4 slots ran as 4 + 4 + 2)."""
    n = min(opts.condensed_max_chapters, max(1, -(-chars // max(1, opts.condensed_chapter_chars))))
    return n - n % slots if n >= slots else n


def _chapter_title(title: str, utts: list[Utterance], summary: str, instruction: str | None) -> str:
    """The model's title when the chapter's words support it; never the instruction echoed back."""
    title = clause(title.strip().strip("《》“”\"'"), 20)
    text = "".join(u.text for u in utts)
    echoed = bool(instruction) and (support(title, instruction or "") >= 0.5 or title in (instruction or ""))
    if title and not echoed and support(title, text) >= 0.4:
        return title
    return clause(summary, 15) if summary and support(clause(summary, 15), text) >= 0.4 else fallback_summary(utts, 15)


def _add_extractive(checker: Checker, utts: list[Utterance], good: dict[str, list[dict[str, Any]]],
                    order: list[Utterance]) -> None:
    """Code-found decisions and action items beside the model's (an item citing a line already used is skipped),
    and a code-worded view for the chapter's main speakers the model gave none (views.py)."""
    pos = {u.index: p for p, u in enumerate(order)}
    lo, hi = pos[utts[0].index], pos[utts[-1].index]
    context = order[max(0, lo - 2):hi + 3]  # neighbours: who answers ``好的`` to a ``你…`` just after the chapter
    size = sum(len(u.text) for u in utts)
    # 6 per ~2,400 characters, as in a normal chapter: a fixed cap in a big (condensed) chapter was filled by early
    # candidates and lost the late ones (2 of 16 gold action items in bench/minutes_long.py)
    found = extractive_items(context, checker.people, per_kind=max(6, -(-size // 400)))
    heard = {v["speaker"] for v in good["views"]}
    found["views"] = code_views(utts, heard, max(0, VIEW_SPEAKERS - len(heard)))
    for kind, items in found.items():
        used = {i for x in good[kind] for i in x["lines"]}
        for item in items:
            if not set(item["lines"]) <= checker.allowed:
                continue
            if set(item["lines"]) & used and kind != "decisions":
                continue
            fixed, _ = checker.check(kind, item)
            if fixed is None:
                continue
            fixed = {**fixed, "source": "extractive"}
            if kind == "decisions":  # the speaker's own decision sentence beats the model's wording of it: a model
                # paraphrase can flip its meaning (``南京不办`` where the line says ``两场都办``)
                twins = [x for x in good[kind] if set(x["lines"]) & set(fixed["lines"]) and not x.get("source")]
                if set(fixed["lines"]) & used and not twins:
                    continue
                good[kind] = [x for x in good[kind] if not any(x is t for t in twins)]
            good[kind].append(fixed)
            used |= set(fixed["lines"])


async def overview(engine: Engine, chapters: list[dict[str, Any]], lang: str, usage: dict[str, Any]
                   ) -> tuple[str, str]:
    data = await _ask(engine, prompts.overview_messages(lang, chapters), overview_schema(), 500, usage) or {}
    usage.pop("error", None)
    title = clause(str(data.get("title") or "").strip(), 30)
    summary = clause(str(data.get("summary") or "").strip(), 400)
    if not summary:
        summary = clause("；".join(c["summary"] for c in chapters), 400)
    return title or chapters[0]["title"], summary


def _same(a: str, b: str, loose: bool = False) -> bool:
    """Two items say the same thing (numbers aside: a corrected number is the same item). ``loose``: one
    contains most of the other (action items of one owner)."""
    a, b = NUMBER.sub("", a), NUMBER.sub("", b)
    pick = max if loose else min
    return a == b or pick(support(a, b), support(b, a)) >= 0.6


def _dedupe(items: list[dict[str, Any]], key: str, owner: bool = False) -> list[dict[str, Any]]:
    """One item per fact; of two that share a line or say the same thing the later-cited one wins, and the
    model's wording beats a code-found sentence."""
    out: list[dict[str, Any]] = []
    for item in items:
        twin = next((x for x in out if (not owner or x["owner"] == item["owner"]) and
                     (set(x["lines"]) & set(item["lines"]) or _same(x[key], item[key], owner))), None)
        if twin is None:
            out.append(item)
            continue
        keep = item if (max(item["lines"]) > max(twin["lines"]) and NUMBER.search(item[key])) or \
            (twin.get("source") and not item.get("source")) else twin
        out[out.index(twin)] = keep
    return out


def merge(chapters: list[dict[str, Any]], speakers_order: list[str]) -> dict[str, Any]:
    views: dict[str, list[dict[str, Any]]] = {}
    decisions: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for n, ch in enumerate(chapters):
        for v in ch["views"]:
            pts = views.setdefault(v["speaker"], [])
            if all(p["text"] != v["text"] for p in pts):
                pts.append({"text": v["text"], "lines": v["lines"], "chapter": n, **_src(v)})
        decisions += [{"text": d["text"], "lines": d["lines"], **_src(d)} for d in ch["decisions"]]
        actions += [{"owner": a["owner"], "task": a["task"], "due": (a.get("due") or "").strip() or None,
                     "lines": a["lines"], **_src(a)} for a in ch["action_items"]]
    order = {s: i for i, s in enumerate(speakers_order)}
    return {"views": [{"speaker": s, "points": views[s]} for s in sorted(views, key=lambda s: order.get(s, 1 << 30))],
            "decisions": _dedupe(decisions, "text"), "action_items": _dedupe(actions, "task", owner=True)}


def ref(u: Utterance) -> dict[str, Any]:
    """Where an utterance is in the user's file: its 1-based line and/or its timestamp, and who spoke."""
    out: dict[str, Any] = {"index": u.index, "speaker": u.speaker}
    if u.line is not None:
        out["line"] = u.line
    if u.start is not None:
        out["time"] = format_time(u.start)
    return out


def add_refs(merged: dict[str, Any], chapters: list[dict[str, Any]], by_index: dict[int, Utterance]) -> None:
    """Each cited item gets ``refs`` (the user's own line numbers / timestamps) beside the utterance indices."""
    for v in merged["views"]:
        for p in v["points"]:
            p["refs"] = [ref(by_index[i]) for i in p["lines"]]
    for item in [*merged["decisions"], *merged["action_items"]]:
        item["refs"] = [ref(by_index[i]) for i in item["lines"]]
    for c in chapters:
        c["refs"] = [ref(by_index[c["start_line"]]), ref(by_index[c["end_line"]])]


def counts(merged: dict[str, Any], dropped: dict[str, int]) -> dict[str, int]:
    """What the minutes show, counted from the lists themselves (the CLI's summary line prints these).
    ``from_code``: items code found, or worded (a view the model copied), rather than the model."""
    points = [p for v in merged["views"] for p in v["points"]]
    return {"views": len(points), "decisions": len(merged["decisions"]),
            "action_items": len(merged["action_items"]),
            "from_code": sum(1 for x in [*merged["decisions"], *merged["action_items"], *points] if x.get("source")),
            "dropped": int(dropped.get("total", 0))}


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
        add_usage(usage, ch["usage"])
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
    total_chars = sum(len(u.text) for u in utts)
    reading = Reading(total_chars, opts.read_chars, bool(opts.read_chars) and total_chars > opts.read_chars)
    slots = max(1, opts.concurrency or max(engine.info.slots, 4))  # upstreams report 1 slot
    if reading.condensed:
        n = _condensed_chapters(total_chars, opts, slots)
        parts = await asyncio.to_thread(segment, utts, target_chars=-(-total_chars // n), max_chapters=n,
                                        max_utts=len(utts))  # the model sees a digest: no cap on utterances per chapter
        shares = chapter_budgets(parts, opts.read_chars)
    else:
        parts = await asyncio.to_thread(segment, utts, target_chars=opts.chapter_chars, max_chapters=opts.max_chapters,
                                        max_utts=opts.max_utts)
        shares = [0] * len(parts)
    rarity = await asyncio.to_thread(Rarity.of, utts) if reading.condensed else None
    timings["filter_and_segment"] = time.perf_counter() - t0
    report(0.05, f"分章完成：{len(parts)} 章" + ("（长会议：模型阅读精简稿，代码通读全文）" if reading.condensed else ""))
    by_index = {u.index: u for u in transcript.utterances}
    results: dict[int, dict[str, Any]] = dict(done or {})
    sem = asyncio.Semaphore(slots)
    t1 = time.perf_counter()

    async def run_one(i: int) -> None:
        async with sem:
            shown = await asyncio.to_thread(reading.shown, parts[i], shares[i], rarity)
            res = await summarise_chapter(engine, parts[i], by_index, lang, plan, opts, transcript.utterances,
                                          shown)
        results[i] = res
        if on_chapter:
            on_chapter(i, res)
        report(0.05 + 0.8 * len(results) / len(parts), f"章节摘要 {len(results)}/{len(parts)}")

    await asyncio.gather(*(run_one(i) for i in range(len(parts)) if i not in results))
    timings["chapters"] = time.perf_counter() - t1
    chapters = [results[i] for i in range(len(parts))]
    if all(c["model_failed"] for c in chapters):
        reason = next((c["model_error"] for c in chapters if c.get("model_error")), "no valid answer")
        raise EngineError(f"The model failed on every chapter of the meeting, so no minutes were written: {reason}")
    report(0.87, "合并与总体摘要")
    t2 = time.perf_counter()
    usage: dict[str, int] = {}
    title, summary = await overview(engine, chapters, lang, usage)
    timings["overview"] = time.perf_counter() - t2
    verification, chapter_usage, dropped = _total_stats(chapters)
    add_usage(usage, chapter_usage)
    merged = merge(chapters, transcript.speakers)
    add_refs(merged, chapters, by_index)
    timings["total"] = time.perf_counter() - t0
    report(1.0, "完成")
    meta = dict(transcript.meta)
    return {
        "title": opts.title or meta.get("title") or title, "summary": summary,
        "chapters": [{"title": c["title"], "start_line": c["start_line"], "end_line": c["end_line"],
                      "summary": c["summary"], "refs": c["refs"]} for c in chapters],
        **merged, "dropped": dropped, "verification": verification, "counts": counts(merged, dropped),
        "meta": meta, "attendees": meta.get("attendees") or transcript.speakers,
        "speakers": transcript.speakers, "utterances": len(transcript.utterances), "covered_utterances": len(utts),
        "language": lang, "instruction": plan.to_dict(),
        "stats": {"timings_s": {k: round(v, 2) for k, v in timings.items()},
                  "chapter_seconds": [c["seconds"] for c in chapters],
                  "repair_seconds": round(sum(c["repair_seconds"] for c in chapters), 2),
                  "usage": usage, "chapters_model_failed": sum(1 for c in chapters if c["model_failed"]),
                  "read": {"chars": total_chars, "chars_shown_to_model": sum(c.get("chars_shown", c.get("chars", 0))
                                                                             for c in chapters),
                           "condensed": reading.condensed, "budget_chars": reading.budget}},
    }
