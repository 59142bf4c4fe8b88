"""The platform against a real `hanlin serve` (0.5B model) with auth ON: keys, the concurrency quota, usage
equal to the tokens generated, app:NAME from the openai SDK, and a restart in the middle of work."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e
ADMIN = "e2e-admin-key-7f3a9c2e"
SHORT = {"messages": [{"role": "user", "content": "你好"}], "max_tokens": 1, "temperature": 0}


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from tests.support.server import start_server, stop_server

    home = tmp_path_factory.mktemp("platform-auth")
    holder = {"srv": start_server(home, HANLIN_AUTH="on", HANLIN_ADMIN_KEY=ADMIN, HANLIN_PARALLEL="2")}
    yield holder
    stop_server(holder["srv"])


def new_key(srv: Any, *args: str) -> tuple[str, str]:
    """`hanlin keys create` on the server's database -> (key id, secret)."""
    r = srv.cli("keys", "create", "--json", *args)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    return out["id"], out["key"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_keys_on_a_real_server(auth_server: dict[str, Any]) -> None:
    srv = auth_server["srv"]
    assert httpx.get(srv.url + "/health").status_code == 200
    assert httpx.get(srv.base_url + "/models").status_code == 401
    key_id, secret = new_key(srv, "--tenant", "acme", "--name", "e2e")
    assert httpx.get(srv.base_url + "/models", headers=bearer(secret)).status_code == 200
    r = httpx.post(srv.base_url + "/custom-apps", json={"name": "acme-bot", "system_prompt": "简短回答"},
                   headers=bearer(secret))
    assert r.status_code == 201
    _, other = new_key(srv, "--tenant", "rival")
    r = httpx.post(srv.base_url + "/chat/completions", json={**SHORT, "model": "app:acme-bot"}, headers=bearer(other))
    assert r.status_code == 404
    assert srv.cli("keys", "revoke", key_id).returncode == 0
    assert httpx.get(srv.base_url + "/models", headers=bearer(secret)).status_code == 401


def test_50_concurrent_requests_against_10_per_minute(auth_server: dict[str, Any]) -> None:
    srv = auth_server["srv"]
    _, secret = new_key(srv, "--tenant", "burst", "--rpm", "10")
    barrier = threading.Barrier(50)

    def one(_: int) -> httpx.Response:
        barrier.wait()
        return httpx.post(srv.base_url + "/chat/completions", json=SHORT, headers=bearer(secret), timeout=300)
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(one, range(50)))
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 10 and codes.count(429) == 40, codes
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in responses if r.status_code == 429)
    totals = httpx.get(srv.base_url + "/usage", headers=bearer(secret)).json()["totals"]
    assert (totals["requests"], totals["errors"]) == (50, 40)


def test_usage_equals_the_tokens_generated(auth_server: dict[str, Any]) -> None:
    from openai import OpenAI

    srv = auth_server["srv"]
    _, secret = new_key(srv, "--tenant", "meter")
    client = OpenAI(base_url=srv.base_url, api_key=secret, max_retries=0, timeout=300)
    msgs = [{"role": "user", "content": "用一句话介绍长城"}]
    plain = client.chat.completions.create(model="qwen2.5-coder-0.5b-instruct", messages=msgs,  # type: ignore[arg-type]
                                           max_tokens=12, temperature=0)
    assert plain.usage is not None
    seen = [plain.usage]
    stream = client.chat.completions.create(model="qwen2.5-coder-0.5b-instruct", messages=msgs,  # type: ignore[arg-type]
                                            max_tokens=12, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.usage:
            seen.append(chunk.usage)
    assert len(seen) == 2 and seen[1].completion_tokens > 0
    totals = httpx.get(srv.base_url + "/usage", headers=bearer(secret)).json()["totals"]
    assert totals["prompt_tokens"] == sum(u.prompt_tokens for u in seen)
    assert totals["completion_tokens"] == sum(u.completion_tokens for u in seen)
    cli = srv.cli("usage", "--tenant", "meter", "--json")
    assert json.loads(cli.stdout)["totals"] == totals


def test_custom_app_from_the_openai_sdk(auth_server: dict[str, Any]) -> None:
    from openai import OpenAI

    srv = auth_server["srv"]
    _, secret = new_key(srv, "--tenant", "apps")
    schema = {"type": "object", "properties": {"标题": {"type": "string", "maxLength": 20},
                                               "要点": {"type": "array", "items": {"type": "string", "maxLength": 30},
                                                        "maxItems": 2}},
              "required": ["标题", "要点"], "additionalProperties": False}
    r = httpx.post(srv.base_url + "/custom-apps", headers=bearer(secret), json={
        "name": "summary", "system_prompt": "把用户的话总结成标题和要点，输出 JSON。",
        "params": {"max_tokens": 80, "temperature": 0}, "output_schema": schema})
    assert r.status_code == 201
    client = OpenAI(base_url=srv.base_url, api_key=secret, max_retries=0, timeout=300)
    resp = client.chat.completions.create(model="app:summary",
                                          messages=[{"role": "user", "content": "明天下午三点开会讨论预算"}])
    assert resp.model == "app:summary"
    data = json.loads(resp.choices[0].message.content or "")
    assert set(data) == {"标题", "要点"} and isinstance(data["要点"], list)
    usage = httpx.get(srv.base_url + "/usage", headers=bearer(secret)).json()["data"]
    assert [(u["model"], u["requests"]) for u in usage] == [("app:summary", 1)]
    assert resp.usage is not None and usage[0]["completion_tokens"] == resp.usage.completion_tokens


def test_restart_in_the_middle_of_work(auth_server: dict[str, Any]) -> None:
    from tests.support.server import start_server, stop_server

    srv = auth_server["srv"]
    key_id, secret = new_key(srv, "--tenant", "durable", "--rpm", "100")
    httpx.post(srv.base_url + "/custom-apps", headers=bearer(secret), json={"name": "keeper", "system_prompt": "一"})
    httpx.patch(srv.base_url + "/custom-apps/keeper", headers=bearer(secret), json={"system_prompt": "二"})
    httpx.post(srv.base_url + "/chat/completions", json=SHORT, headers=bearer(secret), timeout=300)
    started = threading.Event()

    def long_stream() -> None:  # a generation that is still running when the server goes down
        body = {"messages": [{"role": "user", "content": "写一篇很长的文章"}], "max_tokens": 400, "stream": True}
        try:
            with httpx.stream("POST", srv.base_url + "/chat/completions", json=body, headers=bearer(secret),
                              timeout=300) as r:
                for _ in r.iter_lines():
                    started.set()
        except httpx.HTTPError:
            pass
    t = threading.Thread(target=long_stream)
    t.start()
    assert started.wait(120)
    stop_server(srv)
    t.join(60)
    srv = auth_server["srv"] = start_server(Path(srv.home), HANLIN_AUTH="on", HANLIN_ADMIN_KEY=ADMIN,
                                            HANLIN_PARALLEL="2")
    me = httpx.get(srv.base_url + "/me", headers=bearer(secret)).json()
    assert me["tenant_id"] == "durable" and me["key"]["rpm"] == 100
    app = httpx.get(srv.base_url + "/custom-apps/keeper", headers=bearer(secret)).json()
    assert (app["version"], app["system_prompt"]) == (2, "二")
    usage = httpx.get(srv.base_url + "/usage", headers=bearer(secret)).json()["totals"]
    assert usage["requests"] >= 1 and usage["completion_tokens"] >= 1
    audit = httpx.get(srv.base_url + "/admin/audit?tenant=durable", headers=bearer(ADMIN)).json()["data"]
    assert {"key.create", "app.create", "app.update"} <= {a["action"] for a in audit}
    assert httpx.get(srv.base_url + "/models", headers=bearer(secret)).status_code == 200
