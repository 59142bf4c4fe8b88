"""Serves the console at ``/`` and its assets at ``/ui/…``.

The assets hold no data and need no key (a browser cannot send one when opening a page); everything the
console shows comes from the /v1 API with the key the user logged in with.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from hanlin.errors import NotFound

STATIC = Path(__file__).parent / "static"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}

router = APIRouter(include_in_schema=False)


def _asset(name: str) -> Response:
    path = (STATIC / name).resolve()
    if STATIC.resolve() not in path.parents or not path.is_file() or path.suffix not in TYPES:
        raise NotFound(f"No console asset '{name}'")
    return FileResponse(path, media_type=TYPES[path.suffix], headers={"Cache-Control": "no-cache"})


@router.get("/")
async def console() -> Response:
    return _asset("index.html")


@router.get("/ui/{name:path}")
async def console_asset(name: str) -> Response:
    return _asset(name)
