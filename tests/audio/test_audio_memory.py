"""Long recordings in bounded memory, checked without the models: the pipeline holds one chunk of audio at a time,
the speaker embedder always sees one input shape, and clustering stays within its window cap."""

from __future__ import annotations

import tracemalloc
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hanlin.audio import cluster as cluster_mod
from hanlin.audio import diarize
from hanlin.audio.asr import AsrSegment, Word
from hanlin.audio.decode import SAMPLE_RATE
from hanlin.audio.diarize import BATCH, WINDOW_FRAMES, SpeakerEmbedder, Windows, fixed_length
from hanlin.audio.pipeline import TranscribeOptions, transcribe_file


def _noise_wav(path: Path, minutes: float) -> Path:
    """Quiet noise written a minute at a time (the test itself never holds the recording)."""
    rng = np.random.default_rng(0)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        for _ in range(int(minutes)):
            w.writeframes((rng.standard_normal(60 * SAMPLE_RATE) * 300).astype(np.int16).tobytes())
    return path


class _Recognizer:
    def __init__(self) -> None:
        self.largest = 0

    def transcribe(self, samples: np.ndarray, offset_s: float, **_: Any) -> tuple[list[AsrSegment], str]:
        self.largest = max(self.largest, samples.size)
        return [AsrSegment(offset_s, offset_s + 1, "好。", [Word(offset_s, offset_s + 1, "好。")])], "zh"


class _Embedder:
    def __init__(self) -> None:
        self.largest = 0

    def add_chunk(self, samples: np.ndarray, offset_s: float, windows: Windows) -> None:
        self.largest = max(self.largest, samples.size)
        windows.starts.append(offset_s)
        windows.ends.append(offset_s + 1.5)
        windows.vectors.append(np.ones(192, dtype=np.float32))

    def finish(self, windows: Windows) -> None:
        pass


def _traced_peak(path: Path, chunk_s: float) -> tuple[int, int, int]:
    rec, emb = _Recognizer(), _Embedder()
    tracemalloc.start()
    try:
        out = transcribe_file(path, rec, emb, TranscribeOptions(chunk_s=chunk_s))  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.duration_s == pytest.approx(round(out.duration_s / 60) * 60, abs=0.1)
    return peak, rec.largest, emb.largest


def test_pipeline_memory_does_not_grow_with_the_recording(tmp_path: Path) -> None:
    chunk_s = 60.0
    short, rec_short, _ = _traced_peak(_noise_wav(tmp_path / "4min.wav", 4), chunk_s)
    long, rec_long, emb_long = _traced_peak(_noise_wav(tmp_path / "16min.wav", 16), chunk_s)
    bound = (chunk_s + 15 + 30) * SAMPLE_RATE  # a chunk, its cut search, one decoded block
    assert max(rec_short, rec_long, emb_long) <= bound
    # 4× the audio (16 min of float32 is 61 MB) must not show up in the Python/numpy heap
    assert long < short * 1.3 + 2_000_000, (short, long)


def test_embedder_batches_have_one_shape_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch/oneDNN keep memory per input shape: every batch must be (BATCH, WINDOW_FRAMES, 80), whatever the
    lengths of the speech regions, and the vectors must stay aligned with their windows across batches."""
    rng = np.random.default_rng(1)
    regions = [(0, int(0.6 * SAMPLE_RATE)), (SAMPLE_RATE, int(2.2 * SAMPLE_RATE)),
               (3 * SAMPLE_RATE, 20 * SAMPLE_RATE), (21 * SAMPLE_RATE, int(21.9 * SAMPLE_RATE))]
    monkeypatch.setattr(diarize, "speech_regions", lambda samples: regions)
    shapes: list[tuple[int, ...]] = []
    done = [0]

    def fake_run(batch: np.ndarray) -> np.ndarray:
        shapes.append(batch.shape)
        out = np.arange(done[0], done[0] + batch.shape[0], dtype=np.float32)[:, None] * np.ones((1, 192))
        done[0] += int((np.abs(batch).sum(axis=(1, 2)) > 0).sum())  # rows that hold a window
        return out

    emb = SpeakerEmbedder(Path("unused"), 1)
    monkeypatch.setattr(emb, "_run", fake_run)
    windows = Windows()
    for chunk in range(3):
        emb.add_chunk(rng.standard_normal(22 * SAMPLE_RATE).astype(np.float32) * 0.1, chunk * 22.0, windows)
    emb.finish(windows)
    assert len(shapes) >= 2 and set(shapes) == {(BATCH, WINDOW_FRAMES, 80)}
    assert len(windows.vectors) == len(windows.starts) == len(windows.ends) and not windows.pending
    assert [int(v[0]) for v in windows.vectors] == list(range(len(windows.vectors)))  # in window order
    assert windows.starts == sorted(windows.starts) and windows.starts[-1] > 44


def test_short_window_is_repeated_not_zero_padded() -> None:
    w = np.random.default_rng(2).standard_normal((60, 80)).astype(np.float32)
    f = fixed_length(w)
    assert f.shape == (WINDOW_FRAMES, 80) and np.allclose(f.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(f[60:120], f[:60]) and not np.any(np.all(f == 0, axis=1))


def test_spectral_clustering_memory_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((3, 192))
    x = np.vstack([c + 0.35 * rng.standard_normal((1200, 192)) for c in centers]).astype(np.float32)
    monkeypatch.setattr(cluster_mod, "MAX_WINDOWS", 400)
    cluster_mod.cluster(x[:60], 3)  # imports outside the measurement
    tracemalloc.start()
    try:
        labels = cluster_mod.cluster(x, 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sorted(np.bincount(labels)) == [1200, 1200, 1200]
    assert peak < 40_000_000, peak  # measured 11 MB; uncapped (all 3,600 windows) 221 MB
