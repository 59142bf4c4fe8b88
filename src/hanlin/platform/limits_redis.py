"""Rate limits shared by several API nodes: a sliding-window log in Redis, checked and updated by one Lua
script, so the check-and-add is atomic across nodes (Redis runs a script without interleaving any other
command). With a limit of N per window, exactly N hits are admitted however many nodes race.

Per key: a sorted set ``hanlin:rl:{key}`` of ``<id>:<cost>`` members scored by the Redis server's clock in ms
(one clock for all nodes, so node clock skew does not matter), and ``hanlin:rl:{key}:sum``, the running total
of the costs in the window. The ``{key}`` hash tag keeps both on one Redis Cluster slot. Both expire one window
after the last hit. Same semantics as :class:`hanlin.platform.limits.LocalRateLimiter`: ``cost=0`` only checks
that the window is not full; the answer is ``(allowed, retry_after_s)``.

If Redis cannot be reached the request is refused with 503 (fail closed): a quota that silently stops
counting would be worse than an outage the operator sees. The calls are synchronous (about one loopback or LAN
round trip), so after a failure the limiter refuses at once for ``retry_s`` instead of letting every request
wait for a connect timeout on the event loop.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from hanlin.errors import Unavailable

PREFIX = "hanlin:rl:"

# KEYS[1] = log, KEYS[2] = sum; ARGV = limit, window_ms, cost, member id. Returns {allowed, retry_after_ms}.
HIT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local horizon = now - window
local function cost_of(member) return tonumber(string.match(member, ':(%d+)$')) or 0 end
local used
local stored = redis.call('GET', KEYS[2])
if stored then
  used = tonumber(stored)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', horizon)
  for _, m in ipairs(expired) do used = used - cost_of(m) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
else
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
  used = 0
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do used = used + cost_of(m) end
end
if used < 0 then used = 0 end
local need = cost
if need < 1 then need = 1 end
if used + need > limit then
  local retry = window
  local left = used
  local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    left = left - cost_of(entries[i])
    if left + need <= limit then
      retry = tonumber(entries[i + 1]) + window - now
      break
    end
  end
  redis.call('SET', KEYS[2], tostring(used), 'PX', window + 1000)
  return {0, tostring(retry)}
end
if cost > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. ARGV[3])
  used = used + cost
end
redis.call('SET', KEYS[2], tostring(used), 'PX', window + 1000)
redis.call('PEXPIRE', KEYS[1], window + 1000)
return {1, '0'}
"""


# KEYS[1] = log, KEYS[2] = sum; ARGV = entry id, old cost, new cost, window_ms, expire_in_ms (-1 = keep its time).
SETTLE_SCRIPT = """
local old = ARGV[1] .. ':' .. ARGV[2]
local score = redis.call('ZSCORE', KEYS[1], old)
if not score then return 0 end
redis.call('ZREM', KEYS[1], old)
local delta = -tonumber(ARGV[2])
local new = tonumber(ARGV[3])
if new > 0 then
  local s = tonumber(score)
  local e = tonumber(ARGV[5])
  if e >= 0 then
    local t = redis.call('TIME')
    local s2 = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[4]) + e
    if s2 < s then s = s2 end
  end
  redis.call('ZADD', KEYS[1], s, ARGV[1] .. ':' .. ARGV[3])
  delta = delta + new
end
local stored = redis.call('GET', KEYS[2])
if stored then
  local v = tonumber(stored) + delta
  if v < 0 then v = 0 end
  redis.call('SET', KEYS[2], tostring(v), 'KEEPTTL')
end
return 1
"""


class RedisRateLimiter:
    """``RateLimiter`` over Redis (``HANLIN_REDIS_URL``, e.g. ``redis://127.0.0.1:6379/0``)."""

    def __init__(self, url: str, *, client: Any = None, timeout_s: float = 0.5, retry_s: float = 1.0) -> None:
        import redis

        self.url, self.retry_s = url, retry_s
        self._down_until = 0.0
        self._down_reason = ""
        self._redis = client or redis.Redis.from_url(url, socket_timeout=timeout_s,
                                                     socket_connect_timeout=timeout_s)
        self._script = self._redis.register_script(HIT_SCRIPT)
        self._settle = self._redis.register_script(SETTLE_SCRIPT)

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [f"{PREFIX}{{{key}}}", f"{PREFIX}{{{key}}}:sum"]

    def hit(self, key: str, limit: int, window_s: float, cost: int = 1) -> tuple[bool, float]:
        ok, wait, _ = self.reserve(key, limit, window_s, cost)
        return ok, wait

    def reserve(self, key: str, limit: int, window_s: float, cost: int) -> tuple[bool, float, str]:
        import redis

        window_ms = max(1, int(window_s * 1000))
        if time.monotonic() < self._down_until:
            raise self._unavailable(self._down_reason)
        entry = uuid.uuid4().hex
        try:
            allowed, retry_ms = self._script(keys=self._keys(key),
                                             args=[int(limit), window_ms, max(0, int(cost)), entry])
        except redis.RedisError as e:
            self._down_until, self._down_reason = time.monotonic() + self.retry_s, str(e)
            raise self._unavailable(str(e)) from e
        if int(allowed) == 1:
            return True, 0.0, entry
        return False, max(0.001, float(retry_ms) / 1000.0), ""

    def settle(self, key: str, entry: str, old_cost: int, new_cost: int, window_s: float,
               expire_in_s: float | None = None) -> None:
        import redis

        if not entry or old_cost <= 0:
            return
        expire_ms = -1 if expire_in_s is None else max(0, int(expire_in_s * 1000))
        try:
            self._settle(keys=self._keys(key), args=[entry, int(old_cost), max(0, int(new_cost)),
                                                     max(1, int(window_s * 1000)), expire_ms])
        except redis.RedisError as e:  # the answer is made: count on the entry expiring with its window
            self._down_until, self._down_reason = time.monotonic() + self.retry_s, str(e)

    def _unavailable(self, reason: str) -> Unavailable:
        return Unavailable(f"The shared rate-limit store (Redis at {self._safe_url()}) is unreachable: {reason}. "
                           "Requests are refused until it is back (HANLIN_REDIS_URL).",
                           code="rate_limiter_unavailable", extra={"retry_after_s": self.retry_s})

    def used(self, key: str, window_s: float) -> int:
        """The cost counted in ``key``'s current window (for display; a zero-cost check does not add)."""
        ok, _ = self.hit(key, 2**62, window_s, 0)
        raw = self._redis.get(self._keys(key)[1])
        return int(float(raw)) if ok and raw is not None else 0

    def reset(self, key: str) -> None:
        self._redis.delete(*self._keys(key))

    def _safe_url(self) -> str:
        head, _, tail = self.url.rpartition("@")
        return f"{head.split('//')[0]}//***@{tail}" if head else self.url

    def close(self) -> None:
        self._redis.close()
