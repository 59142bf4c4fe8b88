"""Shared fixtures.

- ``server``: ONE real `hanlin serve` process per test session with the real 0.5B model (4 slots), talked to
  over HTTP. Its HANLIN_HOME is fresh; assembled models are cached in HANLIN_MODELS_DIR across runs.
- ``fake_services`` / ``fake_client``: the app in-process over a scripted FakeEngine, for fast unit tests.

Helpers (starting more servers, platform keys, fixtures' data) live in ``tests/support/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, start_server, stop_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(tmp_path_factory.mktemp("hanlin-home"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def openai_client(server: RunningServer):  # type: ignore[no-untyped-def]
    from openai import OpenAI

    return OpenAI(base_url=server.base_url, api_key=os.environ.get("HANLIN_TEST_KEY", "unused"),
                  timeout=600, max_retries=0)


@pytest.fixture
def fake_services(tmp_path: Path):  # type: ignore[no-untyped-def]
    from hanlin.config import Settings
    from hanlin.engine.fake import FakeEngine
    from hanlin.engine.manager import EngineManager
    from hanlin.services import build_services

    settings = Settings(home=tmp_path, model="fake", auth="off")
    engines = EngineManager(settings)
    engines.add(FakeEngine("fake"))
    return build_services(settings, engines=engines)


@pytest.fixture
def fake_engine(fake_services):  # type: ignore[no-untyped-def]
    return fake_services.engines.loaded()["fake"]


@pytest.fixture
def fake_client(fake_services):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from hanlin.api.app import create_app

    with TestClient(create_app(fake_services.settings, fake_services)) as client:
        yield client
