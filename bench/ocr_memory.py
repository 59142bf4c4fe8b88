"""Memory of a long OCR job, in a fresh process: ``hanlin ocr`` over a scan of N A4 pages (default 200) while its
resident memory is sampled, to show that pages are streamed (RSS flat, under 1 GB) rather than held.

The scan is built from real news text (RGB-zh in shared/eval, or the built-in sample paragraphs): two-column pages
rendered at --dpi, grayscale like a document scanner's output, written as an image-only PDF under --workdir (never
the repo). Four distinct pages repeat to make up the count; every page is read in full.

    python bench/ocr_memory.py [--pages 200] [--dpi 150] [--workdir /tmp/hanlin_ocr_mem] [--sample-s 2]

Prints one JSON line: pages, dpi, exit code, peak RSS and RSS at 25/50/75/100% of the run, seconds per page, and
characters read. Seconds per page are only meaningful on an idle machine; the RSS trace is meaningful anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rss_trace import run_sampled, trace_summary  # noqa: E402

from hanlin.evals.base import default_data_dir  # noqa: E402
from hanlin.ocr.testset import SAMPLE_PARAGRAPHS, newspaper_articles, pdf_bytes, render_page  # noqa: E402


def build_scan(path: Path, pages: int, dpi: int) -> None:
    data = default_data_dir()
    texts = newspaper_articles(data, 24) if (data / "rgb_zh").exists() else SAMPLE_PARAGRAPHS * 4
    distinct = [render_page(f"第{i + 1}版 要闻", texts[i * 6:(i + 1) * 6], dpi=dpi, columns=2).image.convert("L")
                for i in range(4)]
    path.write_bytes(pdf_bytes([distinct[i % 4] for i in range(pages)], dpi=dpi))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/hanlin_ocr_mem"))
    ap.add_argument("--sample-s", type=float, default=2)
    args = ap.parse_args()
    args.pages = max(1, min(args.pages, 1000))
    args.workdir.mkdir(parents=True, exist_ok=True)
    scan, out = args.workdir / f"scan_{args.pages}p_{args.dpi}dpi.pdf", args.workdir / "ocr.json"
    build_scan(scan, args.pages, args.dpi)
    out.unlink(missing_ok=True)
    env = {**os.environ, "HANLIN_OCR_MAX_PAGES": str(max(args.pages, 500))}
    rc = run_sampled([sys.executable, "-m", "hanlin.cli.main", "ocr", str(scan), "-o", str(out)],
                     args.workdir / "rss.tsv", args.sample_s, env)
    row: dict[str, object] = {"pages": args.pages, "dpi": args.dpi, "scan_mb": round(scan.stat().st_size / 1e6, 1),
                              "exit": rc, **trace_summary(args.workdir / "rss.tsv"),
                              "load_avg_1m": round(os.getloadavg()[0], 1)}
    if out.is_file():
        res = json.loads(out.read_text(encoding="utf-8"))
        row |= {"pages_read": len(res["pages"]), "characters": len(res["text"]),
                "s_per_page": round(res["stats"]["seconds"] / max(1, len(res["pages"])), 2)}
    print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
