"""Durable background jobs (minutes, evals, fine-tuning...): stored in the database, claimed atomically.

A job is a row; a handler registered for its ``kind`` does the work and reports progress. After a restart,
jobs left ``running`` by this node are re-queued when their handler is resumable, otherwise marked failed with
a reason. Claiming is a conditional UPDATE, so with several API nodes on one database each job runs once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hanlin.errors import HanlinError, NotFound
from hanlin.principal import Principal
from hanlin.store.db import Store, dumps, loads, metadata, now

log = logging.getLogger(__name__)

jobs_table = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),  # queued|running|succeeded|failed|cancelled
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("stage", sa.String(200), nullable=False, default=""),
    sa.Column("eta_s", sa.Float, nullable=True),
    sa.Column("input", sa.Text, nullable=True),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("node", sa.String(120), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
)

job_events_table = sa.Table(
    "job_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(40), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("level", sa.String(16), nullable=False, default="info"),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=True),
)

TERMINAL = ("succeeded", "failed", "cancelled")


class JobCancelled(Exception):
    pass


@dataclass
class JobContext:
    """Handed to a job handler: report progress, log events, check for cancellation."""

    job_id: str
    tenant_id: str
    input: dict[str, Any]
    runner: JobRunner
    started: float

    def progress(self, fraction: float, stage: str = "") -> None:
        fraction = max(0.0, min(1.0, fraction))
        elapsed = time.time() - self.started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0.01 else None
        self.runner.update(self.job_id, progress=fraction, stage=stage, eta_s=eta)
        if self.runner.is_cancel_requested(self.job_id):
            raise JobCancelled()

    def event(self, message: str, data: dict[str, Any] | None = None, level: str = "info") -> None:
        self.runner.add_event(self.job_id, message, data, level)

    @property
    def principal(self) -> Principal:
        """Who submitted the job (its key's scopes apply to the engines the job uses)."""
        stored = self.input.get(PRINCIPAL_KEY)
        return Principal.from_dict(stored, self.tenant_id) if isinstance(stored, dict) else \
            Principal(tenant_id=self.tenant_id)


Handler = Callable[[JobContext], Awaitable[dict[str, Any]]]
# Runs around every job: ``await around(kind, ctx, call)`` must return ``await call(ctx)`` (e.g. metering counts
# the tokens its engines use). Registered in order; the first is the outermost.
JobAround = Callable[[str, JobContext, Handler], Awaitable[dict[str, Any]]]
PRINCIPAL_KEY = "principal"  # where submit() keeps the submitter in the job's input


@dataclass
class HandlerSpec:
    fn: Handler
    resumable: bool


def job_to_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "object": "job", "kind": row.kind, "state": row.state, "progress": round(row.progress, 4),
        "stage": row.stage, "eta_s": None if row.eta_s is None else round(row.eta_s, 1),
        "result": loads(row.result), "error": row.error, "attempts": row.attempts,
        "created_at": row.created_at, "updated_at": row.updated_at, "finished_at": row.finished_at,
    }


class JobRunner:
    def __init__(self, store: Store, *, concurrency: int = 2, node: str | None = None) -> None:
        self.store = store
        self.around: list[JobAround] = []
        self.node = node or f"{socket.gethostname()}:{os.getpid()}"
        self.handlers: dict[str, HandlerSpec] = {}
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None

    def register(self, kind: str, fn: Handler, *, resumable: bool = False) -> None:
        self.handlers[kind] = HandlerSpec(fn, resumable)

    # --- rows ----------------------------------------------------------------------------------------------
    def submit(self, kind: str, owner: Principal | str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue a job for ``owner``: a Principal (its key's scopes then apply while the job runs) or, for work
        no key started, a tenant id."""
        job_id = f"job-{uuid.uuid4().hex[:20]}"
        tenant_id = owner.tenant_id if isinstance(owner, Principal) else owner
        if isinstance(owner, Principal):
            payload = {**payload, PRINCIPAL_KEY: owner.to_dict()}
        t = now()
        with self.store.begin() as conn:
            conn.execute(jobs_table.insert().values(
                id=job_id, tenant_id=tenant_id, kind=kind, state="queued", progress=0.0, stage="queued",
                input=dumps(payload), attempts=0, cancel_requested=False, created_at=t, updated_at=t))
        self.add_event(job_id, "created")
        if self._wake:
            self._wake.set()
        return self.get(job_id, tenant_id)

    def get(self, job_id: str, tenant_id: str | None = None) -> dict[str, Any]:
        q = sa.select(jobs_table).where(jobs_table.c.id == job_id)
        if tenant_id is not None:
            q = q.where(jobs_table.c.tenant_id == tenant_id)
        with self.store.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"No job with id '{job_id}'", param="id")
        return job_to_dict(row)

    def list_jobs(self, tenant_id: str | None, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = sa.select(jobs_table).order_by(jobs_table.c.created_at.desc()).limit(limit)
        if tenant_id is not None:
            q = q.where(jobs_table.c.tenant_id == tenant_id)
        if kind:
            q = q.where(jobs_table.c.kind == kind)
        with self.store.connect() as conn:
            return [job_to_dict(r) for r in conn.execute(q)]

    def input_of(self, job_id: str) -> dict[str, Any]:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(jobs_table.c.input).where(jobs_table.c.id == job_id)).first()
        return loads(row[0]) if row else {}

    def update(self, job_id: str, **values: Any) -> None:
        values["updated_at"] = now()
        with self.store.begin() as conn:
            conn.execute(jobs_table.update().where(jobs_table.c.id == job_id).values(**values))

    def add_event(self, job_id: str, message: str, data: dict[str, Any] | None = None, level: str = "info") -> None:
        with self.store.begin() as conn:
            conn.execute(job_events_table.insert().values(job_id=job_id, created_at=now(), level=level,
                                                          message=message, data=dumps(data) if data else None))

    def events(self, job_id: str, after: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        q = (sa.select(job_events_table).where(job_events_table.c.job_id == job_id, job_events_table.c.id > after)
             .order_by(job_events_table.c.id).limit(limit))
        with self.store.connect() as conn:
            return [{"id": r.id, "object": "job.event", "created_at": r.created_at, "level": r.level,
                     "message": r.message, "data": loads(r.data)} for r in conn.execute(q)]

    def cancel(self, job_id: str, tenant_id: str | None) -> dict[str, Any]:
        job = self.get(job_id, tenant_id)
        if job["state"] in TERMINAL:
            return job
        with self.store.begin() as conn:
            conn.execute(jobs_table.update().where(jobs_table.c.id == job_id)
                         .values(cancel_requested=True, updated_at=now()))
            conn.execute(jobs_table.update().where(jobs_table.c.id == job_id, jobs_table.c.state == "queued")
                         .values(state="cancelled", finished_at=now(), stage="cancelled"))
        return self.get(job_id, tenant_id)

    def is_cancel_requested(self, job_id: str) -> bool:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(jobs_table.c.cancel_requested).where(jobs_table.c.id == job_id)).first()
        return bool(row and row[0])

    def _claim(self, job_id: str) -> bool:
        with self.store.begin() as conn:
            res = conn.execute(jobs_table.update()
                               .where(jobs_table.c.id == job_id, jobs_table.c.state == "queued")
                               .values(state="running", node=self.node, started_at=now(), updated_at=now(),
                                       attempts=jobs_table.c.attempts + 1))
            return res.rowcount == 1

    # --- lifecycle -----------------------------------------------------------------------------------------
    def recover(self) -> None:
        """Jobs a dead process left running: re-queue resumable kinds, fail the others with a reason."""
        with self.store.begin() as conn:
            rows = conn.execute(sa.select(jobs_table.c.id, jobs_table.c.kind, jobs_table.c.node)
                                .where(jobs_table.c.state == "running")).all()
            for r in rows:
                if r.node and r.node != self.node and not r.node.startswith(socket.gethostname() + ":"):
                    continue  # another machine's job; its own node recovers it
                spec = self.handlers.get(r.kind)
                if spec and spec.resumable:
                    conn.execute(jobs_table.update().where(jobs_table.c.id == r.id)
                                 .values(state="queued", stage="resuming after restart", updated_at=now()))
                else:
                    conn.execute(jobs_table.update().where(jobs_table.c.id == r.id).values(
                        state="failed", error="interrupted by a server restart; submit it again",
                        finished_at=now(), updated_at=now()))

    async def start(self) -> None:
        self.recover()
        self._wake = asyncio.Event()
        self._loop_task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await self._dispatch_queued()
            except Exception:  # keep the loop alive; the next tick retries
                log.exception("job dispatch failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            except TimeoutError:
                pass

    async def _dispatch_queued(self) -> None:
        kinds = list(self.handlers)
        if not kinds:
            return
        with self.store.connect() as conn:
            ids = [r[0] for r in conn.execute(
                sa.select(jobs_table.c.id).where(jobs_table.c.state == "queued", jobs_table.c.kind.in_(kinds))
                .order_by(jobs_table.c.created_at).limit(20))]
        for job_id in ids:
            if self._sem.locked():
                return
            if self._claim(job_id):
                await self._sem.acquire()
                task = asyncio.create_task(self._run(job_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _run(self, job_id: str) -> None:
        try:
            with self.store.connect() as conn:
                row = conn.execute(sa.select(jobs_table).where(jobs_table.c.id == job_id)).one()
            ctx = JobContext(job_id, row.tenant_id, loads(row.input) or {}, self, time.time())
            self.add_event(job_id, "started", {"node": self.node})
            try:
                result = await self._call(row.kind, ctx)
            except JobCancelled:
                self.update(job_id, state="cancelled", stage="cancelled", finished_at=now())
                self.add_event(job_id, "cancelled")
                return
            except HanlinError as e:
                self._fail(job_id, e.message)
                return
            except Exception as e:
                log.exception("job %s failed", job_id)
                self._fail(job_id, f"{type(e).__name__}: {e}")
                return
            self.update(job_id, state="succeeded", progress=1.0, stage="done", eta_s=0.0, result=dumps(result),
                        finished_at=now())
            self.add_event(job_id, "succeeded")
        finally:
            self._sem.release()

    async def _call(self, kind: str, ctx: JobContext) -> dict[str, Any]:
        call: Handler = self.handlers[kind].fn
        for around in reversed(self.around):
            call = _wrapped(around, kind, call)
        return await call(ctx)

    def _fail(self, job_id: str, message: str) -> None:
        self.update(job_id, state="failed", error=message, finished_at=now())
        self.add_event(job_id, "failed", {"error": message}, level="error")

    async def wait(self, job_id: str, timeout: float = 600.0) -> dict[str, Any]:
        """Poll until terminal (used by tests and the CLI when talking to a local runner)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.get(job_id)
            if job["state"] in TERMINAL:
                return job
            await asyncio.sleep(0.2)
        raise TimeoutError(f"job {job_id} still running after {timeout}s")


def _wrapped(around: JobAround, kind: str, inner: Handler) -> Handler:
    async def call(ctx: JobContext) -> dict[str, Any]:
        return await around(kind, ctx, inner)
    return call
