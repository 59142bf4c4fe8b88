"""The platform's store on SQLite and on PostgreSQL (HANLIN_TEST_PG_URL): everything survives a restart."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from hanlin.config import Settings
from hanlin.platform.limits import LocalRateLimiter
from hanlin.platform.service import Platform
from hanlin.store.db import Store
from tests.support.platform_auth import pg_url


def _platform(url: str, home: Path) -> Platform:
    store = Store(url)
    store.init()
    return Platform(store, Settings(home=home, database_url=url), limiter=LocalRateLimiter())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: Any, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hanlin.db'}"
    url = pg_url()
    if not url:
        pytest.skip("HANLIN_TEST_PG_URL is not set (scripts/test.sh starts a PostgreSQL)")
    return url


def test_platform_data_survives_a_restart(db_url: str, tmp_path: Path) -> None:
    tenant = f"t-{uuid.uuid4().hex[:10]}"  # PostgreSQL is shared by the whole run
    p = _platform(db_url, tmp_path)
    key, secret = p.keys.create(tenant_id=tenant, actor="test", name="持久", scopes=["app:x"], quota={"rpm": 7})
    revoked, revoked_secret = p.keys.create(tenant_id=tenant, actor="test")
    p.keys.revoke(revoked.id, actor="test")
    p.tenants.set_quota(tenant, {"tpm": 1000, "monthly_tokens": 50_000}, actor="test")
    p.apps.create(tenant, "助手", {"system_prompt": "一"}, actor="test")
    p.apps.update(tenant, "助手", {"system_prompt": "二"}, actor="test")
    p.usage.record(tenant_id=tenant, key_id=key.id, model="app:助手", prompt_tokens=11, completion_tokens=5)
    p.usage.record(tenant_id=tenant, key_id=key.id, model="m", status="rate_limited")
    p.store.dispose()

    p2 = _platform(db_url, tmp_path)  # a new process on the same database
    found = p2.keys.lookup(secret)
    assert found is not None and found.tenant_id == tenant and found.key_id == key.id and "app:x" in found.scopes
    assert p2.keys.lookup(revoked_secret) is None
    assert p2.keys.lookup(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert p2.quotas.limits(f"k:{key.id}").rpm == 7
    t = p2.tenants.get(tenant)
    assert (t.tpm, t.monthly_tokens) == (1000, 50_000)
    app = p2.apps.get(tenant, "助手")
    assert (app.version, app.system_prompt) == (2, "二")
    assert p2.apps.get(tenant, "助手", 1).system_prompt == "一"
    s = p2.usage.summary(tenant_id=tenant)
    assert s["totals"] == {"requests": 2, "jobs": 0, "errors": 1, "prompt_tokens": 11, "completion_tokens": 5,
                           "total_tokens": 16, "pages": 0, "audio_seconds": 0.0}
    assert {r["model"] for r in s["data"]} == {"app:助手", "m"}
    assert p2.quotas.month_tokens(f"t:{tenant}") == 16
    actions = [a["action"] for a in p2.audit.list(tenant_id=tenant)]
    assert actions == ["app.update", "app.create", "tenant.quota", "key.revoke", "key.create", "key.create",
                       "tenant.create"]
    p2.store.dispose()


def test_concurrent_app_edits_never_share_a_version(db_url: str, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from hanlin.errors import Conflict

    tenant = f"t-{uuid.uuid4().hex[:10]}"
    p = _platform(db_url, tmp_path)
    p.apps.create(tenant, "a", {}, actor="t")

    def edit(i: int) -> int | None:
        try:
            return p.apps.update(tenant, "a", {"description": str(i)}, actor="t").version
        except Conflict:
            return None
    with ThreadPoolExecutor(8) as pool:
        versions = [v for v in pool.map(edit, range(16)) if v is not None]
    assert len(versions) == len(set(versions)) and versions
    assert [a.version for a in p.apps.versions(tenant, "a")] == list(range(1, len(versions) + 2))
    p.store.dispose()


def test_usage_rows_written_behind_are_all_read_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import threading

    import sqlalchemy as sa

    from hanlin.platform.tables import usage_table

    p = _platform(f"sqlite:///{tmp_path / 'hanlin.db'}", tmp_path)

    def many(worker: int) -> None:
        for i in range(150):
            p.usage.record(tenant_id="acme", key_id=None, model="m", prompt_tokens=1, completion_tokens=i % 3)

    threads = [threading.Thread(target=many, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals = p.usage.summary(tenant_id="acme")["totals"]  # reads wait for the queue: nothing recorded is missing
    assert totals["requests"] == 600 and totals["prompt_tokens"] == 600 and totals["completion_tokens"] == 600
    # a failed write is logged, the writer drops its connection and goes on with a new one
    p.usage._raw.dbapi_connection.close()  # the database connection breaks under the writer
    p.usage.record(tenant_id="acme", key_id=None, model="m", prompt_tokens=5)
    p.usage.flush()
    assert "could not record 1 usage row(s) for tenant(s) ['acme']" in caplog.text
    p.usage.record(tenant_id="acme", key_id=None, model="m", prompt_tokens=7)
    assert p.usage.tokens_since(0, tenant_id="acme") == 600 + 600 + 7
    with p.store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(usage_table)).scalar() == 601
