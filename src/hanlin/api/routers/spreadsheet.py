"""Spreadsheet apps: POST /v1/apps/formula, /v1/apps/formula/explain, /v1/apps/chart (xlsx/csv uploads)."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Form, UploadFile
from pydantic import Field

from hanlin.api.deps import ChartsDep, FormulasDep, Metered, PrincipalDep, ServicesDep
from hanlin.api.uploads import read_upload
from hanlin.errors import BadRequest
from hanlin.limits import mb_bytes
from hanlin.services import Services
from hanlin.serving.schemas import ValidText

router = APIRouter(prefix="/v1/apps", tags=["spreadsheet"])
SUFFIXES = (".xlsx", ".xlsm", ".csv", ".tsv")


@contextmanager
def _saved(upload: UploadFile, services: Services, data: bytes) -> Iterator[Path]:
    name = Path(upload.filename or "upload.xlsx").name
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise BadRequest(f"Upload an .xlsx or .csv file (got '{name}').", param="file")
    with tempfile.TemporaryDirectory(dir=services.settings.home) as d:
        path = Path(d) / (Path(name).stem[:80] + suffix)
        path.write_bytes(data)
        yield path


async def _read(upload: UploadFile, services: Services) -> bytes:
    data = await read_upload(upload, mb_bytes(services.settings.max_upload_mb), "HANLIN_MAX_UPLOAD_MB")
    if not data:
        raise BadRequest("The uploaded file is empty.", param="file")
    return data


@router.post("/formula", dependencies=[Metered])
async def formula(services: ServicesDep, svc: FormulasDep, principal: PrincipalDep, file: UploadFile,
                  request: str = Form(..., description="what the formula should compute, Chinese or English"),
                  sheet_name: str | None = Form(None), target: str | None = Form(None),
                  model: str | None = Form(None), lang: Literal["zh", "en"] = Form("zh"),
                  write: bool = Form(False, description="return the workbook with the formula written in")
                  ) -> dict[str, Any]:
    data = await _read(file, services)
    with _saved(file, services, data) as path:
        out = path.with_name("result.xlsx") if write else None
        result = await svc.generate(request, path, principal=principal, sheet_name=sheet_name, target=target, model=model,
                                    lang=lang, write_to=out)
        body = result.to_dict()
        body["output"] = None
        if out is not None and out.exists():
            body["output_xlsx_base64"] = base64.b64encode(out.read_bytes()).decode()
    return body


class ExplainBody(ValidText):
    formula: str = Field(..., description="an Excel formula, e.g. =SUMIFS(C:C,A:A,\"北京\")")
    lang: Literal["zh", "en"] = "zh"


@router.post("/formula/explain", dependencies=[Metered])
async def formula_explain(body: ExplainBody, svc: FormulasDep, principal: PrincipalDep) -> dict[str, Any]:
    if not body.formula.strip():
        raise BadRequest("The formula is empty.", param="formula")
    return await svc.aexplain(body.formula, body.lang)


@router.post("/chart", dependencies=[Metered])
async def chart(services: ServicesDep, svc: ChartsDep, principal: PrincipalDep, file: UploadFile,
                ask: str | None = Form(None, description="what to chart; empty = recommend up to 3 charts"),
                format: Literal["png", "svg", "html"] = Form("png"), sheet_name: str | None = Form(None),
                model: str | None = Form(None)) -> dict[str, Any]:
    data = await _read(file, services)
    with _saved(file, services, data) as path:
        return await svc.create(path, principal=principal, ask=ask, fmt=format, sheet_name=sheet_name, model=model)
