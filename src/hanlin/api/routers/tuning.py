"""Fine-tuning jobs in OpenAI's shapes: ``/v1/fine_tuning/jobs`` (create, list, get, events, cancel)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hanlin.api.deps import PrincipalDep, TuningDep

router = APIRouter(prefix="/v1/fine_tuning", tags=["fine-tuning"])


class CreateJob(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, description="base model (a local GGUF: embedded or `hanlin models add`)")
    training_file: str | None = Field(None, description="id of a file uploaded with POST /v1/files (purpose "
                                                         "'fine-tune'), e.g. file-…", max_length=64)
    training_data: str | None = Field(None, description="or the JSONL text itself")
    validation_file: str | None = Field(None, description="id of an uploaded validation file", max_length=64)
    validation_data: str | None = None
    hyperparameters: dict[str, Any] | None = None
    suffix: str | None = Field(None, description="the new model is served as ft:SUFFIX")
    seed: int | None = None


@router.post("/jobs")
async def create_job(body: CreateJob, svc: TuningDep, principal: PrincipalDep) -> dict[str, Any]:
    # validation reads and checks every line and copies the files: keep it off the event loop
    return await asyncio.to_thread(svc.create, principal, body.model_dump())


@router.get("/jobs")
async def list_jobs(svc: TuningDep, principal: PrincipalDep, limit: int = 20) -> dict[str, Any]:
    return svc.list(principal.tenant_id, limit=max(1, min(limit, 100)))


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, svc: TuningDep, principal: PrincipalDep) -> dict[str, Any]:
    return svc.get(job_id, principal.tenant_id)


@router.get("/jobs/{job_id}/events")
async def job_events(job_id: str, svc: TuningDep, principal: PrincipalDep, after: str | None = None,
                     limit: int = 20, order: Literal["asc", "desc"] = "desc") -> dict[str, Any]:
    return svc.events(job_id, principal.tenant_id, after=after, limit=max(1, min(limit, 500)),
                                 order=order)


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, svc: TuningDep, principal: PrincipalDep) -> dict[str, Any]:
    return svc.cancel(job_id, principal.tenant_id)
