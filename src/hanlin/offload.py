"""CPU-heavy work (file extraction, chunking, formula parsing and evaluation, chart rendering, docx writing,
tokenising) runs here, never on the event loop: a small dedicated thread pool with a deadline per call, so one
heavy request cannot stall ``/health`` or other tenants' requests, and work that never finishes is answered.

A thread cannot be killed: a call past its deadline is answered (422) and its thread finishes in the background
while holding one of the pool's workers. The pool is bounded, so abandoned work can occupy at most its workers
(later CPU work then waits and is answered 503 at its own deadline); the event loop and I/O routes stay free.
The size limits in :mod:`hanlin.limits` keep any one piece of work bounded in the first place.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from hanlin.config import usable_cores
from hanlin.errors import Unavailable, UnprocessableInput

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 120.0

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, usable_cores()),
                                                          thread_name_prefix="hanlin-cpu")
        return _pool


async def run_cpu(fn: Callable[..., T], *args: Any, timeout: float | None = None, what: str = "this request",
                  **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in the CPU pool, answered within ``timeout`` seconds (HANLIN_WORK_TIMEOUT_S)."""
    timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
    fut = _executor().submit(functools.partial(fn, *args, **kwargs))
    try:
        return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
    except TimeoutError:
        if fut.cancel():  # never started: the pool was busy
            raise Unavailable(f"The server is busy with other heavy work; {what} could not start within "
                              f"{timeout:.0f} s (HANLIN_WORK_TIMEOUT_S). Retry later.", code="server_busy") from None
        raise UnprocessableInput(f"{what.capitalize()} did not finish within {timeout:.0f} s (HANLIN_WORK_TIMEOUT_S); "
                                 "send a smaller input", code="work_timeout") from None


def set_default_timeout(seconds: float) -> None:
    """The deadline used when a caller passes none (set from Settings at startup)."""
    global DEFAULT_TIMEOUT_S
    DEFAULT_TIMEOUT_S = float(seconds)
