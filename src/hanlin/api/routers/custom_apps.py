"""Custom apps (专属应用) of the caller's tenant: /v1/custom-apps. Call one as model ``app:NAME``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from hanlin.api.deps import PlatformDep, PrincipalDep
from hanlin.errors import PermissionDenied
from hanlin.limits import DB_INT_MAX
from hanlin.platform.audit import actor_of
from hanlin.principal import Principal
from hanlin.serving.schemas import ValidText

router = APIRouter(prefix="/v1/custom-apps", tags=["custom apps"])


def _may_edit(principal: Principal) -> None:
    if principal.scopes and not principal.is_admin:
        raise PermissionDenied("A key limited to some models/apps cannot create or edit apps; use a key "
                               "without scopes or an admin key.")


class AppFields(ValidText):
    description: str | None = None
    base_model: str | None = Field(None, description="defaults to the server's model")
    system_prompt: str | None = None
    params: dict[str, Any] | None = Field(None, description="temperature, top_p, max_tokens, stop, seed...")
    knowledge_base: str | None = None
    output_schema: dict[str, Any] | None = Field(None, description="JSON Schema the output must follow")


class AppCreate(AppFields):
    name: str


@router.get("")
async def list_apps(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    apps = platform.apps.list(principal.tenant_id)
    return {"object": "list", "data": [a.to_dict() for a in apps if principal.allows(f"app:{a.name}")]}


@router.post("", status_code=201)
async def create_app(body: AppCreate, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    _may_edit(principal)
    values = body.model_dump(exclude_none=True, exclude={"name"})
    app = platform.apps.create(principal.tenant_id, body.name, values, actor=actor_of(principal))
    return app.to_dict()


@router.get("/{name}")
async def get_app(name: str, platform: PlatformDep, principal: PrincipalDep,
                  version: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None) -> dict[str, Any]:
    return platform.apps.get(principal.tenant_id, name, version).to_dict()


@router.get("/{name}/versions")
async def app_versions(name: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    versions = platform.apps.versions(principal.tenant_id, name)
    return {"object": "list", "data": [a.to_dict() for a in versions]}


@router.patch("/{name}")
@router.put("/{name}")
async def update_app(name: str, body: AppFields, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    """Editing writes a new version; older versions stay callable as app:NAME@N."""
    _may_edit(principal)
    values = body.model_dump(exclude_unset=True)
    app = platform.apps.update(principal.tenant_id, name, values, actor=actor_of(principal))
    return app.to_dict()


@router.delete("/{name}")
async def delete_app(name: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    _may_edit(principal)
    platform.apps.delete(principal.tenant_id, name, actor=actor_of(principal))
    return {"object": "custom_app.deleted", "id": f"app:{name}", "deleted": True}
