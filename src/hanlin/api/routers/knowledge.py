"""/v1/knowledge-bases (tenant-scoped) and /v1/rerank: thin HTTP over KnowledgeService."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

import numpy as np
from fastapi import APIRouter, Form, UploadFile
from pydantic import Field

from hanlin.api.deps import KnowledgeDep, Metered, PrincipalDep, ServicesDep
from hanlin.api.uploads import read_upload
from hanlin.engine.embedder import EMBEDDING_MODELS
from hanlin.errors import BadRequest, HanlinError
from hanlin.knowledge.retrieve import embedding_scores, llm_scores
from hanlin.platform.audit import actor_of
from hanlin.serving.schemas import ValidText

router = APIRouter(prefix="/v1", tags=["knowledge"])


class CreateKB(ValidText):
    name: str = Field(..., min_length=1, max_length=100)
    description: str = ""


class SearchRequest(ValidText):
    query: str = Field(..., min_length=1)
    k: int = Field(5, ge=1, le=100)
    filters: dict[str, Any] | None = None
    rerank: bool = False
    model: str | None = None  # LLM used for rerank


@router.post("/knowledge-bases", status_code=201)
async def create_kb(body: CreateKB, kb: KnowledgeDep, principal: PrincipalDep) -> dict[str, Any]:
    return kb.create_kb(principal.tenant_id, body.name, body.description, actor=actor_of(principal))


@router.get("/knowledge-bases")
async def list_kbs(kb: KnowledgeDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"object": "list", "data": kb.list_kbs(principal.tenant_id)}


@router.get("/knowledge-bases/{name}")
async def get_kb(name: str, kb: KnowledgeDep, principal: PrincipalDep) -> dict[str, Any]:
    return kb._kb_info(kb.get_kb(principal.tenant_id, name))


@router.delete("/knowledge-bases/{name}")
async def delete_kb(name: str, kb: KnowledgeDep, principal: PrincipalDep) -> dict[str, Any]:
    return await asyncio.to_thread(partial(kb.delete_kb, principal.tenant_id, name, actor=actor_of(principal)))


@router.post("/knowledge-bases/{name}/documents", status_code=201)
async def upload(name: str, svc: KnowledgeDep, services: ServicesDep, principal: PrincipalDep, files: list[UploadFile],
                 metadata: str | None = Form(None)) -> dict[str, Any]:
    """multipart/form-data: one or more ``files``; optional ``metadata`` (JSON object) for filters.
    A file that cannot be used fails the request with 4xx naming the file and the problem; files before it stay."""
    svc.get_kb(principal.tenant_id, name)
    try:
        meta = json.loads(metadata) if metadata else None
    except json.JSONDecodeError as e:
        raise BadRequest(f"metadata is not valid JSON: {e}", param="metadata") from e
    if meta is not None and not isinstance(meta, dict):
        raise BadRequest("metadata must be a JSON object", param="metadata")
    added = []
    for f in files:
        data = await read_upload(f, svc.max_upload_bytes, "HANLIN_MAX_UPLOAD_MB", param="files")
        try:
            added.append(await svc.aadd_document(principal.tenant_id, name, f.filename or "upload.txt", data, meta,
                                                 actor=actor_of(principal),
                                                 timeout=services.settings.work_timeout_s))
        except HanlinError as e:
            if added:
                e.extra["added"] = added
            raise
    return {"object": "list", "data": added}


@router.get("/knowledge-bases/{name}/documents")
async def list_documents(name: str, kb: KnowledgeDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"object": "list", "data": kb.list_documents(principal.tenant_id, name)}


@router.delete("/knowledge-bases/{name}/documents/{doc}")
async def delete_document(name: str, doc: str, kb: KnowledgeDep, principal: PrincipalDep) -> dict[str, Any]:
    return await asyncio.to_thread(partial(kb.remove_document, principal.tenant_id, name, doc,
                                           actor=actor_of(principal)))


@router.post("/knowledge-bases/{name}/search", dependencies=[Metered])
async def search(name: str, body: SearchRequest, kb: KnowledgeDep, services: ServicesDep,
                 principal: PrincipalDep) -> dict[str, Any]:
    engine = await services.engines.get(body.model, principal=principal) if body.rerank else None
    hits = await kb.asearch(principal.tenant_id, name, body.query, body.k, body.filters, engine)
    return {"results": [h.to_dict() for h in hits]}


class AskRequest(ValidText):
    question: str = Field(..., min_length=1, max_length=4000)
    k: int = Field(5, ge=1, le=20)
    filters: dict[str, Any] | None = None
    rerank: bool = False
    model: str | None = None
    max_tokens: int = Field(384, ge=16, le=4096)


@router.post("/knowledge-bases/{name}/ask", dependencies=[Metered])
async def ask(name: str, body: AskRequest, kb: KnowledgeDep, services: ServicesDep,
              principal: PrincipalDep) -> dict[str, Any]:
    """A cited answer from the base (what `hanlin ask --kb NAME` prints); metered like every generating route."""
    engine = await services.engines.get(body.model, principal=principal)
    return await kb.ask(principal.tenant_id, name, body.question, engine, body.k, body.filters, body.rerank,
                        body.max_tokens)


class RerankRequest(ValidText):
    model: str | None = None  # an embedding model (default, fast) or a chat model (LLM judge)
    query: str = Field(..., min_length=1)
    documents: list[str | dict[str, Any]] = Field(..., min_length=1, max_length=1000)
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = True


def _doc_text(d: str | dict[str, Any]) -> str:
    return d if isinstance(d, str) else str(d.get("text", ""))


@router.post("/rerank", dependencies=[Metered])
async def rerank(body: RerankRequest, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Jina/Cohere-style rerank: {model, query, documents, top_n} → {results: [{index, relevance_score, document}]}."""
    texts = [_doc_text(d) for d in body.documents]
    model = body.model or next(iter(EMBEDDING_MODELS))
    if model in EMBEDDING_MODELS:
        emb = services.engines.embedding_model(model, principal=principal)
        q = np.asarray(await asyncio.to_thread(emb.embed_sync, [body.query], is_query=True), dtype=np.float32)[0]
        docs = np.asarray(await asyncio.to_thread(emb.embed_sync, texts), dtype=np.float32)
        scores = await asyncio.to_thread(embedding_scores, q, docs, body.query, texts)
    else:
        if len(texts) > 20:
            raise BadRequest("LLM rerank takes at most 20 documents; use an embedding model for more",
                             param="documents")
        scores = await llm_scores(await services.engines.get(model, principal=principal), body.query, texts)
    order = sorted(range(len(texts)), key=lambda i: -scores[i])[:body.top_n or len(texts)]
    results = [{"index": i, "relevance_score": round(float(scores[i]), 6),
                **({"document": {"text": texts[i]}} if body.return_documents else {})} for i in order]
    return {"model": model, "results": results,
            "usage": {"total_tokens": await asyncio.to_thread(services.engines.embedder.count_tokens,
                                                              [body.query, *texts])}}
