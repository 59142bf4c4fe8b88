"""Budgets and tokens/minute reserve the real prompt token count + max_tokens at admission and settle to the real
usage after (issue 15 item 6): spent <= limit under 20 concurrent requests, budgets and tpm alike — with the
real 0.5B (llama.cpp tokenizes the templated prompt), and over a fake engine for the local and Redis limiters."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from hanlin.engine.fake import FakeEngine
from hanlin.principal import LOCAL_ADMIN
from tests.support.platform_auth import ADMIN_KEY, make_services

QUESTION = [{"role": "user", "content": "你好，介绍一下你自己"}]  # 33 prompt tokens with Qwen2.5's template


class CountingFake(FakeEngine):
    """Tokenizes like an engine that can (a fixed count), answers 40 tokens unless max_tokens is lower, slowly."""

    PROMPT = 33

    async def count_prompt_tokens(self, body: dict[str, Any]) -> int:
        return self.PROMPT

    async def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.2)
        n = min(40, int(request.get("max_tokens") or 40))
        resp = await super().chat(request)
        resp["usage"] = {"prompt_tokens": self.PROMPT, "completion_tokens": n, "total_tokens": self.PROMPT + n}
        return resp


async def burst(services: Any, secret: str, n: int, **body: Any) -> list[httpx.Response]:
    from hanlin.api.app import create_app

    transport = httpx.ASGITransport(app=create_app(services.settings, services))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=300) as client:
        h = {"Authorization": f"Bearer {secret}"}
        return list(await asyncio.gather(*[client.post("/v1/chat/completions", headers=h,
                                                       json={"messages": QUESTION, **body}) for _ in range(n)]))


def tenant_with(services: Any, **quota: int) -> tuple[str, str]:
    p = services.platform
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    _, secret = p.keys.create(tenant_id=tenant, actor="test")
    p.tenants.set_quota(tenant, quota, actor="test")
    return tenant, secret


def spent(services: Any, tenant: str) -> int:
    return int(services.platform.usage.summary(tenant_id=tenant)["totals"]["total_tokens"])


@pytest.mark.parametrize("limiter", ["local", "redis"])
def test_20_concurrent_never_overspend_budget_or_tpm(tmp_path: Path, limiter: str) -> None:
    redis_url = os.environ.get("HANLIN_TEST_REDIS_URL", "") if limiter == "redis" else ""
    if limiter == "redis" and not redis_url:
        pytest.skip("HANLIN_TEST_REDIS_URL not set (scripts/test.sh sets it)")
    services = make_services(tmp_path, redis_url=redis_url)
    services.engines.add(CountingFake("fake"))
    tenant, secret = tenant_with(services, monthly_tokens=200)
    codes = [r.status_code for r in asyncio.run(burst(services, secret, 20, max_tokens=12))]
    # each reserves 33 + 12 = 45: four fit in 200, a fifth would not
    assert codes.count(200) == 4 and codes.count(429) == 16, codes
    assert spent(services, tenant) <= 200
    assert services.platform.quotas.held(f"t:{tenant}") <= 200

    tenant, secret = tenant_with(services, tpm=60)
    responses = asyncio.run(burst(services, secret, 20, max_tokens=12))
    assert [r.status_code for r in responses].count(200) == 1  # 45 fits in 60 once; 20 × 45 = 900 did before
    assert spent(services, tenant) <= 60
    refused = [r.json()["error"] for r in responses if r.status_code == 429]
    assert {e["code"] for e in refused} == {"tokens_per_minute_exceeded"}


def test_without_max_tokens_a_quota_caps_generation(tmp_path: Path) -> None:
    services = make_services(tmp_path, quota_default_max_tokens=10)
    fake = CountingFake("fake")
    services.engines.add(fake)
    tenant, secret = tenant_with(services, monthly_tokens=100)
    codes = [r.status_code for r in asyncio.run(burst(services, secret, 5))]
    assert codes.count(200) == 2 and fake.requests[0]["max_tokens"] == 10  # 43 reserved each: 2 fit in 100
    assert spent(services, tenant) <= 100


def test_engines_that_cannot_tokenize_reserve_a_safe_upper_bound() -> None:
    from hanlin.engine.tokens import prompt_tokens, upper_bound

    body = {"messages": QUESTION}
    n, exact = asyncio.run(prompt_tokens(FakeEngine("fake"), body))
    assert not exact and n == upper_bound(body) >= 33  # ≥ the real count (33 with Qwen2.5's template)
    assert asyncio.run(prompt_tokens(CountingFake("fake"), body)) == (33, True)


@pytest.mark.e2e
def test_real_model_budget_and_tpm_hold_exactly(tmp_path: Path) -> None:
    """The real 0.5B in-process: llama.cpp counts the templated prompt (33 tokens), so 20 concurrent chats with
    max_tokens=12 (45 tokens each) spend no more than the budget, and tpm=60 admits exactly one."""
    from hanlin.config import Settings
    from hanlin.services import build_services
    from tests.support.server import FAST_MODEL, MODEL_CACHE

    settings = Settings(home=tmp_path, model=FAST_MODEL, auth="on", admin_key=ADMIN_KEY, parallel=4,
                        ctx_per_slot=1024, threads=int(os.environ.get("HANLIN_THREADS", "2")),
                        HANLIN_MODELS_DIR=MODEL_CACHE)
    services = build_services(settings)
    budget_tenant, budget_secret = tenant_with(services, monthly_tokens=100)
    tpm_tenant, tpm_secret = tenant_with(services, tpm=60)

    async def run() -> tuple[list[int], list[int]]:
        engine = await services.engines.get(FAST_MODEL, principal=LOCAL_ADMIN)
        try:
            assert await engine.count_prompt_tokens({"messages": QUESTION}) == 33
            budget = await burst(services, budget_secret, 20, max_tokens=12, temperature=0)
            tpm = await burst(services, tpm_secret, 20, max_tokens=12, temperature=0)
            return [r.status_code for r in budget], [r.status_code for r in tpm]
        finally:
            await services.engines.close()

    budget_codes, tpm_codes = asyncio.run(run())
    assert budget_codes.count(200) == 2 and budget_codes.count(429) == 18, budget_codes  # 2 × 45 fit in 100
    assert 0 < spent(services, budget_tenant) <= 100
    assert tpm_codes.count(200) == 1, tpm_codes
    assert 0 < spent(services, tpm_tenant) <= 60
