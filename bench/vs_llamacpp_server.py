"""Hanlin vs llama.cpp's own server, the way issue 21 is checked: `hanlin serve` and xllamacpp's HTTP server on the
same GGUF, slots, threads and context, measured in turn — single-stream decode tok/s and the aggregate tok/s of 4
concurrent streams — and the ratio Hanlin ÷ llama.cpp for each.

Decode rate of a stream = completion tokens after the first ÷ (last chunk − first chunk), so prompt processing and
connection set-up are not in it. The servers run one at a time (never both loaded), and the rounds alternate
(llama.cpp, Hanlin, llama.cpp, Hanlin, …) so that a change in machine load hits both; the best round of each is kept.
Greedy decoding with a fixed seed and `ignore_eos`-free prompts that make the model write long answers; both get the
same request body (Hanlin adds its own defaults such as `repeat_penalty`, which llama.cpp's server gets too).

    HANLIN_THREADS=2 python bench/vs_llamacpp_server.py [--model M] [--tokens 128] [--rounds 2] [--slots 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_idle import RAW_SERVER, free_port, serving  # noqa: E402

PROMPTS = ["请详细介绍一下中国的四大发明，每一项都展开说明。", "写一篇关于春天的散文，至少五段。",
           "请解释什么是机器学习，并举三个生活中的例子。", "详细描述一次从北京到上海的旅行计划，按天列出。"]


async def one_stream(client: httpx.AsyncClient, base: str, model: str, prompt: str, tokens: int) -> tuple[int, float]:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": tokens,
            "temperature": 0, "seed": 1, "repeat_penalty": 1.1, "stream": True,
            "stream_options": {"include_usage": True}}
    first = last = 0.0
    n = 0
    async with client.stream("POST", base + "/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            if chunk.get("usage"):
                n = int(chunk["usage"]["completion_tokens"])
            if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
                last = time.perf_counter()
                first = first or last
    return n, last - first


async def measure(base: str, model: str, tokens: int, streams: int) -> float:
    """Aggregate decode tok/s of ``streams`` concurrent streams (1 = single-stream decode)."""
    async with httpx.AsyncClient(timeout=900) as client:
        t0 = time.perf_counter()
        res = await asyncio.gather(*(one_stream(client, base, model, PROMPTS[i % len(PROMPTS)], tokens)
                                     for i in range(streams)))
        wall = time.perf_counter() - t0
    if streams == 1:
        n, span = res[0]
        return (n - 1) / span if span > 0 else 0.0
    return sum(n for n, _ in res) / wall


def run_server(cmd: list[str], env: dict[str, str], base: str, health: str, model: str, tokens: int
               ) -> dict[str, float]:
    with serving(cmd, env, health):
        asyncio.run(measure(base, model, 8, 1))  # warm-up: weights paged in, first-request work done
        return {"decode_tok_s": asyncio.run(measure(base, model, tokens, 1)),
                "four_streams_tok_s": asyncio.run(measure(base, model, tokens, 4))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--ctx-per-slot", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("HANLIN_THREADS", "2")))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.tokens = max(16, min(args.tokens, 1024))
    args.rounds = max(1, min(args.rounds, 5))
    models = Path(os.environ.get("HANLIN_MODELS_DIR", Path.home() / ".cache" / "hanlin" / "models"))
    gguf = models / f"{args.model}.gguf"
    if not gguf.is_file():
        raise SystemExit(f"{gguf} is missing: run `hanlin models pull {args.model}` first")
    rows: dict[str, list[dict[str, float]]] = {"llama.cpp server": [], "hanlin serve": []}
    with tempfile.TemporaryDirectory(prefix="hanlin-vs-") as home:
        for _ in range(args.rounds):
            port = free_port()
            raw = [sys.executable, "-c", RAW_SERVER, str(gguf), str(args.slots), str(args.ctx_per_slot),
                   str(args.threads), str(port)]
            base = f"http://127.0.0.1:{port}"
            rows["llama.cpp server"].append(run_server(raw, dict(os.environ), base, base + "/health", args.model,
                                                       args.tokens))
            port = free_port()
            env = {**os.environ, "HANLIN_HOME": home, "HANLIN_MODELS_DIR": str(models), "HANLIN_MODEL": args.model,
                   "HANLIN_PARALLEL": str(args.slots), "HANLIN_CTX_PER_SLOT": str(args.ctx_per_slot),
                   "HANLIN_THREADS": str(args.threads), "HANLIN_AUTH": "off", "HANLIN_LOG_LEVEL": "warning"}
            cmd = [sys.executable, "-m", "hanlin.cli.main", "serve", "--port", str(port)]
            base = f"http://127.0.0.1:{port}"
            rows["hanlin serve"].append(run_server(cmd, env, base, base + "/health", args.model, args.tokens))
    best = {k: {m: max(r[m] for r in v) for m in ("decode_tok_s", "four_streams_tok_s")} for k, v in rows.items()}
    res: dict[str, Any] = {"model": args.model, "slots": args.slots, "ctx_per_slot": args.ctx_per_slot,
                           "threads": args.threads, "tokens": args.tokens, "rounds": rows,
                           "best": best, "loadavg": os.getloadavg()[0],
                           "decode_ratio": round(best["hanlin serve"]["decode_tok_s"]
                                                 / max(1e-9, best["llama.cpp server"]["decode_tok_s"]), 3),
                           "four_streams_ratio": round(best["hanlin serve"]["four_streams_tok_s"]
                                                       / max(1e-9, best["llama.cpp server"]["four_streams_tok_s"]), 3)}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"## {args.model}, {args.slots} slots × {args.ctx_per_slot} ctx, {args.threads} threads, {args.tokens} "
          f"tokens, best of {args.rounds} alternating rounds (load average {res['loadavg']:.1f} at the end)\n")
    print("| server | decode tok/s (1 stream) | aggregate tok/s (4 streams) |\n|---|---|---|")
    for k, v in best.items():
        print(f"| {k} | {v['decode_tok_s']:.1f} | {v['four_streams_tok_s']:.1f} |")
    print(f"\nHanlin ÷ llama.cpp: decode **{res['decode_ratio']}**, 4 streams **{res['four_streams_ratio']}** "
          f"(goal ≥ 0.95 each)")


if __name__ == "__main__":
    main()
