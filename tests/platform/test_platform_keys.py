"""Keys and auth with auth ON (in-process, FakeEngine): missing, revoked, expired, other tenant's, scopes."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from hanlin.platform import key_cache
from hanlin.platform.auth import hash_secret
from hanlin.platform.tables import api_keys_table
from tests.support.platform_auth import chat, create_key


def test_every_route_but_health_needs_a_key(auth_client: Any) -> None:
    assert auth_client.get("/health").status_code == 200
    for method, path in [("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/v1/jobs"),
                         ("GET", "/v1/usage"), ("GET", "/metrics"), ("GET", "/v1/custom-apps"),
                         ("GET", "/v1/admin/keys"), ("POST", "/v1/completions"), ("GET", "/v1/me")]:
        r = auth_client.request(method, path, json={"messages": [{"role": "user", "content": "x"}], "prompt": "x"})
        assert r.status_code == 401, (path, r.status_code, r.text)
        assert r.json()["error"]["type"] == "authentication_error"
    r = auth_client.get("/v1/models", headers={"Authorization": "Bearer hl-0000000000-not-a-real-key"})
    assert r.status_code == 401


def test_key_works_then_revoked_key_is_rejected(auth_client: Any, admin_headers: dict[str, str]) -> None:
    key_id, h = create_key(auth_client, admin_headers, tenant="acme", name="ci")
    assert chat(auth_client, h).status_code == 200
    assert auth_client.get("/v1/me", headers=h).json()["tenant_id"] == "acme"
    r = auth_client.post(f"/v1/admin/keys/{key_id}/revoke", headers=admin_headers)
    assert r.json()["status"] == "revoked"
    r = chat(auth_client, h)
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_expired_key_is_rejected(auth_client: Any, auth_services: Any, admin_headers: dict[str, str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    key_id, h = create_key(auth_client, admin_headers, tenant="acme", expires="1h")
    assert chat(auth_client, h).status_code == 200
    with auth_services.store.begin() as conn:  # an hour passes: in the database, and for the key cache's clock
        conn.execute(api_keys_table.update().where(api_keys_table.c.id == key_id).values(expires_at=1.0))
    real = time.time
    monkeypatch.setattr(key_cache, "time", SimpleNamespace(time=lambda: real() + 3601, monotonic=time.monotonic))
    assert chat(auth_client, h).status_code == 401
    assert auth_client.get(f"/v1/admin/keys/{key_id}", headers=admin_headers).json()["status"] == "expired"
    r = auth_client.post("/v1/admin/keys", json={"tenant": "acme", "expires": "2001-01-01"}, headers=admin_headers)
    assert r.status_code == 400


def test_secret_shown_once_hashed_at_rest_never_logged(auth_client: Any, auth_services: Any,
                                                        admin_headers: dict[str, str], caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    r = auth_client.post("/v1/admin/keys", json={"tenant": "acme"}, headers=admin_headers)
    secret, key_id = r.json()["key"], r.json()["id"]
    assert secret.startswith(r.json()["prefix"] + "-")
    chat(auth_client, {"Authorization": f"Bearer {secret}"})
    assert "key" not in auth_client.get(f"/v1/admin/keys/{key_id}", headers=admin_headers).json()
    with auth_services.store.connect() as conn:
        row = conn.execute(sa.select(api_keys_table).where(api_keys_table.c.id == key_id)).one()
        dump = " ".join(str(v) for v in row)
    assert row.secret_hash == hash_secret(secret) and secret not in dump
    audit = auth_client.get("/v1/admin/audit", headers=admin_headers).text
    assert secret not in audit and secret not in caplog.text


def test_non_admin_cannot_use_admin_routes(auth_client: Any, admin_headers: dict[str, str]) -> None:
    _, h = create_key(auth_client, admin_headers, tenant="acme")
    for path in ["/v1/admin/keys", "/v1/admin/tenants", "/v1/admin/audit", "/v1/admin/usage"]:
        assert auth_client.get(path, headers=h).status_code == 403
    assert auth_client.post("/v1/admin/keys", json={"tenant": "acme", "admin": True}, headers=h).status_code == 403


def test_tenants_do_not_see_each_other(auth_client: Any, auth_services: Any, admin_headers: dict[str, str]) -> None:
    _, a = create_key(auth_client, admin_headers, tenant="tenant-a")
    _, b = create_key(auth_client, admin_headers, tenant="tenant-b")
    assert auth_client.post("/v1/custom-apps", json={"name": "secretary", "system_prompt": "A 的秘书"},
                            headers=a).status_code == 201
    assert chat(auth_client, a, model="app:secretary").status_code == 200
    assert chat(auth_client, b, model="app:secretary").status_code == 404
    assert auth_client.get("/v1/custom-apps", headers=b).json()["data"] == []
    assert auth_client.get("/v1/custom-apps/secretary", headers=b).status_code == 404
    assert auth_client.get("/v1/usage", headers=b).json()["totals"]["requests"] == 1  # only B's own 404
    assert auth_client.get("/v1/usage", headers=a).json()["totals"]["requests"] == 1
    job = auth_services.jobs.submit("noop", "tenant-a", {})
    assert auth_client.get(f"/v1/jobs/{job['id']}", headers=a).status_code == 200
    assert auth_client.get(f"/v1/jobs/{job['id']}", headers=b).status_code == 404
    assert [k["tenant_id"] for k in auth_client.get("/v1/keys", headers=b).json()["data"]] == ["tenant-b"]
    if auth_client.post("/v1/knowledge-bases", json={"name": "制度"}, headers=a).status_code == 201:
        assert auth_client.get("/v1/knowledge-bases/制度", headers=a).status_code == 200
        assert auth_client.get("/v1/knowledge-bases/制度", headers=b).status_code == 404
        assert "制度" not in auth_client.get("/v1/knowledge-bases", headers=b).text


def test_scopes_limit_models_and_apps(auth_client: Any, admin_headers: dict[str, str]) -> None:
    auth_client.post("/v1/admin/keys", json={"tenant": "acme"}, headers=admin_headers)
    _, full = create_key(auth_client, admin_headers, tenant="acme")
    auth_client.post("/v1/custom-apps", json={"name": "writer", "system_prompt": "写作"}, headers=full)
    _, other_model = create_key(auth_client, admin_headers, tenant="acme", scopes=["model:not-this-one"])
    r = chat(auth_client, other_model)
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    _, app_only = create_key(auth_client, admin_headers, tenant="acme", scopes=["app:writer"])
    assert chat(auth_client, app_only, model="app:writer").status_code == 200
    assert chat(auth_client, app_only).status_code == 403  # the base model directly
    assert auth_client.post("/v1/custom-apps", json={"name": "x"}, headers=app_only).status_code == 403
    _, fake_only = create_key(auth_client, admin_headers, tenant="acme", scopes=["model:fake"])
    assert chat(auth_client, fake_only).status_code == 200
    assert chat(auth_client, fake_only, model="app:writer").status_code == 403
    r = auth_client.post("/v1/completions", json={"prompt": "你好", "max_tokens": 2}, headers=fake_only)
    assert r.status_code == 200
    r = auth_client.post("/v1/completions", json={"model": "other", "prompt": "你好"}, headers=fake_only)
    assert r.status_code == 403
    assert auth_client.post("/v1/embeddings", json={"input": "你好"}, headers=fake_only).status_code == 403
    bad = auth_client.post("/v1/admin/keys", json={"tenant": "acme", "scopes": ["everything"]}, headers=admin_headers)
    assert bad.status_code == 400
