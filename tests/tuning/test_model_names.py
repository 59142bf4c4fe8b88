"""A fine-tuned model's name never replaces another model, least of all another tenant's."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from hanlin.models.registry import ModelRegistry
from hanlin.tuning.service import TuningService


def _register(reg: ModelRegistry, gguf: Path, job_id: str, tenant: str, name: str | None) -> str:
    svc = SimpleNamespace(registry=reg)
    payload = {"name": name, "model": "qwen2.5-coder-0.5b-instruct", "base_gguf": str(gguf)}
    return TuningService.register_model(svc, job_id, payload, gguf, tenant)  # type: ignore[arg-type]


def test_a_name_taken_while_a_job_trained_gets_the_job_id(tmp_path: Path) -> None:
    gguf = tmp_path / "base.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    reg = ModelRegistry(tmp_path)
    first = _register(reg, gguf, "job_aaaaaaaa1111", "tenant-a", "helper")
    # tenant B asked for the same name before A's job had registered it (the check at submit time passed)
    second = _register(reg, gguf, "job_bbbbbbbb2222", "tenant-b", "helper")
    assert first == "ft:helper" and second == "ft:helper-bbbbbbbb"
    specs = reg.all()
    assert specs["ft:helper"].owner == "tenant-a"  # A's model is still A's
    assert specs["ft:helper-bbbbbbbb"].owner == "tenant-b"
    assert not specs["ft:helper"].visible_to("tenant-b")
