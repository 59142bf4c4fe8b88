"""Multi-speaker test recordings built from the MIT clips in shared/eval/audio_zh (never committed).

Each clip is one voice; a mix alternates them with silences, so who speaks when is known exactly.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from hanlin.evals.base import default_data_dir

AUDIO_DIR = default_data_dir() / "audio_zh"
CLIPS = ("asr_example.wav", "sample.wav", "long.wav")  # three different speakers
RATE = 16000


def read_clip(name: str) -> np.ndarray:
    with wave.open(str(AUDIO_DIR / name), "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype(np.int16).tobytes())
    return path


def _speech_span(clip: np.ndarray) -> tuple[int, int]:
    """First and last sample of speech in a clip (20 ms frames louder than 5% of its loudest): the clips carry
    their own leading/trailing silence, which is nobody's speech time."""
    hop = RATE // 50
    frames = clip[: clip.size - clip.size % hop].astype(np.float64).reshape(-1, hop)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > 0.05 * rms.max())
    return int(loud[0]) * hop, int(loud[-1] + 1) * hop


def build_mix(path: Path, order: list[int], gap_s: float = 1.0) -> tuple[Path, list[tuple[float, float, int]]]:
    """Clips ``CLIPS[i]`` for i in ``order`` separated by ``gap_s`` of silence -> (wav, [(start, end, speaker)])
    with each turn's start/end at its first/last speech."""
    clips = [read_clip(c) for c in CLIPS]
    gap = np.zeros(int(gap_s * RATE), dtype=np.int16)
    parts: list[np.ndarray] = [gap]
    truth: list[tuple[float, float, int]] = []
    pos = gap.size
    for spk in order:
        first, last = _speech_span(clips[spk])
        truth.append(((pos + first) / RATE, (pos + last) / RATE, spk))
        parts += [clips[spk], gap]
        pos += clips[spk].size + gap.size
    return write_wav(path, np.concatenate(parts)), truth


def attribution_accuracy(segments: list[dict], truth: list[tuple[float, float, int]]) -> float:
    """Share of true speech time whose hypothesis speaker is the true one, after mapping each hypothesis label
    to the true speaker it overlaps most (the usual diarization scoring; unlabelled speech counts as wrong)."""
    def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
        return max(0.0, min(a1, b1) - max(a0, b0))

    labels = {s["speaker"] for s in segments}
    mapping = {}
    for lab in labels:
        per: dict[int, float] = {}
        for t0, t1, spk in truth:
            per[spk] = per.get(spk, 0.0) + sum(overlap(s["start"], s["end"], t0, t1)
                                               for s in segments if s["speaker"] == lab)
        mapping[lab] = max(per, key=lambda k: per[k])
    total = sum(t1 - t0 for t0, t1, _ in truth)
    right = sum(overlap(s["start"], s["end"], t0, t1) for t0, t1, spk in truth for s in segments
                if mapping[s["speaker"]] == spk)
    return right / total


def attribution_precision(segments: list[dict], truth: list[tuple[float, float, int]]) -> tuple[float, float]:
    """(share of transcribed time inside true turns whose speaker is right, share of true speech covered by any
    segment): separates diarization errors from speech the recogniser skipped."""
    def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
        return max(0.0, min(a1, b1) - max(a0, b0))

    right = attribution_accuracy(segments, truth) * sum(t1 - t0 for t0, t1, _ in truth)
    covered = sum(overlap(s["start"], s["end"], t0, t1) for t0, t1, _ in truth for s in segments)
    total = sum(t1 - t0 for t0, t1, _ in truth)
    return (right / covered if covered else 0.0), covered / total
