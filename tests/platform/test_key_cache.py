"""The API-key cache: a known key costs no database query; a revocation or a disabled tenant applies to the very
next request, also when another process (the CLI) made it; a change it cannot see (another node of a shared
database) applies within the TTL; an expired key is refused from the cache."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from hanlin.platform import key_cache, keys
from hanlin.platform.auth import hash_secret
from hanlin.platform.key_cache import KeyCache
from hanlin.platform.tables import api_keys_table
from hanlin.principal import Principal
from tests.support.platform_auth import ADMIN_KEY, chat, make_services


class Clock:
    def __init__(self) -> None:
        self.mono, self.wall = time.monotonic(), time.time()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(key_cache, "time", SimpleNamespace(monotonic=lambda: self.mono, time=lambda: self.wall))


def held(cache: KeyCache, secret: str) -> Principal | None:
    return cache.check(hash_secret(secret))[0]


def was_refused(cache: KeyCache, secret: str) -> bool:
    return cache.check(hash_secret(secret))[1]


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """Two service containers on one HANLIN_HOME and database: the server and, say, the CLI."""
    server, cli = make_services(tmp_path), make_services(tmp_path)
    yield server, cli
    for s in (server, cli):
        s.store.engine.dispose()


def queries(services: Any) -> list[str]:
    seen: list[str] = []
    sa.event.listen(services.store.engine, "before_cursor_execute",
                    lambda _c, _cur, statement, *_a: seen.append(statement))
    return seen


def test_a_known_key_is_answered_without_the_database(two: tuple[Any, Any]) -> None:
    server, cli = two
    _key, secret = cli.platform.keys.create(tenant_id="acme", actor="test")
    assert server.auth.cached(f"Bearer {secret}") is None  # never looked up: the event loop must not guess
    first = server.auth.authenticate(f"Bearer {secret}")
    assert first.tenant_id == "acme"
    seen = queries(server)
    for _ in range(5):
        assert server.auth.cached(f"Bearer {secret}") == first
        assert server.auth.authenticate(None, secret) == first
    assert not [q for q in seen if "api_keys" in q], seen
    # a wrong secret with a known prefix is not a hit
    wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    assert server.auth.cached(f"Bearer {wrong}") is None
    with pytest.raises(Exception, match="Invalid, revoked or expired"):
        server.auth.authenticate(f"Bearer {wrong}")
    # the bootstrap admin key and no key need no lookup either
    assert server.auth.cached(f"Bearer {ADMIN_KEY}") is not None and server.auth.cached(f"Bearer {ADMIN_KEY}").is_admin
    with pytest.raises(Exception, match="Missing API key"):
        server.auth.cached(None)


def test_a_revocation_by_another_process_applies_to_the_next_request(two: tuple[Any, Any]) -> None:
    server, cli = two
    key, secret = cli.platform.keys.create(tenant_id="acme", actor="test")
    assert server.auth.authenticate(f"Bearer {secret}").key_id == key.id
    assert server.auth.cached(f"Bearer {secret}") is not None
    cli.platform.keys.revoke(key.id, actor="test")
    assert server.auth.cached(f"Bearer {secret}") is None
    with pytest.raises(Exception, match="Invalid, revoked or expired"):
        server.auth.authenticate(f"Bearer {secret}")


def test_disabling_a_tenant_elsewhere_stops_its_cached_keys(two: tuple[Any, Any]) -> None:
    server, cli = two
    _key, secret = cli.platform.keys.create(tenant_id="acme", actor="test")
    server.auth.authenticate(f"Bearer {secret}")
    cli.platform.tenants.set_disabled("acme", True, actor="test")
    with pytest.raises(Exception, match="Invalid, revoked or expired"):
        server.auth.authenticate(f"Bearer {secret}")
    cli.platform.tenants.set_disabled("acme", False, actor="test")
    assert server.auth.authenticate(f"Bearer {secret}").tenant_id == "acme"


def test_a_change_no_stamp_announces_applies_within_the_ttl(two: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """Another node of a shared database revokes: no stamp file here moves, so the key is served from the cache
    until its entry is ttl_s old, then refused."""
    server, cli = two
    clock = Clock()
    clock.install(monkeypatch)
    key, secret = cli.platform.keys.create(tenant_id="acme", actor="test")
    server.auth.authenticate(f"Bearer {secret}")
    with server.store.begin() as conn:
        conn.execute(api_keys_table.update().where(api_keys_table.c.id == key.id).values(revoked_at=time.time()))
    clock.mono += server.platform.key_cache.ttl_s * 0.9
    assert server.auth.authenticate(f"Bearer {secret}").key_id == key.id
    clock.mono += server.platform.key_cache.ttl_s * 0.2
    with pytest.raises(Exception, match="Invalid, revoked or expired"):
        server.auth.authenticate(f"Bearer {secret}")


def test_an_expired_key_is_refused_from_the_cache(two: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    server, cli = two
    clock = Clock()
    clock.install(monkeypatch)
    _key, secret = cli.platform.keys.create(tenant_id="acme", actor="test", expires="1h")
    server.auth.authenticate(f"Bearer {secret}")
    assert server.auth.cached(f"Bearer {secret}") is not None
    clock.wall += 3601
    assert server.auth.cached(f"Bearer {secret}") is None


def test_a_row_read_before_a_change_is_not_kept(tmp_path: Path) -> None:
    cache = KeyCache(tmp_path / "keys.stamp")
    p = Principal(tenant_id="acme", key_id="key_1")
    seen = cache.stamp()
    KeyCache(tmp_path / "keys.stamp").changed()  # another process revokes between our read and our put,
    cache.stamp()  # and another request of ours has noticed already
    cache.put(hash_secret("s"), p, None, seen)
    assert held(cache, "s") is None
    cache.put(hash_secret("s"), p, None, cache.stamp())
    assert held(cache, "s") == p


def test_the_cache_is_bounded_and_its_stamp_file_is_plain(tmp_path: Path) -> None:
    cache = KeyCache(tmp_path / "keys.stamp", max_entries=3)
    for i in range(10):
        cache.put(hash_secret(str(i)), Principal(tenant_id="t", key_id=f"key_{i}"), None, cache.stamp())
    assert [held(cache, str(i)) is not None for i in range(10)] == [False] * 7 + [True] * 3
    cache.changed()
    assert (tmp_path / "keys.stamp").is_file() and not list(tmp_path.glob("*.partial"))
    assert all(held(cache, str(i)) is None for i in range(10))


def test_an_unwritable_home_still_drops_this_process_entries(tmp_path: Path) -> None:
    cache = KeyCache(tmp_path / "missing-dir" / "keys.stamp")
    cache.put(hash_secret("s"), Principal(tenant_id="t", key_id="key_1"), None, cache.stamp())
    assert held(cache, "s") is not None
    cache.changed()  # logs a warning, raises nothing
    assert held(cache, "s") is None


def test_a_due_last_used_write_is_left_to_the_worker_thread(two: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """``cached`` runs on the event loop: when the key's last-used time is due for a write, it answers None so the
    lookup (and its write) runs in a worker thread."""
    server, cli = two
    key, secret = cli.platform.keys.create(tenant_id="acme", actor="test")
    server.auth.authenticate(f"Bearer {secret}")
    assert server.auth.cached(f"Bearer {secret}") is not None
    monkeypatch.setattr(keys, "TOUCH_EVERY_S", 0.0)
    assert server.auth.cached(f"Bearer {secret}") is None
    before = cli.platform.keys.get(key.id).last_used_at
    time.sleep(0.01)
    server.auth.authenticate(f"Bearer {secret}")
    assert cli.platform.keys.get(key.id).last_used_at > before


def test_over_http_the_second_request_with_a_key_does_no_key_query(two: tuple[Any, Any],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """...and no worker-thread hop: the event loop answers it from the cache."""
    import asyncio

    from fastapi.testclient import TestClient

    from hanlin.api.app import create_app

    server, cli = two
    hops: list[Any] = []
    real_to_thread = asyncio.to_thread

    async def counting(fn: Any, *a: Any, **kw: Any) -> Any:
        if getattr(fn, "__func__", None) is type(server.auth).authenticate:
            hops.append(fn)
        return await real_to_thread(fn, *a, **kw)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    key, secret = cli.platform.keys.create(tenant_id="acme", actor="test")
    h = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(server.settings, services=server)) as client:
        assert chat(client, h).status_code == 200
        assert len(hops) == 1
        seen = queries(server)
        assert chat(client, h).status_code == 200
        assert client.get("/v1/me", headers=h).json()["key_id"] == key.id
        assert not [q for q in seen if "JOIN tenants" in q], seen  # the lookup joins the key to its tenant
        assert len(hops) == 1
        cli.platform.keys.revoke(key.id, actor="test")  # as `hanlin keys revoke` does
        r = chat(client, h)
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_a_refused_key_retried_in_a_loop_costs_no_query(two: tuple[Any, Any]) -> None:
    server, cli = two
    key, secret = cli.platform.keys.create(tenant_id="acme", actor="test")
    cli.platform.keys.revoke(key.id, actor="test")
    with pytest.raises(Exception, match="Invalid, revoked or expired"):
        server.auth.authenticate(f"Bearer {secret}")  # the database says no, once
    seen = queries(server)
    for _ in range(5):
        with pytest.raises(Exception, match="Invalid, revoked or expired"):
            server.auth.cached(f"Bearer {secret}")  # answered on the event loop
        with pytest.raises(Exception, match="Invalid, revoked or expired"):
            server.auth.authenticate(f"Bearer {secret}")
    with pytest.raises(Exception, match="Invalid, revoked or expired"):
        server.auth.cached("Bearer not-a-hanlin-key")  # malformed: no lookup at all
    assert not [q for q in seen if "api_keys" in q], seen


def test_a_refusal_goes_when_the_tenant_is_enabled_again(two: tuple[Any, Any]) -> None:
    server, cli = two
    _key, secret = cli.platform.keys.create(tenant_id="acme", actor="test")
    cli.platform.tenants.set_disabled("acme", True, actor="test")
    with pytest.raises(Exception, match="Invalid, revoked or expired"):
        server.auth.authenticate(f"Bearer {secret}")
    with pytest.raises(Exception, match="Invalid, revoked or expired"):
        server.auth.cached(f"Bearer {secret}")  # the refusal is remembered
    cli.platform.tenants.set_disabled("acme", False, actor="test")
    assert server.auth.cached(f"Bearer {secret}") is None  # forgotten: ask the database
    assert server.auth.authenticate(f"Bearer {secret}").tenant_id == "acme"


def test_a_refusal_read_before_a_change_is_not_kept(tmp_path: Path) -> None:
    cache = KeyCache(tmp_path / "keys.stamp")
    seen = cache.stamp()
    KeyCache(tmp_path / "keys.stamp").changed()
    cache.stamp()
    cache.refuse(hash_secret("s"), seen)
    assert not was_refused(cache, "s")
    cache.refuse(hash_secret("s"), cache.stamp())
    assert was_refused(cache, "s")


def test_refusals_are_bounded_apart_from_valid_keys(tmp_path: Path) -> None:
    cache = KeyCache(tmp_path / "keys.stamp", max_entries=3)
    cache.put(hash_secret("good"), Principal(tenant_id="t", key_id="key_1"), None, cache.stamp())
    for i in range(10):  # a flood of random keys
        cache.refuse(hash_secret(f"bad{i}"), cache.stamp())
    assert [was_refused(cache, f"bad{i}") for i in range(10)] == [False] * 7 + [True] * 3
    assert held(cache, "good") is not None


def test_a_refusal_no_stamp_announces_the_end_of_lasts_the_ttl(two: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """Another node of a shared database enables a tenant again: its keys work here once the refusal is ttl_s old."""
    from hanlin.platform.tables import tenants_table

    server, cli = two
    clock = Clock()
    clock.install(monkeypatch)
    _key, secret = cli.platform.keys.create(tenant_id="acme", actor="test")
    with server.store.begin() as conn:
        conn.execute(tenants_table.update().where(tenants_table.c.id == "acme").values(disabled=True))
    with pytest.raises(Exception, match="Invalid, revoked or expired"):
        server.auth.authenticate(f"Bearer {secret}")
    with server.store.begin() as conn:
        conn.execute(tenants_table.update().where(tenants_table.c.id == "acme").values(disabled=False))
    clock.mono += server.platform.key_cache.ttl_s * 0.9
    with pytest.raises(Exception, match="Invalid, revoked or expired"):
        server.auth.authenticate(f"Bearer {secret}")
    clock.mono += server.platform.key_cache.ttl_s * 0.2
    assert server.auth.authenticate(f"Bearer {secret}").tenant_id == "acme"
