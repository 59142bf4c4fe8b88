"""Tenants: the unit of isolation (jobs, knowledge bases, apps, usage) and of quotas."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from hanlin.errors import BadRequest, Conflict, NotFound
from hanlin.platform.audit import AuditLog
from hanlin.platform.key_cache import KeyCache
from hanlin.platform.tables import tenants_table
from hanlin.principal import DEFAULT_TENANT
from hanlin.store.db import Store, now

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}\Z")
QUOTA_FIELDS = ("rpm", "tpm", "monthly_tokens")


@dataclass
class Tenant:
    id: str
    name: str
    rpm: int | None
    tpm: int | None
    monthly_tokens: int | None
    disabled: bool
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"object": "tenant", **asdict(self)}


def _row(r: Any) -> Tenant:
    return Tenant(r.id, r.name, r.rpm, r.tpm, r.monthly_tokens, bool(r.disabled), r.created_at)


def check_tenant_id(tenant_id: str) -> str:
    if not TENANT_ID.match(tenant_id or ""):
        raise BadRequest(f"Invalid tenant id '{tenant_id}': use 1-64 lowercase letters, digits, '-' or '_', "
                         "starting with a letter or digit.", param="tenant")
    return tenant_id


def normalize_quota(values: dict[str, Any]) -> dict[str, int | None]:
    """Only the quota fields that were given; 0 or a negative number means 'unlimited' (stored as NULL)."""
    out: dict[str, int | None] = {}
    for f in QUOTA_FIELDS:
        if f in values and values[f] is not None:
            v = int(values[f])
            out[f] = v if v > 0 else None
    return out


class TenantStore:
    def __init__(self, store: Store, audit: AuditLog, key_cache: KeyCache | None = None) -> None:
        self.store = store
        self.audit = audit
        self.key_cache = key_cache  # a disabled tenant's keys stop working at once, an enabled one's work again

    def get(self, tenant_id: str) -> Tenant:
        with self.store.connect() as conn:
            r = conn.execute(sa.select(tenants_table).where(tenants_table.c.id == tenant_id)).first()
        if r is None:
            raise NotFound(f"No tenant '{tenant_id}'. Create it with `hanlin tenants create {tenant_id}`.",
                           param="tenant")
        return _row(r)

    def find(self, tenant_id: str) -> Tenant | None:
        try:
            return self.get(tenant_id)
        except NotFound:
            return None

    def list(self) -> list[Tenant]:
        with self.store.connect() as conn:
            return [_row(r) for r in conn.execute(sa.select(tenants_table).order_by(tenants_table.c.created_at))]

    def create(self, tenant_id: str, name: str = "", *, actor: str, quota: dict[str, Any] | None = None) -> Tenant:
        check_tenant_id(tenant_id)
        if self.find(tenant_id):
            raise Conflict(f"Tenant '{tenant_id}' already exists", param="id")
        t = now()
        values = {"rpm": None, "tpm": None, "monthly_tokens": None, **normalize_quota(quota or {})}
        try:
            with self.store.begin() as conn:
                conn.execute(tenants_table.insert().values(id=tenant_id, name=name or tenant_id, disabled=False,
                                                           created_at=t, updated_at=t, **values))
        except sa.exc.IntegrityError:
            raise Conflict(f"Tenant '{tenant_id}' already exists", param="id") from None
        self.audit.record(actor, "tenant.create", tenant_id=tenant_id, target=tenant_id,
                          detail={"name": name or tenant_id, **values})
        return self.get(tenant_id)

    def ensure(self, tenant_id: str, *, actor: str) -> Tenant:
        found = self.find(tenant_id)
        if found:
            return found
        try:
            return self.create(tenant_id, actor=actor)
        except Conflict:  # created concurrently
            return self.get(tenant_id)

    def set_quota(self, tenant_id: str, values: dict[str, Any], *, actor: str) -> Tenant:
        self.get(tenant_id)
        changes = normalize_quota(values)
        if not changes:
            raise BadRequest("Give at least one of rpm, tpm, monthly_tokens (0 = unlimited).")
        with self.store.begin() as conn:
            conn.execute(tenants_table.update().where(tenants_table.c.id == tenant_id)
                         .values(updated_at=now(), **changes))
        self.audit.record(actor, "tenant.quota", tenant_id=tenant_id, target=tenant_id, detail=changes)
        return self.get(tenant_id)

    def set_disabled(self, tenant_id: str, disabled: bool, *, actor: str) -> Tenant:
        self.get(tenant_id)
        with self.store.begin() as conn:
            conn.execute(tenants_table.update().where(tenants_table.c.id == tenant_id)
                         .values(disabled=disabled, updated_at=now()))
        if self.key_cache is not None:
            self.key_cache.changed()
        self.audit.record(actor, "tenant.disable" if disabled else "tenant.enable", tenant_id=tenant_id,
                          target=tenant_id)
        return self.get(tenant_id)


__all__ = ["DEFAULT_TENANT", "Tenant", "TenantStore", "check_tenant_id", "normalize_quota"]
