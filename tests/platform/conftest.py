"""Fixtures of the platform tests: the app in-process over a FakeEngine with auth ON and a bootstrap admin key
(helpers in :mod:`tests.support.platform_auth`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.platform_auth import ADMIN_KEY, make_services


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
