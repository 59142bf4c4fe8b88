"""Resident memory of a child process over time: run a command, sample its VmRSS every few seconds into a TSV
(seconds since start, MB), and summarise the trace. Shared by the long-run benchmarks (audio_long, ocr_memory)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_sampled(cmd: list[str], trace: Path, sample_s: float, env: dict[str, str] | None = None) -> int:
    """Run ``cmd`` (stdout discarded, stderr to ``trace``'s folder/stderr.log), writing its RSS to ``trace``."""
    t0 = time.monotonic()
    with trace.open("w") as f, (trace.parent / "stderr.log").open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        while proc.poll() is None:
            rss = rss_mb(proc.pid)
            if rss is not None:
                f.write(f"{time.monotonic() - t0:.0f}\t{rss:.0f}\n")
                f.flush()
            time.sleep(sample_s)
    return proc.returncode


def trace_summary(trace: Path) -> dict[str, object]:
    """Peak RSS and RSS at 25/50/75/100% of the run, from a trace written by ``run_sampled``."""
    rows = [line.split("\t") for line in trace.read_text().splitlines() if line.strip()]
    rss = [float(r[1]) for r in rows]
    if not rss:
        return {"rss_samples": 0, "peak_rss_mb": None, "rss_at_quarters_mb": None}
    return {"rss_samples": len(rss), "peak_rss_mb": round(max(rss)),
            "rss_at_quarters_mb": [round(rss[min(len(rss) - 1, int(q * len(rss)))]) for q in (0.25, 0.5, 0.75, 0.999)],
            "wall_s": float(rows[-1][0])}
