"""Hybrid retrieval: BM25 over jieba tokens + e5 cosine, fused by reciprocal rank fusion; filters; LLM rerank.

RRF ranks well but its scores say nothing about whether *anything* matched, so every hit also carries two
absolute signals — the e5 cosine and the IDF-weighted share of query words the chunk contains — and
:func:`is_relevant` compares them with thresholds (see docs/knowledge.md for how they were set).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hanlin.engine.base import Engine
from hanlin.knowledge.index import Loaded, Row, tokenize

RRF_K = 60
POOL = 50  # candidates taken from each ranker before fusion
# Relevance thresholds, calibrated by bench/kb_threshold_sweep.py on CMRC 2018 dev (best rejection of unanswerable
# questions at answerable recall >= 0.98). How they were set: docs/knowledge.md; their history: CHANGELOG.md.
DENSE_MIN = 0.885  # e5 cosine above which a chunk is on topic by itself
DENSE_WITH_WORDS = 0.835  # ...or this cosine together with
COVERAGE_MIN = 0.55  # this IDF-weighted share of the question's words found in the chunk
STRONG_COVERAGE = 0.4  # a chunk with cosine >= DENSE_MIN and this coverage is a "strong match": a refusal gets a
# second look (answer.py), whose answer code checks.
# A table row ("表头：值" pairs) meets a question at a lower cosine than prose: a table chunk that BOTH rankers put
# first is a clear match at these lower bars (calibrated on kb-gold; docs/knowledge.md).
TABLE_DENSE_MIN = 0.82
TABLE_COVERAGE_MIN = 0.2


@dataclass
class Hit:
    row: Row
    score: float  # fused RRF score (higher is better)
    dense: float  # e5 cosine
    bm25: float
    coverage: float  # IDF-weighted share of query words present
    rerank: float | None = None
    first_in_both: bool = False  # ranked first by BM25 and by the e5 cosine

    @property
    def relevant(self) -> bool:
        return is_relevant(self.dense, self.coverage) or self.clear_table_match

    @property
    def clear_table_match(self) -> bool:
        """A table chunk both rankers put first, above the (lower) table bars."""
        return (self.row.kind == "table" and self.first_in_both and self.dense >= TABLE_DENSE_MIN
                and self.coverage >= TABLE_COVERAGE_MIN)

    @property
    def strong(self) -> bool:
        """On topic by the cosine alone and holding ``STRONG_COVERAGE`` of the question's words: a refusal from the
        model is not taken at its word (answer.py)."""
        return self.dense >= DENSE_MIN and self.coverage >= STRONG_COVERAGE

    def to_dict(self) -> dict[str, Any]:
        r = self.row
        out: dict[str, Any] = {"document": r.document, "chunk_id": r.chunk_id, "text": r.text,
                               "score": round(self.score, 6), "heading": r.heading, "document_id": r.doc_id,
                               "position": r.position, "page": r.page, "span": [r.start, r.end],
                               "dense": round(self.dense, 4), "bm25": round(self.bm25, 4),
                               "coverage": round(self.coverage, 4), "relevant": self.relevant,
                               "first_in_both": self.first_in_both}
        if r.bbox:
            out["bbox"] = r.bbox
        if self.rerank is not None:
            out["rerank"] = self.rerank
        return out


def is_relevant(dense: float, coverage: float) -> bool:
    return dense >= DENSE_MIN or (dense >= DENSE_WITH_WORDS and coverage >= COVERAGE_MIN)


def coverage(q_tokens: list[str], chunk_tokens: set[str], idf: dict[str, float], n_docs: int) -> float:
    uniq = set(q_tokens)
    if not uniq:
        return 0.0
    unseen = math.log(1 + (n_docs + 0.5) / 0.5)  # a query word the base never contains weighs the most
    total = sum(idf.get(t, unseen) for t in uniq)
    found = sum(idf.get(t, unseen) for t in uniq if t in chunk_tokens)
    return found / total if total else 0.0


def _mask(loaded: Loaded, filters: dict[str, Any] | None) -> np.ndarray:
    n = len(loaded.rows)
    mask = np.ones(n, dtype=bool)
    if not filters:
        return mask
    for key, want in filters.items():
        allowed = {str(w) for w in want} if isinstance(want, list | tuple | set) else {str(want)}
        for i, r in enumerate(loaded.rows):
            if not mask[i]:
                continue
            if key == "document":
                val: Any = r.document if r.document in allowed else r.doc_id
            elif key in ("kind", "page", "heading"):
                val = getattr(r, key)
            else:
                val = r.doc_meta.get(key)
            mask[i] = str(val) in allowed
    return mask


def _rank(scores: np.ndarray, mask: np.ndarray, positive_only: bool) -> list[int]:
    s = np.where(mask, scores, -np.inf)
    order = np.argsort(-s, kind="stable")[:POOL]
    return [int(i) for i in order if np.isfinite(s[i]) and (s[i] > 0 or not positive_only)]


def hybrid_search(loaded: Loaded, query: str, q_vec: np.ndarray, k: int = 5,
                  filters: dict[str, Any] | None = None) -> list[Hit]:
    n = len(loaded.rows)
    if n == 0:
        return []
    q_tokens = tokenize(query)
    known = [t for t in q_tokens if t in loaded.vocab]
    bm25 = (np.asarray(loaded.bm25.get_scores(known), dtype=np.float32) if known and loaded.bm25 is not None
            else np.zeros(n, np.float32))
    dense = loaded.matrix @ q_vec.astype(np.float32)
    mask = _mask(loaded, filters)
    fused: dict[int, float] = {}
    rankings = (_rank(bm25, mask, True), _rank(dense, mask, False))
    for ranking in rankings:
        for rank, i in enumerate(ranking):
            fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
    best = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
    both = rankings[0][0] if rankings[0] and rankings[1] and rankings[0][0] == rankings[1][0] else -1
    return [Hit(loaded.rows[i], s, float(dense[i]), float(bm25[i]),
                coverage(q_tokens, loaded.token_sets[i], loaded.idf, n), first_in_both=i == both)
            for i, s in best]


RERANK_SCHEMA_ITEM = {"type": "integer", "minimum": 0, "maximum": 3}


async def llm_scores(engine: Engine, query: str, texts: list[str], max_chars: int = 240) -> list[float]:
    """0–3 relevance of each text to the query, judged by the LLM (grammar-constrained array, one per text)."""
    from hanlin.engine.ask import ask_json

    if not texts:
        return []
    listing = "\n".join(f"[{i + 1}] {t[:max_chars]}" for i, t in enumerate(texts))
    schema = {"type": "object", "properties": {"scores": {"type": "array", "items": RERANK_SCHEMA_ITEM,
                                                          "minItems": len(texts), "maxItems": len(texts)}},
              "required": ["scores"]}
    messages = [{"role": "system", "content": "你是检索结果评估员。对每段资料与问题的相关程度打分：3=直接包含答案，2=相关，"
                                              "1=略有关系，0=无关。按资料顺序输出 scores 数组。"},
                {"role": "user", "content": f"问题：{query}\n\n资料：\n{listing}"}]
    res = await ask_json(engine, messages, schema, name="rerank", max_tokens=16 + 4 * len(texts),
                              temperature=0.0)
    scores = [float(s) / 3.0 for s in (res.data.get("scores") or [])][:len(texts)]
    return scores + [0.0] * (len(texts) - len(scores))


async def rerank_hits(engine: Engine, query: str, hits: list[Hit]) -> list[Hit]:
    scores = await llm_scores(engine, query, [h.row.text for h in hits])
    for h, s in zip(hits, scores, strict=True):
        h.rerank = s
    return sorted(hits, key=lambda h: (-(h.rerank or 0.0), -h.score))


def embedding_scores(q_vec: np.ndarray, doc_vecs: np.ndarray, query: str, texts: list[str]) -> list[float]:
    """Rerank without an LLM: 0.7·cosine + 0.3·share of query words present (IDF over the given texts)."""
    toks = [set(tokenize(t)) for t in texts]
    n = len(texts)
    df: dict[str, int] = {}
    for s in toks:
        for t in s:
            df[t] = df.get(t, 0) + 1
    idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
    q_tokens = tokenize(query)
    cos = doc_vecs @ q_vec.astype(np.float32) if n else np.zeros(0)
    return [0.7 * float(cos[i]) + 0.3 * coverage(q_tokens, toks[i], idf, n) for i in range(n)]
