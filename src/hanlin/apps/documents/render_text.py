"""Markdown and plain-text renderings of an OfficialDocument (same parts and numbering as the .docx), and PDF
through LibreOffice when it is installed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from hanlin.apps.documents.schema import OfficialDocument
from hanlin.apps.documents.writer import number_paragraphs, write_official_document
from hanlin.errors import UnprocessableInput

INDENT = "\u3000\u3000"  # two full-width spaces: the 2-character first-line indent


def _attachment_lines(d: OfficialDocument) -> list[str]:
    if not d.attachments:
        return []
    if len(d.attachments) == 1:
        return [f"附件：{d.attachments[0]}"]
    return [f"附件：1. {d.attachments[0]}"] + [f"{INDENT}{INDENT[:1]}{i}. {a}"
                                             for i, a in enumerate(d.attachments[1:], 2)]


def _head_lines(d: OfficialDocument) -> list[str]:
    number = d.number + (f"    签发人：{d.signer}" if d.signer and d.number else "")
    return [x for x in (d.banner, number) if x]


def render_markdown(d: OfficialDocument) -> str:
    out: list[str] = []
    head = _head_lines(d)
    if head:
        first = f"**{head[0]}**" if d.banner else head[0]
        out += [first + ("  " if len(head) > 1 else ""), *head[1:], "", "---", ""]  # "  " = Markdown line break
    out += [f"# {d.title}", ""]
    if d.to:
        out += ["、".join(d.to) + "：", ""]
    for level, text in number_paragraphs(d.paragraphs):
        out += [f"**{text}**" if level == 1 else INDENT + text, ""]
    if d.attachments:
        out += [*(ln + "  " for ln in _attachment_lines(d)), ""]
    out.append("  \n".join(x for x in (d.signature, d.date) if x))
    if d.cc:
        out += ["", "---", "抄送：" + "，".join(d.cc) + "。"]
    return "\n".join(out).rstrip() + "\n"


def render_text(d: OfficialDocument) -> str:
    out: list[str] = []
    head = _head_lines(d)
    if head:
        out += [*head, "─" * 28]
    out += ["", d.title, ""]
    if d.to:
        out.append("、".join(d.to) + "：")
    out += [INDENT + text for _, text in number_paragraphs(d.paragraphs)]
    if d.attachments:
        out += ["", *_attachment_lines(d)]
    sig = [x for x in (d.signature, d.date) if x]
    if sig:
        out += ["", *sig]
    if d.cc:
        out += ["─" * 28, "抄送：" + "，".join(d.cc) + "。"]
    return "\n".join(out).strip("\n") + "\n"


def soffice_binary() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_pdf(docx: Path, pdf: Path, *, timeout: float = 180) -> Path:
    """LibreOffice headless conversion; raises UnprocessableInput when soffice is missing or fails."""
    exe = soffice_binary()
    if not exe:
        raise UnprocessableInput("PDF output needs LibreOffice (`apt-get install libreoffice-writer-nogui`).")
    with tempfile.TemporaryDirectory(prefix="hanlin-pdf-") as tmp:
        proc = subprocess.run([exe, "--headless", f"-env:UserInstallation=file://{tmp}/profile",
                               "--convert-to", "pdf", "--outdir", tmp, str(docx)],
                              capture_output=True, text=True, timeout=timeout)
        produced = Path(tmp) / (docx.stem + ".pdf")
        if proc.returncode != 0 or not produced.exists():
            raise UnprocessableInput(f"LibreOffice could not convert the document: {proc.stderr[-300:]}")
        pdf.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), pdf)
    return pdf


def save(d: OfficialDocument, path: Path, fmt: str) -> tuple[Path, Path | None]:
    """Write ``d`` as fmt (docx|md|txt|pdf). Returns (file to check, pdf or None).

    For pdf the .docx is written next to it (the checks read that .docx); with no LibreOffice the .docx is
    the output and the PDF is skipped (the caller reports it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "md":
        path.write_text(render_markdown(d), "utf-8")
        return path, None
    if fmt == "txt":
        path.write_text(render_text(d), "utf-8")
        return path, None
    docx = path if fmt == "docx" else path.with_suffix(".docx")
    write_official_document(d, docx)
    if fmt == "pdf" and soffice_binary():
        return docx, convert_to_pdf(docx, path)
    return docx, None
