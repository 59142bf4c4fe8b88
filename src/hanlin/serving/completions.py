"""Legacy text completions and embeddings — plain functions over engines."""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np

from hanlin.engine.manager import EngineManager
from hanlin.principal import Principal
from hanlin.serving.schemas import CompletionRequest, EmbeddingRequest


async def create_completion(engines: EngineManager, req: CompletionRequest, principal: Principal) -> dict[str, Any]:
    body = req.model_dump(exclude_none=True, exclude={"model", "stream", "n"})
    engine = await engines.get(req.model, principal=principal)
    resp = await engine.complete(body)
    resp["model"] = req.model or engine.info.name
    return resp


async def create_embeddings(engines: EngineManager, req: EmbeddingRequest, principal: Principal) -> dict[str, Any]:
    embedder = engines.embedding_model(req.model, principal=principal)
    name = req.model or embedder.info.name
    texts = [req.input] if isinstance(req.input, str) else list(req.input)
    started = time.time()
    done = await embedder.aembed_counted(texts, is_query=req.input_type == "query")
    vectors = [list(map(float, row)) for row in done.vectors]
    data: list[Any] = vectors
    if req.encoding_format == "base64":  # what the openai SDK asks for by default: little-endian float32
        data = [base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode() for v in vectors]
    return {
        "object": "list", "model": name,
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(data)],
        # inputs longer than e5's 512-token window are embedded from their first 512 tokens, as e5 was trained
        "usage": {"prompt_tokens": done.tokens, "total_tokens": done.tokens, "truncated_inputs": done.truncated},
        "latency_s": round(time.time() - started, 4),
    }
