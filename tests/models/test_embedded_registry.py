"""Model assembly integrity (verified, atomic, refusing a hash mismatch) and the model registry."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from hanlin.errors import BadRequest, ModelIntegrityError, NotFound
from hanlin.models import embedded
from hanlin.models.registry import EmbeddedParts, ModelRegistry, ModelSpec


def _fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes], sha: str) -> ModelSpec:
    for i, data in enumerate(chunks, start=1):
        pkg = tmp_path / f"fakechunk_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path))
    for i in range(1, len(chunks) + 1):
        sys.modules.pop(f"fakechunk_part{i}", None)
    parts = EmbeddedParts("fakechunk-part{n}", "fakechunk_part{n}", "1.0", len(chunks), sum(map(len, chunks)), sha)
    return ModelSpec(name="tiny", kind="embedded", parts=parts)


def test_assembly_is_verified_and_atomic(tmp_path, monkeypatch):
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7]
    sha = hashlib.sha256(b"".join(chunks)).hexdigest()
    spec = _fake_parts(tmp_path / "pkgs", monkeypatch, chunks, sha)
    seen: list[int] = []
    out = embedded.assemble(tmp_path / "models", spec, lambda done, total: seen.append(done))
    assert out.read_bytes() == b"".join(chunks)
    assert seen[-1] == spec.parts.size  # type: ignore[union-attr]
    assert embedded.is_assembled(tmp_path / "models", spec)
    assert not list((tmp_path / "models").glob("*.partial"))


def test_hash_mismatch_refuses_and_leaves_nothing(tmp_path, monkeypatch):
    chunks = [b"GGUF" + b"x" * 10, b"y" * 10]
    spec = _fake_parts(tmp_path / "pkgs", monkeypatch, chunks, "0" * 64)
    with pytest.raises(ModelIntegrityError, match="sha256"):
        embedded.assemble(tmp_path / "models", spec)
    assert not list((tmp_path / "models").iterdir())


def test_missing_chunk_packages_explain_how_to_install(tmp_path):
    parts = EmbeddedParts("nopkg-part{n}", "nopkg_part{n}", "1.0", 2, 10, "0" * 64)
    with pytest.raises(NotFound, match="hanlin models pull"):
        embedded.assemble(tmp_path, ModelSpec(name="x", kind="embedded", parts=parts))


def test_registry_add_remove_and_refusals(tmp_path):
    reg = ModelRegistry(tmp_path)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 16)
    reg.add(ModelSpec(name="my-7b", kind="local", path=str(gguf)))
    assert ModelRegistry(tmp_path).resolve("my-7b").path == str(gguf)  # persisted
    with pytest.raises(NotFound, match="Known models"):
        reg.resolve("nope")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    with pytest.raises(BadRequest, match="not a GGUF"):
        reg.add(ModelSpec(name="bad", kind="local", path=str(bad)))
    with pytest.raises(BadRequest, match="built-in"):
        reg.add(ModelSpec(name="qwen2.5-coder-0.5b-instruct", kind="local", path=str(gguf)))
    reg.remove("my-7b")
    with pytest.raises(NotFound):
        reg.resolve("my-7b")


def test_registry_reads_its_file_again_only_when_it_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request resolves its model here: an unchanged file is not read again, a changed one (another process,
    or a hand edit) is, and callers still get specs of their own to change."""
    reg = ModelRegistry(tmp_path)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 16)
    reg.add(ModelSpec(name="mine", kind="local", path=str(gguf)))
    reads: list[Path] = []
    real_read = Path.read_text

    def counted(self: Path, *args: object, **kwargs: object) -> str:
        reads.append(self)
        return real_read(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", counted)
    for _ in range(5):
        assert reg.resolve("mine").path == str(gguf)
    assert len(reads) == 1
    reg.all()["mine"].shared_with.append("intruder")  # a caller's change stays its own
    assert reg.resolve("mine").shared_with == []
    ModelRegistry(tmp_path).remove("mine")  # another process removes it
    with pytest.raises(NotFound):
        reg.resolve("mine")
    edited = {"edited": {"name": "edited", "kind": "local", "path": str(gguf)}}
    (tmp_path / "models.json").write_text(json.dumps(edited))
    assert reg.resolve("edited").path == str(gguf)  # a hand edit is seen
