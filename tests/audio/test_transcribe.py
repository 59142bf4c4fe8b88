"""`hanlin transcribe` with the real models on a 3-speaker mix built from the MIT clips (known ground truth).

Measures diarization: the share of speech time attributed to the right speaker (printed; must be ≥ 85%).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.audio_mix import attribution_accuracy, build_mix
from tests.support.server import hanlin_env

pytestmark = pytest.mark.slow


def _cli(tmp_path: Path, *args: str, tty: bool = False) -> subprocess.CompletedProcess[str]:
    # rich draws live progress only on a terminal: with tty=True the captured stderr behaves like one
    env = {**hanlin_env(tmp_path / "home"), **({"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"} if tty else {})}
    return subprocess.run([sys.executable, "-m", "hanlin.cli.main", *args], env=env,
                          text=True, capture_output=True, timeout=1200)


def test_transcribe_mix_speakers_text_and_exports(tmp_path: Path) -> None:
    from opencc import OpenCC

    mix, truth = build_mix(tmp_path / "meeting.wav", [0, 1, 2, 0, 1], gap_s=1.0)
    srt = tmp_path / "meeting.srt"
    r = _cli(tmp_path, "transcribe", str(mix), "--json", "-o", str(srt), "--hotwords", "达摩院,富士康", tty=True)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    accuracy = attribution_accuracy(out["segments"], truth)
    print(f"\ndiarization: {len(out['speakers'])} speakers (truth 3), {accuracy:.1%} of speech time attributed "
          f"right; stats {out['stats']}")
    assert out["speakers"] == ["发言人1", "发言人2", "发言人3"]
    assert accuracy >= 0.85
    assert set(out) >= {"segments", "speakers", "duration_s", "language", "stats"}
    assert set(out["stats"]) >= {"rtf", "asr_s", "diarization_s"}
    import wave

    with wave.open(str(mix)) as w:
        assert out["duration_s"] == pytest.approx(w.getnframes() / 16000, abs=0.1) and out["language"] == "zh"
    text = "".join(s["text"] for s in out["segments"])
    assert len(text) > 60 and OpenCC("t2s").convert(text) == text  # simplified characters only
    assert "达摩院" in text and "富士康" in text  # hotwords: initial prompt + glossary pass
    assert all(s["text"][-1] in "。！？" for s in out["segments"])  # punctuated
    starts = [s["start"] for s in out["segments"]]
    assert starts == sorted(starts) and all(s["end"] > s["start"] for s in out["segments"])
    assert "-->" in srt.read_text(encoding="utf-8") and "[发言人2]" in srt.read_text(encoding="utf-8")
    assert "ETA" in r.stderr or "%" in r.stderr  # the progress bar went to stderr


@pytest.mark.parametrize("content,needle", [(b"", "0 bytes"), ("会议纪要".encode() * 200, "not a readable audio")])
def test_transcribe_bad_input_is_a_clear_cli_error(tmp_path: Path, content: bytes, needle: str) -> None:
    bad = tmp_path / "meeting.m4a"
    bad.write_bytes(content)
    r = _cli(tmp_path, "transcribe", str(bad))
    assert r.returncode == 1 and needle in r.stderr and "Traceback" not in r.stderr


def test_silence_only_is_refused(tmp_path: Path) -> None:
    import numpy as np

    from tests.support.audio_mix import write_wav

    quiet = write_wav(tmp_path / "quiet.wav", np.zeros(16000 * 4, dtype=np.int16))
    r = _cli(tmp_path, "transcribe", str(quiet))
    assert r.returncode == 1 and "no speech" in r.stderr and "Traceback" not in r.stderr
