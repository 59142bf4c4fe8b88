"""The gateway's added latency per request: a Hanlin node with an engine pool vs the engine directly.

Starts, on 127.0.0.1 only, a stub OpenAI upstream (instant synthetic answers, tests/support/stub_upstream.py) and
a `hanlin serve --config` node whose pool has that stub as its member(s), then sends the same requests
sequentially to both and reports p50/p99 of each and the difference. What the node adds is everything in the
request path: HTTP parsing, auth, chat hooks (platform quotas and usage metering), pool routing and the second
HTTP hop. The upstream answers instantly, so the difference is pure gateway overhead. The keys-on row is the same
node with auth on and a tenant's key, as on any node that binds a non-loopback address. The last path, the bare relay
(bench/_bare_relay.py: the same FastAPI/uvicorn/aiohttp stack relaying with nothing else), is the floor under any
gateway built on this stack; ``server_cpu_ms`` is the CPU the serving process spent per request.

    python bench/gateway_overhead.py                       # ~1 min
    python bench/gateway_overhead.py --requests 1000 --json
    python bench/gateway_overhead.py --pin                 # the node on core 0; client and stub on core 1

``--pin`` models a gateway on its own machine, so the relay ratio says whether the node keeps up with the engine
rather than how three processes split the cores (unpinned, the relayed path has a third process competing for the
same cores). With 4 or more cores the stub, the client and the node each get their own: stub on core 0, client on
core 1, the node on the rest. With 2 or 3 cores the client and the stub share core 1 in BOTH paths and the node gets
core 0 — then the stub's own cost per chunk also rises when the node reads it (smaller writes), which the direct path
does not pay, so a 2-core ratio is a lower bound.

Each throughput run opens ``--stream-requests`` streams (default 4 × the concurrency, at least 256): a run of one
wave of 64 streams lasts under a second and its ratio moved by ±0.5 from run to run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUB = ROOT / "tests" / "support" / "stub_upstream.py"
BODY = {"messages": [{"role": "user", "content": "你好，介绍一下你自己"}], "max_tokens": 16}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"{what} did not come up")


def start_stub(tokens: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(STUB), "--port", str(port), "--tokens", str(tokens)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(f"http://127.0.0.1:{port}/v1/models", proc, "stub")
    return proc, f"http://127.0.0.1:{port}/v1"


def start_node(home: Path, stub_url: str, members: int, keys: bool = False
               ) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    """A node relaying to the stub -> (process, base URL, headers to send). ``keys``: auth on, as on any node that
    binds a non-loopback address, and a tenant's key created by the CLI beforehand."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "hanlin.yaml"
    cfg.write_text(yaml.safe_dump({"pools": [{"name": "chat", "members": [
        {"kind": "vllm", "base_url": stub_url, "model": "stub-model", "name": f"m{i}"} for i in range(members)]}]}))
    port = free_port()
    env = {**os.environ, "HANLIN_HOME": str(home), "HANLIN_MODEL": "chat", "HANLIN_THREADS": "1",
           "HANLIN_LOG_LEVEL": "warning", "HANLIN_AUTH": "on" if keys else "off"}
    env.pop("HANLIN_REDIS_URL", None)
    env.pop("HANLIN_DATABASE_URL", None)
    headers = {}
    if keys:
        made = subprocess.run([sys.executable, "-m", "hanlin.cli.main", "keys", "create", "--tenant", "bench",
                               "--json"], env=env, capture_output=True, text=True, check=True)
        headers = {"Authorization": f"Bearer {json.loads(made.stdout)['key']}"}
    proc = subprocess.Popen([sys.executable, "-m", "hanlin.cli.main", "serve", "--no-preload", "--port", str(port),
                             "--config", str(cfg)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(f"http://127.0.0.1:{port}/health", proc, "hanlin serve")
    return proc, f"http://127.0.0.1:{port}/v1", headers


def start_bare(stub_url: str) -> tuple[subprocess.Popen[bytes], str]:
    """The bare relay (bench/_bare_relay.py): the same web stack and second hop with none of Hanlin's work."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_bare_relay.py"), str(port), stub_url, "stub-model"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(f"http://127.0.0.1:{port}/v1/models", proc, "bare relay")
    return proc, f"http://127.0.0.1:{port}/v1"


def pin(pid: int, cores: set[int] | None) -> None:
    if cores:
        os.sched_setaffinity(pid, cores)
        for task in Path(f"/proc/{pid}/task").iterdir():  # threads started before the call too
            os.sched_setaffinity(int(task.name), cores)


def layout(wanted: bool) -> tuple[set[int] | None, set[int] | None, set[int] | None]:
    """Cores of (stub, client, node): each its own with 4+ cores, client and stub sharing one with 2-3."""
    cores = sorted(os.sched_getaffinity(0))
    if not wanted or len(cores) < 2:
        return None, None, None
    if len(cores) >= 4:
        return {cores[0]}, {cores[1]}, set(cores[2:])
    return {cores[1]}, {cores[1]}, {cores[0]}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (/proc): unlike wall time, hardly moved by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def measure(client: httpx.Client, base: str, model: str, n: int, stream: bool,
            headers: dict[str, str] | None = None) -> list[float]:
    """Per-request latency in ms: the full answer (non-streaming) or the time to the first content chunk."""
    out = []
    body = {**BODY, "model": model, "stream": stream}
    for _ in range(n):
        t0 = time.perf_counter()
        if stream:
            with client.stream("POST", base + "/chat/completions", json=body, headers=headers) as r:
                r.raise_for_status()
                lines = r.iter_lines()
                for line in lines:
                    if '"content":"' in line.replace(" ", "") and '"content":""' not in line.replace(" ", ""):
                        break
                out.append((time.perf_counter() - t0) * 1000)
                for _ in lines:
                    pass
        else:
            r = client.post(base + "/chat/completions", json=body, headers=headers)
            r.raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)
    return out


async def stream_throughput(base: str, model: str, concurrency: int, requests: int, tokens: int) -> dict[str, Any]:
    """Content chunks per second relayed with ``concurrency`` streams open at once."""
    import asyncio

    body = {**BODY, "model": model, "stream": True, "max_tokens": tokens}
    counts: list[int] = []
    sem = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient) -> None:
        async with sem, client.stream("POST", base + "/chat/completions", json=body) as r:
            n = 0
            async for line in r.aiter_lines():
                if '"content"' in line and '"content": ""' not in line and '"content":""' not in line:
                    n += 1
            counts.append(n)
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=concurrency + 4)) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(client) for _ in range(requests)))
        wall = time.perf_counter() - t0
    return {"requests": requests, "chunks": sum(counts), "chunks_per_s": round(sum(counts) / wall),
            "requests_per_s": round(requests / wall, 1)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio

    stub_core, client_core, node_core = layout(args.pin)
    pin(os.getpid(), client_core)
    stub, stub_url = start_stub(max(args.tokens, args.stream_tokens))
    pin(stub.pid, stub_core)
    procs = [stub]
    results: dict[str, Any] = {"requests": args.requests, "tokens": args.tokens, "rows": [],
                               "cores": os.cpu_count(), "loadavg_before": os.getloadavg()[0],
                               "pinned": {"stub": sorted(stub_core or []), "client": sorted(client_core or []),
                                          "node": sorted(node_core or [])} if stub_core else None}
    try:
        with tempfile.TemporaryDirectory(prefix="hanlin-bench-") as tmp:
            nodes = {}
            for name, members, keys in (("n1", 1, False), ("n2", 2, False), ("keys", 1, True)):
                proc, url, headers = start_node(Path(tmp) / name, stub_url, members, keys)
                pin(proc.pid, node_core)
                procs.append(proc)
                nodes[name] = (url, headers)
            bare, bare_url = start_bare(stub_url)
            pin(bare.pid, node_core)
            procs.append(bare)
            targets = [("direct to the engine", stub_url, "stub-model"),
                       ("Hanlin, pool of 1", nodes["n1"][0], "chat"), ("Hanlin, pool of 2", nodes["n2"][0], "chat"),
                       ("Hanlin, pool of 1, keys on", nodes["keys"][0], "chat"),
                       ("bare relay (no Hanlin)", bare_url, "chat")]
            sends = {targets[3][0]: nodes["keys"][1]}
            serving = {targets[0][0]: stub, targets[1][0]: procs[1], targets[2][0]: procs[2],
                       targets[3][0]: procs[3], targets[4][0]: bare}
            with httpx.Client(timeout=30) as client:
                for stream in (() if args.only_throughput else (False, True)):
                    for label, base, model in targets:  # warm up every path (imports, connections)
                        measure(client, base, model, args.warmup, stream, sends.get(label))
                    lat: dict[str, list[float]] = {label: [] for label, _, _ in targets}
                    cpu: dict[str, float] = {label: 0.0 for label, _, _ in targets}
                    rounds = max(1, args.requests // 50)  # interleaved, so load from elsewhere hits all paths
                    for i in range(rounds):
                        n = args.requests // rounds + (1 if i < args.requests % rounds else 0)
                        for label, base, model in targets:
                            c0 = cpu_s(serving[label].pid)
                            lat[label] += measure(client, base, model, n, stream, sends.get(label))
                            cpu[label] += cpu_s(serving[label].pid) - c0
                    direct = lat[targets[0][0]]
                    for label, _, _ in targets:
                        v = lat[label]
                        results["rows"].append({
                            "mode": "stream (first token)" if stream else "non-stream", "path": label,
                            "p50_ms": round(pct(v, 50), 2), "p99_ms": round(pct(v, 99), 2),
                            "added_p50_ms": round(pct(v, 50) - pct(direct, 50), 2),
                            "added_p99_ms": round(pct(v, 99) - pct(direct, 99), 2),
                            # CPU of the process that served the path (the stub for the direct one), per request
                            "server_cpu_ms": round(cpu[label] / len(v) * 1000, 2)})
            results["throughput"] = []
            for conc in args.concurrency:
                rows = []
                for _ in range(args.rounds):  # direct and relayed alternate, so load from elsewhere hits both
                    for label, base, model in targets[:2]:
                        cpu0 = (cpu_s(stub.pid), cpu_s(procs[1].pid))
                        requests = args.stream_requests or max(256, 4 * conc)
                        row = {"path": label, **asyncio.run(stream_throughput(
                            base, model, conc, max(requests, conc), args.stream_tokens))}
                        # CPU per chunk of the engine (stub) and of the node: the relay's real cost per token
                        row["stub_cpu_us_per_chunk"] = round((cpu_s(stub.pid) - cpu0[0]) / row["chunks"] * 1e6, 1)
                        row["node_cpu_us_per_chunk"] = round((cpu_s(procs[1].pid) - cpu0[1]) / row["chunks"] * 1e6,
                                                             1)
                        rows.append(row)
                best = {label: max((r for r in rows if r["path"] == label), key=lambda r: r["chunks_per_s"])
                        for label, _, _ in targets[:2]}
                ratio = best[targets[1][0]]["chunks_per_s"] / max(1, best[targets[0][0]]["chunks_per_s"])
                results["throughput"] += [{"streams": conc, **r, "relay_ratio": round(ratio, 3)}
                                          for r in best.values()]
        results["loadavg_after"] = os.getloadavg()[0]
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300, help="sequential requests per path and mode (max 5000)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--tokens", type=int, default=16, help="tokens in each synthetic answer")
    ap.add_argument("--concurrency", type=lambda v: [int(x) for x in v.split(",")], default=[16, 64],
                    help="open streams in the throughput runs, comma-separated (default 16,64)")
    ap.add_argument("--rounds", type=int, default=2, help="throughput runs per path; the best of each is kept")
    ap.add_argument("--stream-requests", type=int, default=0,
                    help="streams in each throughput run (default 4 × concurrency, at least 256; max 4000)")
    ap.add_argument("--stream-tokens", type=int, default=256, help="tokens per stream in the throughput run")
    ap.add_argument("--pin", action="store_true", help="stub, client and node on their own cores (see above)")
    ap.add_argument("--only-throughput", action="store_true", help="skip the sequential latency rows")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.requests = max(10, min(args.requests, 5000))
    args.stream_requests = max(0, min(args.stream_requests, 4000))
    args.concurrency = [max(1, min(c, 256)) for c in args.concurrency]
    args.rounds = max(1, min(args.rounds, 10))
    res = run(args)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"## Gateway overhead: {res['requests']} sequential requests per row, stub upstream answering "
          f"{res['tokens']} tokens instantly, all on 127.0.0.1 ({res['cores']} cores, load average "
          f"{res['loadavg_before']:.1f} before, {res['loadavg_after']:.1f} after"
          f"{'; pinned ' + json.dumps(res['pinned']) if res['pinned'] else ''})\n")
    cols = ["mode", "path", "p50_ms", "p99_ms", "added_p50_ms", "added_p99_ms", "server_cpu_ms"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in res["rows"]:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    print(f"\nStreaming throughput, {args.concurrency} streams open at once, {args.stream_tokens} tokens each, best "
          f"of {args.rounds} alternating runs (client, gateway and stub share this machine's cores):\n")
    cols = ["streams", "path", "requests", "chunks", "chunks_per_s", "requests_per_s", "relay_ratio",
            "stub_cpu_us_per_chunk", "node_cpu_us_per_chunk"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in res["throughput"]:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
