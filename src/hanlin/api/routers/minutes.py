"""POST /v1/apps/minutes (file upload or JSON) → 202 + job; the result comes from GET /v1/jobs/{id}.

GET /v1/apps/minutes/{job_id}/render?format=md|docx renders a finished job's minutes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response

from hanlin.api.deps import Metered, MinutesDep, PrincipalDep, ServicesDep
from hanlin.apps.minutes.app import APP_SCOPE, JOB_KIND, MinutesService
from hanlin.audio.service import is_audio_name
from hanlin.errors import BadRequest, Conflict
from hanlin.principal import Principal
from hanlin.services import Services

router = APIRouter(prefix="/v1/apps/minutes", tags=["apps"])


def _opt_str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _flag(value: Any, name: str) -> bool:
    """A yes/no field: a JSON boolean, or a multipart ``true``/``false`` (``1``/``0``); absent = no."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("", "0", "false", "no", "off", "1", "true", "yes", "on"):
        return value.strip().lower() in ("1", "true", "yes", "on")
    raise BadRequest(f"{name} must be true or false.", param=name)


@router.post("", status_code=202, dependencies=[Metered])
async def create_minutes(request: Request, services: ServicesDep, svc: MinutesDep,
                         principal: PrincipalDep) -> JSONResponse:
    """Multipart: ``file`` (+ ``instruction``, ``model``, ``title``, ``read_all`` fields). JSON: ``transcript`` text
    or ``utterances`` list (+ the same fields). ``read_all``: the model reads every line of a long meeting (by
    default, past ``HANLIN_MINUTES_READ_CHARS`` it reads a condensed one; code reads everything either way)."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("Multipart requests need a 'file' field with the transcript.", param="file")
        if is_audio_name(upload.filename):  # a recording: one job transcribes, then writes the minutes
            return await _audio_minutes(services, svc, principal, upload, form)
        transcript = svc.parse_upload(await upload.read(), upload.filename)
        fields: dict[str, Any] = {k: form.get(k) for k in ("instruction", "model", "title", "read_all")}
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
                     model=_opt_str(fields.get("model")), title=_opt_str(fields.get("title")),
                     read_all=_flag(fields.get("read_all"), "read_all"))
    job["utterances"] = len(transcript.utterances)
    job["speakers"] = transcript.speakers
    return JSONResponse(job, status_code=202, headers={"Location": f"/v1/jobs/{job['id']}"})


async def _audio_minutes(services: Services, svc: MinutesService, principal: Principal, upload: UploadFile,
                         form: Any) -> JSONResponse:
    from hanlin.api.routers.audio import audio_service, hotwords_from_prompt
    from hanlin.audio import minutes as audio_minutes
    from hanlin.audio.decode import probe

    audio = audio_service(services, principal)
    path = await asyncio.to_thread(audio.store_upload, upload.file, upload.filename)
    try:
        await asyncio.to_thread(probe, path)  # not audio, empty or truncated: 422 now, not a failed job later
        speakers = _opt_str(form.get("speakers"))
        if speakers is not None and not (speakers.isdigit() and 1 <= int(speakers) <= 20):
            raise BadRequest("speakers must be a whole number from 1 to 20.", param="speakers")
        model = _opt_str(form.get("model"))
        svc.engines.check(principal, model, APP_SCOPE)  # 403 now rather than after an hour of ASR
        job = audio_minutes.submit(svc.jobs, JOB_KIND, principal, path,
                                   instruction=_opt_str(form.get("instruction")), model=_opt_str(form.get("model")),
                                   title=_opt_str(form.get("title")), speakers=int(speakers) if speakers else None,
                                   hotwords=hotwords_from_prompt(_opt_str(form.get("hotwords"))),
                                   language=_opt_str(form.get("language")) or "zh",
                                   read_all=_flag(form.get("read_all"), "read_all"))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    job["source_format"] = "audio"
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
