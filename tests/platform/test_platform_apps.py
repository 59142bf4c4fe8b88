"""Custom apps (app:NAME) on a FakeEngine: the request the base model gets, versions, schema, validation."""

from __future__ import annotations

from typing import Any

from tests.support.platform_auth import chat, create_key


def _last_request(services: Any) -> dict[str, Any]:
    return services.engines.loaded()["fake"].requests[-1]  # type: ignore[no-any-return]


def test_app_rewrites_the_request_for_the_base_model(auth_client: Any, auth_services: Any,
                                                     admin_headers: dict[str, str]) -> None:
    _, h = create_key(auth_client, admin_headers, tenant="acme")
    r = auth_client.post("/v1/custom-apps", headers=h, json={
        "name": "公文助手", "system_prompt": "你是公文写作助手。", "params": {"temperature": 0.1, "max_tokens": 64}})
    assert r.status_code == 201 and r.json()["version"] == 1 and r.json()["id"] == "app:公文助手"
    r = chat(auth_client, h, model="app:公文助手", messages=[{"role": "system", "content": "用简体中文"},
                                                        {"role": "user", "content": "写个通知"}], temperature=0.5)
    assert r.status_code == 200
    assert r.json()["model"] == "app:公文助手" and r.json()["app"] == {"name": "公文助手", "version": 1}
    sent = _last_request(auth_services)
    assert sent["messages"][0] == {"role": "system", "content": "你是公文写作助手。\n\n用简体中文"}
    assert sent["temperature"] == 0.5 and sent["max_tokens"] == 64  # the caller overrides the app's defaults
    assert "response_format" not in sent


def test_editing_makes_a_new_version_and_old_ones_stay_callable(auth_client: Any, auth_services: Any,
                                                               admin_headers: dict[str, str]) -> None:
    _, h = create_key(auth_client, admin_headers, tenant="acme")
    auth_client.post("/v1/custom-apps", headers=h, json={"name": "bot", "system_prompt": "v1 提示"})
    schema = {"type": "object", "properties": {"标题": {"type": "string"}}, "required": ["标题"]}
    r = auth_client.patch("/v1/custom-apps/bot", headers=h, json={"system_prompt": "v2 提示", "output_schema": schema})
    assert r.status_code == 200 and r.json()["version"] == 2
    chat(auth_client, h, model="app:bot")
    sent = _last_request(auth_services)
    assert sent["messages"][0]["content"] == "v2 提示"
    assert sent["response_format"]["json_schema"]["schema"] == schema
    chat(auth_client, h, model="app:bot@1")
    assert _last_request(auth_services)["messages"][0]["content"] == "v1 提示"
    versions = auth_client.get("/v1/custom-apps/bot/versions", headers=h).json()["data"]
    assert [v["version"] for v in versions] == [1, 2]
    assert auth_client.get("/v1/custom-apps/bot?version=1", headers=h).json()["system_prompt"] == "v1 提示"
    assert auth_client.delete("/v1/custom-apps/bot", headers=h).status_code == 200
    assert chat(auth_client, h, model="app:bot").status_code == 404
    actions = [e["action"] for e in auth_client.get("/v1/admin/audit?tenant=acme", headers=admin_headers).json()["data"]]
    assert actions[:3] == ["app.delete", "app.update", "app.create"]


def test_app_knowledge_base_is_handed_to_the_knowledge_hook(tmp_path: Any) -> None:
    import asyncio

    from hanlin.principal import Principal
    from hanlin.serving.schemas import ChatCompletionRequest
    from tests.support.platform_auth import make_services

    services = make_services(tmp_path, features={"platform"})
    services.platform.apps.create("acme", "hr", {"knowledge_base": "员工手册"}, actor="t")
    req = ChatCompletionRequest(model="app:hr", messages=[{"role": "user", "content": "年假几天？"}])
    prepared = asyncio.run(services.chat.prepare(Principal("acme"), req))
    assert prepared.knowledge_base == "员工手册" and prepared.model == "fake"


def test_invalid_apps_get_clear_errors(auth_client: Any, admin_headers: dict[str, str]) -> None:
    h = admin_headers
    bad = [{"name": "x y"}, {"name": "a", "params": {"temprature": 1}}, {"name": "a", "params": {"max_tokens": "9"}},
           {"name": "a", "output_schema": {"properties": {}}}]
    for body in bad:
        r = auth_client.post("/v1/custom-apps", json=body, headers=h)
        assert r.status_code == 400, body
        assert r.json()["error"]["message"]
    assert auth_client.post("/v1/custom-apps", json={"name": "a"}, headers=h).status_code == 201
    assert auth_client.post("/v1/custom-apps", json={"name": "a"}, headers=h).status_code == 409
    assert chat(auth_client, h, model="app:a@x").status_code == 400
