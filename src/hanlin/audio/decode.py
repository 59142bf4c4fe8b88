"""Decode any audio/video container to 16 kHz mono float32 in bounded blocks (PyAV, i.e. FFmpeg's libraries).

Nothing here holds the whole recording: :func:`stream_blocks` yields blocks as the demuxer reads them, so a
3-hour file costs the same memory as a 3-minute one. Every failure becomes :class:`UnprocessableInput` with
what to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hanlin.errors import UnprocessableInput

SAMPLE_RATE = 16000
_TRUNCATED_SLACK_S = 1.0  # decoded audio may fall this far (and 2%) short of the header's duration


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float | None  # what the container header says (None when it does not say)
    codec: str
    container: str


def _bad(path: Path, why: str) -> UnprocessableInput:
    return UnprocessableInput(f"{path.name}: {why}", param="file", code="invalid_audio")


def _open(path: Path) -> Any:
    import av

    if not path.is_file():
        raise _bad(path, "no such file.")
    if path.stat().st_size == 0:
        raise _bad(path, "the file is empty (0 bytes). Send a recording (wav/mp3/m4a/ogg/webm/mp4).")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise _bad(path, f"not a readable audio or video file ({e.__class__.__name__}). Send wav, mp3, m4a, "
                         "ogg, webm or mp4.") from None
    if not container.streams.audio:
        container.close()
        raise _bad(path, "the file has no audio track.")
    return container


def probe(path: Path) -> AudioInfo:
    """Open the file and read its header only: fails fast on non-audio and 0-byte files."""
    container = _open(path)
    try:
        stream = container.streams.audio[0]
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        info = AudioInfo(duration, stream.codec_context.name, container.format.name)
    finally:
        container.close()
    if info.container == "wav":
        _check_wav_length(path)
    return info


def _check_wav_length(path: Path) -> None:
    """A WAV header states its data size: a file cut short (an interrupted copy or upload) is refused."""
    with path.open("rb") as f:
        head = f.read(4096)
    pos = head.find(b"data", 12)
    fmt = head.find(b"fmt ", 12)
    if pos < 0 or fmt < 0 or len(head) < max(pos, fmt) + 24:
        return  # unusual layout: FFmpeg decides
    declared = int.from_bytes(head[pos + 4:pos + 8], "little")
    byte_rate = int.from_bytes(head[fmt + 16:fmt + 20], "little")
    present = path.stat().st_size - (pos + 8)
    if declared in (0, 0xFFFFFFFF) or not byte_rate:
        return  # streaming writers leave the size unset
    if declared - present > byte_rate * _TRUNCATED_SLACK_S:
        raise _bad(path, f"the file is truncated: its header says {declared / byte_rate:.1f} s but only "
                         f"{max(present, 0) / byte_rate:.1f} s of audio is there. Upload the complete recording.")


def stream_blocks(path: Path, block_s: float = 30.0) -> Iterator[np.ndarray]:
    """16 kHz mono float32 blocks of about ``block_s`` seconds; raises on undecodable or truncated data."""
    import av

    info = probe(path)
    container = _open(path)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    pending: list[np.ndarray] = []
    pending_n = 0
    decoded = 0
    block_n = int(block_s * SAMPLE_RATE)
    try:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
                    pending_n += pending[-1].size
                if pending_n >= block_n:
                    block = np.concatenate(pending)
                    pending, pending_n = [], 0
                    decoded += block.size
                    yield block
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        except av.error.FFmpegError as e:
            raise _bad(path, f"the audio data is corrupt at {decoded / SAMPLE_RATE:.0f} s ({e}).") from None
        if pending:
            block = np.concatenate(pending)
            decoded += block.size
            yield block
    finally:
        container.close()
    got = decoded / SAMPLE_RATE
    if got == 0:
        raise _bad(path, "no audio could be decoded from the file.")
    if info.duration_s and got < info.duration_s * 0.98 - _TRUNCATED_SLACK_S:
        raise _bad(path, f"the file is truncated: its header says {info.duration_s:.1f} s but only {got:.1f} s "
                         "of audio is there. Upload the complete recording.")
