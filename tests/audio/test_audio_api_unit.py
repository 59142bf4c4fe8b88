"""/v1/audio/transcriptions and audio minutes uploads: validation, limits and scopes, in-process (no model loads:
every request here is refused before speech recognition starts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.audio_mix import AUDIO_DIR
from tests.support.platform_auth import ADMIN_KEY, create_key, make_services

ROUTE = "/v1/audio/transcriptions"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from hanlin.api.app import create_app

    services = make_services(tmp_path, audio_max_mb=1)
    with TestClient(create_app(services.settings, services)) as c:
        yield c


ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _post(client: Any, content: bytes, name: str = "a.wav", headers: dict[str, str] | None = None,
          **fields: str) -> Any:
    return client.post(ROUTE, files={"file": (name, content, "application/octet-stream")},
                       data={"model": "whisper-1", **fields}, headers=headers or ADMIN)


@pytest.mark.parametrize("fields,param", [
    ({"response_format": "mp3"}, "response_format"), ({"model": "tts-1"}, "model"),
    ({"language": "zh; rm -rf"}, "language"), ({"prompt": "词" * 1001}, "prompt"),
    ({"timestamp_granularities[]": "word"}, "timestamp_granularities"),
])
def test_bad_fields_are_400_naming_the_field(client: Any, fields: dict[str, str], param: str) -> None:
    r = _post(client, (AUDIO_DIR / "sample.wav").read_bytes(), **fields)
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text


@pytest.mark.parametrize("content,needle", [
    (b"", "0 bytes"), ("不是音频".encode() * 300, "not a readable audio"),
    ((AUDIO_DIR / "long.wav").read_bytes()[:120_000], "truncated")])
def test_bad_audio_is_422(client: Any, content: bytes, needle: str) -> None:
    r = _post(client, content)
    assert r.status_code == 422 and needle in r.json()["error"]["message"], r.text


def test_too_big_is_413_and_missing_file_400(client: Any) -> None:
    r = _post(client, b"\0" * (2 * 1024 * 1024))
    assert r.status_code == 413 and "HANLIN_AUDIO_MAX_MB" in r.json()["error"]["message"]
    r = client.post(ROUTE, data={"model": "whisper-1"}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"


def test_scoped_keys(client: Any) -> None:
    _, chat_only = create_key(client, ADMIN, name="chat", scopes=["model:fake"])
    r = _post(client, b"", headers=chat_only)
    assert r.status_code == 403 and "model:whisper-base" in r.json()["error"]["message"]
    _, speech = create_key(client, ADMIN, name="asr", scopes=["model:whisper-base"])
    assert _post(client, b"", headers=speech).status_code == 422  # allowed through to the (empty) file


def test_minutes_upload_of_a_bad_recording_is_422_and_leaves_no_file(client: Any, tmp_path: Path) -> None:
    r = client.post("/v1/apps/minutes", files={"file": ("meeting.mp3", b"ID3" + b"\0" * 500, "audio/mpeg")},
                    headers=ADMIN)
    assert r.status_code == 422, r.text
    assert list((tmp_path / "audio").glob("*")) == []


CANNED = {"segments": [{"start": 0.5, "end": 2.0, "speaker": "发言人1", "text": "你好。"},
                       {"start": 2.5, "end": 4.0, "speaker": "发言人2", "text": "好的。"}],
          "speakers": ["发言人1", "发言人2"], "duration_s": 5.5, "language": "zh", "text": "你好。好的。",
          "corrections": [], "stats": {"rtf": 0.2, "asr_s": 1.0, "diarization_s": 0.1},
          "words": [{"word": "你", "start": 0.5, "end": 0.8}]}


def test_formats_and_metering_in_audio_seconds(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The route's shapes and metering over a canned recogniser (the real one runs in test_audio_e2e)."""
    from hanlin.audio.service import AudioService

    seen: list[Any] = []

    async def fake_transcribe(self: Any, path: Path, opts: Any, progress: Any = None, words: bool = False) -> Any:
        seen.append((path.exists(), opts.hotwords, opts.language, words))
        return {k: v for k, v in CANNED.items() if k != "words" or words}

    monkeypatch.setattr(AudioService, "transcribe", fake_transcribe)
    wav = (AUDIO_DIR / "asr_example.wav").read_bytes()
    r = _post(client, wav, prompt="达摩院，富士康", language="zh")
    assert r.json() == {"text": "你好。好的。", "usage": {"type": "duration", "seconds": 6}}
    assert seen[-1] == (True, ["达摩院", "富士康"], "zh", False)
    v = _post(client, wav, response_format="verbose_json", **{"timestamp_granularities[]": "word"}).json()
    assert v["segments"][1] == {"id": 1, "start": 2.5, "end": 4.0, "text": "好的。", "speaker": "发言人2"}
    assert v["words"] and v["duration"] == 5.5 and seen[-1][3] is True
    assert _post(client, wav, response_format="text").text == "你好。好的。\n"
    srt = _post(client, wav, response_format="srt")
    assert srt.headers["content-type"].startswith("application/x-subrip") and "[发言人2] 好的。" in srt.text
    assert _post(client, wav, response_format="vtt").text.startswith("WEBVTT")
    usage = client.get("/v1/usage", headers=ADMIN).json()
    assert usage["totals"]["audio_seconds"] == pytest.approx(5 * 5.5)
