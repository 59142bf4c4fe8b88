"""``minutes-gold``: Chinese meetings written for Hanlin with annotated decisions, action items and owners.

The meetings (``evals/minutes_gold/``) come in the formats people upload: ``姓名：话`` with a header block,
``[hh:mm:ss] 姓名：话`` lines, a Feishu-style export (``姓名 hh:mm:ss`` then the text), SRT and WebVTT. Each has
rejected proposals, a task nobody took and, in most, a later correction of a number. Scored per meeting:

- decision recall / action recall: a gold item is found when one listed item contains its key terms (each key
  group is a list of alternatives; numbers are compared after 一千一百万 → 1100万, 百分之四 → 4%) and none of its
  `not` terms (a decision flipped by a paraphrase, ``南京不办`` for ``两场都办``, is not found);
- owner accuracy: of the found action items, the share listed with the annotated owner;
- speaker sets: the minutes' speakers equal the annotated ones exactly (header lines are not speakers);
- corrections: a corrected item carries the new number and not the stale one;
- rejected / unassigned listed: proposals turned down listed as decisions, tasks nobody took listed as actions
  (should be 0).

The suite reads only its own files (no option names a path); ``bench/minutes_gold_baseline.py --gold FOLDER``
scores another set in the same layout (a ``gold.json`` beside the transcripts).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

from hanlin.apps.minutes.pipeline import Options, make_minutes
from hanlin.apps.minutes.transcript import parse_transcript
from hanlin.errors import BadRequest, NotFound
from hanlin.evals.base import EvalContext, EvalResult, suite

GOLD_DIR = Path(__file__).parent / "minutes_gold"
_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}


def _cn_int(s: str) -> int:
    """Chinese numerals below 10^8 (一千一百万, 二十二, 十五) → int."""
    total, section, num = 0, 0, 0
    for ch in s:
        if ch in _DIGITS:
            num = _DIGITS[ch]
        elif ch in _UNITS:
            section += (num or 1) * _UNITS[ch]
            num = 0
        elif ch == "万":
            total += (section + num) * 10_000
            section, num = 0, 0
    return total + section + num


def normalize_numbers(text: str) -> str:
    """Chinese numerals → Arabic (一千一百万 → 1100万, 百分之四 → 4%, 十月十五日 → 10月15日), spaces dropped."""
    text = re.sub(r"\s+", "", text)
    text = re.sub(r"百分之([零〇一二两三四五六七八九十百\d.]+)",
                  lambda m: (str(_cn_int(m.group(1))) if not m.group(1)[0].isdigit() else m.group(1)) + "%", text)

    def conv(m: re.Match[str]) -> str:
        s = m.group(0)
        tail = "万" if s.endswith("万") and len(s) > 1 else ""
        body = s[:-1] if tail else s
        if not body:
            return s
        value = _cn_int(body)
        return (str(value) + tail) if value or body in ("零", "〇") else s

    return re.sub(r"[零〇一二两三四五六七八九十百千]+万?", conv, text)


def has_keys(text: str, keys: list[list[str]]) -> bool:
    """Every key group has one alternative in ``text`` (after number normalization)."""
    norm = normalize_numbers(text)
    return all(any(normalize_numbers(alt) in norm for alt in group) for group in keys)


def _action_text(a: dict[str, Any]) -> str:
    return f"{a.get('task', '')} {a.get('due') or ''}"


def score_meeting(gold: dict[str, Any], minutes: dict[str, Any]) -> dict[str, Any]:
    """Counts for one meeting (see the module docstring)."""
    decisions = [str(d.get("text", "")) for d in minutes.get("decisions") or []]
    actions = list(minutes.get("action_items") or [])
    found_d = [g for g in gold["decisions"] if any(has_keys(d, g["keys"]) and not any(
        normalize_numbers(w) in normalize_numbers(d) for w in g.get("not", [])) for d in decisions)]
    found_a, owner_ok = 0, 0
    missed: list[str] = [f"decision: {g['text']}" for g in gold["decisions"] if g not in found_d]
    for g in gold["actions"]:
        hits = [a for a in actions if has_keys(_action_text(a), g["keys"])]
        if not hits:
            missed.append(f"action: {g['owner']} {g['task']}")
            continue
        found_a += 1
        if any(a.get("owner") == g["owner"] for a in hits):
            owner_ok += 1
        else:
            missed.append(f"owner: {g['task']} → {hits[0].get('owner')} (gold {g['owner']})")
    corr_ok = 0
    for c in gold.get("corrections") or []:  # the clause about the corrected thing carries the new number only
        texts = decisions + [_action_text(a) for a in actions]
        parts = [p for t in texts for p in re.split(r"[，,；;。]", t) if has_keys(p, c["keys"])]
        numbered = [p for p in parts if has_keys(p, [c["new"] + c["stale"]])]
        if numbered and all(has_keys(p, [c["new"]]) and not has_keys(p, [c["stale"]]) for p in numbered):
            corr_ok += 1
    rejected = sum(1 for r in gold.get("rejected") or [] if any(has_keys(d, [r]) for d in decisions))
    unassigned = sum(1 for u in gold.get("unassigned") or []
                     if any(has_keys(_action_text(a), [u]) for a in actions))
    return {"id": gold["id"], "decisions": len(gold["decisions"]), "decisions_found": len(found_d),
            "actions": len(gold["actions"]), "actions_found": found_a, "owners_right": owner_ok,
            "speakers_exact": set(minutes.get("speakers") or []) == set(gold["speakers"]),
            "corrections": len(gold.get("corrections") or []), "corrections_right": corr_ok,
            "rejected_listed": rejected, "unassigned_listed": unassigned,
            "listed": {"decisions": len(decisions), "action_items": len(actions)}, "missed": missed}


def aggregate(recs: list[dict[str, Any]]) -> dict[str, float]:
    def ratio(a: str, b: str) -> float:
        den = sum(r[b] for r in recs)
        return sum(r[a] for r in recs) / den if den else 0.0

    return {"decision_recall": ratio("decisions_found", "decisions"),
            "action_recall": ratio("actions_found", "actions"),
            "owner_accuracy": ratio("owners_right", "actions_found"),
            "speaker_sets_exact": sum(1 for r in recs if r["speakers_exact"]) / len(recs) if recs else 0.0,
            "corrections_right": ratio("corrections_right", "corrections"),
            "rejected_listed": float(sum(r["rejected_listed"] for r in recs)),
            "unassigned_listed": float(sum(r["unassigned_listed"] for r in recs))}


def load_gold(folder: Path) -> list[dict[str, Any]]:
    path = folder / "gold.json"
    if not path.exists():
        raise NotFound(f"No gold.json in {folder}: the minutes-gold layout is gold.json beside the transcripts.")
    meetings = json.loads(path.read_text(encoding="utf-8"))["meetings"]
    for m in meetings:
        m["path"] = folder / m["file"]
    return list(meetings)


@suite("minutes-gold", "Chinese meetings with annotated decisions/actions/owners: recall, owner accuracy, speaker sets",
       "")
async def minutes_gold(ctx: EvalContext) -> EvalResult:
    meetings = load_gold(GOLD_DIR)[:ctx.limit] if ctx.limit else load_gold(GOLD_DIR)
    if not meetings:
        raise BadRequest("No meetings to evaluate.")
    done = 0
    t_all = time.perf_counter()

    async def one(g: dict[str, Any]) -> dict[str, Any]:
        nonlocal done
        cached = ctx.cache.get(g["id"])
        if cached is None:
            t0 = time.perf_counter()
            transcript = parse_transcript(Path(g["path"]).read_bytes(), g["file"])
            m = await make_minutes(ctx.engine, transcript, Options(concurrency=ctx.concurrency))
            cached = {**score_meeting(g, m), "seconds": round(time.perf_counter() - t0, 1),
                      "shown": {"decisions": [d["text"] for d in m["decisions"]],
                                "action_items": [f"{a['owner']}：{a['task']}" for a in m["action_items"]]}}
            ctx.cache.put(g["id"], cached)
        done += 1
        ctx.progress(done, len(meetings), f"meeting {g['id']}")
        return dict(cached)

    # meetings run side by side (a short meeting is one chapter: one call would leave the other slots idle)
    recs = list(await asyncio.gather(*(one(g) for g in meetings)))
    metrics = aggregate(recs)
    metrics["seconds_wall"] = round(time.perf_counter() - t_all, 1)
    return EvalResult(suite="minutes-gold", model=ctx.model, n=len(recs), metrics=metrics, details=recs,
                      items={r["id"]: r["decisions_found"] == r["decisions"] and r["owners_right"] == r["actions"]
                             for r in recs},
                      notes="Gold items are found by their key terms (numbers normalized); owner accuracy is over "
                            "the action items found. Goal: recall >= 0.8, owners >= 0.9, exact speaker sets.")
