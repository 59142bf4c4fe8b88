"""OCR newspaper benchmark: the issue's check, at scale — one messy OCR'd "newspaper" in a knowledge base, factual
questions about it, and the same articles as clean text side by side.

Articles are real Chinese news passages (RGB zh dev positives, each holding its question's answer). They are laid
out as newspaper pages and mangled the way OCR output is: a space after nearly every CJK character, hard line
breaks every 16–28 characters, numbers split from their units across lines ("1269" / "万 人"), a running header
and a page number on every page, and on every third page two articles printed side by side as columns.
The same articles also go in as one clean text. Each question goes through ``KnowledgeService.ask`` (what
`hanlin ask` runs) with the real model, and each variant reports:

- hit@5: a retrieved chunk holds the answer (RGB's answer check, spaces ignored);
- correct: the answer holds the gold answer; cited: correct and a cited chunk holds it; refused: "没有找到".

    HANLIN_THREADS=2 python bench/kb_ocr_newspaper.py [--articles 30] [--skip 0] [--model M] [--seed 7] [--save-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from hanlin.cli.common import local_engine
from hanlin.config import Settings
from hanlin.evals.base import default_data_dir
from hanlin.evals.rag import check_answer, load_rgb
from hanlin.knowledge.answer import NOT_FOUND
from hanlin.knowledge.normalize import is_cjk
from hanlin.knowledge.service import local_service
from hanlin.text import columns as display_width

PAPER = "新华日报"
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)([万亿千百元人辆吨台个名家%])")


def articles(data: Path, n: int, skip: int = 0) -> list[dict[str, Any]]:
    """RGB items with a positive passage that holds the answer (one article per question, no repeats), after the
    first ``skip`` such items."""
    out, seen = [], set()
    for it in load_rgb(data / "rgb_zh", None):
        passage = next((p for p in it["positive"] if check_answer(p, it["answer"])), None)
        if passage and passage not in seen and 80 <= len(passage) <= 600:
            seen.add(passage)
            out.append({"query": it["query"], "answer": it["answer"], "text": passage.strip()})
        if len(out) == skip + n:
            break
    return out[skip:]


def spaced(text: str, rng: random.Random) -> str:
    """OCR spacing: a space after nearly every CJK character; digits and Latin runs keep theirs."""
    return "".join(c + (" " if is_cjk(c) and rng.random() < 0.92 else "") for c in text)


def wrapped(text: str, rng: random.Random) -> list[str]:
    """Hard line breaks: each article is set in a column 16–28 Chinese characters wide (a digit or Latin letter
    takes half); about half the number+unit pairs are split across lines."""
    text = _NUMBER_UNIT.sub(lambda m: m.group(1) + ("\n" if rng.random() < 0.5 else "") + m.group(2), text)
    width = 2 * rng.randint(16, 28)
    lines: list[str] = []
    for para in text.split("\n"):
        cur, used = "", 0
        for c in spaced(para, rng):
            cur += c
            used += 0 if c == " " else display_width(c)
            if used >= width:
                lines.append(cur)
                cur, used = "", 0
        if cur.strip():
            lines.append(cur)
    return lines


def ocr_newspaper(texts: list[str], rng: random.Random, per_page: int = 3) -> str:
    pages = []
    for p, start in enumerate(range(0, len(texts), per_page)):
        day = 1 + p % 28
        header = f"{' '.join(PAPER)}    2023 年 6 月 {day} 日    第 {p + 1} 版"
        body: list[str] = []
        group = [wrapped("　　" + t, rng) for t in texts[start:start + per_page]]
        if p % 3 == 2 and len(group) >= 2:  # two articles side by side, as a two-column page OCRs
            left, right = group[0], group[1]
            col = max(display_width(x) for x in left) + 6
            for i in range(max(len(left), len(right))):
                a = left[i] if i < len(left) else ""
                b = right[i] if i < len(right) else ""
                body.append(a + " " * (col - display_width(a)) + b if b else a)
            group = group[2:]
        for lines in group:
            body.extend(lines)
        pages.append("\n".join([header, *body, f"- {p + 1} -"]))
    return "\n".join(pages) + "\n"


def squeeze(s: str) -> str:
    return re.sub(r"\s+", "", s)


async def ask_all(variant: str, doc: bytes, items: list[dict[str, Any]], settings: Settings,
                  model: str | None) -> dict[str, Any]:
    svc = local_service(settings)
    svc.create_kb("bench", variant)
    t0 = time.perf_counter()
    info = svc.add_document("bench", variant, f"{variant}.txt", doc)
    ingest_s = time.perf_counter() - t0
    engine = await local_engine(settings, model)
    rows = []
    try:
        for i, it in enumerate(items, 1):
            r = await svc.ask("bench", variant, it["query"], engine, 5)
            hit5 = any(check_answer(squeeze(h["text"]), it["answer"]) for h in r["retrieved"])
            correct = check_answer(r["answer"], it["answer"])
            cited = correct and any(check_answer(squeeze(c["text"]), it["answer"]) for c in r["citations"])
            rows.append({"query": it["query"], "answer": r["answer"][:160], "hit5": hit5, "correct": correct,
                         "cited": cited, "refused": r["answer"] == NOT_FOUND})
            print(f"  {variant} {i}/{len(items)} hit5={hit5:d} correct={correct:d} cited={cited:d} "
                  f"{r['answer'][:50]!r}", flush=True)
    finally:
        await engine.close()
    n = len(rows) or 1
    return {"variant": variant, "chunks": info["chunks"], "ingest_s": ingest_s, "rows": rows,
            **{k: sum(r[k] for r in rows) / n for k in ("hit5", "correct", "cited", "refused")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=30)
    ap.add_argument("--model", default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip", type=int, default=0, help="start after this many articles (a held-out set)")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--save-dir", type=Path, default=None, help="keep the generated texts and per-question rows")
    args = ap.parse_args()
    items = articles(args.data or default_data_dir(), args.articles, args.skip)
    rng = random.Random(args.seed)
    texts = [it["text"] for it in items]
    shuffled = texts[:]
    rng.shuffle(shuffled)  # questions are not asked in page order
    docs = {"ocr": ocr_newspaper(shuffled, rng).encode(), "clean": "\n\n".join(shuffled).encode()}
    results = []
    os.environ.setdefault("HANLIN_MODELS_DIR", str(Settings().models_dir))  # a fresh home, the cached models
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), model=args.model) if args.model else Settings(home=Path(home))
        for variant, doc in docs.items():
            results.append(asyncio.run(ask_all(variant, doc, items, settings, args.model)))
    if args.save_dir:
        args.save_dir.mkdir(parents=True, exist_ok=True)
        for variant, doc in docs.items():
            (args.save_dir / f"{variant}.txt").write_bytes(doc)
        (args.save_dir / "rows.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nOCR newspaper · {len(items)} questions · model {args.model or Settings().model}")
    print(f"{'variant':<8} {'chunks':>6} {'ingest s':>9} {'hit@5':>6} {'correct':>8} {'cited':>6} {'refused':>8}")
    for r in results:
        print(f"{r['variant']:<8} {r['chunks']:>6} {r['ingest_s']:>9.1f} {r['hit5']:>6.0%} {r['correct']:>8.0%} "
              f"{r['cited']:>6.0%} {r['refused']:>8.0%}")
    ocr, clean = results
    if clean["correct"]:
        print(f"OCR ÷ clean: hit@5 {ocr['hit5'] / max(clean['hit5'], 1e-9):.2f}x, "
              f"correct {ocr['correct'] / clean['correct']:.2f}x")


if __name__ == "__main__":
    main()
