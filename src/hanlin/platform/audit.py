"""Audit log of admin actions (keys, tenants, quotas, apps, knowledge bases): who, what, when. Never secrets."""

from __future__ import annotations

import getpass
from typing import Any

import sqlalchemy as sa

from hanlin.platform.tables import audit_table
from hanlin.principal import Principal
from hanlin.store.db import Store, dumps, loads, now

SECRET_FIELDS = ("key", "secret", "secret_hash", "password", "token")


def actor_of(principal: Principal | None) -> str:
    """A readable 'who': the key id, the bootstrap admin key from the environment, or the local CLI user."""
    if principal is None:
        try:
            return f"cli:{getpass.getuser()}"
        except Exception:  # no passwd entry in some containers
            return "cli"
    if principal.key_id:
        return principal.key_id
    return "env-admin" if principal.is_admin else "anonymous"


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, actor: str, action: str, *, tenant_id: str | None = None, target: str | None = None,
               detail: dict[str, Any] | None = None) -> None:
        clean = {k: v for k, v in (detail or {}).items() if k not in SECRET_FIELDS}
        with self.store.begin() as conn:
            conn.execute(audit_table.insert().values(created_at=now(), tenant_id=tenant_id, actor=actor,
                                                     action=action, target=target,
                                                     detail=dumps(clean) if clean else None))

    def list(self, *, tenant_id: str | None = None, action: str | None = None, since: float | None = None,
             limit: int = 100) -> list[dict[str, Any]]:
        q = sa.select(audit_table).order_by(audit_table.c.id.desc()).limit(max(1, min(limit, 1000)))
        if tenant_id:
            q = q.where(audit_table.c.tenant_id == tenant_id)
        if action:
            q = q.where(audit_table.c.action.startswith(action))
        if since is not None:
            q = q.where(audit_table.c.created_at >= since)
        with self.store.connect() as conn:
            return [{"id": r.id, "object": "audit.entry", "created_at": r.created_at, "tenant_id": r.tenant_id,
                     "actor": r.actor, "action": r.action, "target": r.target, "detail": loads(r.detail)}
                    for r in conn.execute(q)]
