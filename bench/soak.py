"""Soak: is `hanlin serve`'s RSS flat under an hour of mixed requests? (Not a test; bounded in time.)

Starts `hanlin serve` on 127.0.0.1 with a fresh HANLIN_HOME, then for ``--minutes`` keeps ``--concurrency`` clients
busy with a mix: short chats, streamed chats (some dropped mid-stream), JSON-schema answers, embeddings, a
knowledge-base search and ask, and a document re-added. RSS is sampled every ``--every`` seconds; the report gives
RSS after warm-up, at the quarters, at the end, the peak, and the slope over the second half (MB per 10 minutes),
and the server's own memory breakdown (``/health``) at the end.

llama.cpp's RAM prompt cache keeps the states of distinct prompts up to ``HANLIN_PROMPT_CACHE_MIB`` (512 by default)
and every soak prompt is distinct, so RSS may rise by up to that cap before it levels off; ``--prompt-cache-mib 64``
fills the cache in minutes, so what still grows after that is something else (bench/README.md has the last runs).
``--engine-log FILE`` measures the cache instead of inferring it: the server runs with ``HANLIN_ENGINE_LOG=4`` and
its stderr goes to FILE, where llama.cpp writes ``cache state: N prompts, X MiB`` as the cache changes; the report
then has the cache's size at the quarters and the slope of RSS minus the cache.

    python bench/soak.py [--minutes 60] [--concurrency 4] [--model qwen2.5-coder-0.5b-instruct]
        [--prompt-cache-mib N] [--kinds chat,stream,...] [--engine-log FILE] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

DOC = ("差旅报销制度：员工出差住宿费每晚不超过600元，交通费凭票据实报实销。年度预算编制：各部门于十一月底前提交"
       "下一年度预算草案。信息安全规定：外部设备接入内网须经信息中心审批。") * 3
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
          "required": ["city", "days"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


CACHE_STATE = re.compile(rb"cache state: (\d+) prompts, ([\d.]+) MiB")


class CacheLog:
    """The prompt cache's size, read from llama.cpp's log as it grows (only the new bytes at each look)."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.offset, self.mib, self.prompts = path, 0, 0.0, 0

    def read(self) -> float | None:
        if self.path is None or not self.path.exists():
            return None
        with self.path.open("rb") as f:
            f.seek(self.offset)
            new = f.read()
        cut = new.rfind(b"\n") + 1  # a line still being written is read next time
        self.offset += cut
        for m in CACHE_STATE.finditer(new[:cut]):
            self.prompts, self.mib = int(m.group(1)), float(m.group(2))
        return self.mib


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope over the second half, in MB per 10 minutes."""
    half = [s for s in points if s[0] >= points[-1][0] / 2] or points
    if len(half) < 2:
        return 0.0
    xs, ys = [s[0] for s in half], [s[1] for s in half]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 600


KINDS = ("chat", "stream", "drop", "json", "embed", "search", "ask", "readd")


async def one(client: httpx.AsyncClient, rng: random.Random, n: int, kinds: tuple[str, ...] = KINDS) -> str:
    kind = rng.choice(kinds)
    msg = [{"role": "user", "content": f"第{n}个问题：用一句话介绍北京。"}]
    if kind == "chat":
        await client.post("/v1/chat/completions", json={"messages": msg, "max_tokens": 24})
    elif kind in ("stream", "drop"):
        async with client.stream("POST", "/v1/chat/completions",
                                 json={"messages": msg, "max_tokens": 48, "stream": True}) as r:
            i = 0
            async for _ in r.aiter_lines():
                i += 1
                if kind == "drop" and i > 4:
                    break  # the client goes away mid-stream
    elif kind == "json":
        await client.post("/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "去上海玩三天，按格式回答"}], "max_tokens": 40,
            "response_format": {"type": "json_schema", "json_schema": {"name": "trip", "schema": SCHEMA}}})
    elif kind == "embed":
        await client.post("/v1/embeddings", json={"input": [DOC[: rng.randint(20, 300)] for _ in range(8)]})
    elif kind == "search":
        await client.post("/v1/knowledge-bases/soak/search", json={"query": "住宿费标准", "k": 3})
    elif kind == "ask":
        await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "住宿费每晚多少？"}],
                                                        "knowledge_base": "soak", "max_tokens": 32})
    else:
        await client.post("/v1/knowledge-bases/soak/documents",
                          files={"files": (f"doc{rng.randint(0, 3)}.txt", (DOC + str(n)).encode())})
    return kind


async def drive(base: str, pid: int, minutes: float, concurrency: int, every: float,
                kinds: tuple[str, ...] = KINDS, cache: CacheLog | None = None) -> dict[str, Any]:
    samples: list[tuple[float, float]] = []
    cached: list[tuple[float, float]] = []  # (t, prompt cache MiB) when the engine log is read
    counts: dict[str, int] = {}
    end = time.time() + minutes * 60
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        await client.post("/v1/knowledge-bases", json={"name": "soak"})
        await client.post("/v1/knowledge-bases/soak/documents", files={"files": ("doc0.txt", DOC.encode())})
        n = 0

        async def worker() -> None:
            nonlocal n
            while time.time() < end:
                n += 1
                try:
                    kind = await one(client, rng, n, kinds)
                    counts[kind] = counts.get(kind, 0) + 1
                except httpx.HTTPError:
                    counts["error"] = counts.get("error", 0) + 1

        async def sampler() -> None:
            t0 = time.time()
            while time.time() < end:
                t = time.time() - t0
                samples.append((t, rss_mb(pid)))
                mib = cache.read() if cache else None
                if mib is not None:
                    cached.append((t, mib * 1.048576))  # MiB → MB, as RSS is counted
                await asyncio.sleep(every)
        await asyncio.gather(sampler(), *(worker() for _ in range(concurrency)))
    slope = _slope(samples)
    warm = samples[min(len(samples) - 1, max(1, len(samples) // 10))][1]
    quarters = [round(samples[min(len(samples) - 1, len(samples) * q // 4)][1], 1) for q in (1, 2, 3, 4)]
    return {"minutes": minutes, "requests": counts, "rss_after_warmup_mb": round(warm, 1),
            "rss_at_quarters_mb": quarters,
            "rss_end_mb": round(samples[-1][1], 1), "rss_peak_mb": round(max(s[1] for s in samples), 1),
            "slope_second_half_mb_per_10min": round(slope, 1), "samples": len(samples),
            **_cache_report(samples, cached, cache)}


def _cache_report(samples: list[tuple[float, float]], cached: list[tuple[float, float]],
                  cache: CacheLog | None) -> dict[str, Any]:
    """The prompt cache's size at the quarters and the slope of RSS less the cache (what is not the cache)."""
    if not cached or cache is None:
        return {}
    quarters = [round(cached[min(len(cached) - 1, len(cached) * q // 4)][1], 1) for q in (1, 2, 3, 4)]
    rest = [(t, rss - mb) for (t, rss), (_, mb) in zip(samples, cached, strict=False)]
    return {"prompt_cache_mb_at_quarters": quarters, "prompt_cache_prompts_end": cache.prompts,
            "rss_less_prompt_cache_slope_second_half_mb_per_10min": round(_slope(rest), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--every", type=float, default=30.0)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--prompt-cache-mib", type=int, default=None,
                    help="the server's HANLIN_PROMPT_CACHE_MIB (default: its own, 512). llama.cpp's RAM prompt cache "
                         "fills up to this cap with the states of distinct prompts, so RSS rises by up to that much "
                         "before it levels off: a small cap tells that growth from a leak")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help=f"comma-separated request kinds to mix (default: all of {','.join(KINDS)}); one kind at a "
                         "time tells which kind of request the growth comes with")
    ap.add_argument("--engine-log", type=Path, default=None,
                    help="run the server with HANLIN_ENGINE_LOG=4, its stderr to this file, and report the prompt "
                         "cache's size as llama.cpp logs it")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kinds = tuple(k for k in args.kinds.split(",") if k)
    if not kinds or set(kinds) - set(KINDS):
        ap.error(f"--kinds: choose from {','.join(KINDS)}")
    args.minutes = max(0.5, min(args.minutes, 240.0))
    with tempfile.TemporaryDirectory(prefix="hanlin-soak-") as home:
        port = free_port()
        env = {**os.environ, "HANLIN_HOME": home, "HANLIN_MODEL": args.model, "HANLIN_AUTH": "off",
               "HANLIN_LOG_LEVEL": "warning"}
        if args.prompt_cache_mib is not None:
            env["HANLIN_PROMPT_CACHE_MIB"] = str(max(0, args.prompt_cache_mib))
        err: Any = subprocess.DEVNULL
        if args.engine_log:
            env["HANLIN_ENGINE_LOG"] = "4"
            err = args.engine_log.open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "hanlin.cli.main", "serve", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 600
            while time.time() < deadline:
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            res = asyncio.run(drive(base, proc.pid, args.minutes, max(1, min(args.concurrency, 32)),
                                    max(1.0, args.every), kinds, CacheLog(args.engine_log)))
            res["kinds"] = list(kinds)
            res["prompt_cache_mib"] = args.prompt_cache_mib if args.prompt_cache_mib is not None else "default"
            res["health_memory"] = httpx.get(base + "/health", timeout=10).json().get("memory")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(json.dumps(res, ensure_ascii=False, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
