"""Speech recognition with faster-whisper (Whisper base, int8 on CPU): loaded on first use, unloadable."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hanlin.audio.fbank import SAMPLE_RATE

# Whisper continues the style of its prompt: a punctuated simplified-Chinese prompt makes it punctuate and
# prefer simplified characters (it otherwise often writes traditional ones and no punctuation).
STYLE_PROMPT = "以下是普通话会议的录音转写，使用简体中文和标点符号。"
MAX_PROMPT_CHARS = 200  # Whisper keeps only the last 223 prompt tokens


@dataclass
class Word:
    start: float
    end: float
    text: str


@dataclass
class AsrSegment:
    start: float
    end: float
    text: str
    words: list[Word]


def initial_prompt(hotwords: list[str]) -> str:
    if not hotwords:
        return STYLE_PROMPT
    terms = "、".join(hotwords)[:MAX_PROMPT_CHARS]
    return f"{STYLE_PROMPT}本次会议提到{terms}等。"


MISSED_MIN_S = 1.0  # speech the recogniser skipped is read again when a stretch is at least this long
MISSED_PAD_S = 0.2
MISSED_TOKENS_PER_S = 8  # Mandarin runs at about 4-6 characters a second: more tokens than this is a repetition loop
MAX_CHARS_PER_S = 12.0


def missed_speech(speech: list[tuple[int, int]], found: list[tuple[float, float]],
                  rate: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """Sample ranges of detected speech (``speech``, from the VAD) that no recognised segment (``found``, seconds
    in the same chunk) covers: stretches of at least MISSED_MIN_S with under a quarter of them covered. Whisper
    silently drops speech now and then — a sentence right after one it has just written, a short reply after a
    long silence — and a skipped sentence is speech time with no speaker in the transcript."""
    out: list[tuple[int, int]] = []
    for a, b in speech:
        if (b - a) / rate < MISSED_MIN_S:
            continue
        t0, t1 = a / rate, b / rate
        covered = sum(max(0.0, min(t1, e) - max(t0, s)) for s, e in found)
        if covered < 0.25 * (t1 - t0):
            out.append((a, b))
    return out


class SpeechRecognizer:
    def __init__(self, model_dir: Path, threads: int, beam_size: int = 5) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self.beam_size = beam_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                self._model = WhisperModel(str(self.model_dir), device="cpu", compute_type="int8",
                                           cpu_threads=self.threads, num_workers=1)
            return self._model

    def unload(self) -> None:
        with self._lock:
            self._model = None

    def transcribe(self, samples: np.ndarray, offset_s: float, *, language: str | None, prompt: str,
                   on_progress: Callable[[float], None] | None = None) -> tuple[list[AsrSegment], str]:
        """Segments of one chunk with times in the recording (``offset_s`` added) and the detected language."""
        model = self._load()
        segments, info = model.transcribe(
            samples, language=language, beam_size=self.beam_size, vad_filter=True,
            vad_parameters={"min_silence_duration_ms": 500}, word_timestamps=True, initial_prompt=prompt,
            condition_on_previous_text=False, without_timestamps=False)
        out: list[AsrSegment] = []
        for seg in segments:
            words = [Word(w.start + offset_s, w.end + offset_s, w.word) for w in (seg.words or [])]
            out.append(AsrSegment(seg.start + offset_s, seg.end + offset_s, seg.text, words))
            if on_progress:
                on_progress(min(seg.end, samples.size / SAMPLE_RATE))
        out += self._read_missed(model, samples, offset_s, out, language=language or info.language, prompt=prompt)
        out.sort(key=lambda s: s.start)
        return out, info.language

    def _read_missed(self, model: Any, samples: np.ndarray, offset_s: float, found: list[AsrSegment], *,
                     language: str | None, prompt: str) -> list[AsrSegment]:
        """Each stretch of speech the first pass skipped, recognised on its own. What comes back is kept only
        when Whisper is sure it is speech (no_speech_prob, avg_logprob), so noise does not become text."""
        from hanlin.audio.diarize import speech_regions

        spans = [(s.start - offset_s, s.end - offset_s) for s in found if s.text.strip()]
        pad = int(MISSED_PAD_S * SAMPLE_RATE)
        out: list[AsrSegment] = []
        for a, b in missed_speech(speech_regions(samples), spans):
            a, b = max(0, a - pad), min(samples.size, b + pad)
            start, seconds = offset_s + a / SAMPLE_RATE, (b - a) / SAMPLE_RATE
            # one decode of the whole stretch: no fallback decodes (a stretch that does not read cleanly at once
            # stays out), no timestamp tokens (after a timestamped segment Whisper reads the padded rest of the
            # window again), and a token budget for the stretch's length (a decode looping on a phrase ran to 248
            # tokens for 4.8 s); word timestamps still place the text
            segments, _ = model.transcribe(
                samples[a:b], language=language, beam_size=self.beam_size, vad_filter=False, word_timestamps=True,
                initial_prompt=prompt, condition_on_previous_text=False, without_timestamps=True,
                temperature=0.0, max_new_tokens=int(MISSED_TOKENS_PER_S * seconds) + 8)
            for seg in segments:
                text = seg.text.strip()
                if (not text or seg.no_speech_prob > 0.6 or seg.avg_logprob < -1.0 or seg.compression_ratio > 2.4
                        or len(text) > MAX_CHARS_PER_S * max(seg.end - seg.start, 1.0)):
                    continue
                words = [Word(w.start + start, w.end + start, w.word) for w in (seg.words or [])]
                out.append(AsrSegment(seg.start + start, min(seg.end + start, offset_s + b / SAMPLE_RATE),
                                      seg.text, words))
        return out
