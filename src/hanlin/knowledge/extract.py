"""Text and structure out of uploaded files: pdf, docx, xlsx/csv, txt/md, html.

Every extractor returns a list of :class:`Block` — headings, prose and tables (with their header row) — so the
chunker can follow the document's structure. Prose from txt and pdf is kept raw (``messy=True``): it goes
through :mod:`hanlin.knowledge.normalize` before chunking.

Uploads are untrusted: every extractor takes a :class:`~hanlin.limits.CharBudget` and charges what it produces,
zip-based files are checked with :func:`~hanlin.limits.check_zip` before they are opened, docx is stream-parsed and
xlsx read row by row, so a small hostile file is refused (413 naming the limit) long before it costs memory.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from hanlin.errors import PayloadTooLarge, UnprocessableInput
from hanlin.limits import DEFAULT_LIMITS, CharBudget, InputLimits, check_zip, read_csv_rows


@dataclass
class Block:
    kind: str  # "heading" | "text" | "table"
    text: str = ""
    level: int = 0  # heading level (1 = top)
    page: int | None = None  # 1-based page (pdf) or sheet index
    rows: list[list[str]] = field(default_factory=list)  # tables: rows[0] is the header row
    messy: bool = False  # raw OCR/PDF text that needs normalizing
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


def extract_text(data: bytes, name: str, budget: CharBudget, markdown: bool = False) -> list[Block]:
    text = budget.text(decode_text(data, name).replace("\r\n", "\n").replace("\r", "\n"))
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


def extract_pdf(data: bytes, name: str, budget: CharBudget) -> list[Block]:
    import pypdf

    limit = budget.limits.max_pdf_pages
    pages: list[str] = []
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        n = len(reader.pages)
        if n > limit:
            raise PayloadTooLarge(f"'{name}' has {n:,} pages; the limit is {limit:,} (HANLIN_MAX_PDF_PAGES)",
                                  param="file", code="too_many_pages")
        for page in reader.pages:
            pages.append(budget.text(page.extract_text() or ""))
    except PayloadTooLarge:
        raise
    except Exception as e:  # pypdf raises many types for corrupt files (and its own decompression limits)
        raise UnprocessableInput(f"'{name}' is not a readable PDF ({type(e).__name__}: {e})", param="file") from e
    if not any(p.strip() for p in pages):
        raise UnprocessableInput(f"'{name}' has no text layer (a scanned PDF?); OCR it first, then upload the text",
                                 param="file")
    return [Block("text", p, page=i + 1, messy=True) for i, p in enumerate(pages) if p.strip()]


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_style_names(zf: zipfile.ZipFile) -> dict[str, str]:
    """styleId → style name (``Heading 1``, ``标题 1``...) from word/styles.xml."""
    from lxml import etree

    if "word/styles.xml" not in zf.namelist():
        return {}
    names: dict[str, str] = {}
    with zf.open("word/styles.xml") as f:
        for _, el in etree.iterparse(f, events=("end",), tag=f"{_W}style", resolve_entities=False, no_network=True):
            sid, name_el = el.get(f"{_W}styleId"), el.find(f"{_W}name")
            if sid and name_el is not None:
                name = name_el.get(f"{_W}val") or ""
                # built-in names are stored lower-case ("heading 1"); python-docx shows them capitalised
                names[sid] = name[:1].upper() + name[1:] if name.lower().startswith(("heading", "title")) else name
            el.clear()
    return names


_T, _TAB, _BR, _CR, _PPR, _PSTYLE = (f"{_W}{t}" for t in ("t", "tab", "br", "cr", "pPr", "pStyle"))


def _docx_paragraph_text(p: Any) -> str:
    return "".join((el.text or "") if el.tag == _T else "\t" if el.tag == _TAB else "\n"
                   for el in p.iter(_T, _TAB, _BR, _CR))


def _docx_style(p: Any, styles: dict[str, str]) -> str:
    for child in p:
        if child.tag == _PPR:
            for c in child:
                if c.tag == _PSTYLE:
                    return styles.get(c.get(f"{_W}val") or "", "")
            return ""
    return ""


def extract_docx(data: bytes, name: str, budget: CharBudget) -> list[Block]:
    """Body paragraphs and tables of word/document.xml, stream-parsed (memory stays at one paragraph or table row,
    however large the document), headings found by style name like python-docx would."""
    from lxml import etree

    check_zip(data, name, budget.limits)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        styles = _docx_style_names(zf)
        f = zf.open("word/document.xml")
    except (KeyError, zipfile.BadZipFile, etree.XMLSyntaxError) as e:
        raise UnprocessableInput(f"'{name}' is not a readable .docx ({type(e).__name__}); save it as Word 2007+ "
                                 "(.docx) and retry", param="file") from e
    body, tbl, cell, row, paragraph = f"{_W}body", f"{_W}tbl", f"{_W}tc", f"{_W}tr", f"{_W}p"
    blocks: list[Block] = []
    rows: list[list[str]] = []
    try:
        with f:
            for _, el in etree.iterparse(f, events=("end",), tag=(paragraph, row, tbl), resolve_entities=False,
                                         no_network=True):
                parent = el.getparent()
                if el.tag == paragraph and parent is not None and parent.tag == body:
                    _docx_paragraph(el, styles, blocks, budget)
                    el.clear()
                elif el.tag == row and parent is not None and parent.getparent() is not None \
                        and parent.getparent().tag == body:  # a row of a top-level table
                    cells = ["\n".join(_docx_paragraph_text(p) for p in c.iterchildren(paragraph)).strip()
                             for c in el.iterchildren(cell)]
                    rows.append([budget.cell(c, f"table row {len(rows) + 1}") for c in cells])
                    el.clear()
                    while el.getprevious() is not None:
                        del parent[0]
                elif el.tag == tbl and parent is not None and parent.tag == body:
                    rows = [r for r in rows if any(r)]
                    if rows:
                        blocks.append(Block("table", render_table(rows), rows=rows))
                    rows = []
                    el.clear()
                if parent is not None and parent.tag == body:  # drop what was already read
                    while el.getprevious() is not None:
                        del parent[0]
    except etree.XMLSyntaxError as e:
        raise UnprocessableInput(f"'{name}' is not a readable .docx ({e}); save it as Word 2007+ (.docx) and retry",
                                 param="file") from e
    return blocks


_HEADING_STYLE = re.compile(r"(?:Heading|标题)\s*(\d)")


def _docx_paragraph(el: Any, styles: dict[str, str], blocks: list[Block], budget: CharBudget) -> None:
    text = budget.text(_docx_paragraph_text(el).strip())
    budget.charge(1)  # empty paragraphs cost too: millions of them are work
    if not text:
        return
    style = _docx_style(el, styles)
    m = _HEADING_STYLE.match(style) if style else None
    if m or style == "Title":
        blocks.append(Block("heading", text, level=int(m.group(1)) if m else 1))
    else:
        blocks.append(Block("text", text))


def _table_blocks(rows: list[list[str]], meta: dict[str, str], page: int | None = None,
                  budget: CharBudget | None = None) -> list[Block]:
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return []
    width = max(len(r) for r in rows)
    if budget is not None:  # padding short rows costs characters too
        budget.charge(3 * sum(width - len(r) for r in rows))
    rows = [r + [""] * (width - len(r)) for r in rows]
    return [Block("table", render_table(rows), rows=rows, page=page, meta=meta)]


def extract_xlsx(data: bytes, name: str, budget: CharBudget) -> list[Block]:
    """Sheets read row by row (openpyxl read-only), each cell and the whole book charged to the budget."""
    import openpyxl

    check_zip(data, name, budget.limits)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:
        raise UnprocessableInput(f"'{name}' is not a readable .xlsx ({type(e).__name__})", param="file") from e
    blocks: list[Block] = []
    try:
        for i, ws in enumerate(wb.worksheets):
            ws.reset_dimensions()  # a forged <dimension ref="A1:XFD1048576"/> must not pad every row
            rows = []
            for r, row in enumerate(ws.iter_rows(values_only=True), 1):
                rows.append([budget.cell("" if v is None else str(v), f"{ws.title}!row {r}") for v in row])
            tbl = _table_blocks(rows, {"sheet": ws.title}, page=i + 1, budget=budget)
            if tbl:
                blocks.append(Block("heading", ws.title, level=1, page=i + 1))
                blocks += tbl
    finally:
        wb.close()
    return blocks


def extract_csv(data: bytes, name: str, budget: CharBudget) -> list[Block]:
    text = decode_text(data, name)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    rows = read_csv_rows(text, name, budget.limits, dialect=dialect)
    budget.charge(sum(len(c) + 3 for r in rows for c in r))
    return _table_blocks(rows, {}, budget=budget)


_HTML_BLOCKS = {"p", "div", "li", "blockquote", "pre", "td", "th", "dd", "dt", "section", "article"}


def extract_html(data: bytes, name: str, budget: CharBudget) -> list[Block]:
    import lxml.html

    try:
        root = lxml.html.fromstring(budget.text(decode_text(data, name)))
    except Exception as e:
        raise UnprocessableInput(f"'{name}' is not parseable HTML ({type(e).__name__})", param="file") from e
    for bad in root.xpath("//script|//style|//noscript|//nav|//footer"):
        bad.drop_tree()
    blocks: list[Block] = []
    for el in root.iter("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "table", "pre", "blockquote"):
        if el.tag == "table":
            rows = [[budget.cell(" ".join(c.text_content().split())) for c in tr.xpath("./th|./td")]
                    for tr in el.xpath(".//tr")]
            blocks += _table_blocks(rows, {}, budget=budget)
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


def extract_markdown(data: bytes, name: str, budget: CharBudget) -> list[Block]:
    return extract_text(data, name, budget, markdown=True)


# Each extractor takes (data, name, budget) and charges every character it produces to the budget.
EXTRACTORS: dict[str, Callable[[bytes, str, CharBudget], list[Block]]] = {
    ".pdf": extract_pdf, ".docx": extract_docx, ".xlsx": extract_xlsx, ".xlsm": extract_xlsx, ".csv": extract_csv,
    ".txt": extract_text, ".md": extract_markdown, ".markdown": extract_markdown,
    ".html": extract_html, ".htm": extract_html,
}


def extract(data: bytes, name: str, limits: InputLimits = DEFAULT_LIMITS) -> list[Block]:
    """Blocks of ``data`` by the extension of ``name``; raises UnprocessableInput (or PayloadTooLarge for a file
    over one of ``limits``) naming the problem."""
    ext = PurePath(name).suffix.lower()
    fn = EXTRACTORS.get(ext)
    if fn is None:
        raise UnprocessableInput(f"Unsupported file type '{ext or name}'. Supported: {', '.join(sorted(SUPPORTED))}",
                                 param="file")
    if not data:
        raise UnprocessableInput(f"'{name}' is empty", param="file")
    blocks = fn(data, name, CharBudget(name, limits))
    if not blocks:
        raise UnprocessableInput(f"No text found in '{name}'", param="file")
    return blocks
