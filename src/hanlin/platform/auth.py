"""Authentication: API key -> Principal. The platform layer plugs in database-backed keys via ``key_lookup``."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Literal

from hanlin.config import Settings
from hanlin.errors import AuthenticationError
from hanlin.principal import LOCAL_ADMIN, Principal

KeyLookup = Callable[[str], Principal | None]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.required = settings.auth_required
        self._admin_hash = hash_secret(settings.admin_key) if settings.admin_key else ""
        self.key_lookup: KeyLookup | None = None
        # no I/O: a key looked up recently, False for a malformed key or one refused recently, else None
        self.key_cached: Callable[[str], Principal | Literal[False] | None] | None = None

    def cached(self, authorization: str | None, x_api_key: str | None = None) -> Principal | None:
        """The caller when no database query is needed (no key, the bootstrap admin key, a key looked up or
        refused recently), raising as :meth:`authenticate` does; None when :meth:`authenticate` must run in a
        worker thread."""
        token = bearer_token(authorization) or (x_api_key or None)
        if not token:
            return self.authenticate(None, None)
        if self._admin_hash and hmac.compare_digest(hash_secret(token), self._admin_hash):
            return LOCAL_ADMIN
        found = self.key_cached(token) if self.key_cached else None
        return self._not_a_key() if found is False else found

    def authenticate(self, authorization: str | None, x_api_key: str | None = None) -> Principal:
        token = bearer_token(authorization) or (x_api_key or None)
        if token:
            if self._admin_hash and hmac.compare_digest(hash_secret(token), self._admin_hash):
                return LOCAL_ADMIN
            if self.key_lookup:
                found = self.key_lookup(token)
                if found is not None:
                    return found
            return self._not_a_key()
        if not self.required:
            return LOCAL_ADMIN
        raise AuthenticationError("Missing API key. Send 'Authorization: Bearer <key>'; create a key with "
                                  "`hanlin keys create --admin`.", code="missing_api_key")

    def _not_a_key(self) -> Principal:
        if self.required:
            raise AuthenticationError("Invalid, revoked or expired API key. Create one with `hanlin keys create`.",
                                      code="invalid_api_key")
        return LOCAL_ADMIN
