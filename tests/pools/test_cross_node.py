"""Several API nodes on one PostgreSQL and one Redis (HANLIN_TEST_PG_URL / HANLIN_TEST_REDIS_URL, set by
scripts/test.sh; skipped when absent): quotas hold across nodes, each job runs on exactly one node."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cluster import Stub, start_node, start_stub, write_config
from tests.support.server import RunningServer, stop_server

PG_URL = os.environ.get("HANLIN_TEST_PG_URL", "")
REDIS_URL = os.environ.get("HANLIN_TEST_REDIS_URL", "")
need_redis = pytest.mark.skipif(not REDIS_URL, reason="HANLIN_TEST_REDIS_URL not set (scripts/test.sh sets it)")
need_pg = pytest.mark.skipif(not PG_URL, reason="HANLIN_TEST_PG_URL not set (scripts/test.sh sets it)")
ADMIN = "admin-" + uuid.uuid4().hex


def _run_together(script: str, args: list[list[str]], tmp: Path, timeout: float = 120) -> list[str]:
    """Start one process per args list, release them at once through a go-file, return their stdout."""
    go = tmp / f"go-{uuid.uuid4().hex[:6]}"
    prog = tmp / "prog.py"
    prog.write_text(textwrap.dedent(script), encoding="utf-8")
    procs = [subprocess.Popen([sys.executable, str(prog), str(go), *a], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for a in args]
    time.sleep(0.5)
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err[-2000:]
        outs.append(out.strip())
    return outs


WAIT_GO = """
import os, sys, time
deadline = time.time() + 60
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.01)
"""


@need_redis
def test_redis_limiter_admits_exactly_the_limit_across_processes(tmp_path: Path) -> None:
    key = f"test:{uuid.uuid4().hex}"
    script = WAIT_GO + """
from concurrent.futures import ThreadPoolExecutor
from hanlin.platform.limits_redis import RedisRateLimiter
lim = RedisRateLimiter(sys.argv[2])
with ThreadPoolExecutor(8) as ex:
    results = list(ex.map(lambda _: lim.hit(sys.argv[3], 10, 60.0), range(25)))
print(sum(1 for ok, _ in results if ok), max(w for _, w in results))
"""
    outs = _run_together(script, [[REDIS_URL, key], [REDIS_URL, key]], tmp_path)
    admitted = [int(o.split()[0]) for o in outs]
    assert sum(admitted) == 10
    assert all(0 < float(o.split()[1]) <= 60 for o in outs)  # refused hits say when to retry


@need_redis
def test_redis_limiter_matches_the_local_limiter_semantics() -> None:
    from hanlin.platform.limits import UNLIMITED
    from hanlin.platform.limits_redis import RedisRateLimiter

    lim, key = RedisRateLimiter(REDIS_URL), f"test:{uuid.uuid4().hex}"
    assert lim.hit(key, 100, 60, 0) == (True, 0.0)  # a zero-cost check adds nothing
    assert lim.used(key, 60) == 0
    assert lim.hit(key, UNLIMITED, 60, 150)[0]  # charging after the fact always records
    ok, wait = lim.hit(key, 100, 60, 0)
    assert not ok and 0 < wait <= 60 and lim.used(key, 60) == 150
    short = f"test:{uuid.uuid4().hex}"
    assert lim.hit(short, 1, 0.3)[0] and not lim.hit(short, 1, 0.3)[0]
    time.sleep(0.35)
    assert lim.hit(short, 1, 0.3)[0]  # the window slid past the first hit


def test_redis_down_refuses_with_a_clear_503() -> None:
    from hanlin.errors import Unavailable
    from hanlin.platform.limits_redis import RedisRateLimiter

    with socket_closed_port() as port:
        lim = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", timeout_s=0.5, retry_s=30)
        with pytest.raises(Unavailable, match="HANLIN_REDIS_URL"):
            lim.hit("k", 10, 60)
        calls = []
        lim._script = lambda **kw: calls.append(kw)  # type: ignore[method-assign]
        with pytest.raises(Unavailable) as ei:  # refused at once while it is known to be down: no new attempt
            lim.hit("k", 10, 60)
        assert not calls and ei.value.status == 503 and ei.value.code == "rate_limiter_unavailable"


class socket_closed_port:  # noqa: N801 - a context manager used like a function
    """A loopback port nothing listens on."""

    def __enter__(self) -> int:
        from tests.support.server import free_port

        return free_port()

    def __exit__(self, *exc: object) -> None:
        return None


# --- two Hanlin nodes ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, RunningServer, Stub]]:
    if not (PG_URL and REDIS_URL):
        pytest.skip("needs HANLIN_TEST_PG_URL and HANLIN_TEST_REDIS_URL (scripts/test.sh sets both)")
    stub = start_stub("u", tokens=3)
    root = tmp_path_factory.mktemp("cluster")
    cfg = write_config(root / "hanlin.yaml", {"chat": [{"kind": "vllm", "base_url": stub.base_url}]})
    env = {"HANLIN_DATABASE_URL": PG_URL, "HANLIN_REDIS_URL": REDIS_URL, "HANLIN_AUTH": "on",
           "HANLIN_ADMIN_KEY": ADMIN}
    n1 = start_node(root / "n1", cfg, "chat", **env)  # the first node creates the tables
    n2 = start_node(root / "n2", cfg, "chat", **env)
    yield n1, n2, stub
    for n in (n1, n2):
        stop_server(n)
    stub.kill()


def test_two_nodes_admit_exactly_the_rpm_limit_between_them(two_nodes: tuple[RunningServer, RunningServer, Stub]) -> None:
    n1, n2, _ = two_nodes
    tenant = f"t{uuid.uuid4().hex[:10]}"
    r = httpx.post(n1.base_url + "/admin/keys", headers={"Authorization": f"Bearer {ADMIN}"},
                   json={"tenant": tenant, "rpm": 10}, timeout=30)
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    body = {"model": "chat", "messages": [{"role": "user", "content": "你好"}], "max_tokens": 2}

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {key}"}) as c:
            return list(await asyncio.gather(*(c.post((n1, n2)[i % 2].base_url + "/chat/completions", json=body)
                                               for i in range(30))))
    responses = asyncio.run(run())
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 10 and codes.count(429) == 20, codes
    refused = [r for r in responses if r.status_code == 429]
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert all(r.json()["error"]["code"] == "requests_per_minute_exceeded" for r in refused)
    # the key is known to both nodes (one database): the other node refuses it too now
    again = httpx.post(n2.base_url + "/chat/completions", json=body, timeout=30,
                       headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 429


JOB_SCRIPT = WAIT_GO + """
import asyncio, json
from hanlin.jobs import JobRunner
from hanlin.store.db import Store

url, kind, node, n = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ran = []

async def handler(ctx):
    ran.append(ctx.job_id)
    await asyncio.sleep(0.05)
    return {"node": node}

async def main():
    store = Store(url)
    runner = JobRunner(store, concurrency=4, node=node)
    runner.register(kind, handler)
    await runner.start()
    deadline = asyncio.get_running_loop().time() + 90
    while asyncio.get_running_loop().time() < deadline:
        jobs = runner.list_jobs(None, kind=kind, limit=1000)
        if len(jobs) == n and all(j["state"] in ("succeeded", "failed") for j in jobs):
            break
        await asyncio.sleep(0.1)
    await runner.stop()
    print(json.dumps(ran))

asyncio.run(main())
"""


@need_pg
def test_each_job_runs_on_exactly_one_of_two_nodes(tmp_path: Path) -> None:
    from hanlin.jobs import JobRunner
    from hanlin.store.db import Store

    store = Store(PG_URL)
    store.init()
    kind = f"scale-{uuid.uuid4().hex[:8]}"
    submitter = JobRunner(store, node="submitter")
    ids = {submitter.submit(kind, "t", {"i": i})["id"] for i in range(40)}
    outs = _run_together(JOB_SCRIPT, [[PG_URL, kind, "node-a", "40"], [PG_URL, kind, "node-b", "40"]], tmp_path)
    ran_a, ran_b = (json.loads(o.splitlines()[-1]) for o in outs)
    assert not set(ran_a) & set(ran_b) and len(ran_a) == len(set(ran_a)) and len(ran_b) == len(set(ran_b))
    assert set(ran_a) | set(ran_b) == ids
    assert ran_a and ran_b  # both nodes took part
    jobs = submitter.list_jobs(None, kind=kind, limit=1000)
    assert all(j["state"] == "succeeded" and j["attempts"] == 1 for j in jobs)
    by_node = {j["result"]["node"] for j in jobs}
    assert by_node == {"node-a", "node-b"}
