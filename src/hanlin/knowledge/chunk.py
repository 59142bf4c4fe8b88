"""Structure-aware chunks: sections under their headings, paragraphs packed to a target size with sentence overlap,
tables split into groups of rows, each row written with its header ("城市：北京；标准：500"). Chunk ids are stable: a hash of document id, position and text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from hanlin.knowledge.extract import Block, render_table
from hanlin.knowledge.normalize import Normalized, _is_spaced, identity, normalize, running_lines
from hanlin.text import CN_HEADING, HEADING_DECIMAL

TARGET_CHARS = 360  # ~ one news paragraph; e5-small reads 512 tokens, answers quote a few sentences
MAX_CHARS = 600
OVERLAP_CHARS = 80
TABLE_CHARS = 200  # table rows per chunk: a few self-describing rows (a long chunk dilutes a row's cosine)
MAX_HEADING_CHARS = 120  # one heading in a chunk's heading path; longer ones are cut (a hostile docx "heading")
HEADER_NAME_CHARS = 40  # a column name as repeated before every cell of a row
_SENTENCE = re.compile(r"[^。！？!?；;\n]*(?:[。！？!?；;]+[”’」』）)]*|\n|$)")
_HEADING_LINE = re.compile(rf"^({CN_HEADING}|{HEADING_DECIMAL})")


@dataclass
class Piece:
    """A run of normalized text with its original offsets."""

    text: str
    offsets: list[int]

    def span(self) -> tuple[int, int]:
        return (self.offsets[0], self.offsets[-1] + 1) if self.offsets else (0, 0)


@dataclass
class Unit:
    kind: str  # heading | text | table
    piece: Piece
    level: int = 0
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Chunk:
    chunk_id: str
    position: int
    text: str
    heading: str
    start: int  # span in the document's source text
    end: int
    kind: str = "text"
    page: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def index_text(self) -> str:
        return f"{self.heading}\n{self.text}" if self.heading else self.text


def chunk_id(doc_id: str, position: int, text: str) -> str:
    return hashlib.sha1(f"{doc_id}:{position}:{text}".encode()).hexdigest()[:20]


def _split_paragraphs(norm: Normalized, heading_candidates: bool) -> list[Unit]:
    units: list[Unit] = []
    pos = 0
    for para in norm.text.split("\n"):
        end = pos + len(para)
        stripped = para.strip()
        if stripped:
            lead = len(para) - len(para.lstrip())
            piece = Piece(stripped, norm.offsets[pos + lead: pos + lead + len(stripped)])
            is_heading = heading_candidates and len(stripped) <= 30 and stripped[-1] not in "。！？!?；;，,：:" and (
                bool(_HEADING_LINE.match(stripped)) or len(stripped) <= 20)
            units.append(Unit("heading" if is_heading else "text", piece, level=9 if is_heading else 0))
        pos = end + 1
    return units


def _clean(text: str, base: int, messy: bool, repeated: set[str] | None = None) -> Normalized:
    """Messy text is normalized; clean text (docx, html) only when it is spaced out like OCR output."""
    if messy or _is_spaced(text):
        norm = normalize(text, repeated or set())
        norm.offsets = [o + base for o in norm.offsets]
        return norm
    return identity(text, base)


def build_units(blocks: list[Block]) -> tuple[str, list[Unit], list[tuple[int, int, int | None]]]:
    """The document's source text (raw block texts joined), its units, and (start, end, page) per block."""
    parts: list[str] = []
    bounds: list[tuple[int, int, int | None]] = []
    base = 0
    for b in blocks:
        text = b.text if b.kind != "table" else render_table(b.rows)
        parts.append(text)
        bounds.append((base, base + len(text), b.page))
        base += len(text) + 2
    source = "\n\n".join(parts)
    repeated = running_lines("\n".join(b.text for b in blocks if b.messy))
    units: list[Unit] = []
    for b, (start, end, _page) in zip(blocks, bounds, strict=True):
        if b.kind == "table":
            units.append(Unit("table", Piece(source[start:end], [start, max(start, end - 1)]), rows=b.rows))
        elif b.kind == "heading":
            norm = _clean(b.text, start, b.messy)
            text = norm.text.strip()
            lead = len(norm.text) - len(norm.text.lstrip())
            units.append(Unit("heading", Piece(text, norm.offsets[lead:lead + len(text)]), b.level))
        else:
            norm = _clean(b.text, start, b.messy, repeated)
            units += _split_paragraphs(norm, heading_candidates=b.messy)
    return source, units, bounds


def _sentences(piece: Piece) -> list[Piece]:
    out: list[Piece] = []
    for m in _SENTENCE.finditer(piece.text):
        if m.group(0).strip():
            out.append(Piece(m.group(0), piece.offsets[m.start():m.end()]))
    return out or [piece]


def _hard_split(piece: Piece) -> list[Piece]:
    """Sentences, and sentences longer than MAX_CHARS cut at MAX_CHARS."""
    out: list[Piece] = []
    for s in _sentences(piece):
        for i in range(0, len(s.text), MAX_CHARS):
            out.append(Piece(s.text[i:i + MAX_CHARS], s.offsets[i:i + MAX_CHARS]))
    return out


class _Packer:
    def __init__(self, doc_id: str, bounds: list[tuple[int, int, int | None]],
                 boxes: list[str | None] | None = None) -> None:
        self.doc_id, self.bounds = doc_id, bounds
        self.boxes = boxes or [None] * len(bounds)  # per block: "x0,y0,x1,y1" on its page (OCR'd scans)
        self.chunks: list[Chunk] = []
        self.buf: list[Piece] = []
        self.heading = ""

    def _page(self, offset: int) -> int | None:
        for start, end, page in self.bounds:
            if start <= offset <= end:
                return page
        return None

    def _bbox(self, start: int, end: int, page: int | None) -> list[int] | None:
        """The union of the boxes of the chunk's blocks on its first page, when the blocks have boxes."""
        boxes = [[int(v) for v in box.split(",")] for (s, e, p), box in zip(self.bounds, self.boxes, strict=True)
                 if box and p == page and s <= end and e >= start]
        if not boxes:
            return None
        return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                max(b[3] for b in boxes)]

    def emit(self, pieces: list[Piece], kind: str = "text", meta: dict[str, Any] | None = None) -> None:
        text = "".join(p.text for p in pieces).strip()
        if not text:
            return
        start = min(p.span()[0] for p in pieces if p.offsets)
        end = max(p.span()[1] for p in pieces if p.offsets)
        pos = len(self.chunks)
        page = self._page(start)
        meta = dict(meta or {})
        bbox = self._bbox(start, end, page)
        if bbox:
            meta["bbox"] = bbox
        self.chunks.append(Chunk(chunk_id(self.doc_id, pos, text), pos, text, self.heading, start, end, kind,
                                 page, meta))

    def flush(self, overlap: bool = False) -> None:
        if self.buf:
            self.emit(self.buf)
        keep: list[Piece] = []
        if overlap:  # the last sentences (≤ OVERLAP_CHARS) start the next chunk of the same section
            for p in reversed(self.buf):
                if sum(len(k.text) for k in keep) + len(p.text) > OVERLAP_CHARS:
                    break
                keep.insert(0, p)
        self.buf = keep

    def add_text(self, piece: Piece) -> None:
        sentences = _hard_split(piece)
        if self.buf:
            self.buf.append(Piece("\n", [sentences[0].offsets[0]] if sentences[0].offsets else []))
        for s in sentences:
            if self.buf and sum(len(p.text) for p in self.buf) + len(s.text) > TARGET_CHARS:
                self.flush(overlap=True)
            self.buf.append(s)

    def add_table(self, unit: Unit) -> None:
        """Rows packed to ~``TABLE_CHARS``, each written with its header ("城市：北京；住宿标准（元/晚）：500") so a
        row says what its numbers are even when it is the only thing retrieved. No chunk is over MAX_CHARS: a
        row longer than that is split into several chunks."""
        self.flush()
        rows = unit.rows
        header, body = rows[0], rows[1:] or []
        if not body:
            self._emit_rows(unit, header, [render_table([header])[:MAX_CHARS]])
            return
        group: list[str] = []
        for row in body:
            line = describe_row(header, row)
            for piece in (line[i:i + MAX_CHARS] for i in range(0, max(1, len(line)), MAX_CHARS)):
                if group and sum(len(g) + 1 for g in group) + len(piece) > TABLE_CHARS:
                    self._emit_rows(unit, header, group)
                    group = []
                group.append(piece)
        self._emit_rows(unit, header, group)

    def _emit_rows(self, unit: Unit, header: list[str], group: list[str]) -> None:
        offsets = unit.piece.offsets
        span = [offsets[0], offsets[-1]] if offsets else []  # the table's span; one list per chunk, not per char
        self.emit([Piece("\n".join(group), span)], kind="table", meta={"header": header})


def describe_row(header: list[str], row: list[str]) -> str:
    """One table row as "表头：值；表头：值" (empty cells left out; a cell without a header stands alone)."""
    parts = []
    for i, cell in enumerate(row):
        value = cell.replace("\n", " ").strip()
        if not value:
            continue
        name = header[i].replace("\n", " ").strip()[:HEADER_NAME_CHARS] if i < len(header) else ""
        parts.append(f"{name}：{value}" if name and name != value else value)
    return "；".join(parts)


def chunk_blocks(doc_id: str, blocks: list[Block]) -> tuple[str, list[Chunk]]:
    """(source text, chunks) of a document's blocks."""
    source, units, bounds = build_units(blocks)
    packer = _Packer(doc_id, bounds, [b.meta.get("bbox") for b in blocks])
    stack: list[tuple[int, str]] = []  # heading path
    for u in units:
        if u.kind == "heading":
            packer.flush()
            while stack and stack[-1][0] >= u.level:
                stack.pop()
            text = u.piece.text
            stack.append((u.level, text if len(text) <= MAX_HEADING_CHARS else text[:MAX_HEADING_CHARS - 1] + "…"))
            packer.heading = " > ".join(t for _, t in stack)
        elif u.kind == "table":
            packer.add_table(u)
        else:
            packer.add_text(u.piece)
    packer.flush()
    return source, packer.chunks
