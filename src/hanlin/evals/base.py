"""Eval suites: a registry the `hanlin eval` command and `POST /v1/evals` run.

Each app module adds its suites with ``@suite(...)``; :mod:`hanlin.evals.suites` imports every such module.
A suite gets an ``EvalContext`` and returns an ``EvalResult``. Per-item results go through ``ctx.cache`` (see
:func:`map_items`) so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hanlin.config import Settings
from hanlin.engine.base import Engine
from hanlin.errors import BadRequest, NotFound

T = TypeVar("T")


class ItemCache:
    """Append-only JSONL of finished items, keyed by item id (resume after an interrupt)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.items: dict[str, Any] = {}
        if path and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a kill
                self.items[rec["id"]] = rec["result"]

    def get(self, item_id: str) -> Any:
        return self.items.get(item_id)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.items

    def put(self, item_id: str, result: Any) -> None:
        self.items[item_id] = result
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"id": item_id, "result": result}, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())


@dataclass
class EvalContext:
    engine: Engine
    model: str
    data_dir: Path
    limit: int | None = None
    shots: int = 0
    concurrency: int = 4
    options: dict[str, Any] = field(default_factory=dict)  # suite-specific (e.g. split, task)
    cache: ItemCache = field(default_factory=lambda: ItemCache(None))
    progress: Callable[[int, int, str], None] = lambda done, total, stage: None


@dataclass
class EvalResult:
    suite: str
    model: str
    n: int
    metrics: dict[str, float]  # e.g. {"accuracy": 0.41} or {"rouge_l": 0.21}
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)  # measured on the same items
    published: dict[str, dict[str, float]] = field(default_factory=dict)  # from the data READMEs, not measured
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)  # per subject/task: metric -> value
    details: list[dict[str, Any]] = field(default_factory=list)
    notes: str = ""
    items: dict[str, bool] = field(default_factory=dict)  # item id -> correct, as scored (reports compare models)

    def to_dict(self) -> dict[str, Any]:
        out = {"suite": self.suite, "model": self.model, "n": self.n, "metrics": self.metrics,
               "baselines": self.baselines, "published": self.published, "breakdown": self.breakdown,
               "notes": self.notes, "details": self.details[:50]}
        if self.items:
            out["items"] = self.items
        return out


SuiteFn = Callable[[EvalContext], Awaitable[EvalResult]]


@dataclass
class SuiteSpec:
    name: str
    fn: SuiteFn
    description: str
    data: str  # folder under the eval data dir ("" = the suite ships its own data)
    splits: tuple[str, ...] = ()  # the values option "split" may take, the default first; () = no split option

    def split(self, options: dict[str, Any]) -> str:
        """The chosen split, checked against the suite's enum before any path is built from it."""
        given = options.get("split")
        if given is None and self.splits:
            return self.splits[0]
        if given not in self.splits:
            allowed = f"one of {', '.join(self.splits)}" if self.splits else "not an option of this suite"
            raise BadRequest(f"split for '{self.name}' is {allowed} (got {str(given)[:80]!r})", param="split")
        return str(given)


SUITES: dict[str, SuiteSpec] = {}


def suite(name: str, description: str, data: str, splits: tuple[str, ...] = ()) -> Callable[[SuiteFn], SuiteFn]:
    def deco(fn: SuiteFn) -> SuiteFn:
        SUITES[name] = SuiteSpec(name, fn, description, data, splits)
        return fn
    return deco


def get_suite(name: str) -> SuiteSpec:
    """A registered suite (``hanlin.evals.suites`` registers them all)."""
    suites = SUITES
    if name not in suites:
        raise NotFound(f"Unknown eval suite '{name}'. Suites: {', '.join(sorted(suites))}", param="suite")
    return suites[name]


def default_data_dir(explicit: Path | None = None) -> Path:
    """--data, else HANLIN_EVAL_DATA (Settings.eval_data), else ../shared/eval beside the working directory or the
    repo."""
    if explicit:
        return explicit
    configured = Settings().eval_data
    if configured:
        return configured
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *Path.cwd().parents, *here.parents):
        cand = base / "shared" / "eval"
        if cand.is_dir():
            return cand
    return Path.cwd().parent / "shared" / "eval"


async def map_items(ctx: EvalContext, items: Sequence[T], key: Callable[[T], str],
                    fn: Callable[[T], Awaitable[Any]], stage: str = "") -> list[Any]:
    """Score ``items`` with at most ``ctx.concurrency`` in flight; cached items are not asked again.

    Returns the per-item results in the order of ``items``. Each result is written to the cache as soon as it
    is known, so killing the process loses at most the items in flight.
    """
    total = len(items)
    results: list[Any] = [None] * total
    todo: list[int] = []
    for i, item in enumerate(items):
        k = key(item)
        if k in ctx.cache:
            results[i] = ctx.cache.get(k)
        else:
            todo.append(i)
    done = total - len(todo)
    ctx.progress(done, total, stage)
    sem = asyncio.Semaphore(max(1, ctx.concurrency))

    async def one(i: int) -> None:
        nonlocal done
        async with sem:
            res = await fn(items[i])
        ctx.cache.put(key(items[i]), res)
        results[i] = res
        done += 1
        ctx.progress(done, total, stage)

    tasks = [asyncio.ensure_future(one(i)) for i in todo]
    try:
        await asyncio.gather(*tasks)
    except BaseException:  # a failed item or a cancelled job: stop the rest instead of leaving them running
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return results
