"""The composition root: the one place that builds Hanlin's parts from Settings and wires them together.

Everything is imported statically and handed what it needs through its constructor; the hooks are registered
below in the order they run. Routes reach a feature through its dependency in ``hanlin.api.deps`` (a feature
left out of ``features`` is ``None`` there and answers 503), the CLI through these fields.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hanlin.apps.ads.app import AdService
from hanlin.apps.charts.app import ChartService
from hanlin.apps.documents.app import JOB_KIND as DOCUMENT_JOB
from hanlin.apps.documents.app import DocumentService
from hanlin.apps.formulas.app import FormulaService
from hanlin.apps.minutes.app import JOB_KIND as MINUTES_JOB
from hanlin.apps.minutes.app import MinutesService
from hanlin.audio.service import TRANSCRIBE_JOB, AudioService
from hanlin.config import Settings
from hanlin.engine.config_file import load_config
from hanlin.engine.manager import EngineManager
from hanlin.engine.pool import EnginePool, PoolCollector, build_pool
from hanlin.evals.service import JOB_KIND as EVAL_JOB
from hanlin.evals.service import EvalService
from hanlin.jobs import JobRunner
from hanlin.knowledge.service import KnowledgeService, make_chat_hook
from hanlin.limits import InputLimits
from hanlin.memory import HeapTrimmer
from hanlin.metrics import Metrics
from hanlin.models.registry import ModelRegistry
from hanlin.ocr.inputs import OcrLimits
from hanlin.platform.apps import make_app_hook
from hanlin.platform.auth import Authenticator
from hanlin.platform.files import FileStore
from hanlin.platform.metering import metered_engine, metered_job
from hanlin.platform.service import Platform
from hanlin.serving.chat import ChatService
from hanlin.store.db import Store
from hanlin.tuning.service import KIND as FINE_TUNE_JOB
from hanlin.tuning.service import TuningService

FEATURES = frozenset({"platform", "files", "knowledge", "audio", "minutes", "formulas", "charts", "documents", "ads", "evals",
                      "tuning", "pools"})


@dataclass
class Services:
    settings: Settings
    registry: ModelRegistry
    engines: EngineManager
    store: Store
    jobs: JobRunner
    metrics: Metrics
    chat: ChatService
    auth: Authenticator
    platform: Platform | None = None
    files: FileStore | None = None
    knowledge: KnowledgeService | None = None
    minutes: MinutesService | None = None
    formulas: FormulaService | None = None
    charts: ChartService | None = None
    documents: DocumentService | None = None
    ads: AdService | None = None
    audio: AudioService | None = None
    evals: EvalService | None = None
    tuning: TuningService | None = None
    pools: dict[str, EnginePool] = field(default_factory=dict)
    heap: HeapTrimmer = field(default_factory=lambda: HeapTrimmer(0))
    startup: list[Callable[[], Any]] = field(default_factory=list)
    shutdown: list[Callable[[], Any]] = field(default_factory=list)


def build_services(settings: Settings, engines: EngineManager | None = None,
                   features: Collection[str] | None = None) -> Services:
    """Build everything (or only ``features``, a subset of :data:`FEATURES`, for tests)."""
    on = FEATURES if features is None else frozenset(features)
    if on - FEATURES:
        raise ValueError(f"unknown features {sorted(on - FEATURES)}; known: {sorted(FEATURES)}")
    settings.ensure_dirs()
    registry = engines.registry if engines else ModelRegistry(settings.home)
    engines = engines or EngineManager(settings, registry)
    metrics = Metrics()
    store = Store(settings.db_url)
    jobs = JobRunner(store)
    chat = ChatService(engines, metrics)
    s = Services(settings=settings, registry=registry, engines=engines, store=store, jobs=jobs, metrics=metrics,
                 chat=chat, auth=Authenticator(settings), heap=HeapTrimmer(settings.malloc_trim_s))
    s.startup.append(s.heap.start)
    s.shutdown.append(s.heap.stop)
    if "platform" in on:  # first: quotas and custom apps rewrite a chat request before anything else sees it
        s.platform = _platform(s)
    if "files" in on:
        s.files = FileStore(store, settings)
    if "knowledge" in on:
        s.knowledge = KnowledgeService(store, settings.home / "knowledge", engines.embedder,
                                       settings.max_upload_mb, InputLimits.from_settings(settings),
                                       OcrLimits.from_settings(settings), settings.n_threads,
                                       audit=s.platform.audit if s.platform else None)
        chat.hooks.append(make_chat_hook(s.knowledge))
    if "audio" in on:
        s.audio = AudioService(settings)
        jobs.register(TRANSCRIBE_JOB, s.audio.run_transcribe_job, resumable=True)
        s.shutdown.append(s.audio.unload)
    _office_apps(s, on)
    if "evals" in on:
        s.evals = EvalService(settings, registry, engines, jobs, chat)
        jobs.register(EVAL_JOB, s.evals.run_job, resumable=True)
    if "tuning" in on:
        s.tuning = TuningService(settings.home / "tuning", registry, engines, store, jobs, s.files)
        jobs.register(FINE_TUNE_JOB, s.tuning.run, resumable=True)
    if "pools" in on and settings.config_file:
        _pools(s, Path(settings.config_file))
    store.init()
    return s


def _platform(s: Services) -> Platform:
    platform = Platform(s.store, s.settings, engines=s.engines)
    s.auth.key_lookup = platform.keys.lookup
    s.auth.key_cached = platform.keys.cached
    s.chat.hooks.append(make_app_hook(platform.apps, s.settings.model))
    s.chat.admission.append(platform.quota_hook)  # after every hook: it counts the final prompt
    s.chat.usage_sinks.append(platform.usage_sink)
    s.engines.wrappers.append(metered_engine)
    s.jobs.around.append(metered_job(platform.record_tally))
    return platform


def _office_apps(s: Services, on: frozenset[str]) -> None:
    if "minutes" in on:
        s.minutes = MinutesService(s.engines, s.jobs, s.settings.max_upload_mb, s.audio,
                                   s.settings.minutes_read_chars)
        s.jobs.register(MINUTES_JOB, s.minutes.run_job, resumable=True)
    if "formulas" in on:
        s.formulas = FormulaService(s.engines, InputLimits.from_settings(s.settings), s.settings.work_timeout_s)
    if "charts" in on:
        s.charts = ChartService(s.engines, s.settings.work_timeout_s)
    if "documents" in on:
        s.documents = DocumentService(s.engines, s.jobs, s.settings.home / "files")
        s.jobs.register(DOCUMENT_JOB, s.documents.run_job, resumable=True)
    if "ads" in on:
        s.ads = AdService(s.engines)


def _pools(s: Services, config: Path) -> None:
    """``hanlin serve --config``: register the file's pools as models, health-checked from startup."""
    s.pools = {p.name: build_pool(p, s.engines) for p in load_config(config).pools}
    for pool in s.pools.values():
        s.engines.add(pool)
        s.startup.append(pool.start)
    if s.pools:
        s.metrics.registry.register(PoolCollector(s.pools))
