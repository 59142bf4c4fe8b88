"""Reading order and structure from OCR line boxes: columns read one after another, headings and paragraphs rebuilt
from line geometry, tables kept as rows (a Markdown grid when the columns are clear).

The page is split recursively (an XY-cut): a vertical gutter that no line crosses splits columns, left to right;
lines that cross the only gutter of the rest (a headline over two columns, a full-width figure caption) split the
region into bands, top to bottom; large vertical gaps split bands too. A region whose lines form rows of several
short cells is a table. What is left is one column: rows of text joined into paragraphs at indents, short last
lines and gaps; rows set clearly larger than the body text are headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from hanlin.ocr.engine import Line
from hanlin.text import CN_HEADING_START

GUTTER = 0.8  # a column gutter is at least this many body-text heights wide
NARROW = 0.1  # ... or this wide where the columns on its two sides stand side by side (tight, overhanging columns)
PAD = 0.3  # detected boxes overhang the ink by about this many heights on each side
BIG_GAP = 1.6  # a vertical gap of this many heights separates bands
HEADING = 1.25  # rows this much taller than body text are headings
_TERMINAL = "。！？!?；;：:…」』”）)】"
_ASCII_WORD = re.compile(r"[A-Za-z]")


@dataclass
class Block:
    type: str  # heading | paragraph | table
    text: str
    bbox: tuple[int, int, int, int]
    lines: list[Line] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # tables
    level: int = 0  # headings: 1 (largest) or 2
    grid: bool = False  # tables: every row's cells fall in distinct columns (a Markdown table)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "text": self.text, "bbox": list(self.bbox),
                               "lines": [{"text": ln.text, "bbox": list(ln.bbox), "score": ln.score}
                                         for ln in self.lines]}
        if self.type == "table":
            out["rows"] = self.rows
        if self.type == "heading":
            out["level"] = self.level
        return out


def union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def body_height(lines: list[Line]) -> float:
    """The typical text height: the median of lines with a few characters (headings are rarer than body lines)."""
    hs = [ln.height for ln in lines if len(ln.text) >= 4] or [ln.height for ln in lines]
    return float(median(hs)) if hs else 10.0


# ---- rows and columns
def rows_of(lines: list[Line]) -> list[list[Line]]:
    """Lines grouped into rows (vertical overlap of half the smaller height), each row left to right."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda x: (x.cy, x.bbox[0])):
        for row in rows:
            top, bottom = min(x.bbox[1] for x in row), max(x.bbox[3] for x in row)
            overlap = min(bottom, ln.bbox[3]) - max(top, ln.bbox[1])
            if overlap >= 0.5 * min(ln.height, bottom - top) and abs(ln.cy - row[-1].cy) < max(ln.height, 1):
                row.append(ln)
                break
        else:
            rows.append([ln])
    for row in rows:
        row.sort(key=lambda x: x.bbox[0])
    rows.sort(key=lambda r: min(x.bbox[1] for x in r))
    return rows


def gutters(lines: list[Line], min_width: float) -> list[tuple[int, int]]:
    """Vertical strips no line crosses, at least ``min_width`` wide, between the region's leftmost and rightmost
    text. Boxes are taken in by ``PAD`` text heights on each side: the detector draws them that much wider than
    the ink, which closes narrow gutters."""
    pad = int(PAD * min_width / GUTTER)
    spans = sorted((ln.bbox[0] + min(pad, ln.width // 4), ln.bbox[2] - min(pad, ln.width // 4)) for ln in lines)
    out: list[tuple[int, int]] = []
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= min_width:
            out.append((reach, x0))
        reach = max(reach, x1)
    return out


def side_by_side(lines: list[Line], cuts: list[tuple[int, int]], h: float) -> list[tuple[int, int]]:
    """The narrow gutters that separate real columns: at least three lines on each side, each side at least four
    text heights wide, and at least three rows with text on both sides. A line of prose runs across any point of
    its own column, so a strip that no line crosses with columns of text on both sides is a gutter however narrow
    it is (Latin words and digits overhang tight columns)."""
    out = []
    for a, b in cuts:
        left = [ln for ln in lines if (ln.bbox[0] + ln.bbox[2]) / 2 < a]  # no line crosses the strip
        right = [ln for ln in lines if (ln.bbox[0] + ln.bbox[2]) / 2 > b]
        if len(left) < 3 or len(right) < 3:
            continue
        if a - min(ln.bbox[0] for ln in left) < 4 * h or max(ln.bbox[2] for ln in right) - b < 4 * h:
            continue
        paired = sum(1 for ln in left if any(min(ln.bbox[3], r.bbox[3]) - max(ln.bbox[1], r.bbox[1]) > 0.5 * h
                                              for r in right))
        if paired >= 3:
            out.append((a, b))
    return out


def split_columns(lines: list[Line], cuts: list[tuple[int, int]]) -> list[list[Line]]:
    cols: list[list[Line]] = [[] for _ in range(len(cuts) + 1)]
    for ln in lines:
        i = sum(1 for a, _b in cuts if ln.bbox[0] >= a)
        cols[i].append(ln)
    return [c for c in cols if c]


def _text_like(col: list[Line], h: float) -> bool:
    """Justified text: most lines run the column's full width and hold several characters."""
    left, right = min(x.bbox[0] for x in col), max(x.bbox[2] for x in col)
    full = sum(1 for x in col if x.bbox[2] >= right - 1.5 * h and x.bbox[0] <= left + 2.5 * h)
    chars = median(len(x.text) for x in col)
    return full >= 0.6 * len(col) and chars >= 8


def is_table(lines: list[Line], h: float) -> bool:
    rows = rows_of(lines)
    multi = [r for r in rows if len(r) >= 2]
    if len(multi) < 2 or len(multi) < 0.6 * len(rows):
        return False
    cuts = gutters(lines, GUTTER * h)
    if not cuts:
        return False
    cols = split_columns(lines, cuts)
    return not any(_text_like(c, h) for c in cols)  # a column of justified prose makes it text, not a table


# ---- the XY-cut
def _bands_by_gaps(lines: list[Line], h: float) -> list[list[Line]]:
    ordered = sorted(lines, key=lambda x: x.bbox[1])
    bands: list[list[Line]] = [[ordered[0]]]
    bottom = ordered[0].bbox[3]
    for ln in ordered[1:]:
        if ln.bbox[1] - bottom >= BIG_GAP * h:
            bands.append([])
        bands[-1].append(ln)
        bottom = max(bottom, ln.bbox[3])
    return bands


def _spanning(lines: list[Line], h: float) -> list[Line]:
    """Lines whose removal opens a column gutter: those crossing the strip the fewest lines cross."""
    x0, x1 = min(x.bbox[0] for x in lines), max(x.bbox[2] for x in lines)
    if x1 - x0 < 4 * h:
        return []
    step = max(1, int(h / 4))
    best: tuple[int, int] | None = None  # (crossings, x)
    for x in range(x0 + int(2 * h), x1 - int(2 * h), step):
        n = sum(1 for ln in lines if ln.bbox[0] < x < ln.bbox[2])
        if best is None or n < best[0]:
            best = (n, x)
    if best is None or best[0] == 0 or best[0] > max(3, 0.2 * len(lines)):
        return []
    crossing = [ln for ln in lines if ln.bbox[0] < best[1] < ln.bbox[2]]
    rest = [ln for ln in lines if ln not in crossing]
    if len(rest) < 2 or not gutters(rest, GUTTER * h):
        return []
    return crossing


def _bands_by_spanning(lines: list[Line], crossing: list[Line]) -> list[list[Line]]:
    ids = {id(x) for x in crossing}
    bands: list[list[Line]] = []
    current: list[Line] = []
    for ln in sorted(lines, key=lambda x: (x.cy, x.bbox[0])):
        if id(ln) in ids:
            if current:
                bands.append(current)
            bands.append([ln])
            current = []
        else:
            current.append(ln)
    if current:
        bands.append(current)
    return bands


def segment(lines: list[Line], h: float, depth: int = 0) -> list[tuple[str, list[Line]]]:
    """Regions in reading order: ("table" | "text", lines)."""
    if len(lines) <= 1 or depth > 30:
        return [("text", lines)] if lines else []
    if is_table(lines, h):
        return [("table", lines)]
    parts = _bands_by_gaps(lines, h)
    if len(parts) <= 1:
        cuts = gutters(lines, GUTTER * h) or side_by_side(lines, gutters(lines, NARROW * h), h)
        parts = split_columns(lines, cuts) if cuts else []
    if len(parts) <= 1:
        crossing = _spanning(lines, h)
        parts = _bands_by_spanning(lines, crossing) if crossing else []
    if len(parts) <= 1:
        return [("text", lines)]
    out: list[tuple[str, list[Line]]] = []
    for p in parts:
        out += segment(p, h, depth + 1)
    return out


def _tabular(row: list[Line]) -> bool:
    return len(row) >= 3 or (len(row) == 2 and all(len(x.text) <= 12 for x in row))


def regions(lines: list[Line], h: float) -> list[tuple[str, list[Line]]]:
    """Tables first — runs of at least three rows of several short cells, across the page — then the text above,
    between and below them cut into regions."""
    rows = rows_of(lines)
    runs: list[list[list[Line]]] = []
    current: list[list[Line]] = []
    for row in [*rows, []]:
        if row and _tabular(row):
            current.append(row)
            continue
        if len(current) >= 3 and is_table([x for r in current for x in r], h):
            runs.append(current)
        current = []
    out: list[tuple[str, list[Line]]] = []
    rest = list(lines)
    for run in runs:
        table = [x for r in run for x in r]
        top = min(x.bbox[1] for x in table)
        ids = {id(x) for x in table}
        above = [x for x in rest if id(x) not in ids and x.cy < top]
        out += segment(above, h)
        out.append(("table", table))
        rest = [x for x in rest if id(x) not in ids and x.cy >= top]
    return out + segment(rest, h)


def split_cells(ln: Line) -> list[Line]:
    """A box the detector drew over several table cells ("华东 1256.3") split at spaces next to Chinese text — only
    when the box is clearly wider than its characters (a real gap, not a space the recogniser put between
    sentences); the parts' boxes are estimated from character widths, the slack shared by the gaps."""
    parts = re.split(r"(?<=[\u3400-\u9fff）)%])\s+(?=[\u3400-\u9fff\d])|(?<=\d)\s+(?=[\u3400-\u9fff])", ln.text)
    if len(parts) <= 1:
        return [ln]
    char_w = 0.95 * ln.height  # a Chinese character is about as wide as the box is high
    weights = [sum(1.0 if ord(c) > 0x2E80 else 0.55 for c in p) * char_w for p in parts]
    slack = ln.width - sum(weights)
    if slack < 1.5 * ln.height * (len(parts) - 1):
        return [ln]
    gap = slack / (len(parts) - 1)
    out, x = [], float(ln.bbox[0])
    for p, w in zip(parts, weights, strict=True):
        out.append(Line(p, (int(x), ln.bbox[1], int(x + w), ln.bbox[3]), ln.score))
        x += w + gap
    return out


# ---- text regions → headings and paragraphs
def join_text(parts: list[str]) -> str:
    out = ""
    for p in parts:
        if out and _ASCII_WORD.match(out[-1]) and _ASCII_WORD.match(p[:1]):
            out += " "
        out += p
    return out


def row_text(row: list[Line], h: float) -> str:
    out = row[0].text
    for prev, ln in zip(row, row[1:], strict=False):
        out += (" " if ln.bbox[0] - prev.bbox[2] >= h else "") + ln.text
    return out


def _is_heading_row(text: str, height: float, h: float, short: bool) -> bool:
    if height >= HEADING * h and len(text) <= 60 and text[-1] not in "。；;，,":
        return True
    return short and len(text) <= 30 and text[-1] not in _TERMINAL + "，," and bool(CN_HEADING_START.match(text))


def text_blocks(lines: list[Line], h: float) -> list[Block]:
    rows = rows_of(lines)
    left = min(x.bbox[0] for x in lines)
    right = max(x.bbox[2] for x in lines)
    gaps = [b[0].bbox[1] - max(x.bbox[3] for x in a) for a, b in zip(rows, rows[1:], strict=False)]
    usual_gap = median(gaps) if gaps else 0.5 * h
    blocks: list[Block] = []
    cur: list[list[Line]] = []
    cur_heading = False

    def flush() -> None:
        if not cur:
            return
        texts = [row_text(r, h) for r in cur]
        lns = [x for r in cur for x in r]
        if cur_heading:
            height = median(x.height for x in lns)
            blocks.append(Block("heading", join_text(texts), union([x.bbox for x in lns]), lns,
                                level=1 if height >= 1.6 * h else 2))
        else:
            blocks.append(Block("paragraph", join_text(texts), union([x.bbox for x in lns]), lns))
        cur.clear()

    prev: list[Line] | None = None
    for row in rows:
        text = row_text(row, h)
        height = median(x.height for x in row)
        x0 = row[0].bbox[0]
        heading = _is_heading_row(text, height, h, max(x.bbox[2] for x in row) < right - 1.5 * h)
        if prev is not None:
            prev_right = max(x.bbox[2] for x in prev)
            gap = row[0].bbox[1] - max(x.bbox[3] for x in prev)
            new = (heading != cur_heading or x0 - left >= 1.2 * h or prev_right < right - 1.5 * h
                   or gap > max(0.9 * h, 1.6 * usual_gap))
            if heading and cur_heading:  # a headline set over several rows stays one heading
                new = gap > max(0.9 * h, 1.6 * usual_gap)
            if new:
                flush()
        cur_heading = heading
        cur.append(row)
        prev = row
    flush()
    return blocks


def table_block(lines: list[Line], h: float) -> Block:
    rows = rows_of(lines)
    cuts = gutters(lines, GUTTER * h)
    n = len(cuts) + 1
    grid: list[list[str]] = []
    clear = True
    for row in rows:
        cells = [""] * n
        for ln in row:
            i = sum(1 for a, _b in cuts if ln.bbox[0] >= a)
            if cells[i]:
                clear = False
            cells[i] = join_text([cells[i], ln.text]) if cells[i] else ln.text
        grid.append(cells)
    if not clear:
        grid = [[row_text([ln], h) for ln in row] for row in rows]
    text = "\n".join("| " + " | ".join(r) + " |" for r in grid)
    return Block("table", text, union([x.bbox for x in lines]), sorted(lines, key=lambda x: (x.cy, x.bbox[0])),
                 rows=grid, grid=clear and len(grid) >= 2)


def layout(lines: list[Line]) -> list[Block]:
    """Blocks of one page in reading order."""
    if not lines:
        return []
    h = body_height(lines)
    lines = [part for ln in lines for part in split_cells(ln)]
    blocks: list[Block] = []
    for kind, region in regions(lines, h):
        blocks += [table_block(region, h)] if kind == "table" else text_blocks(region, h)
    return blocks
