"""Where the server's memory goes: model weights, KV cache, prompt cache, embedder, the rest (Python, buffers).

Shown by ``GET /health`` (``memory``) and ``hanlin serve --verbose``. Figures come from /proc (what the kernel
counts) and from the GGUF header (what llama.cpp allocates for the KV cache), not from guesses.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from hanlin.limits import MB
from hanlin.memory import process_memory

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


@dataclass(frozen=True)
class ModelShape:
    """What the KV cache size depends on, read from a GGUF header."""

    n_layer: int
    n_head_kv: int
    head_dim: int

    def kv_bytes(self, n_ctx: int, bytes_per_value: int = 2) -> int:
        """K and V for ``n_ctx`` tokens over all layers (llama.cpp's default cache type is f16)."""
        return 2 * self.n_layer * n_ctx * self.n_head_kv * self.head_dim * bytes_per_value


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    return struct.unpack(fmt, f.read(size))[0]


def _skip_value(f: BinaryIO, vtype: int) -> Any:
    """Read a scalar or string (returned), or skip an array (returns None)."""
    if vtype in _SCALARS:
        return _read(f, _SCALARS[vtype])
    if vtype == 8:
        return f.read(_read(f, "<Q")).decode("utf-8", "replace")
    if vtype == 9:
        etype, count = _read(f, "<I"), _read(f, "<Q")
        if etype in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[etype]) * count, os.SEEK_CUR)
        else:
            for _ in range(count):
                _skip_value(f, etype)
        return None
    raise ValueError(f"unknown GGUF value type {vtype}")


@lru_cache(maxsize=16)
def model_shape(path: str) -> ModelShape | None:
    """Layer count and attention geometry from the GGUF metadata (stops reading once it has them)."""
    want: dict[str, Any] = {}
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                return None
            _read(f, "<I")  # version
            _read(f, "<Q")  # tensor count
            for _ in range(_read(f, "<Q")):
                key = f.read(_read(f, "<Q")).decode("utf-8", "replace")
                value = _skip_value(f, _read(f, "<I"))
                if key.endswith((".block_count", ".embedding_length", ".attention.head_count",
                                 ".attention.head_count_kv", ".attention.key_length")):
                    want[key.rsplit(".", 1)[-1] if "attention" not in key else key.split("attention.")[1]] = value
                if {"block_count", "embedding_length", "head_count", "head_count_kv"} <= want.keys() and \
                        "key_length" in want:
                    break
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return None
    if not {"block_count", "embedding_length", "head_count"} <= want.keys():
        return None
    head_dim = int(want.get("key_length") or want["embedding_length"] // max(1, want["head_count"]))
    return ModelShape(int(want["block_count"]), int(want.get("head_count_kv") or want["head_count"]), head_dim)


def breakdown(engines: dict[str, Any], embedder_bytes: int = 0) -> dict[str, Any]:
    """Resident memory and what the loaded engines account for. ``weights_mb`` is the GGUF file (memory-mapped:
    it counts as file-backed RSS once read); ``kv_cache_mb`` is what llama.cpp allocated for all slots (anonymous
    memory, resident as slots fill it); ``prompt_cache_max_mb`` is the cap of llama.cpp's RAM cache of slot states."""
    proc = process_memory()
    models: dict[str, Any] = {}
    accounted_anon = 0.0
    for name, engine in engines.items():
        meta = getattr(getattr(engine, "info", None), "meta", {}) or {}
        mem = meta.get("memory")
        if mem:
            models[name] = mem
            accounted_anon += float(mem.get("kv_cache_mb", 0))
    embedder_mb = round(embedder_bytes / MB, 1)
    other = max(0.0, proc["anon_mb"] - accounted_anon - embedder_mb)
    return {**proc, "models": models, "embedder_mb": embedder_mb,
            "python_and_other_anon_mb": round(other, 1),
            "note": "anon = heap (KV cache, embedder, Python); file = mapped model weights and libraries"}


def engine_memory(path: Path, slots: int, ctx_per_slot: int, prompt_cache_mib: int) -> dict[str, Any]:
    shape = model_shape(str(path))
    kv = shape.kv_bytes(slots * ctx_per_slot) if shape else 0
    return {"weights_mb": round(path.stat().st_size / MB, 1), "kv_cache_mb": round(kv / MB, 1),
            "kv_per_slot_mb": round(kv / MB / max(1, slots), 1), "prompt_cache_max_mb": prompt_cache_mib,
            "slots": slots, "ctx_per_slot": ctx_per_slot,
            "shape": shape.__dict__ if shape else None}
