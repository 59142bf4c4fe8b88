"""Quotas under concurrency (in-process over a slow FakeEngine), token limits, budgets, streaming usage."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from typing import Any

import httpx
import pytest

from hanlin.engine.fake import FakeEngine
from hanlin.platform.limits import UNLIMITED, LocalRateLimiter
from tests.support.platform_auth import chat, create_key, make_services, pg_url


class SlowFake(FakeEngine):
    """Holds each request for a while so that all of them are in flight together."""

    async def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(1.0)  # long enough for all 20 to be admitted (or refused) while the first run
        return await super().chat(request)


def test_local_limiter_is_exact_across_threads() -> None:
    lim = LocalRateLimiter()
    results: list[tuple[bool, float]] = []
    barrier = threading.Barrier(50)

    def worker() -> None:
        barrier.wait()
        results.append(lim.hit("k", 10, 60.0))
    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(ok for ok, _ in results) == 10
    assert all(0 < wait <= 60 for ok, wait in results if not ok)


def test_local_limiter_window_slides_and_costs() -> None:
    now = [1000.0]
    lim = LocalRateLimiter(clock=lambda: now[0])
    assert lim.hit("t", 100, 60, 0) == (True, 0.0)      # a check records nothing
    assert lim.hit("t", UNLIMITED, 60, 150)[0]           # charging always records
    ok, wait = lim.hit("t", 100, 60, 0)
    assert not ok and wait == pytest.approx(60)
    now[0] += 60.5
    assert lim.hit("t", 100, 60, 0)[0]


async def _burst(services: Any, headers: dict[str, str], n: int) -> list[httpx.Response]:
    from hanlin.api.app import create_app

    transport = httpx.ASGITransport(app=create_app(services.settings, services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
        body = {"messages": [{"role": "user", "content": "你好"}], "max_tokens": 4}
        return list(await asyncio.gather(*[client.post("/v1/chat/completions", json=body, headers=headers)
                                           for _ in range(n)]))


@pytest.mark.parametrize(("scope", "db"), [("key", "sqlite"), ("tenant", "sqlite"), ("key", "postgresql"),
                                           ("tenant", "redis")])
def test_50_concurrent_requests_against_10_per_minute(tmp_path: Any, scope: str, db: str) -> None:
    url = "" if db != "postgresql" else pg_url()
    redis_url = os.environ.get("HANLIN_TEST_REDIS_URL", "") if db == "redis" else ""
    if url is None or (db == "redis" and not redis_url):
        pytest.skip(f"no {db} for this run (HANLIN_TEST_PG_URL / HANLIN_TEST_REDIS_URL)")
    services = make_services(tmp_path, database_url=url, redis_url=redis_url)
    if redis_url:
        assert type(services.platform.quotas.limiter).__name__ == "RedisRateLimiter"
    services.engines.add(SlowFake("fake"))
    p = services.platform
    tenant = f"burst-{uuid.uuid4().hex[:8]}"
    key, secret = p.keys.create(tenant_id=tenant, actor="test", quota={"rpm": 10} if scope == "key" else {})
    if scope == "tenant":
        p.tenants.set_quota(tenant, {"rpm": 10}, actor="test")
    responses = asyncio.run(_burst(services, {"Authorization": f"Bearer {secret}"}, 50))
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 10 and codes.count(429) == 40, codes
    for r in responses:
        if r.status_code == 429:
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            assert r.json()["error"]["code"] == "requests_per_minute_exceeded"
    summary = p.usage.summary(tenant_id=tenant)
    assert summary["totals"]["requests"] == 50 and summary["totals"]["errors"] == 40


def test_tokens_per_minute_and_monthly_budget(auth_client: Any, auth_services: Any,
                                              admin_headers: dict[str, str]) -> None:
    # a request reserves its prompt (FakeEngine cannot tokenize: the UTF-8 upper bound, 106 here) + max_tokens
    _, h = create_key(auth_client, admin_headers, tenant="tpm", tpm=200)
    used = 0
    for _ in range(30):  # keep going until the window has no room for another reservation
        r = chat(auth_client, h, max_tokens=20)
        if r.status_code != 200:
            break
        used += r.json()["usage"]["total_tokens"]
    assert r.status_code == 429 and r.json()["error"]["code"] == "tokens_per_minute_exceeded"
    assert "max_tokens" in r.json()["error"]["message"]
    assert 74 < used <= 200  # settled to the real tokens (6 each): 13 requests fit, not 200 // 126 = 1
    _, b = create_key(auth_client, admin_headers, tenant="budget")
    r = auth_client.put("/v1/admin/tenants/budget/quota", json={"monthly_tokens": 150}, headers=admin_headers)
    assert r.json()["monthly_tokens"] == 150
    assert chat(auth_client, b, max_tokens=20).status_code == 200  # 126 reserved, ~14 spent
    r = chat(auth_client, b, max_tokens=200)  # cannot fit: refused before generating
    assert r.status_code == 429 and r.json()["error"]["code"] == "monthly_budget_exceeded"
    assert int(r.headers["Retry-After"]) > 0
    auth_client.put("/v1/admin/tenants/budget/quota", json={"monthly_tokens": 0}, headers=admin_headers)
    assert chat(auth_client, b, max_tokens=200).status_code == 200  # 0 = unlimited again


def test_streaming_counts_its_real_tokens(auth_client: Any, admin_headers: dict[str, str]) -> None:
    _, h = create_key(auth_client, admin_headers, tenant="stream")
    body = {"messages": [{"role": "user", "content": "写一首关于秋天的诗"}], "stream": True,
            "stream_options": {"include_usage": True}}
    usage = None
    with auth_client.stream("POST", "/v1/chat/completions", json=body, headers=h) as r:
        for line in r.iter_lines():
            if line.startswith("data: {") and '"usage": {' in line:
                import json

                usage = json.loads(line[6:])["usage"]
    assert usage and usage["completion_tokens"] > 0
    plain = chat(auth_client, h).json()["usage"]
    totals = auth_client.get("/v1/usage", headers=h).json()["totals"]
    assert totals["prompt_tokens"] == usage["prompt_tokens"] + plain["prompt_tokens"]
    assert totals["completion_tokens"] == usage["completion_tokens"] + plain["completion_tokens"]
    assert totals["requests"] == 2


def test_app_routes_count_against_requests_per_minute(auth_client: Any, admin_headers: dict[str, str]) -> None:
    _, h = create_key(auth_client, admin_headers, tenant="apps", rpm=2)
    codes = [auth_client.post("/v1/completions", json={"prompt": "你好", "max_tokens": 2}, headers=h).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
    assert chat(auth_client, h).status_code == 429  # the same window for every generation route
    rows = auth_client.get("/v1/usage", headers=h).json()["data"]
    assert sum(r["requests"] for r in rows) == 4



def test_monthly_budget_holds_under_concurrency(tmp_path: Any) -> None:
    """20 simultaneous requests against a 300-token budget: running requests reserve prompt + max_tokens (82 + 40
    here), so the tenant cannot spend the same remainder 20 times (without reservations: ~620 tokens)."""
    services = make_services(tmp_path)
    services.engines.add(SlowFake("fake", responder=lambda body: "很" * 60))  # 30 completion tokens each
    p = services.platform
    _, secret = p.keys.create(tenant_id="budget", actor="test")
    p.tenants.set_quota("budget", {"monthly_tokens": 300}, actor="test")
    body = {"messages": [{"role": "user", "content": "你好"}], "max_tokens": 40}

    async def burst() -> list[httpx.Response]:
        from hanlin.api.app import create_app

        transport = httpx.ASGITransport(app=create_app(services.settings, services))
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            h = {"Authorization": f"Bearer {secret}"}
            return list(await asyncio.gather(*[client.post("/v1/chat/completions", json=body, headers=h)
                                               for _ in range(20)]))
    codes = [r.status_code for r in asyncio.run(burst())]
    spent = p.usage.summary(tenant_id="budget")["totals"]["total_tokens"]
    assert codes.count(200) == 2 and codes.count(429) == 18, codes  # 2 × 122 reserved fit in 300, a 3rd not
    assert spent <= 300, spent
    assert p.quotas.held("t:budget") == 0  # every hold was settled when its request ended


class RefusingFake(FakeEngine):
    """Admitted by the quotas, then refused by the engine (as llama.cpp refuses a prompt over its context)."""

    async def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        from hanlin.errors import BadRequest

        raise BadRequest("the prompt is longer than the context", code="context_length_exceeded")

    async def stream(self, request: dict[str, Any]) -> Any:
        await self.chat(request)
        yield {}  # pragma: no cover - never reached


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_refused_after_admission_drops_its_hold_and_is_recorded(tmp_path: Any, stream: bool) -> None:
    """The hold the quota hook made goes back when the request is refused later, and the refusal is a usage row
    (ChatMeteringMiddleware around the chat route); a streamed answer that succeeds settles its hold when it ends."""
    services = make_services(tmp_path)
    services.engines.add(RefusingFake("refusing"))
    services.engines.add(FakeEngine("fine", responses=["好的"] * 4))
    p = services.platform
    _, secret = p.keys.create(tenant_id="holds", actor="test")
    p.tenants.set_quota("holds", {"monthly_tokens": 100_000}, actor="test")
    h = {"Authorization": f"Bearer {secret}"}

    async def run() -> tuple[httpx.Response, httpx.Response]:
        from hanlin.api.app import create_app

        transport = httpx.ASGITransport(app=create_app(services.settings, services))
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            body = {"messages": [{"role": "user", "content": "你好"}], "max_tokens": 50, "stream": stream}
            refused = await client.post("/v1/chat/completions", json={**body, "model": "refusing"}, headers=h)
            served = await client.post("/v1/chat/completions", json={**body, "model": "fine"}, headers=h)
            return refused, served

    refused, served = asyncio.run(run())
    assert refused.status_code == 400 and "context" in refused.json()["error"]["message"]
    assert served.status_code == 200 and "好的" in served.text
    assert p.quotas.held("t:holds") == 0  # neither hold outlives its request
    p.usage.flush()
    with p.store.connect() as conn:
        import sqlalchemy as sa

        from hanlin.platform.tables import usage_table

        statuses = [r[0] for r in conn.execute(sa.select(usage_table.c.status)
                                               .where(usage_table.c.tenant_id == "holds"))]
    assert "http_400" in statuses and "ok" in statuses, statuses
