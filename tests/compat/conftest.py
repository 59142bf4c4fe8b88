"""Client libraries against the shared session ``server`` (the real 0.5B). Short max_tokens keep CI lean."""

from __future__ import annotations

import pytest

MODEL = "qwen2.5-coder-0.5b-instruct"

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "查询城市的实时天气",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "城市名"}},
                   "required": ["city"]}}}


@pytest.fixture(scope="session")
def base_url(server) -> str:  # type: ignore[no-untyped-def]
    return str(server.base_url)
