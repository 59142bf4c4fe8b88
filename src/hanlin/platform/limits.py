"""Rate limiting primitive: a sliding-window counter per key, atomic under concurrency.

``hit(key, limit, window_s, cost)`` adds ``cost`` to ``key``'s window if that keeps the total within ``limit``
and answers ``(allowed, retry_after_s)``. ``cost=0`` only checks that the window is not already full (used
before generation, when the token count is not known yet); charging with ``limit=UNLIMITED`` always records
(used after generation with the real token count). Several API nodes share limits through Redis
(``HANLIN_REDIS_URL``, :mod:`hanlin.platform.limits_redis`); one node uses :class:`LocalRateLimiter`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from hanlin.config import Settings

UNLIMITED = 2**62


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, window_s: float, cost: int = 1) -> tuple[bool, float]: ...

    def reserve(self, key: str, limit: int, window_s: float, cost: int) -> tuple[bool, float, str]:
        """Like :meth:`hit`, and name the entry added (to :meth:`settle` it when the real cost is known)."""
        ...

    def settle(self, key: str, entry: str, old_cost: int, new_cost: int, window_s: float,
               expire_in_s: float | None = None) -> None:
        """Change a reserved entry's cost to ``new_cost`` (0 drops it). ``expire_in_s`` makes it leave the
        window that many seconds from now instead of one window after it was reserved."""
        ...


class LocalRateLimiter:
    """In-process sliding log of (time, cost) per key behind one lock: exact, and atomic across threads and
    coroutines (no await inside the critical section)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._log: dict[str, deque[tuple[float, int, str]]] = {}
        self._used: dict[str, int] = {}
        self._hits = 0
        self._seq = 0

    def hit(self, key: str, limit: int, window_s: float, cost: int = 1) -> tuple[bool, float]:
        ok, wait, _ = self.reserve(key, limit, window_s, cost)
        return ok, wait

    def reserve(self, key: str, limit: int, window_s: float, cost: int) -> tuple[bool, float, str]:
        with self._lock:
            t = self._clock()
            log = self._log.setdefault(key, deque())
            used = self._expire(key, log, t - window_s)
            need = max(cost, 1)
            if used + need > limit:
                return False, self._retry_after(log, used, need, limit, window_s, t), ""
            self._seq += 1
            entry = str(self._seq)
            if cost > 0:
                log.append((t, cost, entry))
                self._used[key] = used + cost
            self._hits += 1
            if self._hits % 10_000 == 0:
                self._gc(t, window_s)
            return True, 0.0, entry

    def settle(self, key: str, entry: str, old_cost: int, new_cost: int, window_s: float,
               expire_in_s: float | None = None) -> None:
        with self._lock:
            log = self._log.get(key)
            if not log or not entry:
                return
            at = next((i for i, e in enumerate(log) if e[2] == entry), None)
            if at is None:
                return  # already left the window
            t, cost, _ = log[at]
            del log[at]
            self._used[key] = self._used.get(key, 0) - cost
            if new_cost > 0:
                t_new = t if expire_in_s is None else min(t, self._clock() - window_s + expire_in_s)
                at = next((j for j, e in enumerate(log) if e[0] > t_new), len(log))
                log.insert(at, (t_new, new_cost, entry))  # keep the log ordered by time
                self._used[key] = self._used.get(key, 0) + new_cost

    def used(self, key: str, window_s: float) -> int:
        with self._lock:
            log = self._log.get(key)
            return self._expire(key, log, self._clock() - window_s) if log is not None else 0

    def _expire(self, key: str, log: deque[tuple[float, int, str]], horizon: float) -> int:
        used = self._used.get(key, 0)
        while log and log[0][0] <= horizon:
            used -= log.popleft()[1]
        self._used[key] = used
        return used

    @staticmethod
    def _retry_after(log: deque[tuple[float, int, str]], used: int, need: int, limit: int, window_s: float,
                     t: float) -> float:
        for ts, c, _ in log:  # oldest first: wait until enough of the window has slid past
            used -= c
            if used + need <= limit:
                return max(0.001, ts + window_s - t)
        return window_s  # the request alone exceeds the limit

    def _gc(self, t: float, window_s: float) -> None:
        for k in [k for k, log in self._log.items() if not log or log[-1][0] <= t - max(window_s, 3600)]:
            self._log.pop(k, None)
            self._used.pop(k, None)


def make_rate_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url:
        from hanlin.platform.limits_redis import RedisRateLimiter  # written for the scale-out work

        return RedisRateLimiter(settings.redis_url)  # type: ignore[no-any-return,unused-ignore]
    return LocalRateLimiter()
