"""Every HANLIN_* variable is a Settings field, and the code that used to read the environment itself now gets it
from Settings (the architecture test checks nobody else reads HANLIN_*)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hanlin.cli.common import local_engine, settings_from
from hanlin.engine.upstream import UpstreamEngine
from hanlin.evals.base import default_data_dir


def test_the_cli_takes_its_server_and_key_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANLIN_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("HANLIN_API_KEY", "sk-from-env")
    settings = settings_from()
    assert (settings.url, settings.api_key) == ("http://127.0.0.1:9/", "sk-from-env")
    assert "sk-from-env" not in repr(settings)

    async def check() -> None:
        engine = await local_engine(settings, "qwen")
        try:
            assert isinstance(engine, UpstreamEngine) and engine._base_url == "http://127.0.0.1:9/v1"
            assert engine._client.headers["Authorization"] == "Bearer sk-from-env"
        finally:
            await engine.close()
    asyncio.run(check())


def test_eval_data_comes_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HANLIN_EVAL_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    assert default_data_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.setenv("HANLIN_EVAL_DATA", "")  # empty means unset, as before (not the working directory)
    assert default_data_dir() != Path(".")
    assert settings_from().eval_data is None


def test_cjk_font_dir_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HANLIN_CJK_FONT_DIR", str(tmp_path))
    assert settings_from().cjk_font_dir == str(tmp_path)
