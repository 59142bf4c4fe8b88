"""Text and structure out of uploaded files: pdf, docx, xlsx/csv, txt/md, html.

Every extractor returns a list of :class:`Block` — headings, prose and tables (with their header row) — so the
chunker can follow the document's structure. Prose from txt and pdf is kept raw (``messy=True``): it goes
through :mod:`hanlin.knowledge.normalize` before chunking.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath

from hanlin.errors import UnprocessableInput


@dataclass
class Block:
    kind: str  # "heading" | "text" | "table"
    text: str = ""
    level: int = 0  # heading level (1 = top)
    page: int | None = None  # 1-based page (pdf) or sheet index
    rows: list[list[str]] = field(default_factory=list)  # tables: rows[0] is the header row
    messy: bool = False  # raw OCR/PDF text that needs normalising
    meta: dict[str, str] = field(default_factory=dict)  # e.g. {"sheet": "销售"}


SUPPORTED = {".pdf", ".docx", ".xlsx", ".xlsm", ".csv", ".txt", ".md", ".markdown", ".html", ".htm"}


def render_table(rows: list[list[str]]) -> str:
    """Markdown-ish table text: the header row first, one line per row."""
    return "\n".join("| " + " | ".join(c.replace("\n", " ").strip() for c in r) + " |" for r in rows)


def decode_text(data: bytes, name: str) -> str:
    for enc in ("utf-8-sig", "gb18030", "big5"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise UnprocessableInput(f"'{name}' is not text in UTF-8, GB18030 or Big5; convert it to UTF-8 and retry",
                             param="file")


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def extract_text(data: bytes, name: str, markdown: bool = False) -> list[Block]:
    text = decode_text(data, name).replace("\r\n", "\n").replace("\r", "\n")
    if not markdown:
        return [Block("text", text, messy=True)] if text.strip() else []
    blocks: list[Block] = []
    buf: list[str] = []

    def flush() -> None:
        if "".join(buf).strip():
            blocks.append(Block("text", "\n".join(buf), messy=True))
        buf.clear()

    for line in text.split("\n"):
        m = _MD_HEADING.match(line)
        if m:
            flush()
            blocks.append(Block("heading", m.group(2), level=len(m.group(1))))
        else:
            buf.append(line)
    flush()
    return blocks


def extract_pdf(data: bytes, name: str) -> list[Block]:
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        pages = [p.extract_text() or "" for p in reader.pages]
    except Exception as e:  # pypdf raises many types for corrupt files
        raise UnprocessableInput(f"'{name}' is not a readable PDF ({type(e).__name__}: {e})", param="file") from e
    if not any(p.strip() for p in pages):
        raise UnprocessableInput(f"'{name}' has no text layer (a scanned PDF?); OCR it first, then upload the text",
                                 param="file")
    return [Block("text", p, page=i + 1, messy=True) for i, p in enumerate(pages) if p.strip()]


def extract_docx(data: bytes, name: str) -> list[Block]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        d = docx.Document(io.BytesIO(data))
    except Exception as e:
        raise UnprocessableInput(f"'{name}' is not a readable .docx ({type(e).__name__}); save it as Word 2007+ "
                                 "(.docx) and retry", param="file") from e
    blocks: list[Block] = []
    for item in d.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            m = re.match(r"(?:Heading|标题)\s*(\d)", style)
            if m or style == "Title":
                blocks.append(Block("heading", text, level=int(m.group(1)) if m else 1))
            else:
                blocks.append(Block("text", text))
        elif isinstance(item, Table):
            rows = [[c.text.strip() for c in r.cells] for r in item.rows]
            rows = [r for r in rows if any(r)]
            if rows:
                blocks.append(Block("table", render_table(rows), rows=rows))
    return blocks


def _table_blocks(rows: list[list[str]], meta: dict[str, str], page: int | None = None) -> list[Block]:
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return []
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    return [Block("table", render_table(rows), rows=rows, page=page, meta=meta)]


def extract_xlsx(data: bytes, name: str) -> list[Block]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:
        raise UnprocessableInput(f"'{name}' is not a readable .xlsx ({type(e).__name__})", param="file") from e
    blocks: list[Block] = []
    for i, ws in enumerate(wb.worksheets):
        rows = [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
        tbl = _table_blocks(rows, {"sheet": ws.title}, page=i + 1)
        if tbl:
            blocks.append(Block("heading", ws.title, level=1, page=i + 1))
            blocks += tbl
    wb.close()
    return blocks


def extract_csv(data: bytes, name: str) -> list[Block]:
    text = decode_text(data, name)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    return _table_blocks(rows, {})


_HTML_BLOCKS = {"p", "div", "li", "blockquote", "pre", "td", "th", "dd", "dt", "section", "article"}


def extract_html(data: bytes, name: str) -> list[Block]:
    import lxml.html

    try:
        root = lxml.html.fromstring(decode_text(data, name))
    except Exception as e:
        raise UnprocessableInput(f"'{name}' is not parseable HTML ({type(e).__name__})", param="file") from e
    for bad in root.xpath("//script|//style|//noscript|//nav|//footer"):
        bad.drop_tree()
    blocks: list[Block] = []
    for el in root.iter("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "table", "pre", "blockquote"):
        if el.tag == "table":
            rows = [[" ".join(c.text_content().split()) for c in tr.xpath("./th|./td")] for tr in el.xpath(".//tr")]
            blocks += _table_blocks(rows, {})
            continue
        if el.xpath("ancestor::table") or el.xpath("ancestor::li|ancestor::blockquote"):
            continue  # inside a table or already taken with its parent
        text = " ".join(el.text_content().split())
        if not text:
            continue
        if el.tag[0] == "h":
            blocks.append(Block("heading", text, level=int(el.tag[1])))
        else:
            blocks.append(Block("text", text))
    if not blocks:  # pages without semantic tags: fall back to all text
        text = root.text_content().strip()
        if text:
            blocks.append(Block("text", text, messy=True))
    return blocks


EXTRACTORS: dict[str, Callable[[bytes, str], list[Block]]] = {
    ".pdf": extract_pdf, ".docx": extract_docx, ".xlsx": extract_xlsx, ".xlsm": extract_xlsx, ".csv": extract_csv,
    ".txt": extract_text, ".md": lambda d, n: extract_text(d, n, markdown=True),
    ".markdown": lambda d, n: extract_text(d, n, markdown=True), ".html": extract_html, ".htm": extract_html,
}


def extract(data: bytes, name: str) -> list[Block]:
    """Blocks of ``data`` by the extension of ``name``; raises UnprocessableInput naming the problem."""
    ext = PurePath(name).suffix.lower()
    fn = EXTRACTORS.get(ext)
    if fn is None:
        raise UnprocessableInput(f"Unsupported file type '{ext or name}'. Supported: {', '.join(sorted(SUPPORTED))}",
                                 param="file")
    if not data:
        raise UnprocessableInput(f"'{name}' is empty", param="file")
    blocks = fn(data, name)
    if not blocks:
        raise UnprocessableInput(f"No text found in '{name}'", param="file")
    return blocks
