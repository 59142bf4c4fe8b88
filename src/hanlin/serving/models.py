"""``/v1/models``: what the caller may use — the operator's models, the tenant's own fine-tuned models (and those
shared with it), its custom apps as ``app:NAME`` — each with a real ``created`` time and ``owned_by`` (the tenant,
for tenant models). Another tenant's model is answered like a missing one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hanlin.engine.manager import EngineManager
from hanlin.errors import NotFound
from hanlin.principal import Principal

# The caller's custom apps as OpenAI model objects (the platform's, when it is on).
AppModels = Callable[[Principal], list[dict[str, Any]]]


def no_apps(principal: Principal) -> list[dict[str, Any]]:
    return []


def list_models(engines: EngineManager, principal: Principal, apps: AppModels = no_apps) -> list[dict[str, Any]]:
    models = [m for m in engines.list_models(principal) if principal.allows(f"model:{m['id']}")]
    return models + apps(principal)


def get_model(engines: EngineManager, principal: Principal, model_id: str,
              apps: AppModels = no_apps) -> dict[str, Any]:
    if model_id.startswith("app:"):
        name = model_id[4:].split("@", 1)[0]
        for m in apps(principal):
            if m["id"] == f"app:{name}":
                return {**m, "id": model_id} if "@" in model_id else m
    else:
        for m in list_models(engines, principal, apps):
            if m["id"] == model_id:
                return m
    raise NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")
