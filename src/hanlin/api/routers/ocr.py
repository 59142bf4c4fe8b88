"""POST /v1/ocr: multipart ``file`` (a scanned PDF or an image), optional ``pages`` ("1-3,5") → the OCR JSON
(pages → blocks → lines with boxes, the text in reading order, stats). Scope ``app:ocr``; metered in pages."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Form, UploadFile

from hanlin.api.deps import Metered, PrincipalDep, ServicesDep
from hanlin.api.uploads import read_upload
from hanlin.errors import PermissionDenied
from hanlin.limits import mb_bytes
from hanlin.ocr.inputs import OcrLimits, count_pages, parse_pages
from hanlin.ocr.service import ocr_document
from hanlin.offload import run_cpu
from hanlin.platform.metering import current_tally

router = APIRouter(prefix="/v1", tags=["ocr"])


@router.post("/ocr", dependencies=[Metered])
async def ocr(services: ServicesDep, principal: PrincipalDep, file: UploadFile,
              pages: str | None = Form(None, description="pages to read, e.g. 1-3,5 (default all)")) -> dict[str, Any]:
    if not principal.allows("app:ocr"):
        raise PermissionDenied("This API key may not use OCR (scope 'app:ocr').")
    settings = services.settings
    data = await read_upload(file, mb_bytes(settings.max_upload_mb), "HANLIN_MAX_UPLOAD_MB")
    name = file.filename or "upload.png"
    wanted = parse_pages(pages)
    limits = OcrLimits.from_settings(settings)
    n = len(wanted) if wanted else await asyncio.to_thread(count_pages, data, name, limits)
    # the deadline (HANLIN_WORK_TIMEOUT_S) is per page; page and pixel limits bound the work itself
    result = await run_cpu(ocr_document, data, name, limits, wanted, settings.n_threads,
                           timeout=settings.work_timeout_s * max(1, min(n, limits.max_pages)),
                           what=f"OCR of '{name}'")
    tally = current_tally()
    if tally is not None:
        tally.pages += result["stats"]["pages"]
    return {"object": "ocr", "model": "rapidocr-pp-ocrv4", **result}
