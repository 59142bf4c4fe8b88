"""Speech pipeline speed and memory: RTF of ASR and of diarization (separately), peak RSS, speaker attribution.

Builds a meeting of N minutes from the MIT clips in shared/eval/audio_zh (3 voices taking turns with 0.5–2 s
silences, known ground truth) and runs the same pipeline as `hanlin transcribe`, chunked and streamed.

    python bench/audio_rtf.py --minutes 10 [--chunk-s 120] [--beam 5] [--threads 2]

RTF = processing seconds / audio seconds (lower is faster). Peak RSS is the process's maximum resident memory,
so compare runs of different lengths: bounded memory means it does not grow with the recording.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.audio_mix import (  # noqa: E402
    CLIPS,
    RATE,
    _speech_span,
    attribution_accuracy,
    attribution_precision,
    read_clip,
    write_wav,
)


def long_mix(path: Path, minutes: float, seed: int = 0) -> tuple[Path, list[tuple[float, float, int]]]:
    rng = np.random.default_rng(seed)
    clips = [read_clip(c) for c in CLIPS]
    truth: list[tuple[float, float, int]] = []
    pos = 0
    parts: list[np.ndarray] = []
    spk = 0
    while pos < minutes * 60 * RATE:
        spk = (spk + int(rng.integers(1, 3))) % 3
        for _ in range(int(rng.integers(1, 3))):  # a turn is one or two sentences
            first, last = _speech_span(clips[spk])
            truth.append(((pos + first) / RATE, (pos + last) / RATE, spk))
            gap = np.zeros(int(rng.uniform(0.5, 2.0) * RATE), dtype=np.int16)
            parts += [clips[spk], gap]
            pos += clips[spk].size + gap.size
    return write_wav(path, np.concatenate(parts)), truth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--chunk-s", type=float, default=120)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speakers", type=int, default=None)
    args = ap.parse_args()

    from hanlin.audio.service import AudioService
    from hanlin.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        wav, truth = long_mix(Path(tmp) / "meeting.wav", args.minutes)
        settings = Settings(home=Path(tmp), threads=args.threads, audio_chunk_s=args.chunk_s,
                            audio_beam_size=args.beam)
        svc = AudioService(settings)
        t0 = time.perf_counter()
        out = svc.transcribe_sync(wav, svc.options(num_speakers=args.speakers))
        wall = time.perf_counter() - t0
    st = out["stats"]
    row = {"audio_min": round(out["duration_s"] / 60, 1), "chunk_s": args.chunk_s, "beam": args.beam,
           "threads": args.threads, "asr_rtf": st["asr_rtf"], "diarization_rtf": st["diarization_rtf"],
           "pipeline_rtf": st["rtf"], "wall_s": round(wall, 1),
           "asr_cpu_per_audio_s": round(st["asr_cpu_s"] / out["duration_s"], 3),
           "diarization_cpu_per_audio_s": round(st["diarization_cpu_s"] / out["duration_s"], 3),
           "load_avg_1m": round(os.getloadavg()[0], 1),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "speakers": len(out["speakers"]), "attributed_right": round(attribution_accuracy(out["segments"], truth), 3),
           "right_of_transcribed": round(attribution_precision(out["segments"], truth)[0], 3),
           "speech_covered": round(attribution_precision(out["segments"], truth)[1], 3)}
    print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
