"""Quotas: requests/minute and tokens/minute per key and per tenant, monthly token budgets.

Admission (before any generation) reserves what a chat request may cost — its real prompt token count (the
engine tokenizes the templated prompt; engines that cannot tokenize get a safe upper bound, UTF-8 bytes) plus
``max_tokens`` — in the tokens/minute window and against the monthly budget, each in one atomic step of the
shared limiter (in process, or in Redis for several nodes); a request is admitted only while
``spent + reserved + its cost <= limit``. After generation the reservation is settled to the real token count.
So spent <= limit holds under any concurrency, as long as a request cannot outgrow its reservation (max_tokens is
enforced by the engine; requests without max_tokens under a token quota get ``quota_default_max_tokens``).
Then one request is taken from the tenant's and the key's requests/minute windows.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from hanlin.errors import RateLimited
from hanlin.platform.limits import UNLIMITED, LocalRateLimiter, RateLimiter
from hanlin.platform.tables import api_keys_table, tenants_table
from hanlin.platform.usage import UsageMeter, month_start, next_month_start
from hanlin.principal import Principal
from hanlin.store.db import Store

MINUTE = 60.0
LIMITS_TTL_S = 2.0      # quota edits made by another process (the CLI) apply within this
BUDGET_REFRESH_S = 30.0  # month totals are re-read from the database (other nodes) this often
HOLD_MAX_S = 600.0       # a budget hold older than this is dropped (its request died without a usage row)
DEFAULT_COMPLETION_ESTIMATE = 256  # reserved for a request without max_tokens when no quota caps it


@dataclass
class Entry:
    """One reserved entry in a limiter window."""

    key: str
    entry: str
    cost: int
    window_s: float
    kind: str  # "tpm" | "budget"


@dataclass
class Reservation:
    """What one running request reserved (tokens/minute and monthly budget entries), settled when it ends."""

    tokens: int
    entries: list[Entry] = field(default_factory=list)
    released: bool = False


@dataclass(frozen=True)
class Limits:
    rpm: int | None = None
    tpm: int | None = None
    monthly_tokens: int | None = None


class QuotaService:
    def __init__(self, store: Store, limiter: RateLimiter, meter: UsageMeter) -> None:
        self.store = store
        self.limiter = limiter
        self.meter = meter
        self._limits: dict[str, tuple[float, Limits]] = {}
        self._month: dict[str, tuple[float, float, int]] = {}  # scope -> (month start, read at, tokens)
        self._lock = threading.Lock()
        self._shared = not isinstance(limiter, LocalRateLimiter)  # Redis: several nodes share the windows

    # --- limits --------------------------------------------------------------------------------------------
    def invalidate(self) -> None:
        self._limits.clear()

    def limits(self, scope: str) -> Limits:
        """scope = 't:<tenant>' or 'k:<key id>'."""
        hit = self._limits.get(scope)
        t = time.monotonic()
        if hit and t - hit[0] < LIMITS_TTL_S:
            return hit[1]
        table = tenants_table if scope.startswith("t:") else api_keys_table
        with self.store.connect() as conn:
            r = conn.execute(sa.select(table.c.rpm, table.c.tpm, table.c.monthly_tokens)
                             .where(table.c.id == scope[2:])).first()
        lim = Limits(r.rpm, r.tpm, r.monthly_tokens) if r else Limits()
        self._limits[scope] = (t, lim)
        return lim

    def _scopes(self, principal: Principal) -> list[tuple[str, str]]:
        out = [(f"t:{principal.tenant_id}", f"tenant '{principal.tenant_id}'")]
        if principal.key_id:
            out.append((f"k:{principal.key_id}", f"API key {principal.key_id}"))
        return out

    # --- monthly budgets -------------------------------------------------------------------------------------
    def month_tokens(self, scope: str) -> int:
        start = month_start()
        with self._lock:
            cached = self._month.get(scope)
            if cached and cached[0] == start and time.monotonic() - cached[1] < BUDGET_REFRESH_S:
                return cached[2]
        tenant, key = (scope[2:], None) if scope.startswith("t:") else (None, scope[2:])
        if key:
            with self.store.connect() as conn:
                tenant = conn.execute(sa.select(api_keys_table.c.tenant_id)
                                      .where(api_keys_table.c.id == key)).scalar()
        used = self.meter.tokens_since(start, tenant_id=tenant or "", key_id=key)
        with self._lock:
            self._month[scope] = (start, time.monotonic(), used)
        return used

    # --- admission and charging ------------------------------------------------------------------------------
    def has_token_limits(self, principal: Principal) -> bool:
        return any(lim.tpm is not None or lim.monthly_tokens is not None
                   for lim in (self.limits(scope) for scope, _ in self._scopes(principal)))

    def admit(self, principal: Principal, estimate: int = 0) -> Reservation:
        """Raise RateLimited (429 + Retry-After) when the caller is over any limit; else reserve ``estimate``
        tokens in every tokens/minute window and monthly budget (settled by :meth:`charge` or dropped by
        :meth:`release`) and take one request from the requests/minute windows."""
        scopes = self._scopes(principal)
        held = Reservation(max(0, estimate))
        try:
            self._reserve_budgets(scopes, held)
            for scope, who in scopes:
                lim = self.limits(scope)
                if lim.tpm is not None:
                    ok, wait, entry = self.limiter.reserve(f"tpm:{scope}", lim.tpm, MINUTE, held.tokens)
                    if not ok:
                        raise RateLimited(f"Tokens per minute limit of {who} ({lim.tpm}) reached: this request "
                                          f"may use up to {held.tokens} tokens (prompt + max_tokens); retry in "
                                          f"{wait:.0f} s or lower max_tokens.", retry_after=wait,
                                          code="tokens_per_minute_exceeded")
                    held.entries.append(Entry(f"tpm:{scope}", entry, held.tokens, MINUTE, "tpm"))
            for scope, who in scopes:
                lim = self.limits(scope)
                if lim.rpm is not None:
                    ok, wait = self.limiter.hit(f"rpm:{scope}", lim.rpm, MINUTE, 1)
                    if not ok:
                        raise RateLimited(f"Requests per minute limit of {who} ({lim.rpm}) reached; retry in "
                                          f"{wait:.0f} s.", retry_after=wait, code="requests_per_minute_exceeded")
        except BaseException:
            self.release(held)
            raise
        return held

    def _reserve_budgets(self, scopes: list[tuple[str, str]], held: Reservation) -> None:
        month = month_start()
        for scope, who in scopes:
            budget = self.limits(scope).monthly_tokens
            if budget is None:
                continue
            left = budget - self.month_tokens(scope)  # charged so far (database); in-flight holds are in the window
            key = f"hold:{scope}:{int(month)}"
            ok, _, entry = (self.limiter.reserve(key, left, HOLD_MAX_S, held.tokens) if left > 0
                            else (False, 0.0, ""))
            if not ok:
                raise RateLimited(f"The monthly token budget of {who} ({budget}) has no room for this request (up "
                                  f"to {held.tokens} tokens: prompt + max_tokens; the rest is spent or held by "
                                  "requests still running); it renews on the 1st (UTC), an admin can raise it, or "
                                  "lower max_tokens.", retry_after=max(1.0, next_month_start() - time.time()),
                                  code="monthly_budget_exceeded")
            held.entries.append(Entry(key, entry, held.tokens, HOLD_MAX_S, "budget"))

    def held(self, scope: str) -> int:
        """Tokens reserved by running requests (and recently settled ones, see :meth:`charge`) in a budget."""
        used = getattr(self.limiter, "used", None)
        return int(used(f"hold:{scope}:{int(month_start())}", HOLD_MAX_S)) if used else 0

    def release(self, held: Reservation | None) -> None:
        """Drop a reservation whose request ended without charging (refused, failed before any tokens)."""
        if held is None or held.released:
            return
        held.released = True
        for e in held.entries:
            self.limiter.settle(e.key, e.entry, e.cost, 0, e.window_s)

    def charge(self, principal: Principal, tokens: int, held: Reservation | None = None) -> None:
        """Count a finished request's real tokens: settle its reservation to them (or add them to the windows
        when it reserved nothing, e.g. office app routes, checked before and charged after)."""
        settled = {e.key for e in held.entries if e.kind == "tpm"} if held and not held.released else set()
        if held is not None and not held.released:
            held.released = True
            # a settled budget entry stays in the hold window until every node's cached month total (re-read
            # every BUDGET_REFRESH_S) includes the usage row just written, so no node counts it as free meanwhile
            linger = BUDGET_REFRESH_S + 1 if self._shared else 0.0
            for e in held.entries:
                if e.kind == "tpm":
                    self.limiter.settle(e.key, e.entry, e.cost, tokens, e.window_s)
                else:
                    self.limiter.settle(e.key, e.entry, e.cost, tokens if linger else 0, e.window_s, linger)
        if tokens <= 0:
            return
        for scope, _ in self._scopes(principal):
            if self.limits(scope).tpm is not None and f"tpm:{scope}" not in settled:
                self.limiter.hit(f"tpm:{scope}", UNLIMITED, MINUTE, tokens)
            with self._lock:
                cached = self._month.get(scope)
                if cached and cached[0] == month_start():
                    self._month[scope] = (cached[0], cached[1], cached[2] + tokens)
