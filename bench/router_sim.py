"""Router simulation: EnginePool over simulated upstreams, in-process, no network.

Each simulated upstream has ``slots`` parallel sequences (like vLLM's / llama.cpp's batch) and a service time
per request (log-normal around ``--service-ms``); requests beyond its slots queue inside it, as they do in a
real server. A burst of ``--requests`` concurrent requests goes through the pool; we report throughput,
the time requests spent queued (waiting for a slot) and end-to-end latency as upstreams are added, then
the same with Poisson arrivals at a fixed rate, then least-outstanding vs random routing when one
upstream is 3x slower, then the router's own cost per request.

    python bench/router_sim.py                 # ~30 s on 2 shared cores
    python bench/router_sim.py --requests 4000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Collection
from typing import Any

from hanlin.engine.base import EngineInfo
from hanlin.engine.pool import EnginePool, Member


class SimUpstream:
    def __init__(self, name: str, slots: int, service_s: float, rng: random.Random) -> None:
        self.info = EngineInfo(name=name, kind="sim", slots=slots)
        self.service_s, self.rng = service_s, rng
        self.sem = asyncio.Semaphore(slots)
        self.queued_s: list[float] = []
        self.served = 0

    async def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        async with self.sem:
            self.queued_s.append(time.perf_counter() - t0)
            if self.service_s:
                await asyncio.sleep(self.rng.lognormvariate(0, 0.25) * self.service_s)
            self.served += 1
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                             "finish_reason": "stop"}], "usage": {}}

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.chat(request)

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        yield await self.chat(request)

    async def health(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class RandomPool(EnginePool):
    """Baseline: pick a member uniformly at random."""

    def pick(self, exclude: Collection[int] = ()) -> Member:
        return random.choice([m for i, m in enumerate(self.members) if i not in exclude])


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


async def burst(pool: EnginePool, n: int, rate: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """``n`` requests at once (``rate`` 0), or arriving as a Poisson process of ``rate`` requests/s."""
    latencies: list[float] = []

    async def one() -> None:
        t0 = time.perf_counter()
        await pool.chat({"messages": []})
        latencies.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    if rate <= 0:
        await asyncio.gather(*(one() for _ in range(n)))
    else:
        rng, due, tasks = random.Random(seed), t0, []
        for _ in range(n):
            tasks.append(asyncio.create_task(one()))
            due += rng.expovariate(rate)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    queued = [q for m in pool.members for q in m.engine.queued_s]  # type: ignore[attr-defined]
    return {"requests": n, "wall_s": round(wall, 2), "throughput_rps": round(n / wall, 1),
            "queue_p50_ms": round(pct(queued, 50) * 1000, 1), "queue_p99_ms": round(pct(queued, 99) * 1000, 1),
            "latency_p50_ms": round(pct(latencies, 50) * 1000, 1),
            "latency_p99_ms": round(pct(latencies, 99) * 1000, 1),
            "served_per_upstream": [m.engine.served for m in pool.members]}  # type: ignore[attr-defined]


def make_pool(cls: type[EnginePool], services_s: list[float], slots: int, seed: int) -> EnginePool:
    rng = random.Random(seed)
    return cls("sim", [Member(f"u{i}", SimUpstream(f"u{i}", slots, s, rng)) for i, s in enumerate(services_s)])


async def scaling(args: argparse.Namespace, rate: float = 0.0) -> list[dict[str, Any]]:
    rows = []
    for k in args.upstreams:
        pool = make_pool(EnginePool, [args.service_ms / 1000] * k, args.slots, args.seed)
        capacity = k * args.slots / (args.service_ms / 1000)
        rows.append({"upstreams": k, "capacity_rps": round(capacity), **await burst(pool, args.requests, rate)})
    return rows


async def heterogeneous(args: argparse.Namespace) -> list[dict[str, Any]]:
    base = args.service_ms / 1000
    services = [base * 3] + [base] * 3  # one upstream three times slower (older GPU, longer prompts)
    capacity = sum(args.slots / s for s in services)
    rows = []
    for label, cls in (("least-outstanding", EnginePool), ("random", RandomPool)):
        random.seed(args.seed)
        pool = make_pool(cls, services, args.slots, args.seed)
        rows.append({"routing": label, "arrival_rps": round(0.8 * capacity),
                     **await burst(pool, args.requests, 0.8 * capacity, args.seed)})
    return rows


async def router_cost(n: int) -> dict[str, Any]:
    """Requests/s through the pool when upstreams answer instantly: the router's own cost."""
    pool = make_pool(EnginePool, [0.0] * 8, 10**6, 0)
    t0 = time.perf_counter()
    for _ in range(n):
        await pool.chat({"messages": []})
    sequential = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(n):
        pool.pick()
    pick_us = (time.perf_counter() - t0) / n * 1e6
    return {"requests": n, "sequential_rps": round(sequential), "pick_us_8_members": round(pick_us, 2),
            "per_request_us": round(1e6 / sequential, 1)}


def table(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(out)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    return {"params": {"requests": args.requests, "slots": args.slots, "service_ms": args.service_ms},
            "scaling": await scaling(args), "open_loop": await scaling(args, args.rate),
            "heterogeneous": await heterogeneous(args),
            "router_cost": await router_cost(args.cost_requests)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000, help="concurrent requests per burst (max 20000)")
    ap.add_argument("--slots", type=int, default=16, help="parallel sequences per upstream")
    ap.add_argument("--service-ms", type=float, default=50.0, help="median service time of one request")
    ap.add_argument("--upstreams", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--rate", type=float, default=600.0, help="arrivals/s of the open-loop scaling run")
    ap.add_argument("--cost-requests", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.requests = min(args.requests, 20000)
    args.upstreams = [min(k, 64) for k in args.upstreams]
    res = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(res, indent=2))
        return
    p = res["params"]
    print(f"## Router simulation: {p['requests']} concurrent requests, {p['slots']} slots per upstream, "
          f"{p['service_ms']} ms median service time\n")
    print("All at once (a burst):\n")
    print(table(res["scaling"]) + "\n")
    print(f"Poisson arrivals at {args.rate:.0f} requests/s:\n")
    print(table(res["open_loop"]) + "\n")
    print("One upstream 3x slower than the other three, Poisson arrivals at 80% of total capacity:\n")
    print(table(res["heterogeneous"]) + "\n")
    c = res["router_cost"]
    print(f"Router cost with instant upstreams: {c['sequential_rps']} requests/s sequential "
          f"({c['per_request_us']} µs per request through the pool), pick() {c['pick_us_8_members']} µs "
          "over 8 members.")


if __name__ == "__main__":
    main()
