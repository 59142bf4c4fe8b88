"""``HANLIN_ENGINE_LOG`` turns on llama.cpp's own log, up to info: debug would print prompt and answer tokens."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hanlin.config import Settings


def test_engine_log_is_silent_by_default_and_never_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().engine_log == -1
    monkeypatch.setenv("HANLIN_ENGINE_LOG", "4")
    assert Settings().engine_log == 4
    monkeypatch.setenv("HANLIN_ENGINE_LOG", "5")
    with pytest.raises(ValidationError, match="engine_log"):
        Settings()
