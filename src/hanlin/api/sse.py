"""Server-sent events for OpenAI-style streams; errors mid-stream end with an SSE error event."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from hanlin.errors import EngineError, HanlinError

log = logging.getLogger(__name__)


async def _events(chunks: AsyncIterator[dict[str, Any] | bytes]) -> AsyncIterator[bytes]:
    """Chunks become ``data:`` events; bytes are events already framed by an upstream and pass as they are."""
    try:
        async for chunk in chunks:
            if isinstance(chunk, bytes):
                yield chunk
                continue
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
    except HanlinError as e:
        yield f"data: {json.dumps(e.to_dict(), ensure_ascii=False)}\n\n".encode()
    except Exception as e:  # never leave the client hanging on a half stream
        log.exception("stream failed")
        err = EngineError(f"generation failed: {type(e).__name__}: {e}")
        yield f"data: {json.dumps(err.to_dict(), ensure_ascii=False)}\n\n".encode()
    yield b"data: [DONE]\n\n"


async def sse_response(chunks: AsyncIterator[dict[str, Any] | bytes]) -> StreamingResponse:
    """Start the stream and pull the first chunk first, so errors before any token become HTTP errors."""
    it = chunks.__aiter__()
    try:
        first = await it.__anext__()
    except StopAsyncIteration:
        first = None

    async def gen() -> AsyncIterator[dict[str, Any] | bytes]:
        try:
            if first is not None:
                yield first
            async for c in it:
                yield c
        finally:
            await it.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(_events(gen()), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
