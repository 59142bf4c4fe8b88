"""Durable jobs: restart recovery (resumable or failed with a reason), tenant scoping."""

from __future__ import annotations

import pytest

from hanlin.errors import NotFound


def test_jobs_survive_restart(tmp_path):
    import asyncio

    from hanlin.jobs import JobRunner
    from hanlin.store.db import Store

    store = Store(f"sqlite:///{tmp_path / 'j.db'}")
    store.init()
    runner = JobRunner(store)
    job = runner.submit("slow", "t1", {"x": 1})
    runner.update(job["id"], state="running", node=runner.node)  # a process died mid-job
    fresh = JobRunner(Store(f"sqlite:///{tmp_path / 'j.db'}"))
    fresh.register("slow", lambda ctx: asyncio.sleep(0, {"ok": True}), resumable=False)  # type: ignore[arg-type]
    fresh.recover()
    got = fresh.get(job["id"], "t1")
    assert got["state"] == "failed" and "restart" in got["error"]
    with pytest.raises(NotFound):
        fresh.get(job["id"], "other-tenant")

    async def handler(ctx):  # type: ignore[no-untyped-def]
        ctx.progress(0.5, "half")
        return {"echo": ctx.input["x"]}

    async def run_resumable() -> dict:  # type: ignore[type-arg]
        r = JobRunner(Store(f"sqlite:///{tmp_path / 'j.db'}"))
        r.register("res", handler, resumable=True)
        j = r.submit("res", "t1", {"x": 7})
        r.update(j["id"], state="running", node=r.node)
        await r.start()
        try:
            return await r.wait(j["id"], timeout=30)
        finally:
            await r.stop()

    done = asyncio.run(run_resumable())
    assert done["state"] == "succeeded" and done["result"] == {"echo": 7}
