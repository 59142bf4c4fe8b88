"""The small Engine protocol every route and app talks to. Requests and responses are OpenAI-shaped dicts.

Apps and routes never import xllamacpp or httpx transports: they take an ``Engine``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

ChatRequest = dict[str, Any]  # OpenAI chat.completions body (already validated by serving/)
Chunk = dict[str, Any]  # one chat.completion.chunk


@dataclass
class EngineInfo:
    name: str  # model name as listed in /v1/models
    kind: str  # llamacpp | upstream | embedder | fake
    owned_by: str = "hanlin"
    n_ctx: int = 0  # context per request (per slot), 0 = unknown
    slots: int = 1
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class SSEBlock:
    """One or more complete server-sent events as the upstream sent them (``data: {...}\\n\\n`` each), for relaying
    without a JSON round trip per chunk. ``usage`` is the final usage when this block carried it; the usage-only
    event itself is kept aside in ``usage_event`` (sent only to clients that asked for usage)."""

    data: bytes
    events: int = 0
    usage: dict[str, Any] | None = None
    usage_event: bytes = b""
    done: bool = False


@runtime_checkable
class Engine(Protocol):
    info: EngineInfo

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        """Non-streaming chat completion; returns an OpenAI ``chat.completion`` dict with ``usage``."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Streaming chat completion. Closing the iterator early must free the engine's slot."""
        ...

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        """Legacy text completion (``/v1/completions``)."""
        ...

    async def health(self) -> bool:
        ...

    async def close(self) -> None:
        ...
