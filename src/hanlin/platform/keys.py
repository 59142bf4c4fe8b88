"""API keys: shown once, sha256-hashed at rest, a visible prefix for lookup, revocable, optional expiry, scopes.

A key looks like ``hl-<prefix>-<secret>``; the database keeps the prefix (to find the row) and the sha256 of the
whole key (to check it). Secrets are never logged, stored or returned again after creation.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from hanlin.errors import BadRequest, NotFound
from hanlin.platform.audit import AuditLog
from hanlin.platform.auth import hash_secret
from hanlin.platform.key_cache import KeyCache
from hanlin.platform.tables import api_keys_table, tenants_table
from hanlin.platform.tenants import TenantStore, check_tenant_id, normalize_quota
from hanlin.principal import Principal
from hanlin.store.db import Store, now

KEY_PREFIX = "hl"
SCOPE = re.compile(r"^(model|app):[^\s]{1,200}\Z")
DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])\Z")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
TOUCH_EVERY_S = 60.0


def _finite_expiry(ts: float, given: object) -> float:
    """An expiry is a real moment: NaN/inf (``"nan"`` parses as a float) or past year 9999 is refused."""
    if not math.isfinite(ts) or ts > 253_402_300_799:
        raise BadRequest(f"Cannot use expiry {given!r}: give a duration (30d, 12h), a date or epoch seconds before "
                         "year 10000.", param="expires")
    return ts


def parse_expiry(value: str | float | None, *, at: float | None = None) -> float | None:
    """'30d' / '12h' / '90m' / an ISO date or datetime (UTC) / epoch seconds -> epoch seconds."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return _finite_expiry(float(value), value)
    text = str(value).strip()
    m = DURATION.match(text)
    if m:
        return _finite_expiry((at or time.time()) + float(m.group(1)) * UNITS[m.group(2)], value)
    try:
        return _finite_expiry(float(text), value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"Cannot read expiry '{value}': use e.g. 30d, 12h, 90m or 2026-12-31.",
                         param="expires") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def check_scopes(scopes: list[str] | None) -> list[str]:
    out = []
    for s in scopes or []:
        s = s.strip()
        if not SCOPE.match(s):
            raise BadRequest(f"Invalid scope '{s}': use model:NAME, model:*, app:NAME or app:*.", param="scopes")
        out.append(s)
    return out


def principal_scopes(scopes: list[str]) -> tuple[str, ...]:
    # The chat service checks apps as "app:<requested model>", and the requested model is itself "app:NAME".
    aliases = [f"app:{s}" for s in scopes if s.startswith("app:")]
    return tuple(scopes + aliases)


@dataclass
class ApiKey:
    id: str
    tenant_id: str
    name: str
    prefix: str
    is_admin: bool
    scopes: list[str]
    rpm: int | None
    tpm: int | None
    monthly_tokens: int | None
    created_at: float
    created_by: str | None
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= time.time():
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {"object": "api_key", **d, "display": f"{self.prefix}-…", "status": self.status}


def _row(r: Any) -> ApiKey:
    return ApiKey(r.id, r.tenant_id, r.name, r.prefix, bool(r.is_admin), json.loads(r.scopes or "[]"), r.rpm,
                  r.tpm, r.monthly_tokens, r.created_at, r.created_by, r.expires_at, r.revoked_at, r.last_used_at)


def _well_formed(token: str) -> bool:
    parts = token.split("-", 2)
    return len(parts) == 3 and parts[0] == KEY_PREFIX


class KeyStore:
    def __init__(self, store: Store, tenants: TenantStore, audit: AuditLog, cache: KeyCache | None = None) -> None:
        self.store = store
        self.tenants = tenants
        self.audit = audit
        self.cache = cache  # keys looked up recently (None: every lookup asks the database)
        self._touched: dict[str, float] = {}

    def create(self, *, tenant_id: str, actor: str, name: str = "", is_admin: bool = False,
               scopes: list[str] | None = None, expires: str | float | None = None,
               quota: dict[str, Any] | None = None) -> tuple[ApiKey, str]:
        """Returns the stored key and the full secret, which is never shown again."""
        check_tenant_id(tenant_id)
        scopes = check_scopes(scopes)
        expires_at = parse_expiry(expires)
        if expires_at is not None and expires_at <= time.time():
            raise BadRequest("The expiry is in the past.", param="expires")
        self.tenants.ensure(tenant_id, actor=actor)
        prefix = f"{KEY_PREFIX}-{secrets.token_hex(5)}"
        secret = f"{prefix}-{secrets.token_urlsafe(30)}"
        key_id = f"key_{uuid.uuid4().hex[:16]}"
        values = {"rpm": None, "tpm": None, "monthly_tokens": None, **normalize_quota(quota or {})}
        with self.store.begin() as conn:
            conn.execute(api_keys_table.insert().values(
                id=key_id, tenant_id=tenant_id, name=name, prefix=prefix, secret_hash=hash_secret(secret),
                is_admin=is_admin, scopes=json.dumps(scopes), created_at=now(), created_by=actor,
                expires_at=expires_at, **values))
        self.audit.record(actor, "key.create", tenant_id=tenant_id, target=key_id,
                          detail={"name": name, "prefix": prefix, "admin": is_admin, "scopes": scopes,
                                  "expires_at": expires_at, **values})
        return self.get(key_id), secret

    def get(self, key_id: str, tenant_id: str | None = None) -> ApiKey:
        q = sa.select(api_keys_table).where(sa.or_(api_keys_table.c.id == key_id,
                                                   api_keys_table.c.prefix == key_id))
        if tenant_id is not None:
            q = q.where(api_keys_table.c.tenant_id == tenant_id)
        with self.store.connect() as conn:
            r = conn.execute(q).first()
        if r is None:
            raise NotFound(f"No API key '{key_id}' (give its id key_… or its prefix hl-…)", param="key")
        return _row(r)

    def list(self, tenant_id: str | None = None, include_revoked: bool = True) -> list[ApiKey]:
        q = sa.select(api_keys_table).order_by(api_keys_table.c.created_at)
        if tenant_id is not None:
            q = q.where(api_keys_table.c.tenant_id == tenant_id)
        if not include_revoked:
            q = q.where(api_keys_table.c.revoked_at.is_(None))
        with self.store.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def revoke(self, key_id: str, *, actor: str, tenant_id: str | None = None) -> ApiKey:
        key = self.get(key_id, tenant_id)
        if not key.revoked_at:
            with self.store.begin() as conn:
                conn.execute(api_keys_table.update().where(api_keys_table.c.id == key.id).values(revoked_at=now()))
            if self.cache is not None:
                self.cache.changed()
            self.audit.record(actor, "key.revoke", tenant_id=key.tenant_id, target=key.id,
                              detail={"prefix": key.prefix})
        return self.get(key.id)

    def set_quota(self, key_id: str, values: dict[str, Any], *, actor: str) -> ApiKey:
        key = self.get(key_id)
        changes = normalize_quota(values)
        if not changes:
            raise BadRequest("Give at least one of rpm, tpm, monthly_tokens (0 = unlimited).")
        with self.store.begin() as conn:
            conn.execute(api_keys_table.update().where(api_keys_table.c.id == key.id).values(**changes))
        self.audit.record(actor, "key.quota", tenant_id=key.tenant_id, target=key.id, detail=changes)
        return self.get(key.id)

    def cached(self, token: str) -> Principal | Literal[False] | None:
        """Without database I/O, so the event loop may call it: the key's principal when it was looked up within the
        cache's TTL and its last-used time needs no write; False when ``token`` cannot be a key (malformed) or was
        refused within the TTL; None when :meth:`lookup` must ask the database (in a worker thread)."""
        if not _well_formed(token):
            return False
        if self.cache is None:
            return None
        hit, refused, _ = self.cache.check(hash_secret(token))
        if refused:
            return False
        if hit is None or time.time() - self._touched.get(hit.key_id or "", 0.0) >= TOUCH_EVERY_S:
            return None
        return hit

    def lookup(self, token: str) -> Principal | None:
        """The Authenticator hook: a valid, unrevoked, unexpired key of an enabled tenant -> Principal."""
        if not _well_formed(token):
            return None
        parts = token.split("-", 2)
        digest = hash_secret(token)
        seen = None
        if self.cache is not None:
            hit, refused, seen = self.cache.check(digest)
            if hit is not None:
                self._touch(hit.key_id or "", time.time())
                return hit
            if refused:
                return None
        prefix = f"{parts[0]}-{parts[1]}"
        q = (sa.select(api_keys_table, tenants_table.c.disabled)
             .join(tenants_table, tenants_table.c.id == api_keys_table.c.tenant_id, isouter=True)
             .where(api_keys_table.c.prefix == prefix))
        with self.store.connect() as conn:
            r = conn.execute(q).first()
        t = time.time()
        if (r is None or not hmac.compare_digest(r.secret_hash, digest) or r.revoked_at
                or (r.expires_at and r.expires_at <= t) or r.disabled):
            if self.cache is not None:
                self.cache.refuse(digest, seen)
            return None
        self._touch(r.id, t)
        principal = Principal(tenant_id=r.tenant_id, key_id=r.id, is_admin=bool(r.is_admin),
                              scopes=principal_scopes(json.loads(r.scopes or "[]")))
        if self.cache is not None:
            self.cache.put(digest, principal, r.expires_at, seen)
        return principal

    def _touch(self, key_id: str, t: float) -> None:
        if t - self._touched.get(key_id, 0.0) < TOUCH_EVERY_S:
            return
        self._touched[key_id] = t
        try:
            with self.store.begin() as conn:
                conn.execute(api_keys_table.update().where(api_keys_table.c.id == key_id).values(last_used_at=t))
        except sa.exc.OperationalError:  # a busy SQLite file must not fail the request
            pass
