"""Chart specs: a small intent (chart type, real column names, aggregate, sort, filters) → Vega-Lite.

The model only fills the intent, constrained by a JSON schema whose field names are the table's real columns;
code computes the aggregated data, builds the Vega-Lite spec and validates it against the Vega-Lite schema.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from hanlin.apps.charts.profile import Table
from hanlin.errors import UnprocessableInput

CHART_TYPES = ["bar", "stacked_bar", "line", "grouped_line", "area", "pie", "scatter", "grouped_scatter",
               "histogram"]
AGGREGATES = ["none", "count", "sum", "mean", "max", "min"]
TIME_UNITS = ["none", "year", "month", "weekday", "day"]
SORTS = ["none", "x_asc", "x_desc", "y_asc", "y_desc"]
FILTER_OPS = ["=", "!=", ">", ">=", "<", "<="]
MARKS = {"bar": "bar", "stacked_bar": "bar", "histogram": "bar", "line": "line", "grouped_line": "line",
         "area": "area", "pie": "arc", "scatter": "point", "grouped_scatter": "point"}
COUNT_FIELD = "记录数"
INLINE_RAW_ROWS = 5000
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@dataclass
class Filter:
    column: str
    op: str
    value: Any


@dataclass
class ChartIntent:
    chart_type: str
    x: str
    y: str = ""
    aggregate: str = "none"
    color: str = ""
    time_unit: str = "none"
    sort: str = "none"
    title: str = ""
    filters: list[Filter] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ChartIntent:
        flt = [Filter(str(f.get("column", "")), str(f.get("op", "=")), f.get("value"))
               for f in d.get("filters") or [] if isinstance(f, dict)]
        return cls(str(d.get("chart_type", "bar")), str(d.get("x", "")), str(d.get("y") or ""),
                   str(d.get("aggregate") or "none"), str(d.get("color") or ""), str(d.get("time_unit") or "none"),
                   str(d.get("sort") or "none"), str(d.get("title") or ""), flt)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def intent_schema(table: Table) -> dict[str, Any]:
    names = list(table.columns)
    return {"type": "object", "properties": {
        "chart_type": {"type": "string", "enum": CHART_TYPES},
        "x": {"type": "string", "enum": names},
        "y": {"type": "string", "enum": ["", *names]},
        "aggregate": {"type": "string", "enum": AGGREGATES},
        "color": {"type": "string", "enum": ["", *names]},
        "time_unit": {"type": "string", "enum": TIME_UNITS},
        "sort": {"type": "string", "enum": SORTS},
        "filters": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
            "column": {"type": "string", "enum": names}, "op": {"type": "string", "enum": FILTER_OPS},
            "value": {"type": ["string", "number"]}}, "required": ["column", "op", "value"]}},
        "title": {"type": "string", "maxLength": 40},
    }, "required": ["chart_type", "x", "y", "aggregate", "color", "time_unit", "sort", "filters", "title"]}


# ------------------------------------------------------------------ data

def _key(v: Any, unit: str) -> Any:
    if isinstance(v, (dt.date, dt.datetime)):
        if unit == "year":
            return str(v.year)
        if unit == "month":
            return f"{v.year}-{v.month:02d}"
        if unit == "weekday":
            return WEEKDAYS[v.weekday()]
        return v.date().isoformat() if isinstance(v, dt.datetime) else v.isoformat()
    if unit == "year" and isinstance(v, (int, float)) and 1000 <= v <= 9999:
        return str(int(v))
    return v


def _passes(row: dict[str, Any], flt: Filter) -> bool:
    v, w = row.get(flt.column), flt.value
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            w = float(w)
        except (TypeError, ValueError):
            return flt.op == "!="
    elif isinstance(v, (dt.date, dt.datetime)):
        v = v.isoformat()[:len(str(w))]
        w = str(w)
    else:
        v, w = ("" if v is None else str(v)).strip(), str(w).strip()
    try:
        return {"=": v == w, "!=": v != w, ">": v > w, ">=": v >= w, "<": v < w, "<=": v <= w}[flt.op]
    except TypeError:
        return False


def _agg(values: list[Any], how: str) -> float:
    nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if how == "count":
        return float(len(values))
    if not nums:
        return 0.0
    return {"sum": sum(nums), "mean": sum(nums) / len(nums), "max": max(nums), "min": min(nums)}.get(how, nums[0])


def aggregate_rows(table: Table, intent: ChartIntent) -> list[dict[str, Any]]:
    """The chart's data as rows keyed by real column names (counts under ``记录数``)."""
    records = [dict(zip(table.columns, r, strict=False)) for r in table.rows]
    for flt in intent.filters:
        records = [r for r in records if _passes(r, flt)]
    yname = intent.y or COUNT_FIELD
    how = intent.aggregate if intent.aggregate != "none" else ("count" if not intent.y else "none")
    if how == "none":
        out = [{intent.x: _key(r.get(intent.x), intent.time_unit), yname: r.get(intent.y),
                **({intent.color: r.get(intent.color)} if intent.color else {})} for r in records]
    else:
        groups: dict[tuple[Any, Any], list[Any]] = defaultdict(list)
        for r in records:
            k = (_key(r.get(intent.x), intent.time_unit), r.get(intent.color) if intent.color else None)
            groups[k].append(r.get(intent.y) if intent.y else 1)
        out = [{intent.x: x, yname: _agg(vals, how), **({intent.color: c} if intent.color else {})}
               for (x, c), vals in groups.items()]
    return _sorted(out, intent, yname)


def _sorted(rows: list[dict[str, Any]], intent: ChartIntent, yname: str) -> list[dict[str, Any]]:
    def sk(v: Any) -> tuple[int, Any]:
        if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
            return (0, v)
        return (1, str(v))
    if intent.sort in ("x_asc", "x_desc"):
        return sorted(rows, key=lambda r: sk(r.get(intent.x)), reverse=intent.sort == "x_desc")
    if intent.sort in ("y_asc", "y_desc"):
        return sorted(rows, key=lambda r: sk(r.get(yname)), reverse=intent.sort == "y_desc")
    return rows


# ------------------------------------------------------------------ Vega-Lite

def _vl_type(table: Table, name: str, intent: ChartIntent) -> str:
    f = table.field(name)
    if name == intent.x and intent.time_unit in ("year", "month", "weekday"):
        return "ordinal"
    if f.vtype == "temporal":
        return "temporal"
    if f.vtype == "quantitative" and name == intent.x and intent.chart_type in ("bar", "stacked_bar", "pie"):
        return "ordinal"
    return f.vtype


def _jsonable(v: Any) -> Any:
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def _count_native(table: Table, intent: ChartIntent) -> list[dict[str, Any]] | None:
    """Raw (filtered) rows for Vega-Lite's own count, so a count chart encodes only real columns."""
    if intent.y and intent.aggregate != "count" and intent.chart_type != "histogram":
        return None
    records = [dict(zip(table.columns, r, strict=False)) for r in table.rows]
    for flt in intent.filters:
        records = [r for r in records if _passes(r, flt)]
    if len(records) > INLINE_RAW_ROWS:
        return None
    keep = [intent.x] + ([intent.color] if intent.color else [])
    unit = intent.time_unit if intent.chart_type != "histogram" else "none"
    return [{k: _jsonable(_key(r.get(k), unit) if k == intent.x else r.get(k)) for k in keep} for r in records]


def _axes(table: Table, intent: ChartIntent, native: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    yname = intent.y or COUNT_FIELD
    word = {"sum": "合计", "mean": "平均", "max": "最大", "min": "最小", "count": "计数"}.get(intent.aggregate, "")
    ytitle = f"{intent.y}（{word}）" if intent.y and word else yname
    x_enc: dict[str, Any] = {"field": intent.x, "type": _vl_type(table, intent.x, intent), "title": intent.x}
    y_enc: dict[str, Any] = ({"aggregate": "count", "type": "quantitative", "title": COUNT_FIELD} if native
                             else {"field": yname, "type": "quantitative", "title": ytitle})
    if intent.sort in ("x_asc", "x_desc"):
        x_enc["sort"] = "ascending" if intent.sort == "x_asc" else "descending"
    elif intent.sort in ("y_asc", "y_desc"):
        order = "ascending" if intent.sort == "y_asc" else "descending"
        x_enc["sort"] = {"op": "count", "order": order} if native else ("y" if order == "ascending" else "-y")
    elif x_enc["type"] in ("nominal", "ordinal"):
        x_enc["sort"] = None
    return x_enc, y_enc


def build_vegalite(table: Table, intent: ChartIntent) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(Vega-Lite spec with its data inline, the aggregated data rows)."""
    check_intent(table, intent)
    data = aggregate_rows(table, intent)
    raw = _count_native(table, intent)
    native = raw is not None
    values = raw if raw is not None else [{k: _jsonable(v) for k, v in r.items()} for r in data]
    x_enc, y_enc = _axes(table, intent, native)
    mark: dict[str, Any] = {"type": MARKS.get(intent.chart_type, "bar"), "tooltip": True}
    if intent.chart_type == "pie":
        enc: dict[str, Any] = {"theta": {**y_enc, "stack": True},
                               "color": {"field": intent.x, "type": "nominal", "title": intent.x}}
    elif intent.chart_type == "histogram":
        x_enc.update({"bin": {"maxbins": 20}, "type": "quantitative"})
        x_enc.pop("sort", None)
        enc = {"x": x_enc, "y": {**y_enc, "title": "频数"}}
    else:
        enc = {"x": x_enc, "y": y_enc}
        if intent.color:
            enc["color"] = {"field": intent.color, "type": "nominal", "title": intent.color}
    if intent.chart_type in ("line", "grouped_line"):
        mark["point"] = True
    font = "Noto Sans CJK SC"
    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "title": intent.title or default_title(intent), "data": {"values": values}, "mark": mark,
            "encoding": enc, "width": 480, "height": 300,
            "config": {"font": font, "title": {"font": font}, "axis": {"labelFont": font, "titleFont": font},
                       "legend": {"labelFont": font, "titleFont": font}}}
    validate_spec(spec, table)
    return spec, data


def default_title(intent: ChartIntent) -> str:
    agg = {"sum": "合计", "mean": "平均", "max": "最大", "min": "最小", "count": "计数"}.get(intent.aggregate, "")
    y = intent.y or "记录数"
    by = f"按{intent.x}" + (f"、{intent.color}" if intent.color else "")
    return f"{by}的{y}{agg}" if agg and intent.y else f"{by}的{y}"


def check_intent(table: Table, intent: ChartIntent) -> None:
    for role, name in (("x", intent.x), ("y", intent.y), ("color", intent.color),
                       *(("filter", f.column) for f in intent.filters)):
        if name and name not in table.columns:
            raise UnprocessableInput(f"The chart's {role} field '{name}' is not a column. "
                                     f"Columns: {', '.join(table.columns)}", param="ask")
    if intent.chart_type not in CHART_TYPES:
        raise UnprocessableInput(f"Unknown chart type '{intent.chart_type}'. Types: {', '.join(CHART_TYPES)}")
    if intent.y and intent.aggregate not in ("count",) and table.field(intent.y).vtype != "quantitative":
        raise UnprocessableInput(f"'{intent.y}' is not numeric, so it cannot be summed or plotted on the y axis; "
                                 "count rows instead or choose a numeric column.", param="ask")


def validate_spec(spec: dict[str, Any], table: Table) -> None:
    """Vega-Lite schema validation (altair's bundled schema) plus: every encoded field is a real column or the
    derived count."""
    import altair as alt

    try:
        alt.Chart.from_dict(spec, validate=True)
    except Exception as e:  # noqa: BLE001 - SchemaValidationError and friends
        raise UnprocessableInput(f"The chart spec is not valid Vega-Lite: {str(e)[:300]}") from None
    for ch in spec["encoding"].values():
        f = ch.get("field")
        if f and f not in table.columns and f != COUNT_FIELD:
            raise UnprocessableInput(f"The chart encodes '{f}', which is not a column of the table.")


def spec_fields(spec: dict[str, Any]) -> list[str]:
    return [str(ch["field"]) for ch in spec.get("encoding", {}).values() if isinstance(ch, dict) and ch.get("field")]
