"""Recently looked-up API keys, so that a request with a key does not cost a database query and a thread hop.

An entry lives ``ttl_s`` at most. Every process that revokes a key or disables a tenant touches a stamp file in
``HANLIN_HOME``; all entries go as soon as a process on this machine sees the stamp change (a ``stat`` per
request), so a revocation from the CLI applies to the next request. A change made on another node of a shared
database applies within ``ttl_s``, as quota edits do (``quotas.LIMITS_TTL_S``).

Valid keys are kept keyed by the secret's hash, and a key's expiry is checked on every hit. Refused keys (unknown,
revoked, expired, of a disabled tenant) are remembered as bare hashes for the same TTL, in a separate bounded set,
so a client retrying with a revoked key in a loop costs no query either; a flood of random keys can only evict
other refusals."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hanlin.principal import Principal

log = logging.getLogger(__name__)

KEY_CACHE_TTL_S = 2.0
KEY_CACHE_MAX = 10_000

Stamp = tuple[int, int, int] | None


@dataclass(frozen=True)
class CachedKey:
    principal: Principal
    expires_at: float | None  # wall clock, as stored
    read_at: float  # monotonic


class KeyCache:
    def __init__(self, stamp_file: Path | None, ttl_s: float = KEY_CACHE_TTL_S, max_entries: int = KEY_CACHE_MAX
                 ) -> None:
        self.stamp_file = stamp_file
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, CachedKey] = {}
        self._refused: dict[str, float] = {}  # hash -> monotonic time it was refused
        self._lock = threading.Lock()
        self._stamp: Stamp = self._read_stamp()

    def _read_stamp(self) -> Stamp:
        if self.stamp_file is None:
            return None
        try:
            st = os.stat(self.stamp_file)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def stamp(self) -> Stamp:
        """The stamp now, after dropping every entry if it changed; give it to :meth:`put` for a row read after."""
        now = self._read_stamp()
        with self._lock:
            if now != self._stamp:
                self._entries.clear()
                self._refused.clear()
                self._stamp = now
        return now

    def check(self, digest: str) -> tuple[Principal | None, bool, Stamp]:
        """After one ``stat``: the key's cached principal (None if not held), whether it was refused within the TTL,
        and the stamp to give :meth:`put` or :meth:`refuse` for a row read after."""
        seen = self.stamp()
        now = time.monotonic()
        at = self._refused.get(digest)
        refused = at is not None and now - at < self.ttl_s
        hit = self._entries.get(digest)
        if hit is None:
            return None, refused, seen
        if now - hit.read_at >= self.ttl_s or (hit.expires_at and hit.expires_at <= time.time()):
            with self._lock:
                self._entries.pop(digest, None)
            return None, refused, seen
        return hit.principal, refused, seen

    def put(self, digest: str, principal: Principal, expires_at: float | None, seen: Stamp) -> None:
        """Keep a key read from the database after :meth:`stamp` returned ``seen``: nothing is kept when the stamp
        moved in between (the row may predate a revocation)."""
        with self._lock:
            if seen != self._stamp:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[digest] = CachedKey(principal, expires_at, time.monotonic())

    def refuse(self, digest: str, seen: Stamp) -> None:
        """Remember a key the database refused after :meth:`stamp` returned ``seen`` (not when it moved since: the
        refusal may predate a tenant being enabled again)."""
        with self._lock:
            if seen != self._stamp:
                return
            if len(self._refused) >= self.max_entries:
                self._refused.pop(next(iter(self._refused)))
            self._refused[digest] = time.monotonic()

    def changed(self) -> None:
        """A key was revoked or a tenant disabled or enabled here: drop every entry, and tell the other
        processes."""
        with self._lock:
            self._entries.clear()
            self._refused.clear()
        if self.stamp_file is None:
            return
        tmp = self.stamp_file.with_name(f"{self.stamp_file.name}.{os.getpid()}.partial")
        try:  # a new file each time: its inode changes even when two changes fall within one mtime tick
            tmp.write_text(secrets.token_hex(8))
            os.replace(tmp, self.stamp_file)
        except OSError as exc:  # other processes then see the change within ttl_s
            log.warning("could not touch %s (%s): other processes drop cached keys within %.0f s",
                        self.stamp_file, exc, self.ttl_s)
        self.stamp()


__all__ = ["KEY_CACHE_TTL_S", "CachedKey", "KeyCache"]
