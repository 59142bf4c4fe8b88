"""Models a tenant makes belong to it (issue 15 item 5) and /v1/models lists what the caller may use (issue 16
item 6): tenant B neither lists, reads nor uses tenant A's ft: model — by chat, completions, a custom app or a
job — until an admin shares it; apps show up as app:NAME with real created times, owned_by = the tenant."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.tenants import ADMIN, TwoTenants, tenants_fixture

tenants = pytest.fixture(tenants_fixture)
FT = "ft:a-private"
MSG = [{"role": "user", "content": "你好"}]


def sdk(t: TwoTenants, key: str) -> Any:
    from openai import OpenAI

    return OpenAI(base_url="http://testserver/v1", api_key=key, http_client=t.client, max_retries=0)


def add_ft_model(t: TwoTenants, tmp_path: Path) -> None:
    """Register A's fine-tuned model as the tuning job does, served by a FakeEngine when loaded."""
    from hanlin.engine.fake import FakeEngine
    from hanlin.models.registry import ModelSpec

    gguf = tmp_path / "adapter.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 16)
    t.services.registry.add(ModelSpec(name=FT, kind="finetuned", path=str(gguf), lora_path=str(gguf),
                                      owner="tenant-a"))
    t.services.engines._build = lambda spec: FakeEngine(spec.name)


def chat(t: TwoTenants, headers: dict[str, str], model: str) -> Any:
    return t.client.post("/v1/chat/completions", headers=headers, json={"model": model, "messages": MSG})


def test_tenant_b_cannot_list_get_or_use_a_fine_tuned_model(tenants: TwoTenants, tmp_path: Path) -> None:
    import openai

    add_ft_model(tenants, tmp_path)
    a, b = sdk(tenants, tenants.a_key), sdk(tenants, tenants.b_key)
    mine = {m.id: m for m in a.models.list().data}
    assert mine[FT].owned_by == "tenant-a" and abs(mine[FT].created - time.time()) < 600
    assert a.models.retrieve(FT).id == FT
    assert chat(tenants, tenants.a, FT).status_code == 200  # loads the engine: B must not reach it either

    assert FT not in [m.id for m in b.models.list().data]
    with pytest.raises(openai.NotFoundError) as e:
        b.models.retrieve(FT)
    assert e.value.body["message"] == f"The model '{FT}' does not exist"
    missing = chat(tenants, tenants.b, "ft:no-such")
    theirs = chat(tenants, tenants.b, FT)
    assert missing.status_code == theirs.status_code == 404
    assert theirs.json()["error"]["message"].replace(FT, "X") == missing.json()["error"]["message"].replace(
        "ft:no-such", "X")
    assert FT not in missing.json()["error"]["message"]  # "Known models" lists no other tenant's model
    r = tenants.client.post("/v1/completions", headers=tenants.b, json={"model": FT, "prompt": "你好"})
    assert r.status_code == 404, r.text
    r = tenants.client.post("/v1/custom-apps", headers=tenants.b, json={"name": "steal", "base_model": FT})
    if r.status_code == 201:  # an app may name any model; using it through the app is what must fail
        assert chat(tenants, tenants.b, "app:steal").status_code == 404
    r = tenants.client.post("/v1/evals", headers=tenants.b, json={"suite": "ocnli", "model": FT, "limit": 1})
    assert r.status_code == 404 and FT in r.json()["error"]["message"]


def test_admin_shares_a_model_explicitly(tenants: TwoTenants, tmp_path: Path) -> None:
    add_ft_model(tenants, tmp_path)
    assert chat(tenants, tenants.b, FT).status_code == 404
    r = tenants.client.post(f"/v1/admin/models/{FT}/share", headers=tenants.b, json={"tenants": ["tenant-b"]})
    assert r.status_code == 403  # only admins share
    r = tenants.client.post(f"/v1/admin/models/{FT}/share", headers=ADMIN, json={"tenants": ["tenant-b"]})
    assert r.status_code == 200 and r.json()["shared_with"] == ["tenant-b"], r.text
    assert FT in [m.id for m in sdk(tenants, tenants.b_key).models.list().data]
    assert chat(tenants, tenants.b, FT).status_code == 200
    r = tenants.client.post(f"/v1/admin/models/{FT}/share", headers=ADMIN,
                            json={"tenants": ["tenant-b"], "unshare": True})
    assert r.json()["shared_with"] == [] and chat(tenants, tenants.b, FT).status_code == 404


def test_models_list_shows_the_callers_apps(tenants: TwoTenants) -> None:
    before = time.time()
    r = tenants.client.post("/v1/custom-apps", headers=tenants.a, json={"name": "writer", "system_prompt": "写作"})
    assert r.status_code == 201, r.text
    a, b = sdk(tenants, tenants.a_key), sdk(tenants, tenants.b_key)
    app = {m.id: m for m in a.models.list().data}["app:writer"]
    assert app.owned_by == "tenant-a" and before - 1 <= app.created <= time.time() + 1
    assert a.models.retrieve("app:writer").created == app.created
    assert "app:writer" not in [m.id for m in b.models.list().data]
    import openai

    with pytest.raises(openai.NotFoundError):
        b.models.retrieve("app:writer")
    assert all(m.created > 1_600_000_000 for m in a.models.list().data)  # real times, not 0


@pytest.mark.e2e
def test_real_server_lists_apps_and_models(server, openai_client) -> None:  # type: ignore[no-untyped-def]
    import httpx

    r = httpx.post(server.base_url + "/custom-apps", json={"name": "list-me", "system_prompt": "你是助手"}, timeout=60)
    assert r.status_code == 201, r.text
    listed = {m.id: m for m in openai_client.models.list().data}
    assert listed["app:list-me"].owned_by == "default" and listed["app:list-me"].created > 1_600_000_000
    assert listed["qwen2.5-coder-0.5b-instruct"].created > 1_600_000_000
    assert openai_client.models.retrieve("app:list-me").id == "app:list-me"
