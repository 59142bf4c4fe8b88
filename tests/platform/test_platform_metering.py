"""Metering outside the chat service: app routes and background jobs count the tokens their engines used;
knowledge-base changes are audited; the API schema needs a key when auth is on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hanlin.api.app import create_app
from hanlin.api.deps import Metered, PrincipalDep
from tests.support.platform_auth import create_key


@pytest.fixture
def client_with_app_route(auth_services: Any) -> Any:
    """The real app plus a tiny office-style app route that asks the engine twice, and a job kind."""
    app = create_app(auth_services.settings, auth_services)

    async def echo_app(principal: PrincipalDep) -> dict[str, Any]:
        engine = await auth_services.engines.get(None, principal=principal)
        usage = [(await engine.chat({"messages": [{"role": "user", "content": f"第{i}次"}]}))["usage"]
                 for i in range(2)]
        return {"usage": usage}
    app.add_api_route("/v1/apps/echo", echo_app, methods=["POST"], dependencies=[Metered])

    async def echo_job(ctx: Any) -> dict[str, Any]:
        engine = await auth_services.engines.get(None, principal=ctx.principal)
        return {"usage": (await engine.chat({"messages": [{"role": "user", "content": "后台任务"}]}))["usage"]}
    auth_services.jobs.register("echo", echo_job)
    with TestClient(app) as client:
        yield client


def test_app_routes_and_jobs_meter_their_tokens(client_with_app_route: Any, auth_services: Any,
                                                admin_headers: dict[str, str]) -> None:
    c = client_with_app_route
    _, h = create_key(c, admin_headers, tenant="office")
    r = c.post("/v1/apps/echo", headers=h)
    assert r.status_code == 200
    used = r.json()["usage"]
    job = auth_services.jobs.submit("echo", "office", {})
    done = asyncio.run(auth_services.jobs.wait(job["id"], timeout=30))
    assert done["state"] == "succeeded"
    rows = {row["route"]: row for row in auth_services.platform.usage.events(tenant_id="office")}
    app_row, job_row = rows["apps/echo"], rows["job:echo"]
    assert app_row["prompt_tokens"] == sum(u["prompt_tokens"] for u in used)
    assert app_row["completion_tokens"] == sum(u["completion_tokens"] for u in used)
    assert app_row["model"] == "fake" and app_row["status"] == "ok"
    assert job_row["completion_tokens"] == done["result"]["usage"]["completion_tokens"] > 0
    totals = c.get("/v1/usage", headers=h).json()["totals"]
    assert (totals["requests"], totals["jobs"]) == (1, 1)
    assert totals["total_tokens"] == app_row["total_tokens"] + job_row["total_tokens"]


def test_knowledge_base_changes_are_audited(client_with_app_route: Any, admin_headers: dict[str, str]) -> None:
    c = client_with_app_route
    key_id, h = create_key(c, admin_headers, tenant="kb-owner")
    r = c.post("/v1/knowledge-bases", json={"name": "制度"}, headers=h)
    if r.status_code == 404:
        pytest.skip("the knowledge feature is not installed")
    assert r.status_code == 201, r.text
    assert c.delete("/v1/knowledge-bases/制度", headers=h).status_code < 300
    entries = c.get("/v1/admin/audit?tenant=kb-owner&action=kb.", headers=admin_headers).json()["data"]
    assert [(e["action"], e["actor"]) for e in entries] == [("kb.delete", key_id), ("kb.create", key_id)]


def test_api_schema_needs_a_key_when_auth_is_on(client_with_app_route: Any, admin_headers: dict[str, str]) -> None:
    c = client_with_app_route
    assert c.get("/openapi.json").status_code == 401
    assert c.get("/docs").status_code == 401
    assert c.get("/openapi.json", headers=admin_headers).status_code == 200
    assert c.get("/").status_code == 200  # the console's page itself holds no data
