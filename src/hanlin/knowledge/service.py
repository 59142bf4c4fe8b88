"""KnowledgeService: the one entry point the CLI, the REST routes and the chat hook use. Every call is scoped by
tenant: a base is found by (tenant, name), so one tenant can never reach another's chunks."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa

from hanlin.engine.base import Engine
from hanlin.errors import BadRequest, Conflict, HanlinError, NotFound, UnprocessableInput
from hanlin.knowledge.answer import (
    NOT_FOUND,
    SECOND_LOOK_PROMPT,
    SYSTEM_PROMPT,
    check_chat_response,
    citation,
    grounded_answer,
    missing_entities,
    passages_text,
)
from hanlin.knowledge.chunk import Chunk, chunk_blocks
from hanlin.knowledge.extract import Block, extract
from hanlin.knowledge.fold import fold
from hanlin.knowledge.index import IndexCache, KBIndex, tokenize
from hanlin.knowledge.retrieve import Hit, hybrid_search, rerank_hits
from hanlin.knowledge.tables import kb_bases, kb_chunks, kb_documents
from hanlin.limits import DEFAULT_LIMITS, InputLimits, check_size, mb_bytes
from hanlin.ocr.inputs import OcrLimits, is_ocr_type
from hanlin.offload import run_cpu
from hanlin.store.db import Store, dumps, loads, now

Progress = Callable[[int, int, str], None]  # (done, total, stage)


class AuditSink(Protocol):
    """Where changes to knowledge bases are recorded (the platform's audit log)."""

    def record(self, actor: str, action: str, *, tenant_id: str | None = None, target: str | None = None,
               detail: dict[str, Any] | None = None) -> None: ...
EMBED_BATCH = 32  # chunks per embedder call (the embedder itself takes the model in turns, interactive first)
INGEST_GROUP_CHUNKS = 64  # add_documents embeds this many chunks of several documents together


@dataclass
class PreparedDocument:
    doc_id: str
    name: str
    data: bytes
    n_blocks: int
    source: str
    chunks: list[Chunk]
    tokens: list[list[str]]

    @property
    def texts(self) -> list[str]:
        return [c.index_text for c in self.chunks]


class SyncEmbedder(Protocol):
    def embed_sync(self, texts: list[str], *, is_query: bool = False) -> Any: ...


def _check_name(name: str, what: str = "knowledge base") -> str:
    name = (name or "").strip()
    if not name or len(name) > 100 or any(c in name for c in "/\\") or name in (".", "..") \
            or any(c < " " or c == "\x7f" for c in name):
        raise BadRequest(f"Invalid {what} name {name!r}: use 1–100 characters without '/', '\\' "
                         "or control characters", param="name")
    return name


class KnowledgeService:
    def __init__(self, store: Store, root: Path, embedder: SyncEmbedder, max_upload_mb: int = 50,
                 limits: InputLimits = DEFAULT_LIMITS, ocr_limits: OcrLimits | None = None,
                 ocr_threads: int = 0, audit: AuditSink | None = None) -> None:
        self.store, self.root, self.embedder = store, root, embedder
        self.max_upload_bytes = mb_bytes(max_upload_mb)
        self.limits = limits
        self.ocr_limits, self.ocr_threads = ocr_limits or OcrLimits(), ocr_threads
        self.cache = IndexCache()
        self.audit = audit

    def _audit(self, actor: str | None, action: str, tenant: str, target: str | None) -> None:
        if self.audit is not None and actor is not None:
            self.audit.record(actor, action, tenant_id=tenant, target=target)

    # ---- knowledge bases
    def create_kb(self, tenant: str, name: str, description: str = "", *, actor: str | None = None) -> dict[str, Any]:
        name = _check_name(name)
        row = {"id": uuid.uuid4().hex[:16], "tenant_id": tenant, "name": name, "description": description,
               "generation": 0, "created_at": now()}
        with self.store.begin() as conn:
            if conn.execute(sa.select(kb_bases.c.id).where(kb_bases.c.tenant_id == tenant,
                                                           kb_bases.c.name == name)).first():
                raise Conflict(f"Knowledge base '{name}' already exists", param="name")
            conn.execute(kb_bases.insert().values(**row))
        self._audit(actor, "kb.create", tenant, None)
        return self._kb_info(row)

    def get_kb(self, tenant: str, name: str) -> dict[str, Any]:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(kb_bases).where(kb_bases.c.tenant_id == tenant, kb_bases.c.name == name)
                               ).mappings().first()
        if row is None:
            raise NotFound(f"Knowledge base '{name}' does not exist (create it with `hanlin kb create {name}` or "
                           "POST /v1/knowledge-bases)", param="knowledge_base")
        return dict(row)

    def _kb_info(self, kb: dict[str, Any]) -> dict[str, Any]:
        with self.store.connect() as conn:
            n_docs = conn.execute(sa.select(sa.func.count()).select_from(kb_documents)
                                  .where(kb_documents.c.kb_id == kb["id"])).scalar() or 0
            n_chunks = conn.execute(sa.select(sa.func.count()).select_from(kb_chunks)
                                    .where(kb_chunks.c.kb_id == kb["id"])).scalar() or 0
        return {"id": kb["id"], "name": kb["name"], "description": kb.get("description") or "",
                "documents": int(n_docs), "chunks": int(n_chunks), "created_at": kb["created_at"]}

    def list_kbs(self, tenant: str) -> list[dict[str, Any]]:
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(kb_bases).where(kb_bases.c.tenant_id == tenant)
                                .order_by(kb_bases.c.name)).mappings().all()
        return [self._kb_info(dict(r)) for r in rows]

    def delete_kb(self, tenant: str, name: str, *, actor: str | None = None) -> dict[str, Any]:
        kb = self.get_kb(tenant, name)
        info = self._kb_info(kb)
        with self.store.begin() as conn:
            conn.execute(kb_chunks.delete().where(kb_chunks.c.kb_id == kb["id"]))
            conn.execute(kb_documents.delete().where(kb_documents.c.kb_id == kb["id"]))
            conn.execute(kb_bases.delete().where(kb_bases.c.id == kb["id"]))
        KBIndex(self.store, self.root, kb).destroy()
        self.cache.drop(kb["id"])
        self._audit(actor, "kb.delete", tenant, name)
        return {**info, "deleted": True}

    def index(self, tenant: str, name: str) -> KBIndex:
        return KBIndex(self.store, self.root, self.get_kb(tenant, name))

    # ---- documents
    def embed(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        out: list[np.ndarray] = []
        for i in range(0, len(texts), EMBED_BATCH):
            out.append(np.asarray(self.embedder.embed_sync(texts[i:i + EMBED_BATCH]), dtype=np.float32))
            if progress:
                progress(min(i + EMBED_BATCH, len(texts)), len(texts), "embedding")
        return np.vstack(out) if out else np.zeros((0, 384), np.float32)

    def add_document(self, tenant: str, kb_name: str, filename: str, data: bytes,
                     meta: dict[str, Any] | None = None, progress: Progress | None = None, *,
                     actor: str | None = None) -> dict[str, Any]:
        """Extract, normalize, chunk, embed and commit one document (replacing a same-named one; the same bytes and
        metadata again are a no-op)."""
        index = self.index(tenant, kb_name)  # a missing base is reported before the file is read
        same = self._unchanged(index.kb, filename, data, meta)
        if same is not None:
            return same
        added = self._index_document(tenant, kb_name, self.prepare_document(filename, data, progress), meta, progress)
        self._audit(actor, "kb.document.add", tenant, f"{kb_name}/documents")
        return added

    async def aadd_document(self, tenant: str, kb_name: str, filename: str, data: bytes,
                            meta: dict[str, Any] | None = None, timeout: float | None = None, *,
                            actor: str | None = None) -> dict[str, Any]:
        """:meth:`add_document` off the event loop; reading the file (the part a hostile file controls) has a
        deadline (HANLIN_WORK_TIMEOUT_S), embedding and committing run in a worker thread."""
        index = await asyncio.to_thread(self.index, tenant, kb_name)
        same = await asyncio.to_thread(self._unchanged, index.kb, filename, data, meta)
        if same is not None:
            return same
        if timeout is not None and is_ocr_type(filename) and data:  # a scan may be OCR'd: the deadline is per page
            from hanlin.ocr.inputs import count_pages

            pages = await asyncio.to_thread(count_pages, data, filename, self.ocr_limits)
            timeout *= max(1, min(pages, self.ocr_limits.max_pages))
        prepared = await run_cpu(self.prepare_document, filename, data, timeout=timeout,
                                 what=f"reading '{PurePath(filename).name}'")
        added = await asyncio.to_thread(self._index_document, tenant, kb_name, prepared, meta, None)
        self._audit(actor, "kb.document.add", tenant, f"{kb_name}/documents")
        return added

    def add_documents(self, tenant: str, kb_name: str, files: Iterable[tuple[str, Callable[[], bytes]]],
                      meta: dict[str, Any] | None = None, progress: Progress | None = None) -> list[dict[str, Any]]:
        """Many documents, embedded together in batches (e5 streams its weights once per batch: many small
        documents go several times faster than one by one). Each document still commits on its own, so a failure
        loses nothing before it. Returns one entry per file, in order: the document, or ``{"name", "error"}``."""
        index = self.index(tenant, kb_name)
        todo = list(files)
        results: list[dict[str, Any] | None] = [None] * len(todo)
        group: list[tuple[int, PreparedDocument]] = []
        done = 0

        def flush() -> None:
            nonlocal done
            if not group:
                return
            vectors = self.embed([t for _, doc in group for t in doc.texts])
            at = 0
            for i, doc in group:
                results[i] = self._commit(index, doc, vectors[at:at + len(doc.chunks)], meta)
                at += len(doc.chunks)
            done += len(group)
            group.clear()
            if progress:
                progress(done, len(todo), "embedding")
        for i, (name, read) in enumerate(todo):
            try:
                data = read()
                same = self._unchanged(index.kb, name, data, meta)
                if same is None:
                    group.append((i, self.prepare_document(name, data)))
                else:
                    results[i] = same
                    done += 1
            except HanlinError as e:
                results[i] = {"name": name, "error": e.message}
                done += 1
            if sum(len(doc.chunks) for _, doc in group) >= INGEST_GROUP_CHUNKS:
                flush()
        flush()
        return [r for r in results if r is not None]

    def _unchanged(self, kb: dict[str, Any], filename: str, data: bytes,
                   meta: dict[str, Any] | None) -> dict[str, Any] | None:
        """The stored document when one of this name has the same bytes and metadata (adding it again: a no-op)."""
        name = _check_name(PurePath(filename).name, "document")
        with self.store.connect() as conn:
            row = conn.execute(sa.select(kb_documents).where(kb_documents.c.kb_id == kb["id"],
                                                             kb_documents.c.name == name)).mappings().first()
        if row is None or row["sha256"] != hashlib.sha256(data).hexdigest() \
                or (loads(row["meta"]) or {}).get("user", {}) != (meta or {}):
            return None
        return {"id": row["id"], "name": name, "chunks": row["n_chunks"], "size": row["size"], "replaced": False,
                "unchanged": True, "metadata": meta or {}}

    def prepare_document(self, filename: str, data: bytes, progress: Progress | None = None) -> PreparedDocument:
        """Extract and chunk (CPU only, bounded by :class:`~hanlin.limits.InputLimits`)."""
        name = _check_name(PurePath(filename).name, "document")
        check_size(len(data), self.max_upload_bytes, f"'{name}'", "HANLIN_MAX_UPLOAD_MB")
        if progress:
            progress(0, 1, "extracting")
        blocks = [_folded(b) for b in self.extract_blocks(data, name, progress)]
        doc_id = uuid.uuid4().hex[:16]
        source, chunks = chunk_blocks(doc_id, blocks)
        if not chunks:
            raise UnprocessableInput(f"No text to index in '{name}'", param="file")
        tokens = [tokenize(c.index_text) for c in chunks]
        return PreparedDocument(doc_id, name, data, len(blocks), source, chunks, tokens)

    def _index_document(self, tenant: str, kb_name: str, doc: PreparedDocument, meta: dict[str, Any] | None,
                        progress: Progress | None) -> dict[str, Any]:
        index = self.index(tenant, kb_name)
        return self._commit(index, doc, self.embed(doc.texts, progress), meta)

    def _commit(self, index: KBIndex, doc: PreparedDocument, vectors: np.ndarray,
                meta: dict[str, Any] | None) -> dict[str, Any]:
        index.write_files(doc.doc_id, doc.name, doc.data, doc.source, vectors)
        row = {"id": doc.doc_id, "kb_id": index.kb["id"], "name": doc.name, "size": len(doc.data),
               "sha256": hashlib.sha256(doc.data).hexdigest(), "n_chunks": len(doc.chunks),
               "meta": dumps({"user": meta or {}, "blocks": doc.n_blocks, "source_chars": len(doc.source)}),
               "created_at": time.time()}
        replaced = index.commit_document(row, doc.chunks, doc.tokens)
        if replaced:
            index.remove_files(replaced)
        return {"id": doc.doc_id, "name": doc.name, "chunks": len(doc.chunks), "size": len(doc.data),
                "replaced": bool(replaced), "unchanged": False, "metadata": meta or {}}

    def extract_blocks(self, data: bytes, name: str, progress: Progress | None = None) -> list[Any]:
        """Blocks of a file; scans, images and PDF pages without a usable text layer are OCR'd."""
        if is_ocr_type(name):
            from hanlin.ocr.kb import extract_with_ocr

            return extract_with_ocr(data, name, lambda d, n: extract(d, n, self.limits), self.ocr_limits,
                                    self.ocr_threads, progress)
        return extract(data, name, self.limits)

    def list_documents(self, tenant: str, kb_name: str) -> list[dict[str, Any]]:
        kb = self.get_kb(tenant, kb_name)
        with self.store.connect() as conn:
            rows = conn.execute(sa.select(kb_documents).where(kb_documents.c.kb_id == kb["id"])
                                .order_by(kb_documents.c.created_at)).mappings().all()
        return [{"id": r["id"], "name": r["name"], "size": r["size"], "chunks": r["n_chunks"],
                 "sha256": r["sha256"], "metadata": (loads(r["meta"]) or {}).get("user", {}),
                 "created_at": r["created_at"]} for r in rows]

    def _find_doc(self, kb: dict[str, Any], doc: str) -> dict[str, Any]:
        with self.store.connect() as conn:
            row = conn.execute(sa.select(kb_documents).where(
                kb_documents.c.kb_id == kb["id"], sa.or_(kb_documents.c.id == doc, kb_documents.c.name == doc))
            ).mappings().first()
        if row is None:
            raise NotFound(f"Document '{doc}' is not in knowledge base '{kb['name']}'", param="document")
        return dict(row)

    def remove_document(self, tenant: str, kb_name: str, doc: str, *, actor: str | None = None) -> dict[str, Any]:
        index = self.index(tenant, kb_name)
        row = self._find_doc(index.kb, doc)
        index.delete_document(row["id"])
        self._audit(actor, "kb.document.delete", tenant, f"{kb_name}/documents/{doc}")
        return {"id": row["id"], "name": row["name"], "deleted": True}

    def source_text(self, tenant: str, kb_name: str, doc: str) -> str:
        index = self.index(tenant, kb_name)
        return index.source(self._find_doc(index.kb, doc)["id"]).read_text(encoding="utf-8")

    # ---- retrieval and answers
    def search(self, tenant: str, kb_name: str, query: str, k: int = 5,
               filters: dict[str, Any] | None = None) -> list[Hit]:
        if not query.strip():
            raise BadRequest("The query is empty", param="query")
        if not 1 <= k <= 100:
            raise BadRequest("k must be between 1 and 100", param="k")
        query = fold(query)
        loaded = self.cache.get(self.index(tenant, kb_name))
        q_vec = np.asarray(self.embedder.embed_sync([query], is_query=True), dtype=np.float32)[0]
        return hybrid_search(loaded, query, q_vec, k, filters)

    async def asearch(self, tenant: str, kb_name: str, query: str, k: int = 5, filters: dict[str, Any] | None = None,
                      rerank_engine: Engine | None = None) -> list[Hit]:
        """Search off the event loop; with ``rerank_engine``, 2k candidates are reranked by the LLM to k."""
        pool = min(100, k * 2) if rerank_engine else k
        hits = await asyncio.to_thread(self.search, tenant, kb_name, query, pool, filters)
        if rerank_engine and hits:
            hits = (await rerank_hits(rerank_engine, query, hits))[:k]
        return hits

    async def ask(self, tenant: str, kb_name: str, question: str, engine: Engine, k: int = 5,
                  filters: dict[str, Any] | None = None, rerank: bool = False,
                  max_tokens: int = 384) -> dict[str, Any]:
        question = fold(question)
        hits = await self.asearch(tenant, kb_name, question, k, filters, engine if rerank else None)
        result = await grounded_answer(engine, question, hits, max_tokens=max_tokens)
        result["retrieved"] = [h.to_dict() for h in hits]
        return result


def _folded(b: Block) -> Block:
    """Look-alike code points (Kangxi radicals from Chromium-printed PDFs, full-width digits) folded; same length."""
    b.text = fold(b.text)
    b.rows = [[fold(c) for c in row] for row in b.rows]
    return b


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return ""


def make_chat_hook(svc: KnowledgeService) -> Callable[..., Any]:
    async def ground(principal: Any, req: Any, prepared: Any) -> Any:
        if not prepared.knowledge_base:
            return prepared
        question = fold(_last_user_text(prepared.body["messages"]))
        if not question.strip():
            raise BadRequest("A knowledge-base chat needs a user message with the question", param="messages")
        hits = await svc.asearch(principal.tenant_id, prepared.knowledge_base, question, 5)
        relevant = [h for h in hits if h.relevant]
        if relevant and missing_entities(question, relevant):
            relevant = []  # the question names what no passage contains: nothing relevant (answer.py)
        if relevant:
            # a streamed answer cannot take the second look that a complete one gets (answer.py): on a strong
            # match it is asked without the refusal option instead (small models over-refuse)
            strong = bool(req.stream) and any(h.strong for h in relevant)
            system = f"{SECOND_LOOK_PROMPT if strong else SYSTEM_PROMPT}\n\n资料：\n{passages_text(relevant)}"
        else:
            system = f"知识库中没有与问题相关的资料。请只回答：{NOT_FOUND}"
        others = [m for m in prepared.body["messages"] if m.get("role") != "system"]
        prepared.body["messages"] = [{"role": "system", "content": system}, *others]
        # streamed answers get every passage the model saw (they cannot be checked); complete answers are checked
        prepared.extra["citations"] = [citation(h, i) for i, h in enumerate(relevant, 1)]

        async def finish(engine: Engine, resp: dict[str, Any]) -> None:
            await check_chat_response(engine, question, resp, relevant)
        prepared.finish = finish
        return prepared
    return ground


def local_service(settings: Any) -> KnowledgeService:
    """A service on the local HANLIN_HOME (the CLI), without the API server."""
    from hanlin.engine.embedder import E5Embedder

    settings.ensure_dirs()
    store = Store(settings.db_url)
    store.init()
    embedder = E5Embedder(settings.embedding_model, settings.n_threads)
    return KnowledgeService(store, settings.home / "knowledge", embedder, settings.max_upload_mb,
                            InputLimits.from_settings(settings), OcrLimits.from_settings(settings),
                            settings.n_threads)
