"""Non-streamed generation that stops when its client goes away (streams stop on their own: the response
generator is closed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

T = TypeVar("T")
POLL_S = 0.25  # how often the connection is checked while the engine works


CLIENT_CLOSED = 499  # nginx's "client closed request": logged and counted, never seen by the client


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | Response:
    """Await ``work``; if the client disconnects first, cancel it (which frees the engine slot) and answer
    499 to nobody."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                return Response(status_code=CLIENT_CLOSED)
    finally:
        if not task.done():
            task.cancel()
