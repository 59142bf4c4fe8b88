"""The OpenAI Files API: ``POST/GET /v1/files``, ``GET/DELETE /v1/files/{id}``, ``GET /v1/files/{id}/content``.

Thin: the storage, limits and tenant checks are in :mod:`hanlin.platform.files`."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Form, Query, UploadFile
from fastapi.responses import FileResponse

from hanlin.api.deps import FilesDep, PrincipalDep

router = APIRouter(prefix="/v1/files", tags=["files"])


@router.post("")
async def upload_file(store: FilesDep, principal: PrincipalDep, file: UploadFile,
                      purpose: str = Form(description="fine-tune, batch, assistants, user_data, vision or evals")
                      ) -> dict[str, Any]:
    """multipart/form-data with ``file`` and ``purpose``, as ``client.files.create(file=..., purpose=...)`` sends."""
    return await asyncio.to_thread(store.create, principal.tenant_id, file.filename, purpose, file.file)


@router.get("")
async def list_files(store: FilesDep, principal: PrincipalDep, purpose: str | None = None,
                     limit: int = Query(10000, ge=1, le=10000), after: str | None = None,
                     order: Literal["asc", "desc"] = "desc") -> dict[str, Any]:
    return store.list(principal.tenant_id, purpose, limit=limit, after=after, order=order)


@router.get("/{file_id}")
async def get_file(file_id: str, store: FilesDep, principal: PrincipalDep) -> dict[str, Any]:
    return store.get(principal.tenant_id, file_id)


@router.delete("/{file_id}")
async def delete_file(file_id: str, store: FilesDep, principal: PrincipalDep) -> dict[str, Any]:
    return await asyncio.to_thread(store.delete, principal.tenant_id, file_id)


@router.get("/{file_id}/content")
async def file_content(file_id: str, store: FilesDep, principal: PrincipalDep) -> FileResponse:
    path, filename = store.content_path(principal.tenant_id, file_id)
    return FileResponse(path, media_type="application/octet-stream", filename=filename)
