"""Tiered rules answered by code: "单笔采购金额30万元需要谁审批？" against "5万元以下的，由部门负责人审批；5万元（含）至50万元的，
由分管副总审批；50万元（含）以上的，须经总经理办公会审议。", or "满12年有几天年假" against a table of 工龄 bands.

A small model reads such bands wrongly (the 1.5B answered the 5万元 band for 30万元, and refused the 12-year question
twice). When the question states a number with a unit, and one passage holds two or more bands in that unit of which
exactly one contains the number, that band's clause (a table row whole) is the answer — taken from the text, so it is
right by construction and cited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hanlin.knowledge.fold import fold

UNITS = ("万元", "亿元", "元", "个工作日", "工作日", "小时", "公里", "年", "天", "日", "人", "次", "岁", "月", "%")
_U = "|".join(re.escape(u) for u in UNITS)
_NUM = r"(\d+(?:\.\d+)?)"
_INC = r"(?:（含）|\(含\))?"
# one band: [lo, hi) with None for open ends
_BANDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"满{_NUM}\s*({_U})?\s*不满{_NUM}\s*({_U})"), "lo_hi"),
    (re.compile(rf"{_NUM}\s*({_U})?{_INC}\s*(?:至|到|~|～|-|—)\s*{_NUM}\s*({_U})"), "lo_hi"),
    (re.compile(rf"(?:满|达到)?{_NUM}\s*({_U}){_INC}\s*(?:以上|及以上|或以上)"), "lo"),
    (re.compile(rf"(?:不少于|不低于|超过|大于|高于){_NUM}\s*({_U})"), "lo"),
    (re.compile(rf"(?:不满|不足|低于|少于|小于|不超过|未满){_NUM}\s*({_U})"), "hi"),
    (re.compile(rf"{_NUM}\s*({_U}){_INC}\s*(?:以下|以内)"), "hi"),
]


@dataclass
class Band:
    lo: float | None
    hi: float | None
    unit: str
    clause: str

    def holds(self, x: float) -> bool:
        return (self.lo is None or x >= self.lo) and (self.hi is None or x < self.hi)


def bands(clause: str) -> list[Band]:
    """The numeric bands a clause states (usually one)."""
    out: list[Band] = []
    taken: list[tuple[int, int]] = []
    for rx, kind in _BANDS:
        for m in rx.finditer(clause):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            g = m.groups()
            if kind == "lo_hi":
                unit = g[3]
                out.append(Band(float(g[0]), float(g[2]), unit, clause))
            elif kind == "lo":
                out.append(Band(float(g[0]), None, g[1], clause))
            else:
                out.append(Band(None, float(g[0]), g[1], clause))
            taken.append((m.start(), m.end()))
    return out


def _clauses(passage: str) -> list[str]:
    """Table rows (``列：值；列：值``) whole, prose split at ``；`` and sentence ends."""
    out: list[str] = []
    for line in re.split(r"[\n。！？]", passage):
        line = line.strip()
        if not line:
            continue
        if line.count("：") >= 2:
            out.append(line)
        else:
            out += [c.strip() for c in re.split(r"[；;]", line) if c.strip()]
    return out


def question_numbers(question: str) -> list[tuple[float, str]]:
    """(value, unit) pairs the question states: ``30万元`` → (30, 万元); ``满12年`` → (12, 年)."""
    return [(float(m.group(1)), m.group(2)) for m in re.finditer(rf"{_NUM}\s*({_U})", fold(question))]


def tier_clause(question: str, passage: str) -> str | None:
    """The one clause of ``passage`` whose band holds the number the question states, when the passage is a tiered
    rule in that unit (two or more bands); else None."""
    asked = question_numbers(question)
    if not asked:
        return None
    clauses = _clauses(fold(passage))
    for value, unit in asked:
        found = [(c, b) for c in clauses for b in bands(c) if b.unit == unit]
        if len({c for c, _ in found}) < 2:
            continue
        hits = list(dict.fromkeys(c for c, b in found if b.holds(value)))
        if len(hits) == 1:
            return hits[0]
    return None


def _cells(row: str) -> list[tuple[str, str]]:
    """``列：值；列：值`` → [(列, 值), …]."""
    out = []
    for cell in re.split(r"[；;]", row):
        head, sep, value = cell.partition("：")
        if sep and head.strip() and value.strip():
            out.append((head.strip(), value.strip()))
    return out


def table_cell(words: list[str], passage: str) -> str | None:
    """A table lookup: the one row whose values name a word of the question that the other rows do not, and the one
    column whose header holds a word of the question → ``行首：值；列：值``. ``words``: the question's content words.
    None unless both are unique (the model answers then)."""
    rows = [r for r in (line.strip() for line in fold(passage).split("\n")) if r.count("：") >= 2]
    parsed = [_cells(r) for r in rows]
    if len(parsed) < 2:
        return None
    lw = [w.lower() for w in words if len(w) >= 2]
    picks = [i for i, cells in enumerate(parsed)
             if any(w in v.lower() for w in lw for _, v in cells)]
    if len(picks) != 1:
        return None
    cells = parsed[picks[0]]
    cols = [(h, v) for h, v in cells[1:] if any(w in h.lower() or (len(h) >= 2 and h.lower() in w) for w in lw)]
    if len(cols) != 1:
        return None
    head, value = cols[0]
    first = f"{cells[0][0]}：{cells[0][1]}"
    return f"{first}；{head}：{value}"
