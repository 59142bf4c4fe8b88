"""OCR quality on a test set built in code: real Chinese text (CMRC 2018 dev passages from the eval folder, or the
built-in samples) rendered with several CJK fonts and sizes, one and two columns, tables, then degraded like scans
(skew, pages turned by 90/180°, noise and blur, JPEG artefacts). Reports character error rate (CER, whitespace
ignored, full/half-width punctuation folded) and reading-order errors (consecutive paragraphs read out of order;
paragraphs not found) per variant, side by side.

    HANLIN_THREADS=2 python bench/ocr_quality.py [--dpi 150] [--pages-per-variant 1] [--height 6.5] [--only clean]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from hanlin.evals.base import default_data_dir
from hanlin.ocr.inputs import PageImage
from hanlin.ocr.service import ocr_image
from hanlin.ocr.testset import (
    SAMPLE_PARAGRAPHS,
    SAMPLE_TABLE,
    available_fonts,
    cer,
    jpeg,
    noisy,
    order_errors,
    render_page,
    skewed,
    turned,
)

# (name, font, size pt, columns, table, degradation)
VARIANTS: list[tuple[str, str, float, int, bool, str]] = [
    ("clean serif 10.5pt 1col", "noto-serif", 10.5, 1, False, "clean"),
    ("clean sans 10.5pt 2col+table", "noto-sans", 10.5, 2, True, "clean"),
    ("clean zenhei 9pt 2col", "wqy-zenhei", 9, 2, False, "clean"),
    ("clean uming 12pt 2col", "arphic-uming", 12, 2, False, "clean"),
    ("clean ukai 10.5pt 1col", "arphic-ukai", 10.5, 1, False, "clean"),
    ("skew 2° serif 2col", "noto-serif", 10.5, 2, False, "skew"),
    ("noise+blur+jpeg sans 2col", "noto-sans", 10.5, 2, False, "noisy"),
    ("turned 90° serif 2col", "noto-serif", 10.5, 2, False, "turn90"),
    ("turned 180° zenhei 2col", "wqy-zenhei", 10.5, 2, False, "turn180"),
]


def passages(data: Path | None, n: int, seed: int) -> list[str]:
    """CMRC 2018 dev contexts (Chinese Wikipedia paragraphs), or the built-in samples without the eval folder."""
    path = (data or default_data_dir()) / "cmrc2018" / "cmrc2018_dev_squad.json"
    if not path.exists():
        return SAMPLE_PARAGRAPHS * (n // len(SAMPLE_PARAGRAPHS) + 1)
    ctx = [p["context"].replace("\n", "").strip() for a in json.loads(path.read_text("utf-8"))["data"]
           for p in a["paragraphs"]]
    ctx = [c for c in ctx if 150 <= len(c) <= 600]
    random.Random(seed).shuffle(ctx)
    return ctx[:n]


def degrade(img: Any, kind: str, rng: random.Random) -> Any:
    if kind == "skew":
        return skewed(img, 2.0)
    if kind == "noisy":
        return jpeg(noisy(skewed(img, 0.7), rng), quality=40)
    if kind == "turn90":
        return turned(img, 90)
    if kind == "turn180":
        return turned(img, 180)
    return img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--height", type=float, default=6.5, help="page height in inches (A4 = 11.69)")
    ap.add_argument("--pages-per-variant", type=int, default=1)
    ap.add_argument("--only", default="", help="run variants whose name contains this")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    fonts = available_fonts()
    texts = passages(args.data, 200, args.seed)
    rng = random.Random(args.seed)
    rows = []
    k = 0
    for name, font, size, cols, table, kind in VARIANTS:
        if args.only not in name or font not in fonts:
            continue
        for _ in range(args.pages_per_variant):
            paras = texts[k:k + 6]
            k += 6
            page = render_page(paras[0][:14], paras[1:], dpi=args.dpi, columns=cols, font=font, size_pt=size,
                               table=SAMPLE_TABLE if table else None, height_in=args.height)
            img = degrade(page.image, kind, rng)
            t0 = time.perf_counter()
            result = ocr_image(PageImage(1, np.asarray(img)))
            secs = time.perf_counter() - t0
            wrong, missing = order_errors(page.paragraphs, result.text)
            rows.append({"variant": name, "cer": cer(page.text, result.text), "order_errors": wrong,
                         "missing": missing, "paragraphs": len(page.paragraphs), "chars": len(page.text),
                         "seconds": secs, "rotation": result.rotation, "skew": result.skew})
            r = rows[-1]
            print(f"  {name:<30} CER {r['cer']:6.2%}  order {wrong}/{len(page.paragraphs)}  missing {missing}  "
                  f"rot {r['rotation']:>3}  skew {r['skew']:+.1f}°  {secs:5.1f} s", flush=True)
    print(f"\nOCR quality · {args.dpi} dpi · {len(rows)} pages · contended 2-core machine (times are indicative)")
    print(f"{'variant':<30} {'CER':>7} {'order err':>9} {'missing':>8} {'chars':>6} {'s/page':>7}")
    for name, *_ in VARIANTS:
        rs = [r for r in rows if r["variant"] == name]
        if rs:
            print(f"{name:<30} {np.mean([r['cer'] for r in rs]):>7.2%} {sum(r['order_errors'] for r in rs):>9} "
                  f"{sum(r['missing'] for r in rs):>8} {sum(r['chars'] for r in rs):>6} "
                  f"{np.mean([r['seconds'] for r in rs]):>7.1f}")
    clean = [r for r in rows if r["variant"].startswith("clean")]
    if clean:
        chars = sum(r["chars"] for r in clean)
        print(f"clean pages, char-weighted CER: {sum(r['cer'] * r['chars'] for r in clean) / chars:.2%} "
              f"(goal ≤ 2%)")


if __name__ == "__main__":
    main()
