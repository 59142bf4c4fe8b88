"""Reading an uploaded file within its size limit (the one helper every upload route uses)."""

from __future__ import annotations

from fastapi import UploadFile

from hanlin.limits import too_large


async def read_upload(upload: UploadFile, limit_bytes: int, setting: str, *, what: str | None = None,
                      param: str = "file") -> bytes:
    """The upload's bytes, reading at most one byte past ``limit_bytes``; 413 naming the file, the limit and the
    ``setting`` that raises it when it is larger."""
    data = await upload.read(limit_bytes + 1)
    if len(data) > limit_bytes:
        raise too_large(what or f"'{upload.filename}'", limit_bytes, setting, param=param)
    return data
