"""The process-wide service container built once from Settings; routes and the CLI use it."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hanlin.config import Settings
from hanlin.engine.manager import EngineManager
from hanlin.jobs import JobRunner
from hanlin.metrics import Metrics
from hanlin.models.registry import ModelRegistry
from hanlin.platform.auth import Authenticator
from hanlin.serving.chat import ChatService
from hanlin.store.db import Store

log = logging.getLogger(__name__)

# Modules with ``install(services)``: each wires its hooks, job handlers and stores. Missing ones are skipped,
# so a feature can be developed without touching this file twice.
FEATURE_MODULES = [
    "hanlin.platform.service",
    "hanlin.platform.files",
    "hanlin.knowledge.service",
    "hanlin.apps.minutes.app",
    "hanlin.audio.service",
    "hanlin.apps.formulas.app",
    "hanlin.apps.charts.app",
    "hanlin.apps.documents.app",
    "hanlin.apps.ads.app",
    "hanlin.evals.service",
    "hanlin.tuning.service",
    "hanlin.engine.pool",
]


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
    extras: dict[str, Any] = field(default_factory=dict)  # feature services by name (knowledge, quotas...)
    startup: list[Callable[[], Any]] = field(default_factory=list)
    shutdown: list[Callable[[], Any]] = field(default_factory=list)


def build_services(settings: Settings, engines: EngineManager | None = None,
                   features: list[str] | None = None) -> Services:
    settings.ensure_dirs()
    registry = ModelRegistry(settings.home)
    engines = engines or EngineManager(settings, registry)
    metrics = Metrics()
    store = Store(settings.db_url)
    services = Services(settings=settings, registry=registry, engines=engines, store=store,
                        jobs=JobRunner(store), metrics=metrics, chat=ChatService(engines, metrics),
                        auth=Authenticator(settings))
    for mod_name in FEATURE_MODULES if features is None else features:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name and mod_name.startswith(e.name):
                continue
            raise
        install = getattr(mod, "install", None)
        if install:
            install(services)
    store.init()
    return services
