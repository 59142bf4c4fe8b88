"""``/v1/models``: what the caller may use — the operator's models, the tenant's own fine-tuned models (and those
shared with it), its custom apps as ``app:NAME`` — each with a real ``created`` time and ``owned_by`` (the tenant,
for tenant models). Another tenant's model is answered like a missing one."""

from __future__ import annotations

from typing import Any

from hanlin.errors import NotFound
from hanlin.platform.principal import Principal


def _apps(services: Any, principal: Principal) -> list[dict[str, Any]]:
    platform = services.extras.get("platform")
    if platform is None:
        return []
    return [{"id": f"app:{a.name}", "object": "model", "created": int(a.created_at), "owned_by": a.tenant_id}
            for a in platform.apps.list(principal.tenant_id) if principal.allows(f"app:{a.name}")]


def list_models(services: Any, principal: Principal) -> list[dict[str, Any]]:
    models = [m for m in services.engines.list_models(principal) if principal.allows(f"model:{m['id']}")]
    return models + _apps(services, principal)


def get_model(services: Any, principal: Principal, model_id: str) -> dict[str, Any]:
    if model_id.startswith("app:"):
        name = model_id[4:].split("@", 1)[0]
        for m in _apps(services, principal):
            if m["id"] == f"app:{name}":
                return {**m, "id": model_id} if "@" in model_id else m
    else:
        for m in list_models(services, principal):
            if m["id"] == model_id:
                return m
    raise NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")
