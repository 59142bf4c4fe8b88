"""Platform fixtures: the app in-process over a FakeEngine with auth ON and a bootstrap admin key."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ADMIN_KEY = "test-admin-secret-0123456789"


def make_services(home: Path, database_url: str = "", **settings: Any) -> Any:
    from hanlin.config import Settings
    from hanlin.engine.fake import FakeEngine
    from hanlin.engine.manager import EngineManager
    from hanlin.services import build_services

    s = Settings(home=home, model="fake", auth="on", admin_key=ADMIN_KEY, database_url=database_url, **settings)
    engines = EngineManager(s)
    engines.add(FakeEngine("fake"))
    return build_services(s, engines=engines)


@pytest.fixture
def auth_services(tmp_path: Path) -> Any:
    return make_services(tmp_path)


@pytest.fixture
def auth_client(auth_services: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from hanlin.api.app import create_app

    with TestClient(create_app(auth_services.settings, auth_services)) as client:
        yield client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def pg_url() -> str | None:
    return os.environ.get("HANLIN_TEST_PG_URL") or None
