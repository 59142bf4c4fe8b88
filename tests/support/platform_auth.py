"""Platform test helpers: the app in-process over a FakeEngine with auth ON and a bootstrap admin key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ADMIN_KEY = "test-admin-secret-0123456789"


def make_services(home: Path, database_url: str = "", features: list[str] | None = None, **settings: Any) -> Any:
    from hanlin.config import Settings
    from hanlin.engine.fake import FakeEngine
    from hanlin.engine.manager import EngineManager
    from hanlin.services import build_services

    s = Settings(home=home, model="fake", auth="on", admin_key=ADMIN_KEY, database_url=database_url, **settings)
    engines = EngineManager(s)
    engines.add(FakeEngine("fake"))
    return build_services(s, engines=engines, features=features)


def create_key(client: Any, admin: dict[str, str], **body: Any) -> tuple[str, dict[str, str]]:
    """A new key through the admin API -> (key id, headers that use it)."""
    r = client.post("/v1/admin/keys", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()["id"], {"Authorization": f"Bearer {r.json()['key']}"}


def chat(client: Any, headers: dict[str, str], model: str | None = None, **extra: Any) -> Any:
    body = {"messages": [{"role": "user", "content": "你好，介绍一下你自己"}], **extra}
    if model:
        body["model"] = model
    return client.post("/v1/chat/completions", json=body, headers=headers)


def pg_url() -> str | None:
    return os.environ.get("HANLIN_TEST_PG_URL") or None

