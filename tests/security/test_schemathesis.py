"""schemathesis over /openapi.json, in process over a scripted engine: no generated input may get a 5xx.

Generation routes answer from the FakeEngine (no model cost); an app that needs JSON from it gets plain text and
answers 502 ``engine_error`` — that is the engine's failure reported as such, so it is the one 5xx allowed.
Schemathesis' coverage and stateful phases are off to keep this to ~2 minutes on 2 cores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from hanlin.api.app import create_app
    from hanlin.config import Settings
    from hanlin.engine.fake import FakeEngine
    from hanlin.engine.manager import EngineManager
    from hanlin.services import build_services

    home: Path = tmp_path_factory.mktemp("schemathesis")
    s = Settings(home=home, model="fake", auth="off", max_upload_mb=2, work_timeout_s=20)
    engines = EngineManager(s)
    engines.add(FakeEngine("fake"))
    services = build_services(s, engines=engines)
    loaded = schemathesis.openapi.from_asgi("/openapi.json", create_app(s, services))
    phases = loaded.config.phases
    phases.coverage.enabled = False  # hundreds of boundary cases per route: too slow for CI on 2 cores
    phases.stateful.enabled = False
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_5xx(case: Any) -> None:
    response = case.call()
    if response.status_code == 502 and response.json()["error"]["type"] == "engine_error":
        return  # the scripted engine answered plain text where an app needs JSON: the engine's fault, reported
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: " \
                                       f"{response.text[:500]}\n{case.as_curl_command()}"
