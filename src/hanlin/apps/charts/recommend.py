"""Chart choice by rules: recommendations from the profile, and hints read from a request that the model's
choice must agree with (a request that says 折线/line gets a line chart, named columns get used)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hanlin.apps.charts.profile import FieldProfile, Table
from hanlin.apps.charts.spec import ChartIntent

TYPE_WORDS: list[tuple[str, tuple[str, ...]]] = [
    ("stacked_bar", ("堆叠", "stacked")),
    ("grouped_scatter", ("grouping scatter", "分组散点")),
    ("grouped_line", ("grouping line", "group line", "分组折线", "多条折线")),
    ("pie", ("饼", "pie", "占比", "比例", "proportion")),
    ("scatter", ("散点", "scatter", "相关", "correlation")),
    ("histogram", ("直方", "histogram", "分布")),
    ("area", ("面积", "area chart")),
    ("line", ("折线", "趋势", "走势", "line", "trend", "over time")),
    ("bar", ("柱", "条形", "bar", "histogram")),
]
AGG_WORDS: list[tuple[str, tuple[str, ...]]] = [
    ("mean", ("平均", "average", "avg", "mean")),
    ("count", ("数量", "个数", "多少", "次数", "number of", "how many", "count")),
    ("sum", ("总", "合计", "求和", "total", "sum")),
    ("max", ("最大", "最高", "maximum", "max", "highest")),
    ("min", ("最小", "最低", "minimum", "min", "lowest")),
]


@dataclass
class AskHints:
    chart_type: str | None = None
    aggregate: str | None = None
    columns: list[str] = field(default_factory=list)  # in order of appearance
    sort: str | None = None
    time_unit: str | None = None


def _norm(s: str) -> str:
    return re.sub(r"[\s_]+", "", s).lower()


def ask_hints(ask: str, table: Table) -> AskHints:
    low = ask.lower()
    text = _norm(ask)
    h = AskHints()
    h.chart_type = next((t for t, words in TYPE_WORDS if any(w in low for w in words)), None)
    found = []
    for c in table.columns:
        pos = text.find(_norm(c))
        if _norm(c) and pos >= 0:
            found.append((pos, -len(c), c))
    h.columns = [c for _, _, c in sorted(found)]
    stripped = low
    for c in h.columns:
        stripped = stripped.replace(c.lower(), " ")
    h.aggregate = next((a for a, words in AGG_WORDS if any(w in stripped for w in words)), None)
    if re.search(r"desc|descending|从高到低|降序|从大到小", low):
        h.sort = "y_desc" if re.search(r"y[- ]?axis|从高到低|从大到小|值", low) else "x_desc"
    elif re.search(r"\basc\b|ascending|from low to high|从低到高|升序|从小到大", low):
        h.sort = "y_asc" if re.search(r"y[- ]?axis", low) else "x_asc"
    for unit, words in (("year", ("year", "按年", "每年", "年度")), ("month", ("month", "按月", "每月", "月度")),
                        ("weekday", ("weekday", "day of the week", "星期", "周几"))):
        if any(w in low for w in words):
            h.time_unit = unit
            break
    return h


def _pick(fields: list[FieldProfile], pred: object) -> FieldProfile | None:
    for f in fields:
        if pred(f):  # type: ignore[operator]
            return f
    return None


def _measure_rank(f: FieldProfile) -> tuple[int, float]:
    named = re.search(r"额|金额|销售|收入|利润|成本|费用|amount|sales|revenue|profit|cost|price", f.name, re.I)
    return (1 if named else 0, f.maximum or 0.0)


def recommend(table: Table, k: int = 3) -> list[ChartIntent]:
    """Up to ``k`` sensible charts from the profile alone."""
    fs = table.fields
    measures = [f for f in fs if f.is_measure]
    temporal = [f for f in fs if f.vtype == "temporal"]
    cats = [f for f in fs if f.vtype == "nominal" and 2 <= f.cardinality <= 30 and not f.is_id]
    out: list[ChartIntent] = []
    m = max(measures, key=_measure_rank) if measures else None
    if temporal and m:
        t = temporal[0]
        unit = "month" if t.cardinality > 24 else "none"
        out.append(ChartIntent("line", t.name, m.name, "sum", time_unit=unit, sort="x_asc"))
    if cats and m:
        c = cats[0]
        out.append(ChartIntent("bar", c.name, m.name, "sum", sort="y_desc"))
        small = _pick(cats, lambda f: f.cardinality <= 8)
        if small:
            out.append(ChartIntent("pie", small.name, m.name, "sum"))
        if len(cats) > 1:
            out.append(ChartIntent("stacked_bar", c.name, m.name, "sum", color=cats[1].name))
    if len(measures) >= 2:
        out.append(ChartIntent("scatter", measures[0].name, measures[1].name, "none",
                               color=cats[0].name if cats and cats[0].cardinality <= 10 else ""))
    if cats and not m:
        out.append(ChartIntent("bar", cats[0].name, "", "count", sort="y_desc"))
    if m and not out:
        out.append(ChartIntent("histogram", m.name, "", "count"))
    if not out:
        first = fs[0]
        out.append(ChartIntent("bar", first.name, "", "count"))
    return out[:k]


def repair_intent(intent: ChartIntent, hints: AskHints, table: Table) -> list[str]:
    """Make the model's intent agree with what the request says; returns the changes."""
    notes: list[str] = []
    bar_family = hints.chart_type == "bar" and intent.chart_type in ("stacked_bar", "histogram")
    if hints.chart_type and intent.chart_type != hints.chart_type and not bar_family:
        notes.append(f"chart_type {intent.chart_type} → {hints.chart_type} (request wording)")
        intent.chart_type = hints.chart_type
    numeric_y = bool(intent.y) and table.field(intent.y).vtype == "quantitative"
    if hints.aggregate and intent.aggregate != hints.aggregate and (hints.aggregate == "count" or numeric_y):
        notes.append(f"aggregate {intent.aggregate} → {hints.aggregate} (request wording)")
        intent.aggregate = hints.aggregate
    if intent.aggregate == "count" and intent.y and table.field(intent.y).vtype != "quantitative":
        intent.y = ""
    if intent.y and table.field(intent.y).vtype != "quantitative":
        notes.append(f"y '{intent.y}' is not numeric: counting rows instead")
        intent.y, intent.aggregate = "", "count"
    if not intent.y and intent.aggregate not in ("count",):
        intent.aggregate = "count"
    if intent.chart_type in ("stacked_bar", "grouped_line", "grouped_scatter") and not intent.color:
        cand = [c for c in hints.columns if c not in (intent.x, intent.y)]
        if cand:
            intent.color = cand[0]
            notes.append(f"color ← {cand[0]} (grouped chart)")
    if hints.sort and intent.sort == "none":
        intent.sort = hints.sort
    if hints.time_unit and intent.time_unit == "none" and table.field(intent.x).vtype == "temporal":
        intent.time_unit = hints.time_unit
    if intent.chart_type in ("scatter", "grouped_scatter") and intent.aggregate != "count":
        intent.aggregate = "none"  # a scatter shows the raw pairs
    if intent.chart_type in ("bar", "line", "pie", "stacked_bar", "grouped_line", "area") and \
            intent.aggregate == "none" and intent.y and table.field(intent.x).cardinality < len(table.rows):
        intent.aggregate = "sum"
        notes.append("aggregate none → sum (x repeats)")
    return notes
