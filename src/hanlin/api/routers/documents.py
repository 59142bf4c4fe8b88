"""REST for 公文: POST /v1/apps/document, GET /v1/apps/document/files/{name}."""

from __future__ import annotations

import base64
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field
from starlette.responses import FileResponse, JSONResponse

from hanlin.api.deps import DocumentsDep, Metered, PrincipalDep
from hanlin.serving.schemas import ValidText

router = APIRouter(tags=["apps"])


class DocumentBody(ValidText):
    type: Literal["通知", "请示", "报告", "函", "纪要", "通报", "意见", "决定"]
    brief: str = Field(min_length=1, max_length=4000)
    org: str = Field("", max_length=60, description="发文机关")
    number: str = Field("", max_length=60, description="发文字号, e.g. 国办发〔2026〕12号")
    to: list[str] | str = Field(default_factory=list, description="主送机关 (list or 、-separated)")
    date: str = Field("", max_length=30, description="成文日期; default today")
    signer: str = Field("", max_length=30, description="签发人 (请示/报告)")
    format: Literal["docx", "md", "txt", "pdf"] = "docx"
    inline: bool = Field(False, description="also return the file as base64 in 'content_base64'")
    background: bool = Field(False, description="return 202 + a job (GET /v1/jobs/{id}) instead of waiting")
    model: str | None = None


@router.post("/v1/apps/document", response_model=None, dependencies=[Metered])
async def create_document(body: DocumentBody, svc: DocumentsDep,
                          principal: PrincipalDep) -> dict[str, Any] | JSONResponse:
    """Draft a 公文 with the model, lay it out per GB/T 9704, read it back for the checks."""
    from hanlin.apps.documents.app import DocRequest, split_recipients

    req = DocRequest(doc_type=body.type, brief=body.brief, org=body.org, number=body.number,
                     to=split_recipients(body.to), date=body.date, signer=body.signer, fmt=body.format)
    if body.background:
        job = svc.submit(principal, req, body.model)
        return JSONResponse(job, status_code=202, headers={"Location": f"/v1/jobs/{job['id']}"})
    result: dict[str, Any] = await svc.create(principal, req, body.model)
    if body.inline:
        path = svc.file_path(principal.tenant_id, result["output"])
        result["content_base64"] = base64.b64encode(path.read_bytes()).decode()
    return result


@router.get("/v1/apps/document/files/{name}")
async def download_document(name: str, svc: DocumentsDep, principal: PrincipalDep) -> FileResponse:
    """A generated file, only to the tenant that generated it."""
    from hanlin.apps.documents.app import MEDIA_TYPES

    path = svc.file_path(principal.tenant_id, name)
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lstrip("."), "application/octet-stream"),
                        filename=path.name)
