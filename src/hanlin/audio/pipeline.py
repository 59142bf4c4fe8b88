"""Recording → speaker-labelled, timestamped, punctuated simplified-Chinese segments, in bounded memory.

The file is decoded block by block; blocks are cut into chunks of ``chunk_s`` seconds at the quietest moment
near the boundary (so no word is cut in half), each chunk goes through ASR and the speaker embedder, and only
then is the next chunk decoded. Clustering runs once at the end on the (small) embeddings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hanlin.audio.asr import AsrSegment, SpeechRecognizer, Word, initial_prompt
from hanlin.audio.decode import SAMPLE_RATE, probe, stream_blocks
from hanlin.audio.diarize import SpeakerEmbedder, SpeakerTimeline, Windows
from hanlin.audio.text import clean, correct, to_simplified
from hanlin.errors import UnprocessableInput
from hanlin.memory import release_free_memory

Progress = Callable[[float, str], None]  # (fraction 0..1, stage)
SPEAKER = "发言人"
_SEARCH_S = 15.0  # look this far either side of a chunk boundary for the quietest 100 ms
_MIN_RUN_WORDS = 3  # a speaker "change" shorter than this many words is smoothed over


@dataclass
class TranscribeOptions:
    language: str | None = "zh"
    num_speakers: int | None = None
    hotwords: list[str] = field(default_factory=list)
    diarize: bool = True
    chunk_s: float = 120.0
    max_duration_s: float = 4 * 3600.0


def chunks(blocks: Iterator[np.ndarray], chunk_s: float) -> Iterator[tuple[float, np.ndarray]]:
    """(offset seconds, samples) chunks of about ``chunk_s`` cut at a quiet moment."""
    target = int(chunk_s * SAMPLE_RATE)
    search = int(min(_SEARCH_S, chunk_s / 4) * SAMPLE_RATE)
    buf = np.zeros(0, dtype=np.float32)
    offset = 0
    for block in blocks:
        buf = np.concatenate([buf, block])
        while buf.size >= target + search:
            cut = _quietest(buf, target - search, target + search)
            yield offset / SAMPLE_RATE, buf[:cut].copy()
            offset += cut
            buf = buf[cut:]
    if buf.size:
        yield offset / SAMPLE_RATE, buf


def _quietest(x: np.ndarray, lo: int, hi: int) -> int:
    hop = SAMPLE_RATE // 10
    frames = x[lo:hi - (hi - lo) % hop].reshape(-1, hop)
    return lo + int(np.argmin((frames ** 2).mean(axis=1))) * hop + hop // 2


def _smooth(labels: list[int]) -> list[int]:
    """Short runs (a cough, a crosstalk window) take the label of their longer neighbour."""
    runs: list[list[int]] = []
    for lab in labels:
        if runs and runs[-1][0] == lab:
            runs[-1][1] += 1
        else:
            runs.append([lab, 1])
    if len(runs) > 1:
        for i, run in enumerate(runs):
            if run[1] < _MIN_RUN_WORDS:
                before = runs[i - 1] if i > 0 else None
                after = runs[i + 1] if i + 1 < len(runs) else None
                best = max((r for r in (before, after) if r), key=lambda r: r[1])
                run[0] = best[0]
    return [lab for lab, n in runs for _ in range(n)]


def split_by_speaker(segments: list[AsrSegment], timeline: SpeakerTimeline) -> list[tuple[float, float, int, str]]:
    """(start, end, speaker, raw text): ASR segments cut where the speaker changes (word timestamps)."""
    out: list[tuple[float, float, int, str]] = []
    for seg in segments:
        words: list[Word] = [w for w in seg.words if w.text.strip()] or [Word(seg.start, seg.end, seg.text)]
        labels = _smooth([timeline.speaker_at((w.start + w.end) / 2) for w in words])
        run: list[Word] = []
        for i, w in enumerate(words):
            run.append(w)
            if i + 1 == len(words) or labels[i + 1] != labels[i]:
                out.append((run[0].start, run[-1].end, labels[i], "".join(x.text for x in run)))
                run = []
    return out


@dataclass
class Transcription:
    segments: list[dict[str, Any]]
    duration_s: float
    language: str
    asr_s: float
    diarization_s: float
    speech_s: float
    corrections: list[tuple[str, str]]
    cpu_s: tuple[float, float] = (0.0, 0.0)  # CPU seconds (all threads) of ASR and of diarization
    words: list[dict[str, Any]] = field(default_factory=list)

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(s["speaker"] for s in self.segments))

    def to_dict(self, words: bool = False) -> dict[str, Any]:
        busy = self.asr_s + self.diarization_s
        extra = {"words": self.words} if words else {}
        return {**extra,
            "segments": self.segments, "speakers": self.speakers, "duration_s": round(self.duration_s, 2),
            "language": self.language, "text": "".join(s["text"] for s in self.segments),
            "corrections": [{"heard": a, "glossary": b} for a, b in self.corrections],
            "stats": {"rtf": round(busy / self.duration_s, 3) if self.duration_s else None,
                      "asr_s": round(self.asr_s, 2), "diarization_s": round(self.diarization_s, 2),
                      "asr_rtf": round(self.asr_s / self.duration_s, 3) if self.duration_s else None,
                      "diarization_rtf": round(self.diarization_s / self.duration_s, 3) if self.duration_s else None,
                      "speech_s": round(self.speech_s, 2),
                      # CPU time is what a busy machine cannot hide: CPU-s per audio-s / cores ≈ RTF when idle
                      "asr_cpu_s": round(self.cpu_s[0], 2), "diarization_cpu_s": round(self.cpu_s[1], 2)},
        }


def transcribe_file(path: Path, recognizer: SpeechRecognizer, embedder: SpeakerEmbedder | None,
                    opts: TranscribeOptions, progress: Progress | None = None) -> Transcription:
    info = probe(path)
    if info.duration_s and info.duration_s > opts.max_duration_s:
        raise UnprocessableInput(
            f"{path.name} is {info.duration_s / 3600:.1f} hours long; the limit is {opts.max_duration_s / 3600:.1f} "
            "hours (HANLIN_AUDIO_MAX_HOURS). Split the recording.", param="file", code="audio_too_long")
    total = info.duration_s or 0.0
    prompt = initial_prompt(opts.hotwords)
    windows = Windows()
    segments: list[AsrSegment] = []
    asr_s = diar_s = asr_cpu = diar_cpu = 0.0
    language = opts.language or ""
    seen = 0.0

    def report(done: float, stage: str) -> None:
        if progress:
            progress(min(0.97, done / total) if total else 0.0, stage)

    for offset, samples in chunks(stream_blocks(path), opts.chunk_s):
        seen = offset + samples.size / SAMPLE_RATE
        if seen > opts.max_duration_s + 1:
            raise UnprocessableInput(f"{path.name} is longer than the {opts.max_duration_s / 3600:.1f}-hour limit "
                                     "(HANLIN_AUDIO_MAX_HOURS).", param="file", code="audio_too_long")
        t0, c0 = time.perf_counter(), time.process_time()
        found, language = recognizer.transcribe(samples, offset, language=opts.language, prompt=prompt,
                                                on_progress=_shifted(report, offset))
        segments.extend(found)
        asr_s += time.perf_counter() - t0
        asr_cpu += time.process_time() - c0
        if embedder is not None and opts.diarize:
            t0, c0 = time.perf_counter(), time.process_time()
            report(seen, "说话人识别")
            embedder.add_chunk(samples, offset, windows)
            diar_s += time.perf_counter() - t0
            diar_cpu += time.process_time() - c0
        del samples
        release_free_memory()
        report(seen, "语音识别")
    duration = seen
    segments = [s for s in segments if s.text.strip()]
    if not segments:
        raise UnprocessableInput(f"{path.name}: no speech was found in {duration:.0f} s of audio (silence or "
                                 "noise only).", param="file", code="no_speech")
    t0, c0 = time.perf_counter(), time.process_time()
    if embedder is not None and opts.diarize:
        embedder.finish(windows)
    timeline = SpeakerTimeline.build(windows, opts.num_speakers) if embedder is not None and opts.diarize \
        else SpeakerTimeline([], [])
    diar_s += time.perf_counter() - t0
    diar_cpu += time.process_time() - c0
    out, fixes = _finish(split_by_speaker(segments, timeline), opts.hotwords)
    words = [{"word": to_simplified(w.text.strip()), "start": round(float(w.start), 2), "end": round(float(w.end), 2)}
             for s in segments for w in s.words if w.text.strip()]
    if progress:
        progress(1.0, "完成")
    return Transcription(out, duration, language, asr_s, diar_s, windows.speech_s, fixes, words=words,
                         cpu_s=(asr_cpu, diar_cpu))


def _shifted(report: Callable[[float, str], None], offset: float) -> Callable[[float], None]:
    return lambda seconds: report(offset + seconds, "语音识别")


def _finish(raw: list[tuple[float, float, int, str]], glossary: list[str]
            ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Speakers numbered by first appearance (发言人1, 发言人2…), text cleaned and glossary-corrected."""
    names: dict[int, str] = {}
    out: list[dict[str, Any]] = []
    fixes: list[tuple[str, str]] = []
    for start, end, label, text in raw:
        cleaned, fixed = correct(clean(text), glossary)
        if not cleaned.strip("。，！？ "):
            continue
        fixes += fixed
        name = names.setdefault(label, f"{SPEAKER}{len(names) + 1}")
        out.append({"start": round(float(start), 2), "end": round(float(end), 2), "speaker": name, "text": cleaned})
    return out, fixes
