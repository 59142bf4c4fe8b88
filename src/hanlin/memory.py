"""Keeping a long-running process's resident memory flat under glibc's allocator.

Model runtimes (onnxruntime, CTranslate2, torch) allocate and free activation buffers of tens of megabytes for every
page or audio chunk. glibc serves them from its heap once its mmap threshold has crept up (it rises after each
large free, up to 32 MB), and freed heap pages stay resident: RSS then only ever grows. Fixing the threshold low
instead (mallopt) was measured and rejected: OCR took 3× as long, the kernel zeroing fresh pages for each buffer.
Heavy work therefore calls :func:`release_free_memory` after each chunk or page.

The server as a whole does the same on a timer. A soak of mixed requests (bench/soak.py) showed RSS rising while
Python's own objects (tracemalloc) stayed level: glibc kept what request threads had freed (``fordblks`` grew from
120 to 246 MB in five minutes), because a free block inside an arena only goes back to the kernel when it sits at
the arena's top. ``malloc_trim`` hands back every whole free page in every arena. :class:`HeapTrimmer` calls it in a
worker thread every ``HANLIN_MALLOC_TRIM_S`` seconds when enough is free to matter; ``GET /health`` shows the heap
and what was trimmed.

Only glibc has these calls; elsewhere (musl, macOS) every function here is a no-op and the stats are ``None``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hanlin.limits import MB

log = logging.getLogger(__name__)

TRIM_WHEN_FREE_MB = 16.0  # below this much free heap a trim is not worth its pass over the arenas


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def process_memory() -> dict[str, float]:
    """This process's resident memory from /proc/self/status, in MB (0 where the kernel does not say)."""
    fields = {"VmRSS": "rss_mb", "RssAnon": "anon_mb", "RssFile": "file_mb", "VmHWM": "peak_rss_mb"}
    out = dict.fromkeys(fields.values(), 0.0)
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in fields:
                out[fields[key]] = round(int(rest.split()[0]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return out


def _libc() -> Any | None:
    try:
        lib = ctypes.CDLL(None)  # the process's own symbols: glibc's malloc when it is the allocator
        lib.mallinfo2.restype = _MallInfo2
        lib.malloc_trim.argtypes = [ctypes.c_size_t]
        lib.malloc_trim.restype = ctypes.c_int
        return lib
    except (OSError, AttributeError):  # not glibc, or glibc < 2.33 (no mallinfo2)
        return None


_LIBC = _libc()


def heap_stats() -> dict[str, float] | None:
    """glibc's view of its heap in MB: ``in_use`` (live allocations), ``free`` (freed blocks: resident until trimmed,
    and a block smaller than a page between live ones cannot be trimmed), ``mmapped`` (large blocks, returned on
    free). ``None`` where malloc is not glibc's."""
    if _LIBC is None:
        return None
    mi = _LIBC.mallinfo2()
    return {"in_use_mb": round(mi.uordblks / MB, 1), "free_mb": round(mi.fordblks / MB, 1),
            "mmapped_mb": round(mi.hblkhd / MB, 1)}


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (after each chunk or page of heavy work)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def trim() -> float:
    """Return whole free heap pages to the kernel; the MB resident memory shrank by (0.0 where unsupported).
    malloc's own books still count those pages as free (``free_mb``): they are only no longer resident."""
    if _LIBC is None:
        return 0.0
    before = process_memory()["rss_mb"]
    _LIBC.malloc_trim(0)  # ctypes releases the GIL for the call
    return max(0.0, before - process_memory()["rss_mb"])


@dataclass
class TrimStats:
    trims: int = 0
    trimmed_mb: float = 0.0


class HeapTrimmer:
    """Every ``every_s`` seconds, if at least :data:`TRIM_WHEN_FREE_MB` of the heap is free, trim it off the event
    loop. ``every_s`` = 0 turns it off."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.stats = TrimStats()
        self._task: asyncio.Task[None] | None = None

    def due(self) -> bool:
        heap = heap_stats()
        return heap is not None and heap["free_mb"] >= TRIM_WHEN_FREE_MB

    def trim_now(self) -> float:
        """One trim (the loop runs one tick at a time, so trims never overlap)."""
        freed = trim()
        self.stats.trims += 1
        self.stats.trimmed_mb += freed
        return freed

    def _tick(self) -> None:
        if self.due():
            log.debug("malloc_trim returned %.1f MB", self.trim_now())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:  # in a thread: mallinfo2 walks every free chunk (7 ms for 200k of them), malloc_trim every arena
                await asyncio.to_thread(self._tick)
            except Exception:  # noqa: BLE001 - housekeeping must never stop the server
                log.exception("malloc_trim failed")

    async def start(self) -> None:
        if self.every_s > 0 and _LIBC is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="heap-trimmer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def report(self) -> dict[str, Any] | None:
        """The heap and the trims so far (call it off the event loop: see ``_loop``)."""
        heap = heap_stats()
        if heap is None:
            return None
        return {**heap, "trim_every_s": self.every_s, "trims": self.stats.trims,
                "trimmed_mb": round(self.stats.trimmed_mb, 1)}
