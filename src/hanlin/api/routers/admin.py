"""Platform routes: /v1/admin (tenants, keys, quotas, usage, audit, apps — admin keys only), and for every
caller /v1/me, /v1/usage (own tenant) and /v1/keys (own tenant's keys, read-only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hanlin.api.deps import AdminDep, PlatformDep, PrincipalDep, ServicesDep
from hanlin.limits import DB_INT_MAX
from hanlin.platform.audit import actor_of
from hanlin.platform.usage import parse_since

router = APIRouter(tags=["platform"])


class QuotaBody(BaseModel):
    rpm: int | None = Field(None, ge=0, le=DB_INT_MAX, description="requests per minute; 0 = unlimited")
    tpm: int | None = Field(None, ge=0, le=DB_INT_MAX, description="tokens per minute; 0 = unlimited")
    monthly_tokens: int | None = Field(None, ge=0, le=DB_INT_MAX,
                                       description="token budget per calendar month; 0 = unlimited")


class TenantBody(QuotaBody):
    id: str
    name: str = ""


class KeyBody(QuotaBody):
    tenant: str = "default"
    name: str = ""
    admin: bool = False
    scopes: list[str] = Field(default_factory=list, description="model:NAME, model:*, app:NAME, app:*")
    expires: str | float | None = Field(None, description="30d, 12h, an ISO date or epoch seconds")


def _quota(body: QuotaBody) -> dict[str, Any]:
    return body.model_dump(include={"rpm", "tpm", "monthly_tokens"}, exclude_none=True)


# --- every caller ---------------------------------------------------------------------------------------------
@router.get("/v1/me")
async def me(services: ServicesDep, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    tenant = platform.tenants.find(principal.tenant_id)
    key = platform.keys.get(principal.key_id).to_dict() if principal.key_id else None
    return {"object": "principal", "tenant_id": principal.tenant_id, "key_id": principal.key_id,
            "is_admin": principal.is_admin, "scopes": [s for s in principal.scopes if not s.startswith("app:app:")],
            "auth_required": services.auth.required, "tenant": tenant.to_dict() if tenant else None, "key": key}


@router.get("/v1/usage")
async def my_usage(platform: PlatformDep, principal: PrincipalDep, since: str | None = None,
                   until: str | None = None, tenant: str | None = None) -> dict[str, Any]:
    """Usage of the caller's tenant by day and model; admins may pass ?tenant=ID or ?tenant=* (all)."""
    target = principal.tenant_id
    if tenant and principal.is_admin:
        target = None if tenant == "*" else tenant  # type: ignore[assignment]
    return platform.usage.summary(tenant_id=target, since=parse_since(since),
                                               until=parse_since(until))


@router.get("/v1/keys")
async def my_keys(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    keys = platform.keys.list(principal.tenant_id)
    return {"object": "list", "data": [k.to_dict() for k in keys]}


# --- admin: tenants ---------------------------------------------------------------------------------------------
@router.get("/v1/admin/tenants")
async def list_tenants(platform: PlatformDep, admin: AdminDep) -> dict[str, Any]:
    return {"object": "list", "data": [t.to_dict() for t in platform.tenants.list()]}


@router.post("/v1/admin/tenants", status_code=201)
async def create_tenant(body: TenantBody, platform: PlatformDep, admin: AdminDep) -> dict[str, Any]:
    t = platform.tenants.create(body.id, body.name, actor=actor_of(admin), quota=_quota(body))
    return t.to_dict()


@router.get("/v1/admin/tenants/{tenant_id}")
async def get_tenant(tenant_id: str, platform: PlatformDep, admin: AdminDep) -> dict[str, Any]:
    return platform.tenants.get(tenant_id).to_dict()


@router.put("/v1/admin/tenants/{tenant_id}/quota")
async def set_tenant_quota(tenant_id: str, body: QuotaBody, platform: PlatformDep,
                           admin: AdminDep) -> dict[str, Any]:
    t = platform.tenants.set_quota(tenant_id, _quota(body), actor=actor_of(admin))
    platform.quotas.invalidate()
    return t.to_dict()


@router.post("/v1/admin/tenants/{tenant_id}/disable")
async def disable_tenant(tenant_id: str, platform: PlatformDep, admin: AdminDep) -> dict[str, Any]:
    return platform.tenants.set_disabled(tenant_id, True, actor=actor_of(admin)).to_dict()


@router.post("/v1/admin/tenants/{tenant_id}/enable")
async def enable_tenant(tenant_id: str, platform: PlatformDep, admin: AdminDep) -> dict[str, Any]:
    return platform.tenants.set_disabled(tenant_id, False, actor=actor_of(admin)).to_dict()


# --- admin: keys --------------------------------------------------------------------------------------------------
@router.get("/v1/admin/keys")
async def list_keys(platform: PlatformDep, admin: AdminDep, tenant: str | None = None) -> dict[str, Any]:
    return {"object": "list", "data": [k.to_dict() for k in platform.keys.list(tenant)]}


@router.post("/v1/admin/keys", status_code=201)
async def create_key(body: KeyBody, platform: PlatformDep, admin: AdminDep) -> dict[str, Any]:
    key, secret = platform.keys.create(
        tenant_id=body.tenant, actor=actor_of(admin), name=body.name, is_admin=body.admin, scopes=body.scopes,
        expires=body.expires, quota=_quota(body))
    return {**key.to_dict(), "key": secret, "note": "Store this key now: it is shown only once."}


@router.get("/v1/admin/keys/{key_id}")
async def get_key(key_id: str, platform: PlatformDep, admin: AdminDep) -> dict[str, Any]:
    return platform.keys.get(key_id).to_dict()


@router.post("/v1/admin/keys/{key_id}/revoke")
async def revoke_key(key_id: str, platform: PlatformDep, admin: AdminDep) -> dict[str, Any]:
    return platform.keys.revoke(key_id, actor=actor_of(admin)).to_dict()


@router.delete("/v1/admin/keys/{key_id}")
async def delete_key(key_id: str, platform: PlatformDep, admin: AdminDep) -> dict[str, Any]:
    """Keys are never erased (usage and audit refer to them): deleting revokes."""
    return platform.keys.revoke(key_id, actor=actor_of(admin)).to_dict()


@router.put("/v1/admin/keys/{key_id}/quota")
async def set_key_quota(key_id: str, body: QuotaBody, platform: PlatformDep, admin: AdminDep) -> dict[str, Any]:
    k = platform.keys.set_quota(key_id, _quota(body), actor=actor_of(admin))
    platform.quotas.invalidate()
    return k.to_dict()


# --- admin: usage, audit, apps -----------------------------------------------------------------------------------
@router.get("/v1/admin/usage")
async def admin_usage(platform: PlatformDep, admin: AdminDep, tenant: str | None = None,
                      since: str | None = None, until: str | None = None) -> dict[str, Any]:
    return platform.usage.summary(tenant_id=tenant, since=parse_since(since),
                                               until=parse_since(until))


@router.get("/v1/admin/usage/events")
async def admin_usage_events(platform: PlatformDep, admin: AdminDep, tenant: str | None = None,
                             limit: int = 100) -> dict[str, Any]:
    return {"object": "list", "data": platform.usage.events(tenant_id=tenant, limit=limit)}


@router.get("/v1/admin/audit")
async def audit(platform: PlatformDep, admin: AdminDep, tenant: str | None = None, action: str | None = None,
                since: str | None = None, limit: int = 100) -> dict[str, Any]:
    rows = platform.audit.list(tenant_id=tenant, action=action, since=parse_since(since),
                                            limit=limit)
    return {"object": "list", "data": rows}


@router.get("/v1/admin/apps")
async def admin_apps(platform: PlatformDep, admin: AdminDep, tenant: str | None = None) -> dict[str, Any]:
    return {"object": "list", "data": [a.to_dict() for a in platform.apps.list(tenant)]}


class ShareBody(BaseModel):
    tenants: list[str] = Field(min_length=1, max_length=1000, description="tenant ids, or '*' for every tenant")
    unshare: bool = Field(False, description="take the share back")


@router.post("/v1/admin/models/{model_id:path}/share")
async def share_model(model_id: str, body: ShareBody, services: ServicesDep, platform: PlatformDep,
                      admin: AdminDep) -> dict[str, Any]:
    """Fine-tuned models belong to the tenant that made them; an admin may share one explicitly."""
    spec = services.registry.share(model_id, body.tenants, unshare=body.unshare)
    platform.audit.record(actor_of(admin), "model.unshare" if body.unshare else "model.share",
                          tenant_id=spec.owner or None, target=model_id, detail={"tenants": body.tenants})
    return {"id": spec.name, "owner": spec.owner or None, "shared_with": spec.shared_with}
