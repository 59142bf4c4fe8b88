"""Knowledge-base benchmark: ingest 1,000 real Chinese documents, then hybrid-search latency p50/p95.

Documents: the 848 CMRC 2018 dev paragraphs plus RGB zh passages (to 1,000), each added as its own .txt through
KnowledgeService.add_document (extract → normalise → chunk → jieba → e5 → atomic files → one DB commit).
Queries: CMRC questions (their gold paragraph is in the base: hit@5 is reported alongside latency).

    HANLIN_THREADS=1 python bench/kb_ingest_query.py [--docs 1000] [--queries 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from hanlin.config import Settings
from hanlin.evals.base import default_data_dir
from hanlin.evals.rag import load_cmrc
from hanlin.knowledge.service import local_service


def corpus(data: Path, n: int) -> list[tuple[str, str]]:
    paras, _ = load_cmrc(data / "cmrc2018")
    docs = [(f"{pid}.txt", text) for pid, text in paras]
    seen = {t for _, t in docs}
    for line in (data / "rgb_zh" / "zh_refine_dev.jsonl").read_text(encoding="utf-8").splitlines():
        for p in json.loads(line)["positive"]:
            if len(docs) >= n:
                break
            if p not in seen and len(p) > 50:
                seen.add(p)
                docs.append((f"rgb{len(docs)}.txt", p))
    return docs[:n]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data = default_data_dir()
    docs = corpus(data, args.docs)
    _, questions = load_cmrc(data / "cmrc2018")
    with tempfile.TemporaryDirectory() as home:
        svc = local_service(Settings(home=Path(home)))
        svc.create_kb("default", "bench")
        chunks = 0
        t0 = time.perf_counter()
        for i, (name, text) in enumerate(docs):
            chunks += svc.add_document("default", "bench", name, text.encode())["chunks"]
            if (i + 1) % 100 == 0 and not args.json:
                print(f"  {i + 1} docs, {chunks} chunks, {time.perf_counter() - t0:.1f}s", flush=True)
        ingest_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        svc.search("default", "bench", "预热", k=5)  # first query after ingestion: loads the index, builds BM25
        cold_ms = (time.perf_counter() - t1) * 1000
        lat: list[float] = []
        hits = 0
        qs = [q for q in questions if f"{q['para']}.txt" in {d for d, _ in docs}][:args.queries]
        for q in qs:
            t = time.perf_counter()
            res = svc.search("default", "bench", q["question"], k=5)
            lat.append((time.perf_counter() - t) * 1000)
            hits += any(h.row.document == f"{q['para']}.txt" for h in res)
        t2 = time.perf_counter()
        svc.add_document("default", "bench", "extra.txt", "增量添加的一篇文档，用来测量增量写入的耗时。".encode())
        add_one_ms = (time.perf_counter() - t2) * 1000
        t3 = time.perf_counter()
        svc.search("default", "bench", "增量添加", k=5)
        reload_ms = (time.perf_counter() - t3) * 1000
    out = {"documents": len(docs), "chunks": chunks, "ingest_s": round(ingest_s, 1),
           "docs_per_s": round(len(docs) / ingest_s, 2), "chunks_per_s": round(chunks / ingest_s, 2),
           "queries": len(lat), "query_p50_ms": round(statistics.median(lat), 1),
           "query_p95_ms": round(pct(lat, 0.95), 1), "query_max_ms": round(max(lat), 1),
           "first_query_after_ingest_ms": round(cold_ms, 1), "hit@5": round(hits / len(lat), 4),
           "add_one_doc_to_1000_ms": round(add_one_ms, 1), "first_query_after_add_ms": round(reload_ms, 1),
           "threads": Settings().n_threads}
    print(json.dumps(out, ensure_ascii=False, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
