"""OCR of whole documents: pages streamed one at a time (render or decode → read lines → lay out → drop the
bitmap), results as the JSON of ``hanlin ocr --json`` / ``POST /v1/ocr``, plain text or Markdown."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hanlin.memory import release_free_memory
from hanlin.ocr.engine import read_page
from hanlin.ocr.inputs import OcrLimits, PageImage, page_images
from hanlin.ocr.layout import Block, body_height, layout, row_text, rows_of

Progress = Callable[[int, int, str], None]  # (done, total, stage)


@dataclass
class OcrPage:
    page: int
    width: int
    height: int
    blocks: list[Block] = field(default_factory=list)
    rotation: int = 0
    skew: float = 0.0
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.blocks)

    def to_dict(self) -> dict[str, Any]:
        return {"page": self.page, "width": self.width, "height": self.height, "rotation": self.rotation,
                "skew": self.skew, "blocks": [b.to_dict() for b in self.blocks]}


def ocr_image(pi: PageImage, threads: int = 0) -> OcrPage:
    t0 = time.perf_counter()
    lines = read_page(pi.image, threads)
    return OcrPage(pi.page, lines.width, lines.height, layout(lines.lines), lines.rotation, lines.skew,
                   round(time.perf_counter() - t0, 3))


def ocr_pages(data: bytes, name: str, limits: OcrLimits | None = None, pages: list[int] | None = None,
              threads: int = 0, progress: Progress | None = None) -> Iterator[OcrPage]:
    """OCR'd pages of a PDF or image, one at a time (only one page bitmap is alive at once)."""
    limits = limits or OcrLimits()
    total = len(pages) if pages else None
    for i, pi in enumerate(page_images(data, name, limits, pages), 1):
        page = ocr_image(pi, threads)
        del pi
        release_free_memory()
        if progress:
            progress(i, total or i, f"OCR page {page.page}")
        yield page


def document_text(pages: list[OcrPage]) -> str:
    return "\n\n".join(p.text for p in pages if p.blocks)


def to_markdown(pages: list[OcrPage]) -> str:
    parts: list[str] = []
    for p in pages:
        if len(pages) > 1:
            parts.append(f"<!-- 第 {p.page} 页 -->")
        for b in p.blocks:
            if b.type == "heading":
                parts.append("#" * (b.level + 1) + " " + b.text)
            elif b.type == "table" and b.grid:
                rows = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in b.rows]
                rows.insert(1, "| " + " | ".join("---" for _ in b.rows[0]) + " |")
                parts.append("\n".join(rows))
            else:
                parts.append(b.text)
    return "\n\n".join(parts) + "\n"


def to_json(pages: list[OcrPage], seconds: float) -> dict[str, Any]:
    return {"pages": [p.to_dict() for p in pages], "text": document_text(pages),
            "stats": {"seconds": round(seconds, 3), "pages": len(pages)}}


def ocr_document(data: bytes, name: str, limits: OcrLimits | None = None, pages: list[int] | None = None,
                 threads: int = 0, progress: Progress | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    done = list(ocr_pages(data, name, limits, pages, threads, progress))
    return to_json(done, time.perf_counter() - t0)


def line_text(pages: list[OcrPage]) -> str:
    """The OCR'd text one printed line per line (paragraphs not joined): for line-oriented documents such as a
    printed meeting transcript, where each speaker turn starts a line."""
    out: list[str] = []
    for p in pages:
        for b in p.blocks:
            if b.type == "table" or not b.lines:
                out.append(b.text)
                continue
            h = body_height(b.lines)
            out += [row_text(row, h) for row in rows_of(b.lines)]
    return "\n".join(out)


def scan_text(data: bytes, name: str, limits: OcrLimits | None = None, threads: int = 0,
              progress: Progress | None = None, by_line: bool = False) -> str:
    """All the text of a scan or image in reading order (``by_line``: one printed line per line)."""
    pages = list(ocr_pages(data, name, limits, None, threads, progress))
    return line_text(pages) if by_line else document_text(pages)
