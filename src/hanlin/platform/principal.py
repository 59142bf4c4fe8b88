"""Moved to :mod:`hanlin.principal` (the ground floor); kept so older imports keep working."""

from hanlin.principal import DEFAULT_TENANT, LOCAL_ADMIN, Principal

__all__ = ["DEFAULT_TENANT", "LOCAL_ADMIN", "Principal"]
