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
        return out, info.language
