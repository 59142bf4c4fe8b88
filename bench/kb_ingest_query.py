"""Knowledge-base benchmark: ingest 1,000 real Chinese documents, then hybrid-search latency p50/p95.

Documents (default ``--corpus rgb``): 1,000 distinct RGB zh news passages (~150–300 characters, one or two chunks
each), added as .txt files through KnowledgeService.add_documents as `hanlin kb add` does (extract → normalize →
chunk → jieba per file, e5 over batches of several files' chunks, then atomic files → one DB commit per file);
``--one-by-one`` adds them with add_document each, the path before batching, for comparison. The same files are then
added again to show that unchanged documents are a no-op. Queries: RGB questions whose positive passages are in the base (hit@5 is reported
alongside latency). ``--corpus cmrc``: CMRC 2018 dev paragraphs (longer) and their questions.

    HANLIN_THREADS=1 python bench/kb_ingest_query.py [--docs 1000] [--queries 150] [--corpus rgb|cmrc] [--json]
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


def corpus_rgb(data: Path, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, set[str]]]]:
    """RGB zh news passages as documents; each query's positive passages are its gold documents."""
    docs: dict[str, str] = {}
    queries: list[tuple[str, set[str]]] = []
    items = [json.loads(x) for x in (data / "rgb_zh" / "zh_refine_dev.jsonl").read_text(encoding="utf-8").splitlines()]
    for it in items:  # positives first, so every query whose gold is in the base can be asked
        gold = set()
        for p in it["positive"]:
            if len(docs) < n and p not in docs.values():
                docs[f"rgb{len(docs)}.txt"] = p
            gold |= {k for k, v in docs.items() if v == p}
        if gold:
            queries.append((it["query"], gold))
    for it in items:
        for p in it["negative"]:
            if len(docs) < n and p not in docs.values():
                docs[f"rgb{len(docs)}.txt"] = p
    return list(docs.items()), queries


def corpus_cmrc(data: Path, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, set[str]]]]:
    """CMRC 2018 dev paragraphs (longer: ~2 chunks each); questions with their gold paragraph."""
    paras, questions = load_cmrc(data / "cmrc2018")
    docs = [(f"{pid}.txt", text) for pid, text in paras[:n]]
    names = {d for d, _ in docs}
    return docs, [(q["question"], {f"{q['para']}.txt"}) for q in questions if f"{q['para']}.txt" in names]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=150)
    ap.add_argument("--corpus", choices=["rgb", "cmrc"], default="rgb")
    ap.add_argument("--one-by-one", action="store_true", help="add_document per file (the old path), for comparison")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data = default_data_dir()
    docs, queries = (corpus_rgb if args.corpus == "rgb" else corpus_cmrc)(data, args.docs)
    with tempfile.TemporaryDirectory() as home:
        svc = local_service(Settings(home=Path(home)))
        svc.create_kb("default", "bench")
        t0 = time.perf_counter()
        last = [0]

        def progress(done: int, total: int, stage: str) -> None:
            if not args.json and done - last[0] >= 100:
                last[0] = done
                print(f"  {done}/{total} docs, {time.perf_counter() - t0:.1f}s", flush=True)
        files = [(name, (lambda text=text: text.encode())) for name, text in docs]
        if args.one_by_one:
            added = [svc.add_document("default", "bench", name, read()) for name, read in files]
        else:  # what `hanlin kb add NAME FILE...` does: documents embedded together in batches
            added = svc.add_documents("default", "bench", files, progress=progress)
        chunks = sum(d["chunks"] for d in added)
        ingest_s = time.perf_counter() - t0
        t_again = time.perf_counter()  # the same files again: unchanged documents are a no-op
        again = svc.add_documents("default", "bench", files)
        reingest_s = time.perf_counter() - t_again
        assert all(d.get("unchanged") for d in again)
        t1 = time.perf_counter()
        svc.search("default", "bench", "预热", k=5)  # first query after ingestion: loads the index, builds BM25
        cold_ms = (time.perf_counter() - t1) * 1000
        lat: list[float] = []
        hits = 0
        for question, gold in queries[:args.queries]:
            t = time.perf_counter()
            res = svc.search("default", "bench", question, k=5)
            lat.append((time.perf_counter() - t) * 1000)
            hits += any(h.row.document in gold for h in res)
        t2 = time.perf_counter()
        svc.add_document("default", "bench", "extra.txt", "增量添加的一篇文档，用来测量增量写入的耗时。".encode())
        add_one_ms = (time.perf_counter() - t2) * 1000
        t3 = time.perf_counter()
        svc.search("default", "bench", "增量添加", k=5)
        reload_ms = (time.perf_counter() - t3) * 1000
    out = {"documents": len(docs), "chunks": chunks, "ingest_s": round(ingest_s, 1),
           "docs_per_s": round(len(docs) / ingest_s, 2), "chunks_per_s": round(chunks / ingest_s, 2),
           "reingest_unchanged_s": round(reingest_s, 2), "mode": "one by one" if args.one_by_one else "batched",
           "queries": len(lat), "query_p50_ms": round(statistics.median(lat), 1),
           "query_p95_ms": round(pct(lat, 0.95), 1), "query_max_ms": round(max(lat), 1),
           "first_query_after_ingest_ms": round(cold_ms, 1), "hit@5": round(hits / len(lat), 4),
           "add_one_more_doc_ms": round(add_one_ms, 1), "first_query_after_add_ms": round(reload_ms, 1),
           "threads": Settings().n_threads, "corpus": args.corpus}
    print(json.dumps(out, ensure_ascii=False, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
