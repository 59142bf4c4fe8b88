"""Model defaults (issue 20 item 6): the 1.5B samples with repeat_penalty ≈ 1.1 unless a request says otherwise, and
Chinese writing (documents, ads, minutes, knowledge answers) goes to the default 1.5B, not the 0.5B fast tier."""

from __future__ import annotations

from pathlib import Path

from hanlin.config import DEFAULT_MODEL, Settings
from hanlin.engine.llamacpp import LlamaCppEngine
from hanlin.models.registry import BUILTIN, ModelRegistry


def _engine(sampling: dict[str, float]) -> LlamaCppEngine:
    eng = LlamaCppEngine.__new__(LlamaCppEngine)  # no model load: only the request merging is tested
    eng.sampling = sampling
    return eng


def test_the_1_5b_has_a_repeat_penalty_and_the_request_wins() -> None:
    spec = BUILTIN["qwen2.5-coder-1.5b-instruct"]
    assert 1.05 <= spec.sampling["repeat_penalty"] <= 1.15
    eng = _engine(spec.sampling)
    assert eng._body({"messages": []})["repeat_penalty"] == spec.sampling["repeat_penalty"]
    assert eng._body({"messages": [], "repeat_penalty": 1.0})["repeat_penalty"] == 1.0  # a request's own value
    assert eng._body({"messages": [], "repeat_penalty": None})["repeat_penalty"] == spec.sampling["repeat_penalty"]
    assert "repeat_penalty" not in _engine({})._body({"messages": []})


def test_writing_defaults_to_the_1_5b(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.model == DEFAULT_MODEL == "qwen2.5-coder-1.5b-instruct"
    assert ModelRegistry(tmp_path).resolve("default").name == DEFAULT_MODEL
    assert ModelRegistry(tmp_path).resolve(settings.model).sampling  # the apps' engine gets the defaults
