"""The held-out check, rehearsed: a noisy two-column scanned newspaper (image-only PDF and PNG) → ``hanlin ocr``
CER in reading order, and a knowledge base built from the scan answering factual questions about it.

Articles are real Chinese news passages (RGB zh dev positives that hold their question's answer, as in
bench/kb_ocr_newspaper.py), set as a newspaper: a masthead, then each article under its own subheading, flowing
down the left column and on into the right, page after page. Pages are scanned at 200 dpi with a slight skew,
noise, blur and JPEG artefacts. Reported: CER and reading-order errors of the OCR'd pages (PDF rendered at
HANLIN_OCR_DPI, and the PNG of page 1), then hit@5, correct and cited answers of ``KnowledgeService.ask``.

    HANLIN_THREADS=2 python bench/ocr_newspaper_scan.py [--articles 12] [--skip 0] [--model M] [--no-kb]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from kb_ocr_newspaper import articles  # noqa: E402

from hanlin.cli.common import local_engine  # noqa: E402
from hanlin.config import Settings  # noqa: E402
from hanlin.evals.base import default_data_dir  # noqa: E402
from hanlin.evals.rag import check_answer  # noqa: E402
from hanlin.knowledge.answer import NOT_FOUND  # noqa: E402
from hanlin.knowledge.service import local_service  # noqa: E402
from hanlin.ocr.inputs import OcrLimits, PageImage  # noqa: E402
from hanlin.ocr.service import ocr_image, ocr_pages  # noqa: E402
from hanlin.ocr.testset import (  # noqa: E402
    cer,
    image_bytes,
    jpeg,
    noisy,
    order_errors,
    pdf_bytes,
    render_page,
    skewed,
)

DPI = 200


def subheading(text: str) -> str:
    """A headline for an article: its first clause, at most 16 characters."""
    first = re.split(r"[，。；：！？,;:]", text, maxsplit=1)[0]
    return first[:16]


def newspaper(items: list[dict[str, Any]], rng: random.Random) -> list[Any]:
    """Pages (testset.Page) of the articles, and their degraded scans."""
    flow: list[str] = []
    for it in items:
        flow.append("## " + subheading(it["text"]))
        sentences = re.findall(r"[^。！？]+[。！？]?", it["text"])
        half = max(1, len(sentences) // 2)
        flow += ["".join(sentences[:half]), "".join(sentences[half:])] if len(sentences) > 3 else [it["text"]]
    flow = [f for f in flow if f.strip()]
    pages = []
    n = 0
    while flow and n < 20:
        n += 1
        page = render_page(f"新华日报 第{n}版", flow, dpi=DPI, columns=2, font=rng.choice(["noto-serif", "noto-sans"]),
                           size_pt=10.5)
        flow = page.rest
        page.image = jpeg(noisy(skewed(page.image, rng.uniform(-0.8, 0.8)), rng, sigma=14, blur=0.7), quality=50)
        pages.append(page)
    return pages


async def ask_all(svc: Any, kb: str, items: list[dict[str, Any]], settings: Settings, model: str | None
                  ) -> list[dict[str, Any]]:
    engine = await local_engine(settings, model)
    rows = []
    try:
        for i, it in enumerate(items, 1):
            r = await svc.ask("bench", kb, it["query"], engine, 5)
            squeeze = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
            hit5 = any(check_answer(squeeze(h["text"]), it["answer"]) for h in r["retrieved"])
            correct = check_answer(r["answer"], it["answer"])
            cited = correct and any(check_answer(squeeze(c["text"]), it["answer"]) for c in r["citations"])
            pages = sorted({c.get("page") for c in r["citations"] if c.get("page")})
            rows.append({"hit5": hit5, "correct": correct, "cited": cited, "refused": r["answer"] == NOT_FOUND})
            print(f"  {i}/{len(items)} hit5={hit5:d} correct={correct:d} cited={cited:d} pages={pages} "
                  f"{r['answer'][:50]!r}", flush=True)
    finally:
        await engine.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=12)
    ap.add_argument("--skip", type=int, default=0, help="start after this many articles (a held-out set)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--no-kb", action="store_true", help="OCR only (no model)")
    ap.add_argument("--save-dir", type=Path, default=None, help="keep newspaper.pdf, page1.png and the reference")
    args = ap.parse_args()
    items = articles(args.data or default_data_dir(), args.articles, args.skip)
    rng = random.Random(args.seed)
    pages = newspaper(items, rng)
    pdf = pdf_bytes([p.image for p in pages], dpi=DPI)
    png = image_bytes(pages[0].image)
    if args.save_dir:
        args.save_dir.mkdir(parents=True, exist_ok=True)
        (args.save_dir / "newspaper.pdf").write_bytes(pdf)
        (args.save_dir / "page1.png").write_bytes(png)
        (args.save_dir / "reference.txt").write_text("\n\n".join(p.text for p in pages), encoding="utf-8")
    settings = Settings()
    print(f"{len(items)} articles on {len(pages)} pages ({DPI} dpi scans, noisy, skewed, JPEG q50)")
    t0 = time.perf_counter()
    done = list(ocr_pages(pdf, "newspaper.pdf", OcrLimits.from_settings(settings), None, settings.n_threads))
    pdf_s = time.perf_counter() - t0
    rows = []
    for p, d in zip(pages, done, strict=True):
        wrong, missing = order_errors(p.paragraphs, d.text)
        rows.append((cer(p.text, d.text), wrong, missing, len(p.paragraphs), len(p.text)))
        print(f"  PDF page {d.page}: CER {rows[-1][0]:.2%}, order errors {wrong}/{len(p.paragraphs)}, "
              f"missing {missing}, {d.seconds:.1f} s", flush=True)
    from PIL import Image

    png_page = ocr_image(PageImage(1, np.asarray(Image.open(__import__("io").BytesIO(png)).convert("RGB"))))
    png_cer = cer(pages[0].text, png_page.text)
    chars = sum(r[4] for r in rows)
    pdf_cer = sum(r[0] * r[4] for r in rows) / chars
    kb_rows: list[dict[str, Any]] = []
    if not args.no_kb:
        os.environ.setdefault("HANLIN_MODELS_DIR", str(settings.models_dir))
        with tempfile.TemporaryDirectory() as home:
            s2 = Settings(home=Path(home), model=args.model) if args.model else Settings(home=Path(home))
            svc = local_service(s2)
            svc.create_kb("bench", "scan")
            t1 = time.perf_counter()
            info = svc.add_document("bench", "scan", "newspaper.pdf", pdf)
            print(f"KB: {info['chunks']} chunks from the scan in {time.perf_counter() - t1:.0f} s")
            kb_rows = asyncio.run(ask_all(svc, "scan", items, s2, args.model))
    print(f"\nScanned newspaper · {len(items)} articles · {len(pages)} pages · contended 2-core machine")
    print(f"OCR  PDF (rendered at the scan's own resolution, at least {settings.ocr_dpi} dpi): CER {pdf_cer:.2%} (goal ≤ 3%), order errors "
          f"{sum(r[1] for r in rows)}/{sum(r[3] for r in rows)} paragraphs, missing {sum(r[2] for r in rows)}, "
          f"{pdf_s / len(pages):.1f} s/page")
    print(f"OCR  PNG page 1: CER {png_cer:.2%}, {png_page.seconds:.1f} s")
    if kb_rows:
        n = len(kb_rows)
        print(f"KB   hit@5 {sum(r['hit5'] for r in kb_rows) / n:.0%} (goal ≥ 90%)  correct "
              f"{sum(r['correct'] for r in kb_rows) / n:.0%}  cited {sum(r['cited'] for r in kb_rows) / n:.0%} "
              f"(goal ≥ 70%)  refused {sum(r['refused'] for r in kb_rows) / n:.0%}  · model {args.model or s2.model}")


if __name__ == "__main__":
    main()
