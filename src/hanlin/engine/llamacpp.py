"""In-process llama.cpp engine on xllamacpp: continuous batching over ``n_parallel`` slots.

xllamacpp's handlers block until generation ends, so each call runs in a worker thread. Streaming bridges the
engine's per-chunk callback to asyncio through a queue; when the consumer goes away the callback returns True,
which tells llama.cpp to stop and free the slot.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hanlin.engine.base import ChatRequest, Chunk, EngineInfo
from hanlin.engine.memory import engine_memory
from hanlin.errors import BadRequest, EngineError, context_overflow

log = logging.getLogger(__name__)
_DONE = object()


def fingerprint(model_path: Path) -> str:
    """``fp_`` + a hash of the engine build and the model file's sha256 (its pinned ``.sha256`` when present)."""
    import xllamacpp

    pinned = model_path.with_suffix(".sha256")
    model_hash = pinned.read_text().split()[0] if pinned.is_file() else f"{model_path.name}:{model_path.stat().st_size}"
    build = f"xllamacpp-{getattr(xllamacpp, '__version__', '?')}"
    return "fp_" + hashlib.sha256(f"{build}|{model_hash}".encode()).hexdigest()[:12]


def assemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``chat.completion`` from the chunks of its stream (content, logprobs, finish_reason, usage)."""
    text: list[str] = []
    logprobs: list[Any] = []
    finish, usage = None, None
    head: dict[str, Any] = {}
    for c in chunks:
        head = head or c
        if c.get("usage"):
            usage = c["usage"]
        for choice in c.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text.append(delta["content"])
            if (choice.get("logprobs") or {}).get("content"):
                logprobs.extend(choice["logprobs"]["content"])
            finish = choice.get("finish_reason") or finish
    choice_out: dict[str, Any] = {"index": 0, "finish_reason": finish or "stop",
                                  "message": {"role": "assistant", "content": "".join(text)}}
    if logprobs:
        choice_out["logprobs"] = {"content": logprobs}
    return {"id": head.get("id", ""), "object": "chat.completion", "created": head.get("created", int(time.time())),
            "model": head.get("model", ""), "choices": [choice_out],
            "usage": usage or {"prompt_tokens": 0, "completion_tokens": len(text), "total_tokens": len(text)}}


def _raise_for_error(resp: Any) -> dict[str, Any]:
    if not isinstance(resp, dict):
        raise EngineError(f"engine returned {type(resp).__name__}, expected a JSON object")
    err = resp.get("error")
    if err:
        msg = err.get("message", str(err)) if isinstance(err, dict) else str(err)
        if isinstance(err, dict) and err.get("type") == "exceed_context_size_error":
            raise context_overflow(err.get("n_prompt_tokens"), err.get("n_ctx"))
        code = err.get("code", 500) if isinstance(err, dict) else 500
        if isinstance(code, int) and 400 <= code < 500:
            raise BadRequest(msg)
        raise EngineError(msg)
    return resp


class LlamaCppEngine:
    """One GGUF loaded in-process with ``slots`` parallel sequences."""

    def __init__(self, name: str, model_path: Path, *, slots: int = 4, ctx_per_slot: int = 8192,
                 threads: int = 2, lora_path: str = "", embedding: bool = False, prompt_cache_mib: int = 512,
                 sampling: dict[str, float] | None = None, log_verbosity: int = -1) -> None:
        import xllamacpp

        p = xllamacpp.CommonParams()
        p.model.path = str(model_path)
        p.n_parallel = slots
        p.n_ctx = ctx_per_slot * slots
        p.cpuparams.n_threads = threads
        p.cpuparams_batch.n_threads = threads
        p.use_jinja = True
        p.verbosity = max(-1, min(log_verbosity, 4))  # 5 (debug) would print prompt and answer tokens
        p.hostnames = ["127.0.0.1"]
        p.port = 0  # the built-in HTTP listener binds an ephemeral loopback port; we never expose it
        p.cache_prompt = True  # a slot reuses the KV of the longest matching prefix (shared system prompts)
        p.cache_ram_mib = prompt_cache_mib  # prompt states kept in RAM across slots, capped
        if embedding:
            p.embedding = True
        if lora_path:
            lora = xllamacpp.CommonAdapterLoraInfo()
            lora.path = lora_path
            lora.scale = 1.0
            p.lora_adapters = [lora]
        self._server = xllamacpp.Server(p)
        self.model_path = model_path
        self.info = EngineInfo(name=name, kind="llamacpp", n_ctx=ctx_per_slot, slots=slots,
                               meta={"threads": threads, "path": str(model_path),
                                     "fingerprint": fingerprint(model_path),
                                     "memory": engine_memory(model_path, slots, ctx_per_slot, prompt_cache_mib)})
        self._busy = 0
        self._lock = threading.Lock()
        self.sampling = dict(sampling or {})  # the model's defaults (ModelSpec.sampling); a request's own win

    def _body(self, request: dict[str, Any]) -> dict[str, Any]:
        given = {k: v for k, v in request.items() if v is not None or k not in self.sampling}
        return {**self.sampling, **given, "stream": False}

    @property
    def busy(self) -> int:
        return self._busy

    def _enter(self) -> None:
        with self._lock:
            self._busy += 1

    def _exit(self) -> None:
        with self._lock:
            self._busy -= 1

    def _call(self, fn: Any, body: dict[str, Any]) -> dict[str, Any]:
        self._enter()
        try:
            try:
                resp = fn(body)
            except ValueError as e:  # xllamacpp validates shapes and raises ValueError
                raise BadRequest(str(e)) from e
            return _raise_for_error(resp)
        finally:
            self._exit()

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        """Generated as a stream and assembled: xllamacpp cannot stop a non-streamed task, and a request whose
        client went away must free its slot (cancelling this coroutine closes the stream)."""
        body = {**request, "stream_options": {"include_usage": True}}
        resp = assemble([c async for c in self.stream(body)])
        resp["model"] = self.info.name
        return resp

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        body = self._body(request)
        resp = await asyncio.to_thread(self._call, self._server.handle_completions, body)
        resp["model"] = self.info.name
        resp.pop("timings", None)
        return resp

    def stream_complete(self, request: dict[str, Any]) -> AsyncIterator[Chunk]:
        """Legacy completion chunks (``text_completion`` objects with ``choices[].text``)."""
        return self.stream(request, handler=self._server.handle_completions)

    async def stream(self, request: ChatRequest, handler: Any = None) -> AsyncIterator[Chunk]:
        handler = handler or self._server.handle_chat_completions
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()
        body = {**self._body(dict(request)), "stream": True}

        def on_chunk(chunk: Any) -> bool:
            if cancelled.is_set():
                return True  # stop generation, free the slot
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            return False

        def run() -> None:
            self._enter()
            try:
                resp = handler(body, on_chunk)
                if isinstance(resp, dict) and resp.get("error"):
                    _raise_for_error(resp)
            except BaseException as e:  # forwarded to the consumer
                if isinstance(e, ValueError):
                    e = BadRequest(str(e))
                loop.call_soon_threadsafe(queue.put_nowait, e)
            finally:
                self._exit()
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        worker = threading.Thread(target=run, name="llamacpp-stream", daemon=True)
        worker.start()
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, dict) and item.get("error"):
                    _raise_for_error(item)
                item["model"] = self.info.name
                item.pop("timings", None)
                yield item
        finally:
            cancelled.set()

    async def count_prompt_tokens(self, request: ChatRequest) -> int:
        """The exact prompt token count: llama.cpp applies the model's chat template and tokenizes the result
        (its loopback listener's /apply-template and /tokenize; no slot is used)."""
        import httpx

        # a client per call: engines outlive event loops (tests, the CLI), and loopback connects are cheap
        async with httpx.AsyncClient(base_url=str(self._server.listening_address), timeout=10) as http:
            r = await http.post("/apply-template", json={"messages": request.get("messages") or []})
            r.raise_for_status()
            t = await http.post("/tokenize", json={"content": r.json()["prompt"], "add_special": True,
                                                   "parse_special": True})
            t.raise_for_status()
            return len(t.json()["tokens"])

    async def health(self) -> bool:
        return True

    async def close(self) -> None:
        # xllamacpp frees the model when the Server object is collected
        self._server = None
