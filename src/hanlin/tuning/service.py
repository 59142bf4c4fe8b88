"""Fine-tuning jobs: validate data, queue a durable ``fine_tune`` job, train, export, register ``ft:NAME``.

Jobs are rows of the shared JobRunner (kind ``fine_tune``, resumable): a restarted server re-queues a running
job and the trainer continues from its last checkpoint in ``$HANLIN_HOME/tuning/<job id>/``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hanlin.engine.manager import EngineManager, check_scope
from hanlin.errors import BadRequest, Conflict, NotFound
from hanlin.jobs import JobContext, JobRunner, job_events_table, jobs_table
from hanlin.models.registry import ModelRegistry, ModelSpec
from hanlin.platform.files import ID_RE as FILE_ID_RE
from hanlin.platform.files import FileStore
from hanlin.principal import Principal
from hanlin.store.db import Store, loads
from hanlin.tuning import data

KIND = "fine_tune"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
STATUS = {"queued": "queued", "running": "running", "succeeded": "succeeded", "failed": "failed",
          "cancelled": "cancelled"}
HYPER_DEFAULTS: dict[str, Any] = {"n_epochs": 2, "rank": 8, "learning_rate": 3e-4, "batch_size": 4, "layers": 8,
                                  "max_steps": 0}
_one_at_a_time = asyncio.Lock()  # training saturates the CPU: run fine-tuning jobs one after another


def missing_extra() -> str | None:
    for mod in ("torch", "peft", "transformers", "gguf"):
        if importlib.util.find_spec(mod) is None:
            return mod
    return None


def _hyper(given: dict[str, Any] | None) -> dict[str, Any]:
    h = dict(HYPER_DEFAULTS)
    for k, v in (given or {}).items():
        if v in (None, "auto"):
            continue
        if k not in HYPER_DEFAULTS:
            raise BadRequest(f"Unknown hyperparameter '{k}'; known: {', '.join(HYPER_DEFAULTS)}",
                             param="hyperparameters")
        h[k] = _hyper_number(k, v)
    limits = {"n_epochs": (1, 50), "rank": (1, 256), "batch_size": (1, 64), "layers": (0, 512),
              "max_steps": (0, 1_000_000)}
    for k, (lo, hi) in limits.items():
        if not lo <= h[k] <= hi:
            raise BadRequest(f"hyperparameters.{k} must be between {lo} and {hi}", param=f"hyperparameters.{k}")
    if not 0 < h["learning_rate"] <= 0.1:
        raise BadRequest("hyperparameters.learning_rate must be in (0, 0.1]", param="hyperparameters.learning_rate")
    return h


def _hyper_number(key: str, value: Any) -> float | int:
    """A hyperparameter as a number: "abc", [1], true, 2.5 epochs or NaN are a 400 naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(f"hyperparameters.{key} must be a number, not {type(value).__name__}",
                         param=f"hyperparameters.{key}")
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"hyperparameters.{key} must be a number, not {value!r}",
                         param=f"hyperparameters.{key}") from None
    if not math.isfinite(number):
        raise BadRequest(f"hyperparameters.{key} must be finite", param=f"hyperparameters.{key}")
    if key == "learning_rate":
        return number
    if number != int(number):
        raise BadRequest(f"hyperparameters.{key} must be a whole number", param=f"hyperparameters.{key}")
    return int(number)


class TuningService:
    def __init__(self, root: Path, registry: ModelRegistry, engines: EngineManager, store: Store,
                 jobs: JobRunner, files: FileStore | None = None) -> None:
        self.root, self.registry, self.engines, self.store, self.jobs = root, registry, engines, store, jobs
        self.files = files
        self.n_threads = engines.settings.n_threads

    # --- create --------------------------------------------------------------------------------------------
    def _base_gguf(self, model: str | None, principal: Principal) -> tuple[str, str]:
        spec = self.registry.resolve(model or self.engines.settings.model, principal)  # others' models unnamed
        if spec.kind not in ("embedded", "local"):
            raise BadRequest(f"'{spec.name}' is a {spec.kind} model; fine-tune a local GGUF base model "
                             "(embedded or added with `hanlin models add`)", param="model")
        spec, path = self.engines.local_model(model, principal=principal)  # scope-checked like every engine
        return spec.name, str(path)

    def _data_text(self, tenant_id: str, body: dict[str, Any], param: str) -> tuple[str, str] | None:
        """The JSONL text and its display name, from the tenant's uploaded file (``file-…`` from POST /v1/files)
        or inline (``training_data``). A file reference is an id looked up among the tenant's own files, never a
        path: another tenant's id and a missing one answer the same 404, and nothing else is looked up."""
        label = param.replace("file", "data")
        text, file_id = body.get(label), body.get(param)
        if text is not None:
            return str(text), label
        if not file_id:
            return None
        files = self.files
        if files is None or not FILE_ID_RE.fullmatch(str(file_id)):
            raise BadRequest(f"{param} must be the id of a file uploaded with POST /v1/files (purpose "
                             f"'fine-tune'), such as 'file-…'; or send the JSONL text as '{label}'", param=param)
        content, name = files.read_text(tenant_id, str(file_id), param=param)
        return content, name

    @staticmethod
    def _stage(job_dir: Path, name: str, given: tuple[str, str] | None, param: str) -> data.Dataset | None:
        if given is None:
            return None
        dest = job_dir / name
        dest.write_text(given[0], encoding="utf-8")
        return data.validate(dest, param=param, label=given[1])

    def create(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        """Validate everything (file ids, data line by line, base model, name) before the job is queued."""
        check_scope(principal, body.get("model") or self.engines.settings.model)  # a scoped key trains only its models
        tenant_id = principal.tenant_id
        hyper = _hyper(body.get("hyperparameters"))  # cheap checks first
        train_text = self._data_text(tenant_id, body, "training_file")
        if train_text is None:
            raise BadRequest("Give 'training_file' (a file id from POST /v1/files, purpose 'fine-tune') or "
                             "'training_data' (the JSONL text)", param="training_file")
        val_text = self._data_text(tenant_id, body, "validation_file")
        missing = missing_extra()
        if missing:
            raise BadRequest(f"Fine-tuning needs '{missing}': install the extra with "
                             "`pip install 'hanlin[tune]'` (torch==2.13.0 CPU, peft, transformers, gguf)")
        base, gguf_path = self._base_gguf(body.get("model") or None, principal)
        from hanlin.tuning.export import check_supported, read_architecture

        check_supported(read_architecture(gguf_path)[0])
        name = body.get("suffix") or body.get("name")
        if name is not None and not NAME_RE.fullmatch(str(name)):
            raise BadRequest("name/suffix must be 1-64 characters of letters, digits, '.', '_' or '-'",
                             param="suffix")
        taken = self.registry.all().get(f"ft:{name}") if name else None
        if taken is not None and taken.visible_to(tenant_id, principal.is_admin):
            raise Conflict(f"A model named 'ft:{name}' already exists; choose another name", param="suffix")
        # Taken by a model this tenant cannot see: saying so would reveal another tenant's model. The job goes
        # ahead and its model gets a unique name when it is registered (``register_model``).
        staging = self.root / f".staging-{uuid.uuid4().hex}"
        staging.mkdir(parents=True, exist_ok=True)
        try:
            train = self._stage(staging, "train.jsonl", train_text, "training_file")
            val = self._stage(staging, "val.jsonl", val_text, "validation_file")
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        assert train is not None
        payload = {"model": base, "base_gguf": gguf_path, "name": name, "hyperparameters": hyper,
                   "training_file": body.get("training_file") if body.get("training_data") is None else "inline",
                   "validation_file": (body.get("validation_file") if body.get("validation_data") is None
                                       else "inline"),
                   "n_train": len(train.examples), "n_val": len(val.examples) if val else 0,
                   "seed": int(body.get("seed") or 0)}
        job = self.jobs.submit(KIND, principal, payload)
        job_dir = self.root / job["id"]
        staging.rename(job_dir)
        return self.get(job["id"], tenant_id)

    # --- read ----------------------------------------------------------------------------------------------
    def _row(self, job_id: str, tenant_id: str | None) -> Any:
        q = sa.select(jobs_table).where(jobs_table.c.id == job_id, jobs_table.c.kind == KIND)
        if tenant_id is not None:
            q = q.where(jobs_table.c.tenant_id == tenant_id)
        with self.store.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"No fine-tuning job with id '{job_id}'", param="fine_tuning_job_id")
        return row

    def get(self, job_id: str, tenant_id: str | None) -> dict[str, Any]:
        return to_openai(self._row(job_id, tenant_id))

    def list(self, tenant_id: str | None, limit: int = 20) -> dict[str, Any]:
        q = (sa.select(jobs_table).where(jobs_table.c.kind == KIND)
             .order_by(jobs_table.c.created_at.desc()).limit(limit + 1))
        if tenant_id is not None:
            q = q.where(jobs_table.c.tenant_id == tenant_id)
        with self.store.connect() as conn:
            rows = list(conn.execute(q))
        return {"object": "list", "data": [to_openai(r) for r in rows[:limit]], "has_more": len(rows) > limit}

    def events(self, job_id: str, tenant_id: str | None, after: str | None = None, limit: int = 20,
               order: str = "desc") -> dict[str, Any]:
        self._row(job_id, tenant_id)
        t = job_events_table
        q = sa.select(t).where(t.c.job_id == job_id)
        cursor = _event_num(after)
        if order == "asc":
            q = q.where(t.c.id > cursor).order_by(t.c.id) if cursor else q.order_by(t.c.id)
        else:
            q = (q.where(t.c.id < cursor) if cursor else q).order_by(t.c.id.desc())
        with self.store.connect() as conn:
            rows = list(conn.execute(q.limit(limit + 1)))
        return {"object": "list", "data": [event_to_openai(r) for r in rows[:limit]], "has_more": len(rows) > limit}

    def cancel(self, job_id: str, tenant_id: str | None) -> dict[str, Any]:
        self._row(job_id, tenant_id)
        self.jobs.cancel(job_id, tenant_id)
        return self.get(job_id, tenant_id)

    # --- the job -------------------------------------------------------------------------------------------
    async def run(self, ctx: JobContext) -> dict[str, Any]:
        from hanlin.tuning.runner import run_job

        if _one_at_a_time.locked():
            ctx.progress(0.0, "waiting for another fine-tuning job to finish")
        async with _one_at_a_time:
            return await run_job(self, ctx)

    def register_model(self, job_id: str, payload: dict[str, Any], adapter: Path, tenant_id: str) -> str:
        """Register ``ft:NAME``, owned by the job's tenant: other tenants neither list nor use it unless an
        admin shares it (``hanlin models share``)."""
        name = f"ft:{payload.get('name') or payload['model'] + '-' + job_id[4:12]}"
        if name in self.registry.all():  # another tenant's model, or one registered while this job trained:
            name = f"{name}-{job_id[4:12]}"  # never replace it (``fine_tuned_model`` says which name was used)
        spec = ModelSpec(name=name, kind="finetuned", path=payload["base_gguf"], lora_path=str(adapter),
                         description=f"LoRA of {payload['model']} (fine-tuning job {job_id})",
                         extra={"base": payload["model"], "job_id": job_id}, owner=tenant_id)
        self.registry.add(spec)
        return name


def _event_num(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(str(cursor).removeprefix("ftevent-"))
    except ValueError:
        raise BadRequest(f"Bad event cursor '{cursor}': use an event id such as ftevent-12",
                         param="after") from None


def event_to_openai(r: Any) -> dict[str, Any]:
    d = loads(r.data) or {}
    return {"object": "fine_tuning.job.event", "id": f"ftevent-{r.id}", "created_at": int(r.created_at),
            "level": "warn" if r.level == "warning" else r.level, "message": r.message,
            "type": "metrics" if "loss" in d or "val_loss" in d else "message", "data": d or None}


def to_openai(r: Any) -> dict[str, Any]:
    """A job row in the shape of OpenAI's ``fine_tuning.job`` (plus Hanlin's progress fields)."""
    payload = loads(r.input) or {}
    result = loads(r.result) or {}
    hyper = payload.get("hyperparameters") or {}
    error = {"code": "job_failed", "message": r.error, "param": None} if r.error else None
    return {
        "object": "fine_tuning.job", "id": r.id, "model": payload.get("model"),
        "created_at": int(r.created_at), "finished_at": int(r.finished_at) if r.finished_at else None,
        "fine_tuned_model": result.get("fine_tuned_model"), "organization_id": r.tenant_id,
        "result_files": [], "status": STATUS.get(r.state, r.state),
        "training_file": payload.get("training_file"), "validation_file": payload.get("validation_file"),
        "hyperparameters": {"n_epochs": hyper.get("n_epochs"), "batch_size": hyper.get("batch_size"),
                            "learning_rate_multiplier": hyper.get("learning_rate"),
                            "rank": hyper.get("rank"), "layers": hyper.get("layers")},
        "trained_tokens": result.get("trained_tokens"), "error": error, "seed": payload.get("seed", 0),
        "estimated_finish": int(r.updated_at + r.eta_s) if r.eta_s and r.state == "running" else None,
        "integrations": [], "progress": round(r.progress, 4), "stage": r.stage,
        "metrics": result.get("metrics"),
    }

