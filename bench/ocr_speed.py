"""OCR speed on this machine: seconds per A4 page and CER at 150 and 300 dpi (two-column pages of real news text,
scanned at 300 dpi as an image-only PDF; the 150-dpi row renders them at 150 dpi, what a 150-dpi scan gives).

Memory over a long scan is measured in a fresh process by ``bench/ocr_memory.py`` (this process holds the test
pages and has OCR'd at two resolutions, so its RSS says little).

    HANLIN_THREADS=2 python bench/ocr_speed.py [--pages 2] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
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
    # the 150-dpi row: the same pages scanned at 150 dpi (each image halved)
    scans = {150: pdf_bytes([p.image.resize((p.image.width // 2, p.image.height // 2)) for p in pages], dpi=150),
             300: scan}
    for dpi in (150, 300):
        t0 = time.perf_counter()
        done = list(ocr_pages(scans[dpi], "scan.pdf", OcrLimits(dpi=dpi), None, threads))
        secs = (time.perf_counter() - t0) / len(done)
        err = sum(cer(p.text, d.text) * len(p.text) for p, d in zip(pages, done, strict=True)) / sum(
            len(p.text) for p in pages)
        results[dpi] = secs
        print(f"  {dpi} dpi: {secs:.1f} s/page, CER {err:.2%}, RSS {rss_mb():.0f} MB (peak {peak_mb():.0f} MB)",
              flush=True)
    print(f"\nOCR speed · load average {os.getloadavg()[0]:.1f} (times are upper bounds on a busy machine)")
    print(f"{'dpi':>5} {'s/page':>8}")
    for dpi, secs in results.items():
        print(f"{dpi:>5} {secs:>8.1f}")


if __name__ == "__main__":
    main()
