"""Who is calling: resolved from the API key (or the local default when auth is off). The ground floor: every
layer may import it (engines check scopes with it, jobs carry it, the platform creates it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    key_id: str | None = None
    is_admin: bool = False
    scopes: tuple[str, ...] = field(default_factory=tuple)  # empty = everything; else "model:X" / "app:Y"

    def allows(self, resource: str) -> bool:
        if not self.scopes or self.is_admin:
            return True
        kind = resource.split(":", 1)[0]
        return resource in self.scopes or f"{kind}:*" in self.scopes

    def to_dict(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "key_id": self.key_id, "is_admin": self.is_admin,
                "scopes": list(self.scopes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], tenant_id: str) -> Principal:
        """A principal stored with a job; ``tenant_id`` (the job's owner) wins over what the dict says."""
        return cls(tenant_id=tenant_id, key_id=d.get("key_id"), is_admin=bool(d.get("is_admin")),
                   scopes=tuple(d.get("scopes") or ()))


LOCAL_ADMIN = Principal(tenant_id=DEFAULT_TENANT, key_id=None, is_admin=True)
