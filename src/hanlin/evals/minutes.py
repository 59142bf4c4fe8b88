"""Meeting-minutes suites: VCSum (Chinese) and QMSum (English).

The minutes' overall ``summary`` is scored with ROUGE-1/2/L F1 against the reference overall summary
(VCSum ``overall_summary``; QMSum the answer to the general query "Summarize the whole meeting."), beside the
lead-300 baseline on the same meetings (first 300 characters of the transcript for Chinese, first 300 words for
English). Tokenisation as in ``shared/eval/vcsum/README.txt``: jieba + rouge-chinese; English: lower-cased words.
Also reported: the share of cited line indices that verify (exist, and for views are the speaker's own), items
dropped by verification, and seconds per meeting.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from hanlin.apps.minutes.pipeline import Options, make_minutes
from hanlin.apps.minutes.transcript import Transcript, parse_json_utterances
from hanlin.config import MINUTES_READ_CHARS
from hanlin.errors import BadRequest, NotFound
from hanlin.evals.base import EvalContext, EvalResult, get_suite, suite

LEAD = 300
VCSUM_PUBLISHED = {  # shared/eval/vcsum/README.txt: LongBench zero-shot ROUGE-L on its own 200-sample VCSum set
    "GPT-3.5-Turbo-16k (LongBench subset)": {"rouge_l": 0.160},
    "ChatGLM3-6B-32k (LongBench subset)": {"rouge_l": 0.178},
    "InternLM-7B-8k (LongBench subset)": {"rouge_l": 0.124},
}
QMSUM_PUBLISHED = {  # shared/eval/qmsum/README.txt: LongBench ROUGE-L on its 200-query QMSum subset
    "GPT-3.5-Turbo-16k (LongBench subset)": {"rouge_l": 0.234},
    "ChatGLM2-6B-32k (LongBench subset)": {"rouge_l": 0.240},
}


def tokenize(text: str, lang: str) -> str:
    if lang == "en":
        return " ".join(re.findall(r"[a-z0-9']+", text.lower())) or "_"
    import jieba

    return " ".join(w for w in jieba.cut(text.replace(" ", "")) if w.strip()) or "_"


def rouge(hyps: list[str], refs: list[str], lang: str) -> dict[str, float]:
    from rouge_chinese import Rouge

    scores = Rouge().get_scores([tokenize(h, lang) for h in hyps], [tokenize(r, lang) for r in refs], avg=True)
    return {"rouge_1": scores["rouge-1"]["f"], "rouge_2": scores["rouge-2"]["f"], "rouge_l": scores["rouge-l"]["f"]}


def lead(transcript: Transcript, lang: str) -> str:
    text = " ".join(u.text for u in transcript.utterances) if lang == "en" else \
        "".join(u.text for u in transcript.utterances)
    return " ".join(text.split()[:LEAD]) if lang == "en" else text.replace(" ", "")[:LEAD]


def _read_chars(ctx: EvalContext) -> int:
    """``--option read_chars=N`` (0 = the model reads every line); by default what the server does."""
    try:
        return max(0, int(ctx.options.get("read_chars", MINUTES_READ_CHARS)))
    except (TypeError, ValueError):
        raise BadRequest("--option read_chars must be a whole number of characters (0 = read everything).",
                         param="read_chars") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise NotFound(f"Eval data not found: {path}. Point HANLIN_EVAL_DATA (or --data) at shared/eval.")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def _score_meeting(ctx: EvalContext, item_id: str, transcript: Transcript, ref: str, lang: str
                         ) -> dict[str, Any]:
    read_chars = _read_chars(ctx)
    key = f"{item_id}@read{read_chars}"  # a cached answer is only reused for the same read budget
    cached = ctx.cache.get(key)
    if cached is not None:
        return dict(cached)
    t0 = time.perf_counter()
    m = await make_minutes(ctx.engine, transcript, Options(concurrency=ctx.concurrency, read_chars=read_chars))
    v = m["verification"]
    rec = {"id": item_id, "hyp": m["summary"], "ref": ref, "lead": lead(transcript, lang),
           "cited": v["cited_lines"], "cited_valid": v["cited_lines_valid"], "dropped": m["dropped"]["total"],
           "checked": v["checked"], "chapters": len(m["chapters"]), "chars": transcript.chars,
           "chars_shown": m["stats"]["read"]["chars_shown_to_model"],
           "seconds": round(time.perf_counter() - t0, 1)}
    ctx.cache.put(key, rec)
    return rec


async def _run(ctx: EvalContext, name: str, items: list[tuple[str, Transcript, str]], lang: str,
               published: dict[str, dict[str, float]]) -> EvalResult:
    if ctx.limit:
        items = items[:ctx.limit]
    if not items:
        raise BadRequest(f"No {name} meetings to evaluate.")
    recs = []
    for k, (item_id, transcript, ref) in enumerate(items):
        ctx.progress(k, len(items), f"meeting {item_id}")
        recs.append(await _score_meeting(ctx, item_id, transcript, ref, lang))
    ctx.progress(len(items), len(items), "scoring")
    metrics = rouge([r["hyp"] for r in recs], [r["ref"] for r in recs], lang)
    cited = sum(r["cited"] for r in recs)
    metrics["cited_valid_share"] = sum(r["cited_valid"] for r in recs) / cited if cited else 0.0
    metrics["dropped_share"] = sum(r["dropped"] for r in recs) / max(1, sum(r["checked"] for r in recs))
    metrics["seconds_per_meeting"] = sum(r["seconds"] for r in recs) / len(recs)
    baseline = rouge([r["lead"] for r in recs], [r["ref"] for r in recs], lang)
    return EvalResult(suite=name, model=ctx.model, n=len(recs), metrics=metrics,
                      baselines={f"lead-{LEAD}": baseline}, published=published,
                      details=[{k: v for k, v in r.items() if k != "lead"} for r in recs],
                      notes=f"ROUGE F1 of the minutes' overall summary vs the reference ({lang} tokenisation); "
                            f"lead-{LEAD} measured on the same meetings.")


@suite("vcsum", "VCSum Chinese meeting summarisation: ROUGE of the minutes' summary vs lead-300, citation validity",
       "vcsum", splits=("dev",))
async def vcsum(ctx: EvalContext) -> EvalResult:
    split = get_suite("vcsum").split(ctx.options)
    rows = _read_jsonl(ctx.data_dir / "vcsum" / f"vcsum_{split}.jsonl")
    items = [(f"{split}-{r['id']}", parse_json_utterances(r), r["overall_summary"]) for r in rows]
    return await _run(ctx, "vcsum", items, "zh", VCSUM_PUBLISHED)


@suite("qmsum", "QMSum English meetings: ROUGE of the minutes' summary vs the general-query answer, vs lead-300",
       "qmsum")
async def qmsum(ctx: EvalContext) -> EvalResult:
    rows = _read_jsonl(ctx.data_dir / "qmsum" / "qmsum_test.jsonl")
    items = []
    for i, r in enumerate(rows):
        general = [q["answer"] for q in r.get("general_query_list") or [] if q.get("answer")]
        if general:
            items.append((f"test-{i}", parse_json_utterances(r), general[0]))
    return await _run(ctx, "qmsum", items, "en", QMSUM_PUBLISHED)
