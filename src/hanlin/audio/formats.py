"""Transcript exports: JSON, plain text (``[00:00:01] 发言人1：…``, readable by ``hanlin minutes``), SRT, WebVTT."""

from __future__ import annotations

import json
from typing import Any

FORMATS = ("json", "txt", "srt", "vtt", "text", "verbose_json")


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_txt(result: dict[str, Any]) -> str:
    return "".join(f"[{_clock(s['start'], '.')[:8]}] {s['speaker']}：{s['text']}\n" for s in result["segments"])


def to_srt(result: dict[str, Any]) -> str:
    blocks = [f"{i}\n{_clock(s['start'], ',')} --> {_clock(s['end'], ',')}\n[{s['speaker']}] {s['text']}\n"
              for i, s in enumerate(result["segments"], start=1)]
    return "\n".join(blocks)


def to_vtt(result: dict[str, Any]) -> str:
    blocks = [f"{_clock(s['start'], '.')} --> {_clock(s['end'], '.')}\n<v {s['speaker']}>{s['text']}\n"
              for s in result["segments"]]
    return "WEBVTT\n\n" + "\n".join(blocks)


def render(result: dict[str, Any], fmt: str) -> str:
    if fmt in ("json", "verbose_json"):
        return json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    if fmt in ("txt", "text"):
        return to_txt(result)
    if fmt == "srt":
        return to_srt(result)
    if fmt == "vtt":
        return to_vtt(result)
    raise ValueError(fmt)
