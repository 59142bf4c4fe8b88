"""Shared by the compat tests: client libraries against the shared session ``server`` (the real 0.5B); short
max_tokens keep CI lean."""

from __future__ import annotations

MODEL = "qwen2.5-coder-0.5b-instruct"

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "查询城市的实时天气",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "城市名"}},
                   "required": ["city"]}}}
