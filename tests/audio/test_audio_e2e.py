"""Speech through the real server: the official openai SDK's audio.transcriptions, and minutes from a recording
(one job: transcribe, then the 0.5B writes cited minutes whose citations carry timestamps)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.audio_mix import AUDIO_DIR, build_mix

pytestmark = pytest.mark.e2e


def test_openai_sdk_transcriptions(openai_client: Any) -> None:
    from opencc import OpenCC

    clip = AUDIO_DIR / "asr_example.wav"
    with clip.open("rb") as f:
        v = openai_client.audio.transcriptions.create(
            model="whisper-1", file=f, language="zh", response_format="verbose_json",
            timestamp_granularities=["segment", "word"], prompt="达摩院")
    assert v.text and OpenCC("t2s").convert(v.text) == v.text and "达摩院" in v.text
    assert v.duration == pytest.approx(5.5, abs=0.1) and v.language == "zh"
    assert v.segments and v.segments[0].end > v.segments[0].start and v.words
    with clip.open("rb") as f:
        j = openai_client.audio.transcriptions.create(model="whisper-1", file=f)
    assert j.text.strip() and j.usage is not None and j.usage.seconds == 6
    with clip.open("rb") as f:
        srt = openai_client.audio.transcriptions.create(model="whisper-1", file=f, response_format="srt")
    assert "-->" in srt and "[发言人1]" in srt
    with pytest.raises(openai.UnprocessableEntityError, match="0 bytes"):
        openai_client.audio.transcriptions.create(model="whisper-1", file=("empty.wav", b""))


@pytest.mark.timeout(1800)
def test_minutes_from_a_recording_is_one_job(server: Any, tmp_path: Path) -> None:
    mix, _ = build_mix(tmp_path / "meeting.wav", [0, 1, 2], gap_s=1.0)
    headers = {"Authorization": f"Bearer {os.environ['HANLIN_TEST_KEY']}"} if os.environ.get("HANLIN_TEST_KEY") else {}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        r = client.post("/v1/apps/minutes", files={"file": ("meeting.wav", mix.read_bytes(), "audio/wav")},
                        data={"hotwords": "达摩院,富士康"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        stages = set()
        deadline = time.time() + 1500
        while time.time() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            stages.add(job["stage"])
            if job["state"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(1)
        assert job["state"] == "succeeded", job
        md = client.get(f"/v1/apps/minutes/{job_id}/render", params={"format": "md"}).text
    m = job["result"]
    assert m["transcription"]["speakers"] == ["发言人1", "发言人2", "发言人3"]
    assert m["speakers"] == ["发言人1", "发言人2", "发言人3"] and m["utterances"] == 3
    assert set(m["line_stamps"].values()) >= {"00:00:01 发言人1"}
    # the job went through the speech stages (on a fast machine one short chunk reports both at once, and the job
    # keeps the later of two reports made together)
    assert {"语音识别", "说话人识别"} & stages or any("语音" in s for s in stages)
    cited = [i for v in m["views"] for p in v["points"] for i in p["lines"]]
    if cited:  # citations show the time and speaker of the cited line
        assert f"（见 {m['line_stamps'][str(cited[0])]}" in md
    assert list((server.home / "audio").glob("*")) == []  # the recording is deleted once transcribed
