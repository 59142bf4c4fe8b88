"""/v1/evals: start an evaluation job (202 + id) and read its progress and results. Logic in evals.service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hanlin.api.deps import EvalsDep, PrincipalDep, ServicesDep
from hanlin.errors import NotFound
from hanlin.evals.service import JOB_KIND
from hanlin.evals.suites import load_suites

router = APIRouter(prefix="/v1/evals", tags=["evals"])


class EvalRequest(BaseModel):
    suite: str = Field(description="ceval, cmmlu, ocnli, cluewsc, chid, ... (GET /v1/evals/suites)")
    model: str | None = Field(None, description="a served model or a custom app 'app:NAME'; default model if unset")
    limit: int | None = Field(None, description="evaluate the first N items")
    shots: int = Field(0, description="few-shot exemplars per question (0-10)")
    options: dict[str, Any] = Field(default_factory=dict, description="suite options, e.g. split, task, mode")


def eval_view(job: dict[str, Any], job_input: dict[str, Any]) -> dict[str, Any]:
    return {"id": job["id"], "object": "eval", "suite": job_input.get("suite"), "model": job_input.get("model"),
            "limit": job_input.get("limit"), "shots": job_input.get("shots", 0), "state": job["state"],
            "progress": job["progress"], "stage": job["stage"], "eta_s": job["eta_s"], "error": job["error"],
            "result": job["result"], "created_at": job["created_at"], "finished_at": job["finished_at"],
            "job_url": f"/v1/jobs/{job['id']}"}


@router.get("/suites")
async def list_suites(principal: PrincipalDep) -> dict[str, Any]:
    return {"object": "list", "data": [{"name": s.name, "description": s.description, "data": s.data,
                                        "splits": list(s.splits)}
                                       for s in sorted(load_suites().values(), key=lambda s: s.name)]}


@router.post("", status_code=202)
async def start_eval(body: EvalRequest, evals: EvalsDep, services: ServicesDep,
                     principal: PrincipalDep) -> JSONResponse:
    job = evals.submit(principal, body.model_dump())
    view = eval_view(job, services.jobs.input_of(job["id"]))
    return JSONResponse(view, status_code=202, headers={"Location": f"/v1/evals/{job['id']}"})


@router.get("/{eval_id}")
async def get_eval(eval_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    job = services.jobs.get(eval_id, principal.tenant_id)
    if job["kind"] != JOB_KIND:
        raise NotFound(f"No evaluation with id '{eval_id}'", param="id")
    return eval_view(job, services.jobs.input_of(eval_id))
