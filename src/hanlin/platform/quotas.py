"""Quotas: requests/minute and tokens/minute per key and per tenant, monthly token budgets.

Admission (before any generation): the monthly budgets must have room for the request's estimated cost,
which is then held until the real tokens are charged; tokens/minute must not be used up; then one request is
taken from the tenant's and the key's requests/minute windows — atomically, so 50 simultaneous requests
against 10/minute let exactly 10 through. After generation the real token count (streaming included) is
charged. Tokens/minute is checked before and charged after, so requests already running when it is reached
may overshoot it by their own size; request limits are exact.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from hanlin.errors import RateLimited
from hanlin.platform.limits import UNLIMITED, RateLimiter
from hanlin.platform.tables import api_keys_table, tenants_table
from hanlin.platform.usage import UsageMeter, month_start, next_month_start
from hanlin.principal import Principal
from hanlin.store.db import Store

MINUTE = 60.0
LIMITS_TTL_S = 2.0      # quota edits made by another process (the CLI) apply within this
BUDGET_REFRESH_S = 30.0  # month totals are re-read from the database (other nodes) this often
HOLD_MAX_S = 600.0       # a budget hold older than this is ignored (its request died without a usage row)
DEFAULT_COMPLETION_ESTIMATE = 256  # held for a request without max_tokens


@dataclass
class Reservation:
    """Budget tokens held by one running request (dropped after HOLD_MAX_S in case it never finishes)."""

    tokens: int
    scopes: list[str]
    created: float = field(default_factory=time.monotonic)
    released: bool = False

    def stale(self) -> bool:
        return time.monotonic() - self.created > HOLD_MAX_S


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
        self._holds: dict[str, list[Reservation]] = {}

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
    def admit(self, principal: Principal, estimate: int = 0) -> Reservation:
        """Raise RateLimited (429 + Retry-After) when the caller is over any limit; else take one request and
        hold ``estimate`` tokens of the monthly budgets until :meth:`release` (after the real tokens are
        charged), so concurrent requests cannot all spend the same remainder."""
        scopes = self._scopes(principal)
        held = self._reserve_budgets(scopes, max(0, estimate))
        try:
            for scope, who in scopes:
                lim = self.limits(scope)
                if lim.tpm is not None:
                    ok, wait = self.limiter.hit(f"tpm:{scope}", lim.tpm, MINUTE, 0)
                    if not ok:
                        raise RateLimited(f"Tokens per minute limit of {who} ({lim.tpm}) reached; retry in "
                                          f"{wait:.0f} s.", retry_after=wait, code="tokens_per_minute_exceeded")
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

    def _reserve_budgets(self, scopes: list[tuple[str, str]], estimate: int) -> Reservation:
        budgets = [(scope, who, lim.monthly_tokens) for scope, who in scopes
                   if (lim := self.limits(scope)).monthly_tokens is not None]
        used = {scope: self.month_tokens(scope) for scope, _, _ in budgets}  # database reads outside the lock
        held = Reservation(estimate, [scope for scope, _, _ in budgets])
        with self._lock:  # check every budget and hold the estimate in one step
            for scope, who, budget in budgets:
                if used[scope] + self._held(scope) >= (budget or 0):
                    raise RateLimited(f"The monthly token budget of {who} ({budget}) is used up (or held by "
                                      "requests still running); it renews on the 1st (UTC) or an admin can "
                                      "raise it.", retry_after=max(1.0, next_month_start() - time.time()),
                                      code="monthly_budget_exceeded")
            for scope in held.scopes:
                self._holds.setdefault(scope, []).append(held)
        return held

    def _held(self, scope: str) -> int:
        fresh = [r for r in self._holds.get(scope, []) if not r.released and not r.stale()]
        self._holds[scope] = fresh
        return sum(r.tokens for r in fresh)

    def release(self, held: Reservation | None) -> None:
        if held is not None:
            held.released = True

    def charge(self, principal: Principal, tokens: int) -> None:
        if tokens <= 0:
            return
        for scope, _ in self._scopes(principal):
            if self.limits(scope).tpm is not None:
                self.limiter.hit(f"tpm:{scope}", UNLIMITED, MINUTE, tokens)
            with self._lock:
                cached = self._month.get(scope)
                if cached and cached[0] == month_start():
                    self._month[scope] = (cached[0], cached[1], cached[2] + tokens)
