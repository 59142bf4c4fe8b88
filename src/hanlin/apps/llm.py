"""Schema-constrained JSON from the model: every app asks through here, then verifies with real tools."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from hanlin.engine.base import Engine
from hanlin.errors import EngineError

log = logging.getLogger(__name__)


@dataclass
class JsonResult:
    data: Any
    usage: dict[str, int] = field(default_factory=dict)
    raw: str = ""
    finish_reason: str = ""


def add_usage(total: dict[str, int], usage: dict[str, Any]) -> None:
    """Add the integer counts of one reply's ``usage`` to ``total`` (nested details are skipped)."""
    for k, v in usage.items():
        if isinstance(v, int):
            total[k] = total.get(k, 0) + v


async def generate_json(engine: Engine, messages: list[dict[str, Any]], schema: dict[str, Any], *,
                        name: str = "result", max_tokens: int = 1024, temperature: float = 0.2,
                        seed: int | None = 42, attempts: int = 2, **params: Any) -> JsonResult:
    """Ask for JSON matching ``schema`` (grammar-enforced by the engine) and parse it.

    A reply cut off by ``max_tokens`` is not valid JSON: it is retried once with twice the budget.
    """
    usage: dict[str, int] = {}
    budget = max_tokens
    last = ""
    for _ in range(max(1, attempts)):
        body: dict[str, Any] = {
            "messages": messages, "max_tokens": budget, "temperature": temperature,
            "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}},
            **params,
        }
        if seed is not None:
            body["seed"] = seed
        resp = await engine.chat(body)
        add_usage(usage, resp.get("usage") or {})
        choice = resp["choices"][0]
        last = choice["message"].get("content") or ""
        try:
            return JsonResult(json.loads(last), usage, last, choice.get("finish_reason", ""))
        except json.JSONDecodeError:
            log.info("model JSON did not parse (finish=%s); retrying", choice.get("finish_reason"))
            budget *= 2
    raise EngineError(f"the model did not return valid JSON after {attempts} attempts: {last[:200]!r}")


async def generate_text(engine: Engine, messages: list[dict[str, Any]], *, max_tokens: int = 512,
                        temperature: float = 0.3, seed: int | None = 42, **params: Any) -> tuple[str, dict[str, int]]:
    body: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature, **params}
    if seed is not None:
        body["seed"] = seed
    resp = await engine.chat(body)
    return resp["choices"][0]["message"].get("content") or "", dict(resp.get("usage") or {})
