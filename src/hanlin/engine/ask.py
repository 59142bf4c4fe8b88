"""Asking the model, the one way every app, the knowledge base and the evals do it: ``ask_text`` for prose,
``ask_json`` for schema-constrained JSON (grammar-enforced by the engine) that code then verifies, ``add_usage``
to total the tokens of several calls.

A JSON reply cut off by ``max_tokens`` is not valid JSON. ``on_cut="retry"`` asks again with twice the budget;
``on_cut="salvage"`` keeps the complete fields before the cut (measured with the 0.5B: under a json_schema grammar
it sometimes pads the inside of the object with newlines until ``max_tokens``, so waiting for more is wasted).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from hanlin.engine.base import Engine
from hanlin.errors import EngineError

log = logging.getLogger(__name__)


@dataclass
class JsonResult:
    data: Any  # the parsed object; with on_cut="salvage" what was complete before the cut, or None
    usage: dict[str, int] = field(default_factory=dict)
    raw: str = ""
    finish_reason: str = ""


def add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
    """Add the integer counts of one reply's ``usage`` to ``total`` (nested details and flags are skipped)."""
    for k, v in usage.items():
        if isinstance(v, int) and not isinstance(v, bool):
            total[k] = total.get(k, 0) + v


def _closers(prefix: str) -> str | None:
    """The brackets that close ``prefix`` (None when it ends inside a string)."""
    stack: list[str] = []
    in_str = esc = False
    for ch in prefix:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    return None if in_str else "".join(reversed(stack))


def salvage_json(raw: str) -> Any:
    """Parse ``raw``; if it was cut off, keep everything up to the last complete value (None when nothing is)."""
    text = raw.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    cuts = [i for i, ch in enumerate(text) if ch in ",{["]
    for pos in reversed(cuts):
        head = text[:pos] if text[pos] == "," else text[:pos + 1]
        close = _closers(head)
        if close is None:
            continue
        try:
            return json.loads(head + close)
        except json.JSONDecodeError:
            continue
    return None


async def ask_json(engine: Engine, messages: list[dict[str, Any]], schema: dict[str, Any], *,
                   name: str = "result", max_tokens: int = 1024, temperature: float = 0.2, seed: int | None = 42,
                   on_cut: Literal["retry", "salvage"] = "retry", attempts: int = 2, **params: Any) -> JsonResult:
    """Ask for JSON matching ``schema`` and parse it (see the module docstring for ``on_cut``)."""
    usage: dict[str, int] = {}
    budget = max_tokens
    last = ""
    for _ in range(max(1, attempts if on_cut == "retry" else 1)):
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
        finish = choice.get("finish_reason", "")
        if on_cut == "salvage":
            data = salvage_json(last)
            if data is None:
                log.info("model reply was not JSON: %r", last[:200])
            return JsonResult(data, usage, last, finish)
        try:
            return JsonResult(json.loads(last), usage, last, finish)
        except json.JSONDecodeError:
            log.info("model JSON did not parse (finish=%s); retrying", finish)
            budget *= 2
    raise EngineError(f"the model did not return valid JSON after {attempts} attempts: {last[:200]!r}")


async def ask_text(engine: Engine, messages: list[dict[str, Any]], *, max_tokens: int = 512,
                   temperature: float = 0.3, seed: int | None = 42, **params: Any) -> tuple[str, dict[str, int]]:
    """The model's reply text and its usage."""
    body: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature, **params}
    if seed is not None:
        body["seed"] = seed
    resp = await engine.chat(body)
    return resp["choices"][0]["message"].get("content") or "", dict(resp.get("usage") or {})
