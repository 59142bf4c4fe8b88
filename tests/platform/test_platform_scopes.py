"""Key scopes are checked where engines are handed out (``EngineManager.get``), for every route and job.

Regression for the hardening issue: a key scoped to ``app:writer`` reached the base model through the office
apps, rerank, knowledge-base search with rerank and fine-tuning.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from hanlin.principal import Principal
from tests.support.platform_auth import create_key

CSV = "地区,销售额\n北京,100\n上海,200\n".encode()
JSONL = '{"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "您好"}]}\n' * 4


@pytest.fixture
def keys(auth_client: Any, admin_headers: dict[str, str]) -> dict[str, dict[str, str]]:
    _, full = create_key(auth_client, admin_headers, tenant="acme")
    r = auth_client.post("/v1/custom-apps", json={"name": "writer", "system_prompt": "写作"}, headers=full)
    assert r.status_code == 201, r.text
    assert auth_client.post("/v1/knowledge-bases", json={"name": "手册"}, headers=full).status_code == 201
    _, writer = create_key(auth_client, admin_headers, tenant="acme", scopes=["app:writer"])
    _, ad_only = create_key(auth_client, admin_headers, tenant="acme", scopes=["app:ad"])
    _, fake_only = create_key(auth_client, admin_headers, tenant="acme", scopes=["model:fake"])
    return {"full": full, "writer": writer, "ad": ad_only, "fake": fake_only}


def _denied(r: Any) -> bool:
    return r.status_code == 403 and r.json()["error"]["type"] == "permission_error"


def _post_routes(c: Any, h: dict[str, str]) -> dict[str, Any]:
    """Every route that reaches a generation model, called the way a client would."""
    return {
        "ad": c.post("/v1/apps/ad", json={"product": "保温杯，12小时保温"}, headers=h),
        "document": c.post("/v1/apps/document", json={"type": "通知", "brief": "周五下午开安全会"}, headers=h),
        "document background": c.post("/v1/apps/document", json={"type": "通知", "brief": "开会", "background": True},
                                      headers=h),
        "minutes": c.post("/v1/apps/minutes", json={"transcript": "张伟：今天讨论预算。\n李娜：同意。"}, headers=h),
        "formula": c.post("/v1/apps/formula", data={"request": "北京的销售额"},
                          files={"file": ("s.csv", io.BytesIO(CSV), "text/csv")}, headers=h),
        "chart with ask": c.post("/v1/apps/chart", data={"ask": "各地区销售额柱状图"},
                                 files={"file": ("s.csv", io.BytesIO(CSV), "text/csv")}, headers=h),
        "rerank (embedding model)": c.post("/v1/rerank", json={"query": "假期", "documents": ["年假五天"]}, headers=h),
        "rerank (llm)": c.post("/v1/rerank", json={"model": "fake", "query": "假期", "documents": ["年假五天"]},
                               headers=h),
        "kb search with rerank": c.post("/v1/knowledge-bases/手册/search", json={"query": "年假", "rerank": True},
                                        headers=h),
        "fine-tuning": c.post("/v1/fine_tuning/jobs", json={"training_data": JSONL}, headers=h),
        "completions": c.post("/v1/completions", json={"prompt": "你好", "max_tokens": 2}, headers=h),
        "embeddings": c.post("/v1/embeddings", json={"input": "你好"}, headers=h),
        "evals": c.post("/v1/evals", json={"suite": "ceval", "limit": 1}, headers=h),
    }


def test_an_app_scoped_key_reaches_no_model_through_any_route(auth_client: Any, auth_services: Any,
                                                               keys: dict[str, dict[str, str]]) -> None:
    engine = auth_services.engines.loaded()["fake"]
    before = len(engine.requests)
    answers = _post_routes(auth_client, keys["writer"])
    allowed = {name: f"{r.status_code} {r.text[:200]}" for name, r in answers.items() if not _denied(r)}
    assert allowed == {}
    assert len(engine.requests) == before  # nothing was generated for this key
    assert auth_services.jobs.list_jobs("acme") == []  # and no job was queued
    rows = auth_services.platform.usage.events(tenant_id="acme", limit=100)
    assert {r["route"] for r in rows if r["status"] == "http_403"} >= {"apps/ad", "apps/document", "rerank",
                                                                       "knowledge-bases/手册/search"}


def test_the_app_scope_of_an_office_app_or_the_model_scope_opens_it(auth_client: Any, auth_services: Any,
                                                                     keys: dict[str, dict[str, str]]) -> None:
    engine = auth_services.engines.loaded()["fake"]
    for who in ("ad", "fake"):
        engine.enqueue({"variants": [{"title": "冬日暖杯", "text": "12小时保温，通勤好伴侣"}]})
        r = auth_client.post("/v1/apps/ad", json={"product": "保温杯，12小时保温", "platform": "公众号", "n": 1},
                             headers=keys[who])
        assert r.status_code == 200, (who, r.text)
    assert _denied(auth_client.post("/v1/apps/document", json={"type": "通知", "brief": "开会"}, headers=keys["ad"]))
    assert _denied(auth_client.post("/v1/rerank", json={"model": "fake", "query": "假期", "documents": ["年假"]},
                                    headers=keys["ad"]))


def test_a_job_uses_its_submitters_scopes_when_it_runs(auth_services: Any) -> None:
    """A job queued for a scoped key cannot reach a model the key may not use, even if it got past the route."""
    async def run() -> dict[str, Any]:
        await auth_services.jobs.start()
        try:
            job = auth_services.jobs.submit("document", Principal(tenant_id="acme", scopes=("app:writer",)),
                                            {"request": {"doc_type": "通知", "brief": "周五开会"}, "model": None})
            return dict(await auth_services.jobs.wait(job["id"], timeout=30))
        finally:
            await auth_services.jobs.stop()

    engine = auth_services.engines.loaded()["fake"]
    done = asyncio.run(run())
    assert done["state"] == "failed" and "may not use model" in done["error"]
    assert engine.requests == []
