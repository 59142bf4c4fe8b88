"""The memory breakdown: KV geometry read from the GGUF header, /health's figures from the running server."""

from __future__ import annotations

import struct
from pathlib import Path

import httpx
import pytest

from hanlin.engine.memory import ModelShape, model_shape
from hanlin.memory import process_memory
from tests.support.server import FAST_MODEL, MODEL_CACHE, RunningServer


def gguf(path: Path, kv: list[tuple[str, int, bytes]]) -> Path:
    """A GGUF header with the given (key, type, packed value) entries and no tensors."""
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv))
    for key, vtype, value in kv:
        out += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", vtype) + value
    path.write_bytes(out)
    return path


def test_shape_from_a_header_with_arrays_before_the_keys(tmp_path: Path) -> None:
    tokens = b"".join(struct.pack("<Q", len(t)) + t for t in (b"a", "翰".encode(), b"ccc"))
    p = gguf(tmp_path / "m.gguf", [
        ("general.architecture", 8, struct.pack("<Q", 5) + b"qwen2"),
        ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + tokens),  # a string array to skip
        ("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 3) + struct.pack("<3f", 0, 1, 2)),
        ("qwen2.block_count", 4, struct.pack("<I", 28)),
        ("qwen2.embedding_length", 4, struct.pack("<I", 1536)),
        ("qwen2.attention.head_count", 4, struct.pack("<I", 12)),
        ("qwen2.attention.head_count_kv", 4, struct.pack("<I", 2)),
    ])
    shape = model_shape(str(p))
    assert shape == ModelShape(n_layer=28, n_head_kv=2, head_dim=128)
    # K and V, 28 layers, 2 KV heads of 128, f16: 28 KiB per token
    assert shape.kv_bytes(1) == 2 * 28 * 2 * 128 * 2


def test_not_a_gguf_gives_no_shape(tmp_path: Path) -> None:
    (tmp_path / "x.gguf").write_bytes(b"GGML" + b"\0" * 64)
    assert model_shape(str(tmp_path / "x.gguf")) is None
    assert model_shape(str(tmp_path / "missing.gguf")) is None


def test_shape_of_the_test_model() -> None:
    path = MODEL_CACHE / f"{FAST_MODEL}.gguf"
    if not path.is_file():
        pytest.skip("the 0.5B is assembled by the server fixture on first use")
    assert model_shape(str(path)) == ModelShape(n_layer=24, n_head_kv=2, head_dim=64)


def test_process_memory_reads_proc() -> None:
    mem = process_memory()
    assert mem["rss_mb"] > 10 and mem["anon_mb"] > 0 and mem["peak_rss_mb"] >= mem["rss_mb"] - 1


@pytest.mark.e2e
def test_health_shows_where_memory_goes(server: RunningServer) -> None:
    httpx.post(server.base_url + "/chat/completions", timeout=300,
               json={"messages": [{"role": "user", "content": "你好"}], "max_tokens": 2})
    mem = httpx.get(server.url + "/health", timeout=10).json()["memory"]
    model = mem["models"][FAST_MODEL]
    slots = model["slots"]
    assert model["kv_cache_mb"] == pytest.approx(slots * model["ctx_per_slot"] * 2 * 24 * 2 * 64 * 2 / 2**20)
    assert model["weights_mb"] > 400 and model["prompt_cache_max_mb"] >= 0
    assert mem["rss_mb"] >= mem["anon_mb"] > 0
    heap = mem["heap"]  # glibc on the CI image: the trimmer's figures are there
    assert heap["in_use_mb"] > 0 and heap["free_mb"] >= 0 and heap["trim_every_s"] == 60 and heap["trims"] >= 0
