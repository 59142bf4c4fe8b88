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
