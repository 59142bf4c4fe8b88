"""Model name -> engine. Loads embedded/local GGUFs lazily, holds upstream engines, lists them all.

:meth:`EngineManager.get` is the one place engines are handed out: it checks the caller's ``model:``/``app:``
scopes and that the model is the caller's to use (another tenant's fine-tuned model answers like a missing one),
then applies the registered wrappers (metering), so no route or job can reach a model around it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hanlin.config import Settings
from hanlin.engine.base import Engine
from hanlin.engine.embedder import EMBEDDING_MODELS, E5Embedder
from hanlin.errors import NotFound, PermissionDenied
from hanlin.models import embedded
from hanlin.models.registry import ModelRegistry, ModelSpec
from hanlin.principal import Principal

log = logging.getLogger(__name__)
E5_RELEASED = 1690848000.0  # 2023-08: multilingual-e5-small

# Wraps every engine handed out (e.g. metering counts its tokens); returns the engine itself when it has nothing
# to do for the current request.
EngineWrapper = Callable[[Engine], Engine]


def check_scope(principal: Principal, model: str, app: str | None = None) -> None:
    """A scoped key may use ``model`` when it allows ``model:<model>``, or when the call is made on behalf of
    an app (``app:writer`` for a custom app, ``app:minutes`` for an office app) that the key allows."""
    if principal.allows(f"model:{model}") or (app is not None and principal.allows(app)):
        return
    via = f" (nor '{app}')" if app else ""
    raise PermissionDenied(f"This API key may not use model '{model}'{via}", param="model")


def model_path_for(settings: Settings, spec: ModelSpec,
                   progress: Callable[[int, int], None] | None = None) -> Path:
    """Where the GGUF of ``spec`` lives; assembles embedded models on first use."""
    if spec.kind == "embedded":
        return embedded.assemble(settings.models_dir, spec, progress)
    p = Path(spec.path)
    if not p.is_file():
        raise NotFound(f"Model '{spec.name}' points at {p}, which does not exist", param="model")
    return p


class EngineManager:
    def __init__(self, settings: Settings, registry: ModelRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or ModelRegistry(settings.home)
        self._engines: dict[str, Engine] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._from_registry: set[str] = set()  # engines built from specs (dropped when the spec is removed)
        self.embedder = E5Embedder(settings.embedding_model, settings.n_threads)
        self._started = time.time()  # "created" of engines that have no registration time
        self.wrappers: list[EngineWrapper] = []

    def add(self, engine: Engine) -> None:
        """Register a ready engine (upstream, pool, fake) under its info.name."""
        self._engines[engine.info.name] = engine

    def loaded(self) -> dict[str, Engine]:
        return dict(self._engines)

    def _build(self, spec: ModelSpec) -> Engine:
        if spec.kind == "upstream":
            from hanlin.engine.upstream import UpstreamEngine

            return UpstreamEngine(spec.name, spec.base_url, upstream_model=spec.upstream_model,
                                  api_key_env=spec.api_key_env)
        from hanlin.engine.llamacpp import LlamaCppEngine

        path = model_path_for(self.settings, spec)
        log.info("loading %s from %s (%d slots, %d threads)", spec.name, path, self.settings.parallel,
                 self.settings.n_threads)
        engine = LlamaCppEngine(spec.name, path, slots=self.settings.parallel,
                                ctx_per_slot=self.settings.ctx_per_slot, threads=self.settings.n_threads,
                                lora_path=spec.lora_path, prompt_cache_mib=self.settings.prompt_cache_mib,
                                sampling=spec.sampling, log_verbosity=self.settings.engine_log)
        if spec.tool_call_logodds is not None:
            engine.info.meta["tool_call_logodds"] = spec.tool_call_logodds
        return engine

    async def get(self, name: str | None, *, principal: Principal, app: str | None = None) -> Engine:
        """The engine serving ``name`` (default: the server's model) for ``principal``: scope-checked (403),
        another tenant's model answers like a missing one (404), loaded on first use, wrapped by every
        registered wrapper."""
        name = name or self.settings.model
        check_scope(principal, name, app)
        engine = await self.load(name, principal)
        for wrap in self.wrappers:
            engine = wrap(engine)
        return engine

    def check(self, principal: Principal, name: str | None, app: str | None = None) -> None:
        """The checks of :meth:`get` alone, loading nothing: refuse a request before it becomes a job."""
        name = name or self.settings.model
        check_scope(principal, name, app)
        self.check_access(name, principal)

    def embedding_model(self, name: str | None, *, principal: Principal) -> E5Embedder:
        """The embedder for ``name`` (default: the configured one), scope-checked like :meth:`get`."""
        name = name or self.embedder.info.name
        if name not in EMBEDDING_MODELS:
            raise NotFound(f"'{name}' is not an embedding model. Embedding models: {', '.join(EMBEDDING_MODELS)}",
                           param="model", code="model_not_found")
        check_scope(principal, name)
        return self.embedder

    def local_model(self, name: str | None, *, principal: Principal) -> tuple[ModelSpec, Path]:
        """The spec and GGUF file of a local model (fine-tuning reads the weights), checked like :meth:`get`."""
        name = name or self.settings.model
        check_scope(principal, name)
        spec = self.registry.resolve(name, principal)
        return spec, model_path_for(self.settings, spec)

    async def load(self, name: str, caller: Principal | None = None) -> Engine:
        """The engine, loaded on first use, without scope check or wrappers: :meth:`get` for callers; bare only
        for engines made of other engines (a pool's local member) and preloading."""
        if name in self._engines and name not in self._from_registry:
            if caller is not None and name in (specs := self.registry.all()) \
                    and not specs[name].visible_to(caller.tenant_id, caller.is_admin):
                raise self.registry.not_found(name, caller, specs)
            return self._engines[name]
        try:
            spec = self.registry.resolve(name, caller)  # raises NotFound with the list of known models
        except NotFound:
            if name in self._from_registry and name not in self.registry.all():  # removed while loaded
                self._from_registry.discard(name)
                await self._engines.pop(name).close()
            raise
        if spec.name in self._engines:
            return self._engines[spec.name]
        lock = self._locks.setdefault(spec.name, asyncio.Lock())
        async with lock:
            if spec.name not in self._engines:
                self._engines[spec.name] = await asyncio.to_thread(self._build, spec)
                self._from_registry.add(spec.name)
        return self._engines[spec.name]

    def check_access(self, name: str, principal: Principal | None) -> None:
        """Raise NotFound (as for a missing model) unless ``name`` is served here and the caller may use it;
        loads nothing (for checks before a job is queued)."""
        specs = self.registry.all()
        if name in self._engines and name not in specs:
            return
        self.registry.resolve(name, principal)

    def list_models(self, principal: Principal | None = None) -> list[dict[str, Any]]:
        """OpenAI ``model`` objects the caller may use: the operator's models plus the caller's tenant's own
        (``owned_by`` = that tenant) and those an admin shared with it; ``created`` = when each was added."""
        out: dict[str, dict[str, Any]] = {}
        specs = self.registry.all()
        for name, spec in specs.items():
            if principal is not None and not spec.visible_to(principal.tenant_id, principal.is_admin):
                continue
            if spec.kind == "embedded" and not (
                name in self._engines or embedded.is_assembled(self.settings.models_dir, spec)
                or embedded.part_files(spec.parts) is not None  # type: ignore[arg-type]
            ):
                continue  # not installed here: `hanlin models list` shows it, the API does not offer it
            owner = spec.owner or ("upstream" if spec.kind == "upstream" else "hanlin")
            out[name] = {"id": name, "object": "model", "created": int(spec.created or self._started),
                         "owned_by": owner}
        for name, eng in self._engines.items():
            if name not in specs:  # engines added in code (pools, upstreams from the config file)
                out.setdefault(name, {"id": name, "object": "model", "created": int(self._started),
                                      "owned_by": eng.info.owned_by})
        for name in EMBEDDING_MODELS:
            out[name] = {"id": name, "object": "model", "created": int(E5_RELEASED), "owned_by": "hanlin"}
        return sorted(out.values(), key=lambda m: m["id"])

    async def close(self) -> None:
        for eng in self._engines.values():
            await eng.close()
        self._engines.clear()
