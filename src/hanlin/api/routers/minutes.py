"""POST /v1/apps/minutes (file upload or JSON) → 202 + job; the result comes from GET /v1/jobs/{id}.

GET /v1/apps/minutes/{job_id}/render?format=md|docx renders a finished job's minutes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response

from hanlin.api.deps import Metered, MinutesDep, PrincipalDep, ServicesDep
from hanlin.apps.minutes.app import JOB_KIND
from hanlin.errors import BadRequest, Conflict

router = APIRouter(prefix="/v1/apps/minutes", tags=["apps"])


def _opt_str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


@router.post("", status_code=202, dependencies=[Metered])
async def create_minutes(request: Request, svc: MinutesDep, principal: PrincipalDep) -> JSONResponse:
    """Multipart: ``file`` (+ ``instruction``, ``model``, ``title`` fields). JSON: ``transcript`` text or
    ``utterances`` list (+ the same fields)."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("Multipart requests need a 'file' field with the transcript.", param="file")
        transcript = svc.parse_upload(await upload.read(), upload.filename)
        fields: dict[str, Any] = {k: form.get(k) for k in ("instruction", "model", "title")}
    elif ctype.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise BadRequest("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise BadRequest("The JSON body must be an object with 'transcript' or 'utterances'.")
        transcript = svc.parse_json_body(body)
        fields = body
    else:
        raise BadRequest("Send multipart/form-data with a 'file', or application/json with 'transcript' or "
                         "'utterances'.")
    job = svc.submit(principal, transcript, instruction=_opt_str(fields.get("instruction")),
                     model=_opt_str(fields.get("model")), title=_opt_str(fields.get("title")))
    job["utterances"] = len(transcript.utterances)
    job["speakers"] = transcript.speakers
    return JSONResponse(job, status_code=202, headers={"Location": f"/v1/jobs/{job['id']}"})


@router.get("/{job_id}/render")
async def render_minutes(job_id: str, services: ServicesDep, svc: MinutesDep, principal: PrincipalDep,
                         format: str = "md") -> Response:
    from hanlin.apps.minutes import render

    job = services.jobs.get(job_id, principal.tenant_id)
    if job["kind"] != JOB_KIND:
        raise BadRequest(f"Job {job_id} is a '{job['kind']}' job, not minutes.", param="job_id")
    if job["state"] != "succeeded":
        raise Conflict(f"Job {job_id} is {job['state']}; render it once it has succeeded.", param="job_id")
    if format == "docx":
        return Response(render.to_docx_bytes(job["result"]), media_type=(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            headers={"Content-Disposition": f'attachment; filename="{job_id}.docx"'})
    if format == "md":
        return Response(render.to_markdown(job["result"]), media_type="text/markdown; charset=utf-8")
    raise BadRequest("format must be 'md' or 'docx' (the JSON is the job's result).", param="format")
