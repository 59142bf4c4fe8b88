"""Handing freed C-heap pages back to the kernel (glibc's malloc_trim), on a timer and off the event loop."""

from __future__ import annotations

import asyncio
import gc

import pytest

from hanlin import memory as heap
from hanlin.memory import process_memory


def _resident_mb() -> float:
    return process_memory()["rss_mb"]


def _churn(mb: int) -> None:
    """Allocate ``mb`` MB in malloc'd 1000-byte blocks (too big for pymalloc) and free them all."""
    blocks = [bytearray(1000) for _ in range(mb * 1000)]
    del blocks
    gc.collect()


pytestmark = pytest.mark.skipif(heap.heap_stats() is None, reason="malloc is not glibc's")


def test_trim_returns_freed_heap_to_the_kernel() -> None:
    heap.trim()
    _churn(150)
    before = _resident_mb()
    freed = heap.trim()
    assert freed > 50, f"malloc_trim gave back {freed:.1f} MB of ~150 MB freed"
    assert _resident_mb() < before - 50


def test_stats_count_live_and_free_heap() -> None:
    keep = [bytearray(1000) for _ in range(20_000)]  # ~20 MB live
    stats = heap.heap_stats()
    assert stats is not None and stats["in_use_mb"] >= 19
    del keep


def test_trimmer_runs_on_its_timer_and_reports() -> None:
    async def run() -> heap.HeapTrimmer:
        trimmer = heap.HeapTrimmer(0.05)
        await trimmer.start()
        try:
            for _ in range(100):
                _churn(int(heap.TRIM_WHEN_FREE_MB * 2))
                await asyncio.sleep(0.06)
                if trimmer.stats.trims:
                    break
        finally:
            await trimmer.stop()
        return trimmer

    trimmer = asyncio.run(run())
    assert trimmer.stats.trims >= 1
    report = trimmer.report()
    assert report is not None and report["trims"] == trimmer.stats.trims and report["trim_every_s"] == 0.05


def test_trimmer_off_starts_nothing() -> None:
    async def run() -> bool:
        trimmer = heap.HeapTrimmer(0)
        await trimmer.start()
        started = trimmer._task is not None
        await trimmer.stop()
        return started

    assert asyncio.run(run()) is False
