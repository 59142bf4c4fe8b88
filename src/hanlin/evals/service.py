"""Evaluation jobs (kind "eval") for `POST /v1/evals`: resumable, because every finished item is cached.

A restarted server re-queues a running eval job; the rerun reads the item cache and only asks the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hanlin.config import Settings
from hanlin.engine.base import ChatRequest, EngineInfo
from hanlin.engine.manager import EngineManager
from hanlin.errors import BadRequest, PermissionDenied
from hanlin.evals.runner import RunSpec, run_eval
from hanlin.evals.suites import get_suite
from hanlin.jobs import JobContext, JobRunner
from hanlin.models.registry import ModelRegistry
from hanlin.principal import Principal
from hanlin.serving.chat import ChatService
from hanlin.serving.schemas import ChatCompletionRequest

JOB_KIND = "eval"
MAX_LIMIT = 20000


class ChatServiceEngine:
    """An Engine over the chat service, so custom apps (``app:NAME``) are evaluated with their system prompt,
    parameters and knowledge base, exactly as clients call them. Scored with the JSON-schema mode."""

    def __init__(self, chat: ChatService, model: str, principal: Principal, slots: int) -> None:
        self.chat_service = chat
        self.principal = principal
        self.info = EngineInfo(name=model, kind="chat-service", slots=slots)

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        req = ChatCompletionRequest.model_validate({**request, "model": self.info.name})
        return await self.chat_service.create(self.principal, req)

    async def close(self) -> None:
        return None


class EvalService:
    def __init__(self, settings: Settings, registry: ModelRegistry, engines: EngineManager, jobs: JobRunner,
                 chat: ChatService) -> None:
        self.settings, self.registry, self.engines, self.jobs, self.chat = settings, registry, engines, jobs, chat

    def validate(self, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        """Check a request before it becomes a job: 4xx now rather than a failed job later."""
        suite = str(payload.get("suite") or "")
        spec = get_suite(suite)  # NotFound lists the suites
        model = str(payload.get("model") or self.settings.model)
        kind = "app" if model.startswith("app:") else "model"
        name = model[4:] if kind == "app" else model
        if kind == "app" and not principal.allows(f"app:{name}"):
            raise PermissionDenied(f"This API key may not use app '{name}'", param="model")
        if kind == "model":
            self.engines.check(principal, model)  # 403 for the key's scopes; NotFound lists the caller's models
        limit = payload.get("limit")
        if limit is not None and not (isinstance(limit, int) and 1 <= limit <= MAX_LIMIT):
            raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}", param="limit")
        shots = payload.get("shots", 0)
        if not isinstance(shots, int) or not 0 <= shots <= 10:
            raise BadRequest("shots must be an integer from 0 to 10", param="shots")
        options = payload.get("options") or {}
        if not isinstance(options, dict) or not all(isinstance(v, str | int | float | bool) for v in options.values()):
            raise BadRequest("options must be an object of simple values, e.g. {\"split\": \"dev\"}", param="options")
        if "split" in options:
            spec.split(options)  # an enum of the suite's splits: no value reaches a path unchecked
        return {"suite": suite, "model": model, "limit": limit, "shots": shots, "options": options}

    def submit(self, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        return self.jobs.submit(JOB_KIND, principal, self.validate(principal, payload))

    async def run_job(self, ctx: JobContext) -> dict[str, Any]:
        inp = ctx.input
        model = inp["model"]
        engine: Any = (ChatServiceEngine(self.chat, model, ctx.principal, self.settings.parallel)
                       if model.startswith("app:") else await self.engines.get(model, principal=ctx.principal))
        spec = RunSpec(suite=inp["suite"], model=model, limit=inp.get("limit"), shots=int(inp.get("shots", 0)),
                       options=dict(inp.get("options") or {}), data_dir=self.data_dir())

        def progress(done: int, total: int, stage: str) -> None:
            ctx.progress(done / total if total else 0.0, f"{stage} {done}/{total} items")

        ctx.event("eval started", {"suite": spec.suite, "model": model, "limit": spec.limit})
        rec = await run_eval(engine, spec, self.settings.home, progress)
        ctx.event("eval finished", {"accuracy": rec["metrics"].get("accuracy"), "n": rec["n"]})
        return rec

    def data_dir(self) -> Path | None:
        return self.settings.eval_data

