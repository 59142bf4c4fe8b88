"""Two tenants on one in-process app (auth on, FakeEngine): the fixture the isolation tests share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.platform_auth import ADMIN_KEY, make_services

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@dataclass
class TwoTenants:
    client: Any  # fastapi TestClient (an httpx.Client)
    services: Any
    a: dict[str, str]  # headers with tenant A's key
    b: dict[str, str]
    a_key: str
    b_key: str


def new_key(client: Any, tenant: str, **body: Any) -> str:
    r = client.post("/v1/admin/keys", json={"tenant": tenant, **body}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def two_tenants(home: Path, **settings: Any) -> Iterator[TwoTenants]:
    from fastapi.testclient import TestClient

    from hanlin.api.app import create_app

    services = make_services(home, **settings)
    with TestClient(create_app(services.settings, services)) as client:
        ka, kb = new_key(client, "tenant-a"), new_key(client, "tenant-b")
        yield TwoTenants(client, services, {"Authorization": f"Bearer {ka}"}, {"Authorization": f"Bearer {kb}"},
                         ka, kb)


def tenants_fixture(tmp_path: Path) -> Iterator[TwoTenants]:
    """Bind in a test module with ``tenants = pytest.fixture(tenants_fixture)``."""
    yield from two_tenants(tmp_path)
