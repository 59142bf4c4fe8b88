"""Run an eval suite against any engine Hanlin serves: items in parallel through the engine's slots, each
finished item cached (JSONL) so an interrupted run continues, results saved for reports.

Files under ``$HANLIN_HOME/evals/``:
  ``<suite>-<model>-<hash>.jsonl``   per-item cache (hash of the options that change answers: shots, split...)
  ``results/<suite>-<model>-<hash>.json``   the last summary of that configuration (what reports combine)
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hanlin.engine.base import Engine
from hanlin.errors import BadRequest
from hanlin.evals.base import EvalContext, EvalResult, ItemCache, default_data_dir
from hanlin.evals.suites import get_suite

ProgressFn = Callable[[int, int, str], None]

# Options that only choose how many or which items run do not change an item's answer: they stay out of the hash
# so a run with --limit 400 reuses the items a run with --limit 200 cached.
_UNHASHED = {"limit", "concurrency"}
# Bumped when what a cached item holds changes (2: multiple-choice items carry letter log-probabilities; 3: the
# in-process multiple-choice prompt became a plain-text completion).
CACHE_VERSION = 3


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def options_hash(suite: str, model: str, shots: int, options: dict[str, Any]) -> str:
    key = {"suite": suite, "model": model, "shots": shots, "v": CACHE_VERSION,
           "options": {k: v for k, v in sorted(options.items()) if k not in _UNHASHED}}
    return hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]


def evals_dir(home: Path) -> Path:
    return home / "evals"


def run_key(suite: str, model: str, shots: int, options: dict[str, Any]) -> str:
    return f"{safe_name(suite)}-{safe_name(model)}-{options_hash(suite, model, shots, options)}"


def default_concurrency(engine: Engine) -> int:
    """As many items in flight as the engine has parallel slots (4 for engines that do not say)."""
    slots = int(getattr(engine.info, "slots", 0) or 0)
    return slots if engine.info.kind == "llamacpp" and slots > 0 else max(slots, 4)


@dataclass
class RunSpec:
    suite: str
    model: str
    limit: int | None = None
    shots: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    data_dir: Path | None = None
    concurrency: int | None = None


def result_record(spec: RunSpec, result: EvalResult, key: str, elapsed_s: float, new_items: int) -> dict[str, Any]:
    rec = result.to_dict()
    rec.update({"key": key, "shots": spec.shots, "limit": spec.limit,
                "options": {k: v for k, v in spec.options.items()}, "finished_at": time.time(),
                "elapsed_s": round(elapsed_s, 2), "new_items": new_items})
    return rec


async def run_eval(engine: Engine, spec: RunSpec, home: Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Run one suite; returns the result record (also saved under ``evals/results/``)."""
    suite = get_suite(spec.suite)
    if "split" in spec.options:
        suite.split(spec.options)
    if spec.limit is not None and spec.limit < 1:
        raise BadRequest("--limit must be at least 1", param="limit")
    if spec.shots < 0 or spec.shots > 10:
        raise BadRequest("--shots must be between 0 and 10", param="shots")
    data_dir = default_data_dir(spec.data_dir)
    folder = data_dir / suite.data
    if suite.data and not folder.exists():  # data "" = the suite ships its own (e.g. minutes-gold)
        raise BadRequest(f"Eval data for '{spec.suite}' not found at {folder}. Pass --data PATH (the folder that "
                         f"holds {suite.data}/) or set HANLIN_EVAL_DATA.", param="data")
    # an in-process llama.cpp engine is scored with a grammar, others with a JSON schema: keep their caches apart
    via = {} if engine.info.kind == "llamacpp" else {"_engine": engine.info.kind}
    key = run_key(spec.suite, spec.model, spec.shots, {**spec.options, **via})
    base = evals_dir(home)
    cache = ItemCache(base / f"{key}.jsonl")
    cached_before = len(cache.items)
    ctx = EvalContext(engine=engine, model=spec.model, data_dir=data_dir, limit=spec.limit, shots=spec.shots,
                      concurrency=spec.concurrency or default_concurrency(engine), options=dict(spec.options),
                      cache=cache, progress=progress or (lambda d, t, s: None))
    started = time.time()
    result = await suite.fn(ctx)
    rec = result_record(spec, result, key, time.time() - started, len(cache.items) - cached_before)
    rec["cache"] = str(cache.path)
    rec["engine"] = engine.info.kind
    save_result(base, rec)
    return rec


def save_result(base: Path, rec: dict[str, Any]) -> Path:
    out = base / "results" / f"{rec['key']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(out)
    return out


def load_results(home: Path) -> list[dict[str, Any]]:
    """Every saved result record, oldest first."""
    folder = evals_dir(home) / "results"
    recs: list[dict[str, Any]] = []
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            recs.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(recs, key=lambda r: r.get("finished_at", 0))
