"""Legacy text completions and embeddings — plain functions over engines."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from hanlin.engine.manager import EngineManager
from hanlin.errors import BadRequest
from hanlin.principal import Principal
from hanlin.serving.schemas import CompletionRequest, EmbeddingRequest

_ENGINE_KEYS = ("max_tokens", "temperature", "top_p", "stop", "seed")


def _body(req: CompletionRequest, prompt: str) -> dict[str, Any]:
    raw = req.model_dump(exclude_none=True)
    body = {k: raw[k] for k in _ENGINE_KEYS if k in raw}
    body["prompt"] = prompt
    if req.logprobs is not None:
        body["logprobs"] = max(1, req.logprobs)  # llama.cpp needs >= 1 to report the chosen token's logprob
    return body


def legacy_logprobs(content: list[dict[str, Any]], top_n: int, offset: int) -> dict[str, Any]:
    """llama.cpp's chat-style ``logprobs.content`` -> the legacy completions shape (tokens, token_logprobs,
    top_logprobs, text_offset); offsets count characters of the returned text."""
    tokens, lps, tops, offsets = [], [], [], []
    for t in content:
        tokens.append(t.get("token", ""))
        lps.append(t.get("logprob"))
        tops.append({a.get("token", ""): a.get("logprob") for a in (t.get("top_logprobs") or [])[:top_n]})
        offsets.append(offset)
        offset += len(t.get("token", ""))
    return {"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets}


def _choice(req: CompletionRequest, index: int, prompt: str, raw: dict[str, Any], offset: int = 0) -> dict[str, Any]:
    text = str(raw.get("text", ""))
    out: dict[str, Any] = {"index": index, "text": prompt + text if req.echo else text, "logprobs": None,
                           "finish_reason": raw.get("finish_reason") or "stop"}
    got = raw.get("logprobs") or {}
    if req.logprobs is not None and got.get("content") is not None:  # llama.cpp: chat-style entries
        out["logprobs"] = legacy_logprobs(got["content"], req.logprobs, offset)
    elif req.logprobs is not None and "tokens" in got:  # an upstream (vLLM) that answers in the legacy shape
        out["logprobs"] = got
    return out


def _prompts(req: CompletionRequest) -> list[str]:
    return [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)


def _new_id() -> str:
    return f"cmpl-{uuid.uuid4().hex[:24]}"


async def create_completion(engines: EngineManager, req: CompletionRequest, principal: Principal) -> dict[str, Any]:
    engine = await engines.get(req.model, principal=principal)
    choices, usage = [], {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for i, prompt in enumerate(_prompts(req)):  # one request per prompt, answered in order
        resp = await engine.complete(_body(req, prompt))
        choices.append(_choice(req, i, prompt, (resp.get("choices") or [{}])[0]))
        for k in usage:
            usage[k] += int((resp.get("usage") or {}).get(k, 0))
    out = {"id": _new_id(), "object": "text_completion", "created": int(time.time()),
           "model": req.model or engine.info.name, "choices": choices, "usage": usage}
    fp = engine.info.meta.get("fingerprint")
    if fp:
        out["system_fingerprint"] = fp
    return out


async def stream_completion(engines: EngineManager, req: CompletionRequest,
                            principal: Principal) -> AsyncIterator[dict[str, Any]]:
    """``text_completion`` chunks as OpenAI streams them; usage last when ``stream_options.include_usage``.
    Engines without a completion stream answer whole, sent as one chunk."""
    engine = await engines.get(req.model, principal=principal)
    base = {"id": _new_id(), "object": "text_completion", "created": int(time.time()),
            "model": req.model or engine.info.name}
    want_usage = bool(req.stream_options and req.stream_options.include_usage)
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    streamer = getattr(engine, "stream_complete", None)
    for i, prompt in enumerate(_prompts(req)):
        if req.echo:
            yield {**base, "choices": [{"index": i, "text": prompt, "logprobs": None, "finish_reason": None}]}
        if streamer is None:
            resp = await engine.complete(_body(req, prompt))
            chunks = [{**resp, "choices": [{**c, "index": i} for c in resp.get("choices") or []]}]
        else:
            chunks = streamer({**_body(req, prompt), "stream_options": {"include_usage": True}})
        offset = 0  # characters of this choice's text sent so far (legacy logprobs count from there)
        async for chunk in _aiter(chunks):
            for k in usage:
                usage[k] += int((chunk.get("usage") or {}).get(k, 0))
            for c in chunk.get("choices") or []:
                if not c.get("text") and c.get("finish_reason") is None:
                    continue
                text_req = req.model_copy(update={"echo": False})
                yield {**base, "choices": [{**_choice(text_req, i, prompt, c, offset),
                                            "finish_reason": c.get("finish_reason")}]}
                offset += len(str(c.get("text") or ""))
    if want_usage:
        yield {**base, "choices": [], "usage": usage}


async def _aiter(chunks: Any) -> AsyncIterator[dict[str, Any]]:
    if isinstance(chunks, list):
        for c in chunks:
            yield c
    else:
        async for c in chunks:
            yield c


async def create_embeddings(engines: EngineManager, req: EmbeddingRequest, principal: Principal) -> dict[str, Any]:
    embedder = engines.embedding_model(req.model, principal=principal)
    name = req.model or embedder.info.name
    texts = [req.input] if isinstance(req.input, str) else list(req.input)
    native = int(engines.embedder.info.meta.get("dim") or 0)
    if req.dimensions is not None and native and req.dimensions != native:
        raise BadRequest(f"'{name}' makes {native}-dimensional embeddings and is not trained for shortened ones "
                         f"(Matryoshka); dimensions must be {native} or left out", param="dimensions",
                         code="unsupported_dimensions")
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
