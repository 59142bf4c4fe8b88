"""Who is calling: resolved from the API key (or the local default when auth is off)."""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field

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


LOCAL_ADMIN = Principal(tenant_id=DEFAULT_TENANT, key_id=None, is_admin=True)


# The caller of the request (or job) being served, for code that hands out engines without a principal in
# hand (office apps, knowledge search, completions): set by the platform's metering middleware and job wrapper.
_current: ContextVar[Principal | None] = ContextVar("hanlin_principal", default=None)


def current_principal() -> Principal | None:
    return _current.get()


def set_current_principal(principal: Principal | None) -> Token[Principal | None]:
    return _current.set(principal)


def reset_current_principal(token: Token[Principal | None]) -> None:
    _current.reset(token)
