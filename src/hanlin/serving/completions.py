"""Legacy text completions and embeddings — plain functions over engines."""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np

from hanlin.engine.embedder import EMBEDDING_MODELS
from hanlin.engine.manager import EngineManager
from hanlin.errors import NotFound
from hanlin.serving.schemas import CompletionRequest, EmbeddingRequest


async def create_completion(engines: EngineManager, req: CompletionRequest) -> dict[str, Any]:
    body = req.model_dump(exclude_none=True, exclude={"model", "stream", "n"})
    engine = await engines.get(req.model)
    resp = await engine.complete(body)
    resp["model"] = req.model or engine.info.name
    return resp


async def create_embeddings(engines: EngineManager, req: EmbeddingRequest) -> dict[str, Any]:
    name = req.model or engines.embedder.info.name
    if name not in EMBEDDING_MODELS:
        raise NotFound(f"'{name}' is not an embedding model. Embedding models: {', '.join(EMBEDDING_MODELS)}",
                       param="model", code="model_not_found")
    texts = [req.input] if isinstance(req.input, str) else list(req.input)
    started = time.time()
    done = await engines.embedder.aembed_counted(texts, is_query=req.input_type == "query")
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
