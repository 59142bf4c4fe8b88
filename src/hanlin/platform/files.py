"""The OpenAI Files API's storage: tenant-owned uploads kept under ``$HANLIN_HOME/uploads`` by server-made names.

A file is a row (id, tenant, client's filename, purpose, size) plus its bytes at ``uploads/<id>``. Clients
refer to files only by id (``file-…``); no API input names a server path. Another tenant's file and a missing
one answer the same 404, so ids are no existence oracle. Sizes are bounded per file (``HANLIN_FILES_MAX_MB``)
and per tenant (``HANLIN_FILES_TENANT_MAX_MB``, ``HANLIN_FILES_MAX_COUNT``).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import unicodedata
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import sqlalchemy as sa

from hanlin.config import Settings
from hanlin.errors import BadRequest, NotFound, PayloadTooLarge, UnprocessableInput
from hanlin.limits import mb_bytes, mb_text, too_large
from hanlin.store.db import Store, metadata, now

PURPOSES = ("fine-tune", "batch", "assistants", "user_data", "vision", "evals")
ID_RE = re.compile(r"file-[0-9a-f]{24}")
MAX_FILENAME = 255
CHUNK = 1 << 20

files_table = sa.Table(
    "files", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("filename", sa.String(MAX_FILENAME), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)


def clean_filename(name: str | None) -> str:
    """The client's name for display only (never used to build a path): last component, no control characters."""
    base = PurePosixPath(str(name or "").replace("\\", "/")).name
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if len(base) > MAX_FILENAME:
        raise BadRequest(f"The filename is {len(base)} characters; at most {MAX_FILENAME} are kept", param="file")
    return base or "upload"


def check_purpose(purpose: str | None) -> str:
    if purpose not in PURPOSES:
        raise BadRequest(f"purpose must be one of {', '.join(PURPOSES)} (got {purpose!r})", param="purpose")
    return purpose


def file_object(r: Any) -> dict[str, Any]:
    """A row (or its dict) in OpenAI's ``file`` shape."""
    d = r if isinstance(r, dict) else dict(r._mapping)
    return {"id": d["id"], "object": "file", "bytes": int(d["bytes"]), "created_at": int(d["created_at"]),
            "filename": d["filename"], "purpose": d["purpose"], "status": "processed", "status_details": None,
            "expires_at": None}


class FileStore:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.root = Path(settings.home) / "uploads"
        self.max_bytes = mb_bytes(settings.files_max_mb)
        self.tenant_max_bytes = mb_bytes(settings.files_tenant_max_mb)
        self.max_count = settings.files_max_count
        self._lock = threading.Lock()  # the per-tenant totals are checked and the row inserted in one step

    def _path(self, file_id: str) -> Path:
        if not ID_RE.fullmatch(file_id):  # ids are made here; anything else never reaches the filesystem
            raise NotFound(f"No file with id '{file_id[:80]}'", param="file_id")
        return self.root / file_id

    # --- write ---------------------------------------------------------------------------------------------
    def create(self, tenant_id: str, filename: str | None, purpose: str | None, src: BinaryIO) -> dict[str, Any]:
        """Copy an upload (any binary stream) into the store, counting bytes as they arrive; 413 past the limit."""
        purpose = check_purpose(purpose)
        name = clean_filename(filename)
        file_id = "file-" + uuid.uuid4().hex[:24]
        self.root.mkdir(parents=True, exist_ok=True)
        part = self.root / f".{file_id}.part"
        digest, size = hashlib.sha256(), 0
        try:
            with part.open("wb") as out:
                while chunk := src.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise too_large("The file", self.max_bytes, "HANLIN_FILES_MAX_MB")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise BadRequest("The uploaded file is empty", param="file")
            if purpose == "fine-tune":
                _check_utf8(part)
            row = {"id": file_id, "tenant_id": tenant_id, "filename": name, "purpose": purpose, "bytes": size,
                   "sha256": digest.hexdigest(), "created_at": now()}
            with self._lock:
                self._check_room(tenant_id, size)
                os.replace(part, self.root / file_id)
                with self.store.begin() as conn:
                    conn.execute(files_table.insert().values(**row))
        finally:
            part.unlink(missing_ok=True)
        return file_object(row)

    def _check_room(self, tenant_id: str, size: int) -> None:
        t = files_table
        with self.store.connect() as conn:
            count, total = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(t.c.bytes), 0))
                                        .where(t.c.tenant_id == tenant_id)).one()
        if count >= self.max_count:
            raise PayloadTooLarge(f"This tenant already stores {count} files, the limit (HANLIN_FILES_MAX_COUNT); "
                                  "delete some with DELETE /v1/files/{id}", param="file")
        if total + size > self.tenant_max_bytes:
            raise PayloadTooLarge(f"This tenant's files would take {mb_text(total + size)}, over the "
                                  f"{mb_text(self.tenant_max_bytes)} limit (HANLIN_FILES_TENANT_MAX_MB); "
                                  "delete some with DELETE /v1/files/{id}", param="file")

    def delete(self, tenant_id: str, file_id: str) -> dict[str, Any]:
        path = self._path(file_id)
        self._row(tenant_id, file_id)
        with self.store.begin() as conn:
            conn.execute(files_table.delete().where(files_table.c.id == file_id,
                                                    files_table.c.tenant_id == tenant_id))
        path.unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}

    # --- read ----------------------------------------------------------------------------------------------
    def _row(self, tenant_id: str, file_id: str) -> Any:
        self._path(file_id)
        with self.store.connect() as conn:
            row = conn.execute(sa.select(files_table).where(files_table.c.id == file_id,
                                                            files_table.c.tenant_id == tenant_id)).first()
        if row is None:
            raise NotFound(f"No file with id '{file_id}'", param="file_id")
        return row

    def get(self, tenant_id: str, file_id: str) -> dict[str, Any]:
        return file_object(self._row(tenant_id, file_id))

    def content_path(self, tenant_id: str, file_id: str) -> tuple[Path, str]:
        row = self._row(tenant_id, file_id)
        return self._path(file_id), str(row.filename)

    def list(self, tenant_id: str, purpose: str | None = None, limit: int = 10000, after: str | None = None,
             order: str = "desc") -> dict[str, Any]:
        t = files_table
        q = sa.select(t).where(t.c.tenant_id == tenant_id)
        if purpose:
            q = q.where(t.c.purpose == check_purpose(purpose))
        if after:
            cursor = self._row(tenant_id, after)
            newer = (t.c.created_at > cursor.created_at) | ((t.c.created_at == cursor.created_at) & (t.c.id > after))
            older = (t.c.created_at < cursor.created_at) | ((t.c.created_at == cursor.created_at) & (t.c.id < after))
            q = q.where(newer if order == "asc" else older)
        keys = (t.c.created_at, t.c.id) if order == "asc" else (t.c.created_at.desc(), t.c.id.desc())
        with self.store.connect() as conn:
            rows = list(conn.execute(q.order_by(*keys).limit(limit + 1)))
        data = [file_object(r) for r in rows[:limit]]
        return {"object": "list", "data": data, "has_more": len(rows) > limit,
                "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}

    def read_text(self, tenant_id: str, file_id: str, *, param: str, purpose: str = "fine-tune") -> tuple[str, str]:
        """A tenant's file as UTF-8 text, with its display name; the purpose must match."""
        row = self._row(tenant_id, file_id)
        if row.purpose != purpose:
            raise BadRequest(f"File '{file_id}' was uploaded with purpose '{row.purpose}'; {param} needs a file "
                             f"uploaded with purpose '{purpose}'", param=param)
        try:
            return self._path(file_id).read_text(encoding="utf-8"), str(row.filename)
        except UnicodeDecodeError as e:
            raise UnprocessableInput(f"File '{file_id}' is not UTF-8 text ({e.reason})", param=param) from e


def _check_utf8(path: Path) -> None:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnprocessableInput(f"A fine-tune file must be UTF-8 JSONL; byte {e.start} is not UTF-8",
                                 param="file") from e

