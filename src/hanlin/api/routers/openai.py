"""OpenAI-compatible routes under /v1: thin HTTP <-> serving."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from hanlin.api.deps import Metered, PrincipalDep, ServicesDep
from hanlin.api.disconnect import unless_disconnected
from hanlin.api.sse import sse_response
from hanlin.services import Services
from hanlin.serving import models
from hanlin.serving.completions import create_completion, create_embeddings, stream_completion
from hanlin.serving.schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest

router = APIRouter(prefix="/v1", tags=["openai"])


def _json(result: dict[str, Any] | Response) -> Response:
    """A finished answer as JSON, serialised once: returning the dict would make FastAPI walk it with
    ``jsonable_encoder`` first (~40 calls per answer, a measurable share of a gateway's time per request)."""
    return result if isinstance(result, Response) else JSONResponse(result)


def _apps(services: Services) -> models.AppModels:
    return services.platform.app_models if services.platform else models.no_apps


# the platform's hold box and refusal rows around it: hanlin.api.chat_metering (a plain ASGI middleware)
@router.post("/chat/completions", response_model=None)
async def chat_completions(req: ChatCompletionRequest, services: ServicesDep, principal: PrincipalDep,
                           request: Request) -> dict[str, Any] | Response:
    if req.stream:
        return await sse_response(services.chat.stream(principal, req))
    return _json(await unless_disconnected(request, services.chat.create(principal, req)))


@router.post("/completions", response_model=None, dependencies=[Metered])
async def completions(req: CompletionRequest, services: ServicesDep, principal: PrincipalDep,
                      request: Request) -> dict[str, Any] | Response:
    if req.stream:
        return await sse_response(stream_completion(services.engines, req, principal))
    return _json(await unless_disconnected(request, create_completion(services.engines, req, principal)))


@router.post("/embeddings", dependencies=[Metered])
async def embeddings(req: EmbeddingRequest, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return await create_embeddings(services.engines, req, principal)


@router.get("/models")
async def list_models(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"object": "list", "data": models.list_models(services.engines, principal, _apps(services))}


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return models.get_model(services.engines, principal, model_id, _apps(services))
