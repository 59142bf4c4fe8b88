"""Throughput benchmark (not a test).

(a) decode tok/s through Hanlin's HTTP API vs the same model driven in-process through xllamacpp;
(b) aggregate tok/s with 1, 2 and 4 concurrent streams through the API.
Prints the measured ratios. Targets: API ÷ direct ≥ 0.95; 4 streams ÷ 1 stream ≥ 1.3 (0.5B model).

    python bench/throughput.py [--model qwen2.5-coder-0.5b-instruct] [--tokens 128] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import start_server, stop_server  # noqa: E402

PROMPT = "请详细介绍一下中国古代四大发明，以及它们对世界文明的影响。"


def body(model: str, tokens: int) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": tokens,
            "temperature": 0, "seed": 1, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}}


async def api_stream(client: httpx.AsyncClient, url: str, model: str, tokens: int) -> tuple[int, float, float]:
    """(completion tokens, seconds to first token, seconds first->last token)."""
    t0 = time.perf_counter()
    first = last = 0.0
    n = 0
    async with client.stream("POST", url + "/v1/chat/completions", json=body(model, tokens)) as r:
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                n = chunk["usage"]["completion_tokens"]
            elif chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                now = time.perf_counter()
                first = first or now
                last = now
    return n, first - t0, last - first


def direct_stream(server: object, model: str, tokens: int) -> tuple[int, float, float]:
    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    usage: dict[str, int] = {}

    def cb(chunk: dict) -> bool:
        if chunk.get("usage"):
            usage.update(chunk["usage"])
        elif chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
            now = time.perf_counter()
            marks.setdefault("first", now)
            marks["last"] = now
        return False

    server.handle_chat_completions(body(model, tokens), cb)  # type: ignore[attr-defined]
    return usage["completion_tokens"], marks["first"] - t0, marks["last"] - marks["first"]


async def concurrent(url: str, model: str, tokens: int, n: int) -> float:
    async with httpx.AsyncClient(timeout=600) as client:
        t0 = time.perf_counter()
        res = await asyncio.gather(*[api_stream(client, url, model, tokens) for _ in range(n)])
        return sum(r[0] for r in res) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("HANLIN_THREADS", "2")))
    args = ap.parse_args()

    import xllamacpp

    home = Path(tempfile.mkdtemp(prefix="hanlin-bench-"))
    srv = start_server(home, HANLIN_MODEL=args.model, HANLIN_THREADS=str(args.threads))
    models_dir = Path(srv.env["HANLIN_MODELS_DIR"])
    p = xllamacpp.CommonParams()
    p.model.path = str(models_dir / f"{args.model}.gguf")
    p.n_parallel, p.n_ctx = 4, 4 * 4096
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = args.threads
    p.use_jinja, p.verbosity, p.hostnames, p.port = True, -1, ["127.0.0.1"], 0
    direct = xllamacpp.Server(p)
    try:
        api_rates, direct_rates = [], []

        async def one_api() -> tuple[int, float, float]:
            async with httpx.AsyncClient(timeout=600) as c:
                return await api_stream(c, srv.url, args.model, args.tokens)

        asyncio.run(one_api())  # warm-up both
        direct_stream(direct, args.model, args.tokens)
        for _ in range(args.rounds):  # interleaved, so background load hits both alike
            n, _ttft, dt = asyncio.run(one_api())
            api_rates.append((n - 1) / dt)
            n, _ttft, dt = direct_stream(direct, args.model, args.tokens)
            direct_rates.append((n - 1) / dt)
        del direct
        api, dir_ = statistics.median(api_rates), statistics.median(direct_rates)
        print(f"model {args.model}, {args.tokens} tokens, {args.threads} threads, {args.rounds} rounds")
        print(f"(a) decode tok/s  API {api:.2f}  direct {dir_:.2f}  ratio API/direct = {api / dir_:.3f}  "
              f"(target >= 0.95)")
        agg = {n: asyncio.run(concurrent(srv.url, args.model, args.tokens, n)) for n in (1, 2, 4)}
        print(f"(b) aggregate tok/s  1 stream {agg[1]:.2f}  2 streams {agg[2]:.2f}  4 streams {agg[4]:.2f}")
        print(f"    ratio 2/1 = {agg[2] / agg[1]:.2f}   ratio 4/1 = {agg[4] / agg[1]:.2f}  (target >= 1.3)")
    finally:
        stop_server(srv)


if __name__ == "__main__":
    main()
