"""OpenAI-compatible ``POST /v1/audio/transcriptions`` (multipart ``file``, ``model``, ``language``, ``prompt``,
``response_format``, ``timestamp_granularities[]``): thin HTTP over :class:`hanlin.audio.service.AudioService`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, PlainTextResponse, Response

from hanlin.api.deps import PrincipalDep, ServicesDep
from hanlin.audio.service import AudioService
from hanlin.errors import BadRequest, PermissionDenied, Unavailable
from hanlin.limits import mb_bytes
from hanlin.principal import Principal
from hanlin.services import Services

router = APIRouter(prefix="/v1/audio", tags=["openai"])
ASR_MODEL = "whisper-base"
MODEL_ALIASES = (ASR_MODEL, "whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
MAX_PROMPT_CHARS = 1000


def audio_service(services: Services, principal: Principal) -> AudioService:
    if not principal.allows(f"model:{ASR_MODEL}"):
        raise PermissionDenied(f"This API key may not use speech recognition (scope 'model:{ASR_MODEL}').")
    svc = services.audio
    if svc is None:
        raise Unavailable("Speech recognition is not installed on this server (pip install 'hanlin[audio]').")
    return svc


def hotwords_from_prompt(prompt: str | None) -> list[str]:
    """OpenAI's ``prompt`` (names/terms the audio contains): split into glossary terms."""
    if not prompt:
        return []
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadRequest(f"prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}.", param="prompt")
    for sep in "，、；;。\n":
        prompt = prompt.replace(sep, ",")
    return [t.strip() for t in prompt.split(",") if t.strip()][:100]


def _field(form: Any, name: str) -> str | None:
    v = form.get(name)
    return v.strip() or None if isinstance(v, str) else None


def _shape(result: dict[str, Any], fmt: str, words: bool) -> Response:
    from hanlin.audio.formats import render

    usage = {"type": "duration", "seconds": int(round(result["duration_s"] + 0.499))}
    if fmt == "json":
        return JSONResponse({"text": result["text"], "usage": usage})
    if fmt == "verbose_json":
        body: dict[str, Any] = {"task": "transcribe", "language": result["language"], "duration": result["duration_s"],
                                "text": result["text"], "usage": usage, "speakers": result["speakers"],
                                "segments": [{"id": i, "start": s["start"], "end": s["end"], "text": s["text"],
                                              "speaker": s["speaker"]} for i, s in enumerate(result["segments"])]}
        if words:
            body["words"] = result.get("words", [])
        return JSONResponse(body)
    if fmt == "text":
        return PlainTextResponse(result["text"] + "\n")
    media = "text/vtt" if fmt == "vtt" else "application/x-subrip"
    return PlainTextResponse(render(result, fmt), media_type=f"{media}; charset=utf-8")


@router.post("/transcriptions", response_model=None)
async def create_transcription(request: Request, services: ServicesDep, principal: PrincipalDep) -> Response:
    svc = audio_service(services, principal)
    length = request.headers.get("content-length")
    if length and length.isdigit():
        svc.check_size(int(length) - 64 * 1024)  # multipart framing and the other fields
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("Send multipart/form-data with a 'file' (the recording) and 'model'.", param="file")
    form = await request.form(max_part_size=mb_bytes(services.settings.audio_max_mb))
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise BadRequest("The request needs a 'file' field with the recording.", param="file")
    model = _field(form, "model") or ASR_MODEL
    if model not in MODEL_ALIASES:
        raise BadRequest(f"Unknown speech model '{model}'; use {ASR_MODEL} (whisper-1 is accepted as an alias).",
                         param="model", code="model_not_found")
    fmt = _field(form, "response_format") or "json"
    if fmt not in RESPONSE_FORMATS:
        raise BadRequest(f"response_format must be one of {', '.join(RESPONSE_FORMATS)}.", param="response_format")
    grans = [g for g in form.getlist("timestamp_granularities[]") + form.getlist("timestamp_granularities")
             if isinstance(g, str)]
    if any(g not in ("segment", "word") for g in grans):
        raise BadRequest("timestamp_granularities may hold 'segment' and 'word'.", param="timestamp_granularities")
    if grans and fmt != "verbose_json":
        raise BadRequest("timestamp_granularities needs response_format=verbose_json.", param="timestamp_granularities")
    language = _field(form, "language") or None
    if language is not None and (len(language) > 8 or not language.replace("-", "").isalpha()):
        raise BadRequest("language must be an ISO-639-1 code such as 'zh' or 'en'.", param="language")
    opts = svc.options(language=language, hotwords=hotwords_from_prompt(_field(form, "prompt")))
    platform = services.platform
    held = platform.quotas.admit(principal, 0) if platform is not None else None  # requests-per-minute limits
    path: Path = await asyncio.to_thread(svc.store_upload, upload.file, upload.filename)
    started = time.perf_counter()
    try:
        result = await svc.transcribe(path, opts, words="word" in grans)
    finally:
        path.unlink(missing_ok=True)
        if platform is not None:
            platform.quotas.release(held)
    _meter(services, principal, result["duration_s"], time.perf_counter() - started)
    return _shape(result, fmt, "word" in grans)


def _meter(services: Services, principal: Principal, seconds: float, latency_s: float) -> None:
    platform = services.platform
    if platform is not None:
        platform.usage.record(tenant_id=principal.tenant_id, key_id=principal.key_id, model=ASR_MODEL,
                              route="audio/transcriptions", latency_s=latency_s, audio_seconds=seconds)
