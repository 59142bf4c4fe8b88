"""Dense retrieval quality of the e5 engines, and of a base built by one engine and queried by another (an
upgrade that switches ``HANLIN_EMBEDDING_ENGINE`` without re-indexing).

Each RGB passage (the first 600 characters; ~one chunk) and each CMRC 2018 dev paragraph is embedded by every
engine, and so is every question; the rank of the gold passage among all of them by cosine gives hit@1, hit@5 and
MRR for each (passages' engine, questions' engine) pair. Dense only: Hanlin's search also fuses BM25, which hides
small differences, so this is the stricter view.

    python bench/e5_retrieval.py [--docs 1000] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kb_ingest_query import corpus_cmrc, corpus_rgb  # noqa: E402

from hanlin.engine.e5_llamacpp import LlamaE5  # noqa: E402
from hanlin.engine.e5_onnx import OnnxE5  # noqa: E402
from hanlin.evals.base import default_data_dir  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hanlin-e5-") as tmp:
        engines: dict[str, Any] = {"llama.cpp": LlamaE5(Path(tmp), args.threads),
                                   "onnx int8": OnnxE5(Path(tmp), args.threads, "int8"),
                                   "onnx fp32": OnnxE5(Path(tmp), args.threads, "fp32")}

        def embed(m: Any, texts: list[str], is_query: bool) -> np.ndarray:
            return np.concatenate([m.encode([m.tokenizer.encode(t, is_query)[0] for t in texts[i:i + 32]])
                                   for i in range(0, len(texts), 32)])
        for corpus, load in (("rgb", corpus_rgb), ("cmrc", corpus_cmrc)):
            docs, queries = load(default_data_dir(), max(10, min(args.docs, 1000)))
            names = [n for n, _ in docs]
            passages = {k: embed(m, [t[:600] for _, t in docs], False) for k, m in engines.items()}
            questions = {k: embed(m, [q for q, _ in queries], True) for k, m in engines.items()}
            for pk in engines:
                for qk in engines:
                    scores = questions[qk] @ passages[pk].T
                    ranks = np.array([next(j for j, d in enumerate(np.argsort(-scores[i])) if names[d] in gold)
                                      for i, (_, gold) in enumerate(queries)])
                    rows.append({"corpus": corpus, "passages": pk, "questions": qk, "n": len(queries),
                                 "hit@1": round(float(np.mean(ranks < 1)), 3),
                                 "hit@5": round(float(np.mean(ranks < 5)), 3),
                                 "mrr": round(float(np.mean(1 / (ranks + 1))), 4)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("## e5 dense retrieval: passages embedded by one engine, questions by another\n")
    print("| corpus | passages by | questions by | questions | hit@1 | hit@5 | MRR |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['corpus']} | {r['passages']} | {r['questions']} | {r['n']} | {r['hit@1']} | {r['hit@5']} | "
              f"{r['mrr']} |")


if __name__ == "__main__":
    main()
