"""Make OCR / PDF Chinese text read as written, keeping a map back to the original for citations.

Handles: a space between every character ("中 国 汽 车"), hard line breaks in mid-sentence, numbers split from
their units across lines ("656" / "万辆"), running headers and page numbers. Real spaces in Latin text stay.
Every output character remembers the offset of the original character it came from (inserted joiners take the
offset of the line break they replace), so a chunk can be cited as a span of the original text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

Char = tuple[str, int]  # (character, offset in the original text)

_TERMINAL = set("。！？!?；;…」』”）)】")
_UNITS = set("万亿千百十元角分辆台吨斤米里个人次件名位家所年月日号时秒倍%％‰℃度层岁部篇项条套股户亩平")
_HEADING_START = re.compile(r"^(第[一二三四五六七八九十百零〇\d]+[章节条部分篇]|[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）"
                            r"|\d+(\.\d+)*[、.．]\s*\S|#)")
_PAGE_NUMBER = re.compile(r"^\s*(?:[-—–]\s*\d{1,4}\s*[-—–]|第\s*\d{1,4}\s*页(?:\s*[/／,，]?\s*共\s*\d+\s*页)?"
                          r"|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d+)?|\d{1,4}\s*/\s*\d{1,4})\s*$", re.I)
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
    """Keys of short lines repeated ≥ ``min_repeats`` times: running headers/footers of pages."""
    lines = [ln.strip() for ln in text.splitlines()]
    keys = Counter(k for k in (_header_key(ln) for ln in lines if ln and ln[-1] not in _TERMINAL) if 0 < len(k) <= 40)
    return {k for k, n in keys.items() if n >= min_repeats and len(k) >= 4}


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


def _joiner(prev: list[Char], nxt: list[Char], blank_between: bool, indented: bool, full: float) -> str:
    """'' to join the lines, ' ' to join Latin words, '\\n' for a paragraph break."""
    a, b = prev[-1][0], nxt[0][0]
    nxt_text = "".join(c for c, _ in nxt[:12])
    if a.isdigit() and (b in _UNITS or b.isdigit() or b in ".．%"):
        return ""  # "656" / "万辆", "12." / "5%"
    if (a.islower() or a == ",") and a.isascii() and b.islower() and b.isascii() and not blank_between:
        return " "  # an English sentence continues on the next line
    short = _width(prev) < 0.8 * full  # display width: a full line of digits and Latin holds more characters
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
    """Display width: CJK and full-width characters take two columns."""
    return sum(2 if is_cjk(c) else 1 for c, _ in chars)


def _gutter(line: list[Char]) -> tuple[int, int, int] | None:
    """(start, end, display column of end) of the widest inner whitespace run of ≥ 4 in a line's body."""
    skip = 1 if line and line[0][0] in "\n\f\v\u2028\u2029" else 0
    body = "".join(c for c, _ in line[skip:])
    runs = [(m.start() + skip, m.end() + skip) for m in _GUTTER.finditer(body)]
    if not runs:
        return None
    start, end = max(runs, key=lambda r: r[1] - r[0])
    return start, end, _width(line[skip:end])


def _split_segment(seg: list[list[Char]]) -> list[list[Char]]:
    """Two columns printed side by side (the right one starting at the same display column) → left, then right."""
    content = [ln for ln in seg if _body(ln).strip()]
    gutters = [g for g in (_gutter(ln) for ln in content) if g]
    if len(content) < 4 or len(gutters) < 0.6 * len(content):
        return seg
    cols = sorted(g[2] for g in gutters)
    mid = cols[len(cols) // 2]
    if sum(abs(g[2] - mid) <= 3 for g in gutters) < 0.8 * len(gutters):
        return seg  # gaps all over the place: a table or free layout, not columns
    left: list[list[Char]] = []
    right: list[list[Char]] = []
    for ln in seg:
        g = _gutter(ln)
        skip = 1 if ln and ln[0][0] in "\n\f\v\u2028\u2029" else 0
        lead = len(_body(ln)) - len(_body(ln).lstrip())
        if g and abs(g[2] - mid) <= 3:
            left.append(ln[:g[0]])
            right.append([("\n", ln[g[1]][1]), *ln[g[1]:]])
        elif _body(ln).strip() and _width(ln[skip:skip + lead]) >= mid - 3:  # only the right column has text
            right.append([("\n", ln[skip + lead][1]), *ln[skip + lead:]])
        else:
            left.append(ln)
    gap_at = right[0][0][1] if right else 0
    return [*left, [("\n", gap_at)], *right]


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
    """Normalise messy text. ``repeated`` (from :func:`running_lines`) names running headers to drop."""
    repeated = running_lines(text) if repeated is None else repeated
    raw = _split_columns(_lines(text), repeated)
    kept: list[tuple[list[Char], bool, bool, int]] = []  # (chars, blank_before, indented, break offset)
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
            kept.append((chars, blank, indented, brk))
        blank = False
    full = _full_width([_width(c) for c, *_ in kept])
    out: list[Char] = []
    for n, (chars, blank_before, indented, brk) in enumerate(kept):
        if n:
            j = _joiner(kept[n - 1][0], chars, blank_before, indented, full)
            if j:
                out.append((j, brk))
            elif out and out[-1][0] == "-" and len(out) > 1 and out[-2][0].isalpha() and chars[0][0].isalpha():
                out.pop()  # hyphenated Latin word broken across lines
        out.extend(chars)
    return Normalized("".join(c for c, _ in out), [i for _, i in out])


def identity(text: str, base: int = 0) -> Normalized:
    return Normalized(text, list(range(base, base + len(text))))
