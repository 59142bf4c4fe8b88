"""Idle memory: `hanlin serve` vs llama.cpp's own server (xllamacpp's HTTP server) on the same GGUF, slots, threads
and context, measured in turn on 127.0.0.1. Both are loaded, answer one short request (so the KV cache and compute
buffers are touched the same way), then sit idle for a few seconds before RSS is read from /proc.

    python bench/memory_idle.py [--model qwen2.5-coder-0.5b-instruct] [--slots 4] [--ctx-per-slot 8192] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

RAW_SERVER = """
import sys, time, xllamacpp
path, slots, ctx, threads, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
p = xllamacpp.CommonParams()
p.model.path = path
p.n_parallel = slots
p.n_ctx = ctx * slots
p.cpuparams.n_threads = threads
p.cpuparams_batch.n_threads = threads
p.use_jinja = True
p.verbosity = -1
p.hostnames = ["127.0.0.1"]
p.port = port
server = xllamacpp.Server(p)
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not come up")


def one_request(base: str, model: str) -> None:
    httpx.post(base + "/v1/chat/completions", timeout=600, json={
        "model": model, "messages": [{"role": "user", "content": "你好"}], "max_tokens": 8}).raise_for_status()


@contextlib.contextmanager
def serving(cmd: list[str], env: dict[str, str], health: str) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, up (``health`` answers) for the ``with`` block, stopped after it."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(health, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure(cmd: list[str], env: dict[str, str], health: str, base: str, model: str, settle: float) -> float:
    with serving(cmd, env, health) as proc:
        one_request(base, model)
        time.sleep(settle)
        return rss_mb(proc.pid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--ctx-per-slot", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--settle", type=float, default=5.0, help="idle seconds before RSS is read")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    models = Path(os.environ.get("HANLIN_MODELS_DIR", Path.home() / ".cache" / "hanlin" / "models"))
    gguf = models / f"{args.model}.gguf"
    if not gguf.is_file():
        raise SystemExit(f"{gguf} is missing: run `hanlin models pull {args.model}` first")
    res: dict[str, Any] = {"model": args.model, "slots": args.slots, "ctx_per_slot": args.ctx_per_slot,
                           "threads": args.threads}
    port = free_port()
    raw = [sys.executable, "-c", RAW_SERVER, str(gguf), str(args.slots), str(args.ctx_per_slot), str(args.threads),
           str(port)]
    res["llamacpp_server_rss_mb"] = measure(raw, dict(os.environ), f"http://127.0.0.1:{port}/health",
                                            f"http://127.0.0.1:{port}", args.model, args.settle)
    with tempfile.TemporaryDirectory(prefix="hanlin-mem-") as home:
        port = free_port()
        env = {**os.environ, "HANLIN_HOME": home, "HANLIN_MODELS_DIR": str(models), "HANLIN_MODEL": args.model,
               "HANLIN_PARALLEL": str(args.slots), "HANLIN_CTX_PER_SLOT": str(args.ctx_per_slot),
               "HANLIN_THREADS": str(args.threads), "HANLIN_AUTH": "off", "HANLIN_LOG_LEVEL": "warning"}
        cmd = [sys.executable, "-m", "hanlin.cli.main", "serve", "--port", str(port)]
        res["hanlin_serve_rss_mb"] = measure(cmd, env, f"http://127.0.0.1:{port}/health",
                                             f"http://127.0.0.1:{port}", args.model, args.settle)
    res["ratio"] = round(res["hanlin_serve_rss_mb"] / max(1.0, res["llamacpp_server_rss_mb"]), 3)
    print(json.dumps(res, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
