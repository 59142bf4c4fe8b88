"""Health, Prometheus metrics and job status."""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from hanlin import __version__
from hanlin.api.deps import PrincipalDep, ServicesDep, authenticate
from hanlin.engine.embedder import resident_bytes
from hanlin.engine.memory import breakdown
from hanlin.errors import PermissionDenied
from hanlin.limits import DB_INT_MAX
from hanlin.platform.auth import bearer_token
from hanlin.services import Services

router = APIRouter(tags=["system"])


@router.get("/health")
async def health(services: ServicesDep) -> dict[str, Any]:
    engines = {name: {"kind": e.info.kind, "busy": getattr(e, "busy", 0), "slots": e.info.slots}
               for name, e in services.engines.loaded().items()}
    memory = breakdown(services.engines.loaded(), embedder_bytes=resident_bytes())
    memory["heap"] = await asyncio.to_thread(services.heap.report)  # walks malloc's free lists: ms on a big heap
    return {"status": "ok", "version": __version__, "default_model": services.settings.model, "engines": engines,
            "memory": memory}


async def _may_read_metrics(services: Services, authorization: str | None, x_api_key: str | None) -> None:
    """Metrics carry every tenant's label values (``model="app:writer"``): with keys on, only an admin key or the
    scraper's HANLIN_METRICS_TOKEN may read them."""
    token = services.settings.metrics_token
    given = bearer_token(authorization)
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return
    if not (await authenticate(services.auth, authorization, x_api_key)).is_admin:
        raise PermissionDenied("/metrics shows every tenant's activity: use an admin key or the metrics token "
                               "(HANLIN_METRICS_TOKEN).")


@router.get("/metrics")
async def metrics(services: ServicesDep, authorization: Annotated[str | None, Header()] = None,
                  x_api_key: Annotated[str | None, Header()] = None) -> Response:
    await _may_read_metrics(services, authorization, x_api_key)
    for name, e in services.engines.loaded().items():
        busy = getattr(e, "busy", 0)
        services.metrics.queue_depth.labels(name).set(max(0, busy - e.info.slots))
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/v1/jobs")
async def list_jobs(services: ServicesDep, principal: PrincipalDep, kind: str | None = None) -> dict[str, Any]:
    return {"object": "list", "data": services.jobs.list_jobs(principal.tenant_id, kind)}


@router.get("/v1/jobs/{job_id}")
async def get_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return services.jobs.get(job_id, principal.tenant_id)


@router.get("/v1/jobs/{job_id}/events")
async def job_events(job_id: str, services: ServicesDep, principal: PrincipalDep,
                     after: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0) -> dict[str, Any]:
    services.jobs.get(job_id, principal.tenant_id)
    return {"object": "list", "data": services.jobs.events(job_id, after)}


@router.post("/v1/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return services.jobs.cancel(job_id, principal.tenant_id)
