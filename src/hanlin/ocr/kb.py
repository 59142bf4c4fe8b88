"""Scans into knowledge bases: images are OCR'd; a PDF keeps its text layer on the pages where that layer is good
and is OCR'd on the pages without one (or with garbage: mis-encoded fonts, private-use glyphs). OCR'd blocks keep
their page number and box (``meta["bbox"]``) so a chunk can be cited as 第 N 页 and located on the page."""

from __future__ import annotations

import re
from collections.abc import Callable

from hanlin.errors import UnprocessableInput
from hanlin.knowledge.extract import Block, render_table
from hanlin.ocr.inputs import IMAGE_TYPES, OcrLimits, pdf_page_count, suffix
from hanlin.ocr.service import OcrPage, Progress, ocr_pages

MIN_LAYER_CHARS = 20  # a page whose text layer has fewer meaningful characters is read by OCR
_GOOD = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z0-9\u3000-\u303f\uff00-\uffef，。、；：！？“”‘’（）《》—…·.,;:!?()%\-+/]")


def good_text_layer(text: str) -> bool:
    """Enough text, mostly made of characters a real document uses (not U+FFFD, private-use or Latin-1 debris)."""
    chars = re.sub(r"\s+", "", text)
    if len(chars) < MIN_LAYER_CHARS:
        return False
    return len(_GOOD.findall(chars)) >= 0.8 * len(chars)


def page_blocks(page: OcrPage) -> list[Block]:
    out: list[Block] = []
    for b in page.blocks:
        meta = {"bbox": ",".join(str(v) for v in b.bbox), "source": "ocr"}
        if b.type == "heading":
            out.append(Block("heading", b.text, level=b.level, page=page.page, meta=meta))
        elif b.type == "table":
            out.append(Block("table", render_table(b.rows), rows=b.rows, page=page.page, meta=meta))
        else:
            out.append(Block("text", b.text, page=page.page, meta=meta))
    return out


def ocr_blocks(data: bytes, name: str, limits: OcrLimits, pages: list[int] | None = None, threads: int = 0,
               progress: Progress | None = None) -> list[Block]:
    total = len(pages) if pages else None

    def prog(i: int, n: int, stage: str) -> None:
        if progress:
            progress(i, total or n, stage)
    blocks: list[Block] = []
    for page in ocr_pages(data, name, limits, pages, threads, prog):
        blocks += page_blocks(page)
    return blocks


def extract_with_ocr(data: bytes, name: str, extract: Callable[[bytes, str], list[Block]], limits: OcrLimits,
                     threads: int = 0, progress: Progress | None = None) -> list[Block]:
    """Blocks of a scan or image (OCR), or of a PDF (text layer where good, OCR elsewhere)."""
    ext = suffix(name)
    if ext in IMAGE_TYPES:
        blocks = ocr_blocks(data, name, limits, None, threads, progress)
    elif ext == ".pdf":
        try:
            layer = extract(data, name)
        except UnprocessableInput as e:
            if "text layer" not in e.message:
                raise
            layer = []
        by_page: dict[int, list[Block]] = {}
        for b in layer:
            by_page.setdefault(b.page or 0, []).append(b)
        good = {p for p, bs in by_page.items() if good_text_layer("".join(b.text for b in bs))}
        n = pdf_page_count(data, name)
        todo = [p for p in range(1, n + 1) if p not in good]
        if not todo:
            return layer
        scanned = ocr_blocks(data, name, limits, todo, threads, progress)
        blocks = sorted([b for b in layer if b.page in good] + scanned, key=lambda b: b.page or 0)
    else:
        return extract(data, name)
    if not blocks:
        raise UnprocessableInput(f"No text found in '{name}' (OCR read nothing: a blank or unreadable scan?)",
                                 param="file")
    return blocks


def file_text(data: bytes, name: str, limits: OcrLimits, threads: int = 0, progress: Progress | None = None) -> str:
    """The text of any document the knowledge bases read — scans and images OCR'd, a PDF's good text layer kept —
    for the office apps (e.g. a scanned reference document as background for `hanlin doc`)."""
    from hanlin.knowledge.extract import extract

    blocks = extract_with_ocr(data, name, extract, limits, threads, progress)
    return "\n".join(b.text for b in blocks if b.text.strip())
