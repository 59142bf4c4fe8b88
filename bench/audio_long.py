"""Long-recording run of the real CLI: peak RSS over time, ASR and diarization RTF separately, attribution.

Builds a meeting of N minutes (default 180) from the MIT clips in shared/eval/audio_zh — 3 voices taking turns
of one or two sentences with 0.5–2 s silences, the ground truth known — written block by block to a WAV
under /tmp (never the repo), then runs ``hanlin transcribe FILE -o OUT.json`` as a subprocess and samples its
resident memory every few seconds.

    python bench/audio_long.py --minutes 180 [--workdir /tmp/hanlin_long] [--sample-s 5] [--speakers N]
    python bench/audio_long.py --minutes 180 --score-only    # score a finished run in --workdir again

Prints one JSON line: audio minutes, peak RSS (MB) and RSS at 25/50/75/100% of the run, ASR and diarization
RTF (wall seconds ÷ audio seconds) and CPU seconds per audio second, and the share of speech time attributed
to the right speaker. RTF is only meaningful on an idle machine; the RSS trace is meaningful anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rss_trace import run_sampled, trace_summary  # noqa: E402
from tests.support.audio_mix import (  # noqa: E402
    CLIPS,
    RATE,
    _speech_span,
    attribution_accuracy,
    attribution_precision,
    read_clip,
)


def write_long_mix(path: Path, minutes: float, seed: int = 0) -> list[tuple[float, float, int]]:
    """A WAV of ``minutes`` written turn by turn (constant memory) → [(start, end, speaker)]."""
    rng = np.random.default_rng(seed)
    clips = [read_clip(c) for c in CLIPS]
    spans = [_speech_span(c) for c in clips]
    truth: list[tuple[float, float, int]] = []
    pos, spk, end = 0, 0, int(minutes * 60 * RATE)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        while pos < end:
            spk = (spk + int(rng.integers(1, 3))) % 3
            for _ in range(int(rng.integers(1, 3))):  # a turn is one or two sentences
                first, last = spans[spk]
                truth.append(((pos + first) / RATE, (pos + last) / RATE, spk))
                gap = np.zeros(int(rng.uniform(0.5, 2.0) * RATE), dtype=np.int16)
                w.writeframes(clips[spk].tobytes() + gap.tobytes())
                pos += clips[spk].size + gap.size
    return truth


def run_cli(wav: Path, out: Path, trace: Path, sample_s: float, speakers: int | None) -> int:
    cmd = [sys.executable, "-m", "hanlin.cli.main", "transcribe", str(wav), "-o", str(out)]
    if speakers:
        cmd += ["--speakers", str(speakers)]
    return run_sampled(cmd, trace, sample_s)


def summary(workdir: Path, truth: list[tuple[float, float, int]], rc: int | None) -> dict[str, object]:
    row: dict[str, object] = {"exit": rc, **trace_summary(workdir / "rss.tsv"),
                              "load_avg_1m": round(os.getloadavg()[0], 1)}
    out = workdir / "transcript.json"
    if out.is_file():
        data = json.loads(out.read_text(encoding="utf-8"))
        st, dur = data["stats"], data["duration_s"]
        row |= {"audio_min": round(dur / 60, 1), "speakers": len(data["speakers"]),
                "asr_rtf": st["asr_rtf"], "diarization_rtf": st["diarization_rtf"], "pipeline_rtf": st["rtf"],
                "asr_wall_s": st["asr_s"], "diarization_wall_s": st["diarization_s"],
                "asr_cpu_s": st["asr_cpu_s"], "diarization_cpu_s": st["diarization_cpu_s"],
                "asr_cpu_per_audio_s": round(st["asr_cpu_s"] / dur, 3),
                "diarization_cpu_per_audio_s": round(st["diarization_cpu_s"] / dur, 3),
                "segments": len(data["segments"]),
                "attributed_right": round(attribution_accuracy(data["segments"], truth), 3)}
        # right speaker among transcribed speech, and share of speech transcribed at all: the mix repeats three
        # clips, and Whisper drops some repeats of a sentence it has just written (a mix artefact, not diarization)
        precision, covered = attribution_precision(data["segments"], truth)
        row |= {"speaker_precision": round(precision, 3), "speech_covered": round(covered, 3)}
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=180)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/hanlin_long"))
    ap.add_argument("--sample-s", type=float, default=5)
    ap.add_argument("--speakers", type=int, default=None)
    ap.add_argument("--score-only", action="store_true")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    wav, truth_file = args.workdir / f"meeting_{args.minutes:g}min.wav", args.workdir / "truth.json"
    rc = None
    if args.score_only:
        truth = [tuple(t) for t in json.loads(truth_file.read_text())]
    else:
        truth = write_long_mix(wav, args.minutes)
        truth_file.write_text(json.dumps(truth))
        rc = run_cli(wav, args.workdir / "transcript.json", args.workdir / "rss.tsv", args.sample_s, args.speakers)
    print(json.dumps(summary(args.workdir, truth, rc), ensure_ascii=False))


if __name__ == "__main__":
    main()
