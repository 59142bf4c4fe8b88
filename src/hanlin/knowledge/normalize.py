"""Make OCR / PDF Chinese text read as written, keeping a map back to the original for citations.

Handles: a space between every character ("中 国 汽 车"), hard line breaks in mid-sentence, numbers split from
their units across lines ("656" / "万辆"), running headers and page numbers. Real spaces in Latin text stay.
Every output character remembers the offset of the original character it came from (inserted joiners take the
offset of the line break they replace), so a chunk can be cited as a span of the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hanlin.text import CN_HEADING, HEADING_DECIMAL, columns

Char = tuple[str, int]  # (character, offset in the original text)

_TERMINAL = set("。！？!?；;…」』”）)】")
_UNITS = set("万亿千百十元角分辆台吨斤米里个人次件名位家所年月日号时秒倍%％‰℃度层岁部篇项条套股户亩平")
_HEADING_START = re.compile(rf"^({CN_HEADING}|{HEADING_DECIMAL}\s*\S|#)")
_PAGE_NUMBER = re.compile(r"^\s*(?:[-—–]\s*\d{1,4}\s*[-—–]|第\s*\d{1,4}\s*页(?:\s*[/／,，]?\s*共\s*\d+\s*页)?"
                          r"|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d+)?|\d{1,4}\s*/\s*\d{1,4})\s*$", re.I)
PAGE_LINES = 8  # a line repeated at least this far apart every time is a running header even without page numbers
FULL_WINDOW = 4  # lines each side of a line break whose widths say how wide a full line is
_BARE_NUMBER = re.compile(r"^\s*\d{1,4}\s*$")


def is_cjk(c: str) -> bool:
    o = ord(c)
    return (0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF
            or c in "“”‘’…—·")


@dataclass
class Normalized:
    text: str
    offsets: list[int] = field(default_factory=list)  # offsets[i]: where text[i] came from in the original

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original-text span of ``text[start:end]``."""
        if not self.offsets or end <= start:
            return (0, 0)
        return self.offsets[start], self.offsets[min(end, len(self.offsets)) - 1] + 1


def _lines(text: str) -> list[list[Char]]:
    out: list[list[Char]] = [[]]
    for i, c in enumerate(text):
        if c in "\n\f\v\u2028\u2029":
            out.append([(c, i)])  # the line keeps its break char first, as a joiner offset
        else:
            out[-1].append((c, i))
    return out


def _body(line: list[Char]) -> str:
    return "".join(c for c, _ in line if c not in "\n\f\v\u2028\u2029")


def _header_key(s: str) -> str:
    return re.sub(r"[\s\d]+", "", s)


def running_lines(text: str, min_repeats: int = 3) -> set[str]:
    """Keys of short lines repeated ≥ ``min_repeats`` times at page breaks: running headers/footers of pages.

    A page break is the text's start or end, a form feed, or a page-number line within two lines. A line repeated
    far apart (≥ ``PAGE_LINES`` lines between every two) counts too. Statistics set in narrow columns repeat short
    lines close together ("亿 斤 ， 比 上 年 增 加 267" / "亿 斤 ， 增 长 2.0") — those are text, not headers."""
    lines = text.replace("\f", "\n\f").split("\n")
    breaks = {i for i, ln in enumerate(lines) if ln.startswith("\f") or _PAGE_NUMBER.match(ln)}
    where: dict[str, list[int]] = {}
    for i, ln in enumerate(lines):
        ln = ln.strip()
        key = _header_key(ln)
        if ln and ln[-1] not in _TERMINAL and 4 <= len(key) <= 40:
            where.setdefault(key, []).append(i)
    last = len(lines) - 1
    out = set()
    for key, at in where.items():
        if len(at) < min_repeats:
            continue
        at_break = sum(any(abs(i - b) <= 2 for b in breaks) or i <= 1 or i >= last - 1 for i in at)
        spread = min(b - a for a, b in zip(at, at[1:], strict=False)) >= PAGE_LINES
        if spread or at_break >= (len(at) + 1) // 2:
            out.add(key)
    return out


def _is_spaced(body: str) -> bool:
    """True for lines where most characters are separated by single spaces (OCR output)."""
    chars = [c for c in body if not c.isspace()]
    if len(chars) < 4:
        return False
    singles = len(re.findall(r"(?<=\S) (?=\S)", body))
    return singles / len(chars) >= 0.4


def _drop_space(a: str, b: str, before_a: str, after_b: str, spaced: bool, run: int) -> bool:
    if is_cjk(a) or is_cjk(b):
        return is_cjk(a) and is_cjk(b) or a.isdigit() or b.isdigit() or not (a.isalnum() and b.isalnum())
    if spaced and run == 1:  # "2 0 2 3", "G D P", "1 2 . 5 %": isolated characters of a spaced-out line
        return not (before_a.isascii() and before_a.isalnum()) and not (after_b.isascii() and after_b.isalnum())
    return False


def _collapse(line: list[Char]) -> list[Char]:
    """One line: drop artificial spaces, collapse real whitespace runs to one space, strip the ends."""
    chars = [(c, i) for c, i in line if c not in "\n\f\v\u2028\u2029"]
    body = "".join(c for c, _ in chars)
    spaced = _is_spaced(body)
    out: list[Char] = []
    n = len(chars)
    k = 0
    while k < n:
        c, i = chars[k]
        if not c.isspace():
            out.append((c, i))
            k += 1
            continue
        j = k
        while j < n and chars[j][0].isspace():
            j += 1
        if out and j < n:
            a, b = out[-1][0], chars[j][0]
            before_a = chars[k - 2][0] if k > 1 else ""  # original neighbours: isolated-character test
            after_b = chars[j + 1][0] if j + 1 < n else ""
            if not _drop_space(a, b, before_a, after_b, spaced, j - k):
                out.append((" ", i))
        k = j
    return out


def _is_page_number(lines: list[list[Char]], idx: int) -> bool:
    body = _body(lines[idx])
    if _PAGE_NUMBER.match(body):
        return True
    if not _BARE_NUMBER.match(body):
        return False
    # a bare number is a page number only when it stands alone (blank or page break around it), never "656" / "万辆"
    prev = _body(lines[idx - 1]).strip() if idx > 0 else ""
    nxt = _body(lines[idx + 1]).strip() if idx + 1 < len(lines) else ""
    page_break = lines[idx] and lines[idx][0][0] == "\f" or (idx + 1 < len(lines) and lines[idx + 1]
                                                             and lines[idx + 1][0][0] == "\f")
    return bool(page_break) or (not prev and not nxt)


def _full_width(lengths: list[int]) -> float:
    if not lengths:
        return 0.0
    s = sorted(lengths)
    return float(s[min(len(s) - 1, int(len(s) * 0.75))])


def _local_full(widths: list[int], i: int) -> float:
    """How wide a full line is around line ``i``, judged on the lines before it and on those after it; the
    narrower verdict wins, so the first line of an article set narrower than the one above is not "short"."""
    before = widths[max(0, i - FULL_WINDOW):i + 1]
    after = widths[i:i + 1 + FULL_WINDOW]
    sides = [_full_width(w) for w in (before, after) if len(w) >= 3]
    return min(sides) if sides else _full_width(widths)


def _joiner(prev: list[Char], nxt: list[Char], blank_between: bool, indented: bool, full: float,
            prev_width: int) -> str:
    """'' to join the lines, ' ' to join Latin words, '\\n' for a paragraph break. ``prev_width``: the previous
    line's display width, its indent included."""
    a, b = prev[-1][0], nxt[0][0]
    nxt_text = "".join(c for c, _ in nxt[:12])
    if a.isdigit() and (b in _UNITS or b.isdigit() or b in ".．%"):
        return ""  # "656" / "万辆", "12." / "5%"
    if (a.islower() or a == ",") and a.isascii() and b.islower() and b.isascii() and not blank_between:
        return " "  # an English sentence continues on the next line
    short = prev_width < 0.8 * full  # display width: a full line of digits and Latin holds more characters
    if _HEADING_START.match(nxt_text) and (a in _TERMINAL or short or blank_between):
        return "\n"
    if a in _TERMINAL:
        return "\n" if short or indented or blank_between else ""
    if short and (blank_between or not (a in "，、,：:（(《“" or b in "，。、,.；;：:）)》”")):
        return "\n"  # a heading or a paragraph's last line
    if blank_between and not is_cjk(a) and not a.isdigit():
        return "\n"
    if a.isascii() and a.isalnum() and b.isascii() and b.isalnum():
        return " "
    return ""


_GUTTER = re.compile(r"(?<=\S)[ \u3000]{4,}(?=\S)")


def _width(chars: list[Char]) -> int:
    return columns("".join(c for c, _ in chars))


def _skip(line: list[Char]) -> int:
    """1 when the line starts with its break character (see :func:`_lines`), else 0."""
    return 1 if line and line[0][0] in "\n\f\v\u2028\u2029" else 0


def _gutters(line: list[Char]) -> list[tuple[int, int, int]]:
    """(start, end, display column of end) of every inner whitespace run of ≥ 4 in a line's body."""
    skip = _skip(line)
    body = "".join(c for c, _ in line[skip:])
    out = []
    for m in _GUTTER.finditer(body):
        indent = body.find("\u3000", m.start() + 4, m.end())  # the right column's paragraph indent stays
        end = indent if indent > 0 else m.end()
        out.append((m.start() + skip, end + skip, _width(line[skip:end + skip])))
    return out


def _column_start(seg: list[list[Char]]) -> int | None:
    """The display column where most gutters end (a right-hand column starts), when ≥ 4 lines agree."""
    runs = [_gutters(ln) for ln in seg]
    best, votes = None, 0
    for col in sorted({g[2] for rs in runs for g in rs}):
        v = sum(any(abs(g[2] - col) <= 3 for g in rs) for rs in runs)
        if v > votes:
            best, votes = col, v
    return best if votes >= 4 else None


def _lead(ln: list[Char]) -> int:
    body = _body(ln)
    return len(body) - len(body.lstrip())


def _one_column(ln: list[Char], mid: int) -> bool:
    """Only the left column (narrower than the gutter) or only the right one (indented to it) has text."""
    skip = _skip(ln)
    body = _body(ln).rstrip()
    return bool(body.strip()) and (columns(body) <= mid - 2 or _width(ln[skip:skip + _lead(ln)]) >= mid - 3)


def _split_block(block: list[list[Char]], at: list[tuple[int, int, int] | None], mid: int) -> list[list[Char]]:
    """Lines of two side-by-side columns → the left column's lines, then the right one's."""
    left: list[list[Char]] = []
    right: list[list[Char]] = []
    for ln, g in zip(block, at, strict=True):
        skip, lead = _skip(ln), _lead(ln)
        if g:
            left.append(ln[:g[0]])
            right.append([("\n", ln[g[1]][1]), *ln[g[1]:]])
        elif _body(ln).strip() and _width(ln[skip:skip + lead]) >= mid - 3:  # only the right column has text
            right.append([("\n", ln[skip + lead][1]), *ln[skip + lead:]])
        else:
            left.append(ln)
    gap_at = right[0][0][1] if right else 0
    return [*left, [("\n", gap_at)], *right]


def _looks_like_columns(block: list[list[Char]], at: list[tuple[int, int, int] | None]) -> bool:
    """Prose columns are lines of text that fill their width; a table's cells ("张三    财务") are short."""
    lefts = [(_body(ln[:g[0]]).strip(), g[2]) for ln, g in zip(block, at, strict=True) if g]
    if len(lefts) < 4:
        return False
    chars = sorted(sum(not c.isspace() for c in t) for t, _ in lefts)
    fills = sorted(columns(t) / max(1, col) for t, col in lefts)
    return chars[len(chars) // 2] >= 10 or fills[len(fills) // 2] >= 0.7


def _split_segment(seg: list[list[Char]]) -> list[list[Char]]:
    """Undo two columns printed side by side (the right one starting at the same display column) wherever a page
    has them: each run of column lines becomes its left column, then its right one; other lines stay put."""
    mid = _column_start(seg)
    if mid is None:
        return seg
    at = [min((g for g in _gutters(ln) if abs(g[2] - mid) <= 3), key=lambda g: abs(g[2] - mid), default=None)
          for ln in seg]
    out: list[list[Char]] = []
    i, n = 0, len(seg)
    while i < n:
        if at[i] is None:
            out.append(seg[i])
            i += 1
            continue
        last, gap, k = i, 0, i + 1
        while k < n and gap <= 2:  # a run: gutter lines with at most two text lines without one in between
            if at[k] is not None:
                last, gap = k, 0
            elif _body(seg[k]).strip():
                gap += 1
            k += 1
        end = last + 1
        while end < n and at[end] is None and _one_column(seg[end], mid):  # one column ran on alone
            end += 1
        texts = sum(1 for ln in seg[i:last + 1] if _body(ln).strip())
        if sum(g is not None for g in at[i:last + 1]) >= 0.6 * texts and _looks_like_columns(seg[i:end], at[i:end]):
            out += _split_block(seg[i:end], at[i:end], mid)
        else:
            out += seg[i:end]
        i = end
    return out


def _split_columns(raw: list[list[Char]], repeated: set[str]) -> list[list[Char]]:
    """Undo side-by-side columns, page by page (pages end at running headers, page numbers or form feeds)."""
    out: list[list[Char]] = []
    seg: list[list[Char]] = []
    for idx, ln in enumerate(raw):
        body = _body(ln)
        boundary = (bool(ln) and ln[0][0] == "\f") or _header_key(body) in repeated or (
            body.strip() != "" and _is_page_number(raw, idx))
        if boundary:
            out += _split_segment(seg)
            seg = []
            out.append(ln)
        else:
            seg.append(ln)
    return out + _split_segment(seg)


def normalize(text: str, repeated: set[str] | None = None) -> Normalized:
    """Normalize messy text. ``repeated`` (from :func:`running_lines`) names running headers to drop."""
    repeated = running_lines(text) if repeated is None else repeated
    raw = _split_columns(_lines(text), repeated)
    # (chars, blank_before, indented, break offset, display width of the indent)
    kept: list[tuple[list[Char], bool, bool, int, int]] = []
    blank = False
    for idx, line in enumerate(raw):
        body = _body(line)
        brk = line[0][1] if line and line[0][0] in "\n\f\v\u2028\u2029" else (line[0][1] if line else 0)
        if not body.strip():
            blank = True
            continue
        if _is_page_number(raw, idx) or _header_key(body) in repeated:
            continue  # dropped lines are not blank lines: the sentence around a page break still joins
        indented = body.startswith(("\u3000", "  ", "\t"))
        chars = _collapse(line)
        if chars:
            lead = body[:len(body) - len(body.lstrip())]
            kept.append((chars, blank, indented, brk, sum(2 if c == "\u3000" else 1 for c in lead)))
        blank = False
    widths = [_width(c) + indent for c, _, _, _, indent in kept]
    out: list[Char] = []
    for n, (chars, blank_before, indented, brk, _) in enumerate(kept):
        if n:
            j = _joiner(kept[n - 1][0], chars, blank_before, indented, _local_full(widths, n - 1),
                        widths[n - 1])
            if j:
                out.append((j, brk))
            elif out and out[-1][0] == "-" and len(out) > 1 and out[-2][0].isalpha() and chars[0][0].isalpha():
                out.pop()  # hyphenated Latin word broken across lines
        out.extend(chars)
    return Normalized("".join(c for c, _ in out), [i for _, i in out])


def identity(text: str, base: int = 0) -> Normalized:
    return Normalized(text, list(range(base, base + len(text))))
