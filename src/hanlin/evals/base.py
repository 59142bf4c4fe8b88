"""Eval suites: a registry the `hanlin eval` command and `POST /v1/evals` run.

Each app module adds its suites with ``@suite(...)`` in a module listed in ``SUITE_MODULES``. A suite gets an
``EvalContext`` and returns an ``EvalResult``. Per-item results go through ``ctx.cache`` so an interrupted run
continues where it stopped.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hanlin.engine.base import Engine
from hanlin.errors import BadRequest, NotFound

SUITE_MODULES = [
    "hanlin.evals.mcq",  # ceval, cmmlu, fewclue tasks
    "hanlin.evals.minutes",  # vcsum, qmsum
    "hanlin.evals.minutes_gold",  # minutes-gold (meetings shipped with Hanlin)
    "hanlin.evals.spreadsheet",  # spreadsheetbench, nvbench
    "hanlin.evals.rag",  # rgb, cmrc
    "hanlin.evals.gold",  # kb-gold, gongwen, ads, formulas-gold (data in hanlin/evals/gold/)
]


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


def load_suites() -> dict[str, SuiteSpec]:
    for mod in SUITE_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name and mod.startswith(e.name):
                continue
            raise
    return SUITES


def get_suite(name: str) -> SuiteSpec:
    suites = load_suites()
    if name not in suites:
        raise NotFound(f"Unknown eval suite '{name}'. Suites: {', '.join(sorted(suites))}", param="suite")
    return suites[name]


def default_data_dir(explicit: Path | None = None) -> Path:
    """--data, else HANLIN_EVAL_DATA, else ../shared/eval beside the working directory or the repo."""
    if explicit:
        return explicit
    env = os.environ.get("HANLIN_EVAL_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *Path.cwd().parents, *here.parents):
        cand = base / "shared" / "eval"
        if cand.is_dir():
            return cand
    return Path.cwd().parent / "shared" / "eval"
