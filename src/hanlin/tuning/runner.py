"""The body of a ``fine_tune`` job: train in a worker thread, export the adapter, register ``ft:NAME``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hanlin.jobs import JobContext
from hanlin.tuning import data, export, train

if TYPE_CHECKING:
    from hanlin.tuning.service import TuningService

EVENT_EVERY_S = 10.0  # step events are rate-limited so a long job does not write thousands of rows


def make_reporter(ctx: JobContext, total_hint: int) -> Any:
    last = {"event": 0.0}

    def report(ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "step":
            step, total = int(ev["step"]), int(ev["total_steps"])
            stage = f"step {step}/{total} · loss {ev['loss']:.3f} · {ev['s_per_step']:.1f} s/step"
            now = time.time()
            if now - last["event"] >= EVENT_EVERY_S or step == total:
                last["event"] = now
                ctx.event(f"Step {step}/{total}: training loss={ev['loss']:.4f}",
                          {k: ev[k] for k in ("step", "total_steps", "loss", "epoch", "s_per_step", "eta_s")})
            # 5% for loading, 90% for training, 5% for export
            ctx.progress(0.05 + 0.9 * step / max(1, total), stage)  # raises JobCancelled when asked to stop
        elif kind == "val":
            ctx.event(f"Step {ev['step']}: validation loss={ev['val_loss']:.4f}",
                      {"step": ev["step"], "val_loss": ev["val_loss"]})
        else:
            ctx.event(str(ev.get("message", kind)), {k: v for k, v in ev.items() if k not in ("type", "message")})
            ctx.progress(0.02, str(ev.get("message", "")))

    return report


async def run_job(svc: TuningService, ctx: JobContext) -> dict[str, Any]:
    payload = ctx.input
    job_dir = svc.root / ctx.job_id
    hyper = payload["hyperparameters"]
    train_ds = data.validate(job_dir / "train.jsonl")
    val_path = job_dir / "val.jsonl"
    val_ds = data.validate(val_path, param="validation_file") if val_path.exists() else None
    cfg = train.TuneConfig(
        base_gguf=payload["base_gguf"], out_dir=str(job_dir), epochs=hyper["n_epochs"], rank=hyper["rank"],
        alpha=2.0 * hyper["rank"], lr=hyper["learning_rate"], batch_size=hyper["batch_size"],
        layers=hyper["layers"], threads=svc.n_threads, seed=int(payload.get("seed", 0)),
        max_steps=int(hyper.get("max_steps", 0)))
    ctx.event("Validated data", {"train_examples": len(train_ds.examples),
                                 "val_examples": len(val_ds.examples) if val_ds else 0})
    ctx.progress(0.01, "loading base model")
    trainer = train.Trainer(cfg, train_ds, val_ds, make_reporter(ctx, 0))
    res = await asyncio.to_thread(trainer.run)
    ctx.progress(0.96, "exporting the adapter to GGUF")
    arch, n_blocks = export.read_architecture(cfg.base_gguf)
    adapter = job_dir / "adapter.gguf"
    n = await asyncio.to_thread(export.write_adapter_gguf, res["lora"], adapter, arch=arch, n_blocks=n_blocks,
                                alpha=cfg.alpha, name=str(payload.get("name") or ctx.job_id))
    model = svc.register_model(ctx.job_id, payload, adapter, ctx.tenant_id)
    Path(job_dir / "checkpoint.pt").unlink(missing_ok=True)
    metrics = {"train_loss": res["history"][-1]["loss"] if res["history"] else None,
               "first_train_loss": res["history"][0]["loss"] if res["history"] else None,
               "val_loss": res["val"][-1]["val_loss"] if res["val"] else None,
               "val_loss_before": res["val"][0]["val_loss"] if res["val"] else None,
               "steps": res["steps"], "s_per_step": res["s_per_step"], "train_s": res["train_s"],
               "resumed_from_step": res["resumed_from_step"]}
    ctx.event(f"New fine-tuned model created: {model}", {"fine_tuned_model": model, "adapted_weights": n,
                                                          "adapter_bytes": adapter.stat().st_size})
    return {"fine_tuned_model": model, "adapter": str(adapter), "trained_tokens": res["trained_tokens"],
            "metrics": metrics, "val_history": res["val"]}
