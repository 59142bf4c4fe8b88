"""Minutes from a recording as one durable job (scripted engine, no speech models loaded): a resumed job takes
the checkpointed transcript instead of transcribing again; an unreadable recording fails the job cleanly."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from hanlin.principal import Principal
from tests.support.minutes_fakes import responder

SEGMENTS = [
    {"start": 1.5, "end": 4.0, "speaker": "发言人1", "text": "我们今天讨论预算。"},
    {"start": 4.2, "end": 6.0, "speaker": "发言人1", "text": "下周五之前定下来。"},
    {"start": 751.4, "end": 760.0, "speaker": "发言人2", "text": "好的，我负责整理报价。"},
]


def _ctx(services: Any, job: dict[str, Any]) -> Any:
    from hanlin.jobs import JobContext

    return JobContext(job["id"], "default", services.jobs.input_of(job["id"]), services.jobs, time.time())


def test_resumed_audio_job_uses_the_checkpointed_transcript(fake_services: Any, fake_engine: Any,
                                                            tmp_path: Path) -> None:
    from hanlin.apps.minutes import render
    from hanlin.audio import minutes as audio_minutes

    fake_engine.responder = responder
    transcript = audio_minutes.to_transcript({"segments": SEGMENTS})
    assert [(u.index, u.speaker, u.start, u.end) for u in transcript.utterances] == [
        (0, "发言人1", 1.5, 6.0), (1, "发言人2", 751.4, 760.0)]
    gone = tmp_path / "deleted-after-transcription.wav"  # a resumed job must not need the recording again
    job = audio_minutes.submit(fake_services.jobs, "minutes", Principal(tenant_id="default"), gone)
    fake_services.jobs.add_event(job["id"], audio_minutes.TRANSCRIPT_EVENT, {
        "utterances": [u.to_dict() for u in transcript.utterances],
        "transcription": {"duration_s": 760.0, "language": "zh", "speakers": ["发言人1", "发言人2"],
                          "stats": {}, "corrections": []}})
    result = asyncio.run(fake_services.minutes.run_job(_ctx(fake_services, job)))
    assert result["line_stamps"] == {"0": "00:00:01 发言人1", "1": "00:12:31 发言人2"}
    assert result["speakers"] == ["发言人1", "发言人2"]
    md = render.to_markdown(result)
    cited = [i for v in result["views"] for p in v["points"] for i in p["lines"]]
    assert cited and f"（见 {result['line_stamps'][str(cited[0])]}" in md
    assert "行）" not in md.split("议程与讨论")[-1].split("## ")[1]  # views cite times, not line numbers


def test_unreadable_recording_fails_the_job_cleanly(fake_services: Any, tmp_path: Path) -> None:
    from hanlin.audio import minutes as audio_minutes
    from hanlin.errors import UnprocessableInput

    bad = tmp_path / "meeting.mp3"
    bad.write_bytes(b"ID3" + bytes(range(256)) * 64)  # garbage after a plausible header
    job = audio_minutes.submit(fake_services.jobs, "minutes", Principal(tenant_id="default"), bad)
    with pytest.raises(UnprocessableInput, match="meeting.mp3"):
        asyncio.run(fake_services.minutes.run_job(_ctx(fake_services, job)))
    assert not bad.exists()  # a failed job leaves no recording behind
