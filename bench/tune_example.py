"""Benchmark: LoRA-tune the 0.5B model on the bundled support-reply example; time per step and in total.

    HANLIN_MODELS_DIR=/root/.cache/hanlin/models python bench/tune_example.py --threads 2 --out /tmp/tune-bench

Writes ``OUT/adapter.gguf`` (load it with ``hanlin models add``-style registration or ``bench/tune_eval.py``)
and ``OUT/bench.json`` with load time, seconds per step, total time, train and validation losses.
Target (issue 10): ~200 examples in under 30 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from hanlin.tuning import data, export, train

EXAMPLES = Path(__file__).resolve().parents[1] / "src/hanlin/tuning/examples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=str(Path(os.environ.get("HANLIN_MODELS_DIR", Path.home() / ".cache/hanlin/models"))
                                          / "qwen2.5-coder-0.5b-instruct.gguf"))
    ap.add_argument("--out", default="/tmp/tune-bench")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training examples")
    ap.add_argument("--val-limit", type=int, default=12, help="validation loss on the first N held-out examples")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=4)
    args = ap.parse_args()

    tr = data.validate(EXAMPLES / "support_replies.train.jsonl")
    va = data.validate(EXAMPLES / "support_replies.heldout.jsonl")
    if args.limit:
        tr.examples = tr.examples[: args.limit]
    if args.val_limit:
        va.examples = va.examples[: args.val_limit]
    cfg = train.TuneConfig(base_gguf=args.base, out_dir=args.out, epochs=args.epochs, max_steps=args.max_steps,
                           threads=args.threads, rank=args.rank, layers=args.layers, lr=args.lr,
                           alpha=2.0 * args.rank, batch_size=args.batch_size,
                           checkpoint_every=5)
    log = Path(args.out) / "events.jsonl"
    Path(args.out).mkdir(parents=True, exist_ok=True)

    def report(ev: dict[str, object]) -> None:
        ev = {"t": round(time.time() - t0, 1), **ev}
        with log.open("a", encoding="utf-8") as f:
            f.write(json.dumps(ev, ensure_ascii=False) + "\n")
        print(json.dumps(ev, ensure_ascii=False), flush=True)

    t0 = time.time()
    res = train.Trainer(cfg, tr, va, report).run()
    arch, n_blocks = export.read_architecture(args.base)
    t_exp = time.time()
    n = export.write_adapter_gguf(res["lora"], Path(args.out) / "adapter.gguf", arch=arch, n_blocks=n_blocks,
                                  alpha=cfg.alpha, name="support-replies")
    summary = {
        "config": cfg.to_dict(), "train_examples": len(tr.examples), "steps": res["steps"],
        "resumed_from_step": res["resumed_from_step"], "s_per_step": res["s_per_step"],
        "train_s": res["train_s"], "export_s": round(time.time() - t_exp, 1),
        "total_s": round(time.time() - t0, 1), "adapted_weights": n,
        "first_loss": res["history"][0]["loss"] if res["history"] else None,
        "last_loss": res["history"][-1]["loss"] if res["history"] else None, "val": res["val"],
        "load_avg_1m_at_end": os.getloadavg()[0],
    }
    (Path(args.out) / "bench.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2))
    print(json.dumps(summary, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
