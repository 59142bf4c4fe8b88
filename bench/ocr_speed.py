"""OCR speed and memory on this machine: seconds per A4 page rendered at 150 and 300 dpi (a two-column page of
real news text, scanned as an image-only PDF), and peak RSS while OCR'ing a 200-page scan page by page.

A full 200-page run takes 200 × (s/page); by default the memory part OCRs the first ``--memory-pages`` pages of the
200-page PDF and prints RSS after each, which shows whether memory grows with pages (it must stay flat: pages are
streamed, one bitmap alive at a time).

    HANLIN_THREADS=2 python bench/ocr_speed.py [--pages 2] [--memory-pages 6] [--data DIR]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from hanlin.config import Settings
from hanlin.evals.base import default_data_dir
from hanlin.ocr.inputs import OcrLimits
from hanlin.ocr.service import ocr_pages
from hanlin.ocr.testset import SAMPLE_PARAGRAPHS, cer, newspaper_articles, pdf_bytes, render_page


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=2, help="pages timed at each dpi")
    ap.add_argument("--memory-pages", type=int, default=6, help="pages OCR'd from the 200-page scan")
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    data = args.data or default_data_dir()
    texts = newspaper_articles(data, 40) if (data / "rgb_zh").exists() else SAMPLE_PARAGRAPHS * 6
    pages = [render_page(f"第{i + 1}版 要闻", texts[i * 6:(i + 1) * 6], dpi=300, columns=2)
             for i in range(args.pages)]
    scan = pdf_bytes([p.image for p in pages], dpi=300)
    threads = Settings().n_threads
    print(f"{args.pages} A4 pages, two columns, {sum(len(p.text) for p in pages)} characters; {threads} threads; "
          f"RSS before OCR {rss_mb():.0f} MB")
    results = {}
    for dpi in (150, 300):
        t0 = time.perf_counter()
        done = list(ocr_pages(scan, "scan.pdf", OcrLimits(dpi=dpi), None, threads))
        secs = (time.perf_counter() - t0) / len(done)
        err = sum(cer(p.text, d.text) * len(p.text) for p, d in zip(pages, done, strict=True)) / sum(
            len(p.text) for p in pages)
        results[dpi] = secs
        print(f"  {dpi} dpi: {secs:.1f} s/page, CER {err:.2%}, RSS {rss_mb():.0f} MB (peak {peak_mb():.0f} MB)",
              flush=True)
    big = pdf_bytes([pages[i % len(pages)].image.convert("L") for i in range(200)], dpi=300)
    print(f"200-page scan: {len(big) / 1e6:.1f} MB PDF; OCR of its first {args.memory_pages} pages at 150 dpi:")
    t0 = time.perf_counter()
    for page in ocr_pages(big, "book.pdf", OcrLimits(dpi=150), list(range(1, args.memory_pages + 1)), threads):
        print(f"  page {page.page}: {page.seconds:.1f} s, RSS {rss_mb():.0f} MB, peak {peak_mb():.0f} MB", flush=True)
    per = (time.perf_counter() - t0) / args.memory_pages
    print("\nOCR speed · contended 2-core machine (other engineers' jobs running: times are upper bounds)")
    print(f"{'dpi':>5} {'s/page':>8}")
    for dpi, secs in results.items():
        print(f"{dpi:>5} {secs:>8.1f}")
    print(f"200-page scan: peak RSS {peak_mb():.0f} MB after {args.memory_pages} pages (limit 1024 MB); "
          f"the whole scan ≈ {200 * per / 60:.0f} min at {per:.1f} s/page")


if __name__ == "__main__":
    main()
