"""One-click 公文: the model drafts schema-constrained content, code assembles and lays it out, checks read the
saved file back. Used by the CLI (`hanlin doc`) and REST (`POST /v1/apps/document`)."""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hanlin.apps.documents import prompts, register
from hanlin.apps.documents.checks import CheckReport, check_docx, check_text
from hanlin.apps.documents.render_text import save, soffice_binary
from hanlin.apps.documents.schema import (
    DATE_RE,
    DOC_TYPES,
    REQUEST_ENDINGS,
    SINGLE_RECIPIENT_TYPES,
    OfficialDocument,
    Paragraph,
    draft_schema,
    ensure_title,
    normalize_date,
    normalize_number,
    strip_numbering,
)
from hanlin.engine.ask import ask_json
from hanlin.engine.base import Engine
from hanlin.engine.manager import EngineManager
from hanlin.errors import BadRequest, NotFound
from hanlin.jobs import JobContext, JobRunner
from hanlin.offload import run_cpu
from hanlin.principal import Principal

JOB_KIND = "document"
APP_SCOPE = "app:document"
FORMATS = ("docx", "md", "txt", "pdf")
MEDIA_TYPES = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "md": "text/markdown; charset=utf-8", "txt": "text/plain; charset=utf-8", "pdf": "application/pdf"}
_SPLIT = re.compile(r"[、，,；;]")


@dataclass
class DocRequest:
    doc_type: str
    brief: str
    org: str = ""
    number: str = ""
    to: list[str] = field(default_factory=list)
    date: str = ""
    signer: str = ""
    fmt: str = "docx"

    def validate(self) -> None:
        if self.doc_type not in DOC_TYPES:
            raise BadRequest(f"Unknown document type {self.doc_type!r}; use one of {'|'.join(DOC_TYPES)}.",
                             param="type")
        if not self.brief.strip():
            raise BadRequest("The brief is empty: say what the document is about (--brief / \"brief\").",
                             param="brief")
        if len(self.brief) > 4000:
            raise BadRequest("The brief is over 4000 characters; shorten it.", param="brief")
        if self.fmt not in FORMATS:
            raise BadRequest(f"Unknown format {self.fmt!r}; use one of {'|'.join(FORMATS)}.", param="format")
        if self.doc_type in SINGLE_RECIPIENT_TYPES and len(self.to) > 1:
            raise BadRequest(f"A {self.doc_type} is addressed to exactly one 主送机关; got {len(self.to)}: "
                             f"{'、'.join(self.to)}.", param="to")


def split_recipients(value: str | list[str] | None) -> list[str]:
    items = value if isinstance(value, list) else _SPLIT.split(value or "")
    return [s.strip().rstrip("：:") for s in items if s and s.strip()]


def _clean_paragraphs(raw: list[dict[str, Any]], org: str) -> list[Paragraph]:
    out: list[Paragraph] = []
    seen: set[str] = set()
    for item in raw:
        text = str(item.get("text", "")).strip()
        level = int(item.get("level", 0)) if str(item.get("level", "0")).isdigit() else 0
        level = level if level in (0, 1, 2, 3, 4) else 0
        if level:
            text = strip_numbering(text)
        if not text or DATE_RE.match(text) or (org and text == org):
            continue  # 署名 and 日期 are placed by code, not inside the body
        if text in seen:
            continue  # the small model repeats itself, paragraph by paragraph
        seen.add(text)
        out.append(Paragraph(text, level))
    return out


def _is_request(p: Paragraph) -> bool:
    return p.text.rstrip("。.！!").endswith(REQUEST_ENDINGS)


def _request_last(paragraphs: list[Paragraph]) -> list[Paragraph]:
    """A 请示 ends with its request: move a short request the draft put earlier, or append 妥否，请批示。"""
    if _is_request(paragraphs[-1]):
        return paragraphs
    early = [p for p in paragraphs if _is_request(p) and len(p.text) <= 30]
    rest = [p for p in paragraphs if p not in early]
    return [*rest, early[-1] if early else Paragraph("妥否，请批示。")]


def assemble(req: DocRequest, data: dict[str, Any]) -> OfficialDocument:
    """Model draft + user facts → a complete document. User facts win; code enforces the type's rules."""
    model_sig = str(data.get("signature", "")).strip()
    org = req.org.strip() or model_sig
    to = req.to or split_recipients(data.get("to") or [])
    if req.doc_type == "纪要":
        to = []
    elif req.doc_type in SINGLE_RECIPIENT_TYPES:
        to = to[:1]
    paragraphs = _clean_paragraphs(list(data.get("paragraphs") or []), org)
    while paragraphs and paragraphs[-1].text.endswith(("：", ":")):
        paragraphs.pop()  # a lead-in ("主要集中在以下几个方面：") with nothing after it: the draft stopped short
    if not paragraphs:
        paragraphs = [Paragraph(req.brief.strip())]
    if req.doc_type == "请示":
        paragraphs = _request_last(paragraphs)
    # attachments only when the brief mentions one: a weak model invents them otherwise
    attachments = [strip_numbering(str(a)) for a in data.get("attachments") or [] if str(a).strip()]
    attachments = [a for a in attachments if a] if "附件" in req.brief else []
    doc = OfficialDocument(
        doc_type=req.doc_type, title=ensure_title(str(data.get("title", "")), req.doc_type), paragraphs=paragraphs,
        org=org, number=normalize_number(req.number), to=to, attachments=attachments,
        signature="" if req.doc_type == "纪要" else org,  # GB/T 9704 10.2: a 纪要 has no 署名
        date=normalize_date(req.date or None), signer=req.signer.strip(),
    )
    doc.repairs = register.repair(doc, req.brief)  # the type's register rules, enforced by code
    return doc


async def make_document(engine: Engine, req: DocRequest, *, max_tokens: int = 1200) -> tuple[OfficialDocument, dict[str, int]]:
    req.validate()
    messages = prompts.build_messages(req.doc_type, req.brief, org=req.org, to=req.to,
                                      date=normalize_date(req.date or None))
    res = await ask_json(engine, messages, draft_schema(req.doc_type), name="official_document",
                              max_tokens=max_tokens, temperature=0.3)
    data = res.data if isinstance(res.data, dict) else {}
    return assemble(req, data), res.usage


def render_and_check(doc: OfficialDocument, path: Path, fmt: str) -> dict[str, Any]:
    """Save, then read the saved file back for the checks. Returns the CLI/REST result (minus usage)."""
    checked, pdf = save(doc, path, fmt)
    report: CheckReport = check_text(checked, doc.doc_type) if fmt in ("md", "txt") else \
        check_docx(checked, doc.doc_type)
    result: dict[str, Any] = {
        "output": str(pdf or checked), "type": doc.doc_type, "format": fmt if fmt != "pdf" or pdf else "docx",
        "checks": report.checks, "passed": report.passed, "problems": report.problems, "document": doc.to_dict(),
        "repairs": doc.repairs,
    }
    if fmt == "pdf":
        result["docx"] = str(checked)
        if pdf is None:
            result["pdf_skipped"] = "LibreOffice (soffice) is not installed; wrote the .docx only"
    return result


class DocumentService:
    """REST side: generated files live under $HANLIN_HOME/files/<tenant>/ and are served to that tenant only."""

    def __init__(self, engines: EngineManager, jobs: JobRunner, root: Path) -> None:
        self.engines, self.jobs, self.root = engines, jobs, root

    def _dir(self, tenant_id: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", tenant_id) or "default"
        d = self.root / safe
        d.mkdir(parents=True, exist_ok=True)
        return d

    def submit(self, principal: Principal, req: DocRequest, model: str | None = None) -> dict[str, Any]:
        """Background mode: a durable ``document`` job; its result is what ``create`` returns."""
        req.validate()
        self.engines.check(principal, model, APP_SCOPE)  # 403 now rather than a failed job later
        payload = {"request": asdict(req), "model": model}
        return dict(self.jobs.submit(JOB_KIND, principal, payload))

    async def run_job(self, ctx: JobContext) -> dict[str, Any]:
        ctx.progress(0.05, "drafting")
        return await self.create(ctx.principal, DocRequest(**ctx.input["request"]), ctx.input.get("model"))

    async def create(self, principal: Principal, req: DocRequest, model: str | None = None) -> dict[str, Any]:
        req.validate()
        tenant_id = principal.tenant_id
        engine = await self.engines.get(model, principal=principal, app=APP_SCOPE)
        doc, usage = await make_document(engine, req)
        file_id = "doc_" + uuid.uuid4().hex[:20]
        ext = "docx" if req.fmt == "pdf" and not soffice_binary() else req.fmt
        result = await run_cpu(render_and_check, doc, self._dir(tenant_id) / f"{file_id}.{ext}", req.fmt,
                               what="writing the document")
        out = Path(result["output"])
        result.update({"file_id": out.stem, "filename": f"{doc.title}.{out.suffix.lstrip('.')}",
                       "download_url": f"/v1/apps/document/files/{out.name}", "usage": usage})
        result.pop("docx", None)
        result["output"] = out.name
        return result

    def file_path(self, tenant_id: str, name: str) -> Path:
        if not re.fullmatch(r"doc_[0-9a-f]{20}\.(docx|md|txt|pdf)", name):
            raise NotFound(f"No document file {name!r}.")
        path = self._dir(tenant_id) / name
        if not path.is_file():
            raise NotFound(f"No document file {name!r} for this tenant.")
        return path

