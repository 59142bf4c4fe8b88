"""Load a table (csv/xlsx, bounded) and profile its columns: type, cardinality, dates, measures."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hanlin.apps.formulas.workbook import (
    iter_csv,
    load_workbook_info,
    parse_csv_value,
    read_columns,
)
from hanlin.errors import UnprocessableInput

MAX_ROWS = 200_000  # rows read for a chart; a longer table is charted from its first MAX_ROWS rows (reported)
_EXTRA_DATE_FORMATS = ("%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y", "%Y-%m", "%Y/%m", "%Y年%m月%d日",
                       "%Y年%m月", "%Y-%m-%d %H:%M:%S")


@dataclass
class FieldProfile:
    name: str
    vtype: str  # quantitative | nominal | temporal
    cardinality: int
    non_null: int
    minimum: float | None = None
    maximum: float | None = None
    is_id: bool = False
    samples: list[Any] = field(default_factory=list)

    @property
    def is_measure(self) -> bool:
        return self.vtype == "quantitative" and not self.is_id

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.vtype, "cardinality": self.cardinality, "non_null": self.non_null,
                "min": self.minimum, "max": self.maximum, "is_id": self.is_id,
                "samples": [_plain(v) for v in self.samples]}


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    fields: list[FieldProfile] = field(default_factory=list)

    def field(self, name: str) -> FieldProfile:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def column_values(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [r[i] if i < len(r) else None for r in self.rows]


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v


def parse_value(v: Any) -> Any:
    """Cell text → number / datetime / text (csv cells and nvBench strings)."""
    if not isinstance(v, str):
        return v
    out = parse_csv_value(v)
    if isinstance(out, str) and re.search(r"\d", out):
        for fmt in _EXTRA_DATE_FORMATS:
            try:
                return dt.datetime.strptime(out.strip(), fmt)
            except ValueError:
                continue
    return out


def _vtype(values: list[Any]) -> str:
    vals = [v for v in values if v is not None and v != ""]
    if not vals:
        return "nominal"
    nums = sum(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
    dates = sum(isinstance(v, (dt.date, dt.datetime)) for v in vals)
    if dates >= 0.9 * len(vals):
        return "temporal"
    if nums >= 0.9 * len(vals):
        return "quantitative"
    return "nominal"


def profile_columns(columns: list[str], rows: list[list[Any]]) -> list[FieldProfile]:
    out: list[FieldProfile] = []
    for i, name in enumerate(columns):
        values = [r[i] if i < len(r) else None for r in rows]
        vals = [v for v in values if v is not None and v != ""]
        vtype = _vtype(vals)
        distinct = list(dict.fromkeys(_plain(v) for v in vals))
        prof = FieldProfile(name, vtype, len(distinct), len(vals), samples=distinct[:5])
        if vtype == "quantitative":
            nums = [float(v) for v in vals if isinstance(v, (int, float))]
            prof.minimum, prof.maximum = (min(nums), max(nums)) if nums else (None, None)
            ints = all(float(v).is_integer() for v in nums)
            idish = re.search(r"(^|_|\b)(id|no|编号|序号|代码|code)$", name, re.I) is not None
            prof.is_id = bool(nums) and ints and (idish or (len(distinct) == len(vals) and len(vals) > 20 and
                                                            _consecutive(nums)))
        elif vtype == "nominal":
            prof.is_id = len(distinct) == len(vals) and len(vals) > 30
        out.append(prof)
    return out


def _consecutive(nums: list[float]) -> bool:
    s = sorted(nums)
    return s[-1] - s[0] == len(s) - 1


def load_table(path: str | Path, sheet_name: str | None = None, max_rows: int = MAX_ROWS) -> Table:
    info = load_workbook_info(path, scan_rows=2000)
    sheet = info.sheet(sheet_name)
    columns = [c.name for c in sheet.columns]
    rows: list[list[Any]] = []
    last = min(sheet.last_row, sheet.header_row + max_rows)
    if info.kind == "csv":
        it = iter_csv(info)
        next(it, None)
        for raw in it:
            if not any(x.strip() for x in raw):
                continue
            if len(rows) >= max_rows:
                break
            rows.append([parse_value(x) for x in raw[:len(columns)]])
    else:
        rows = [[parse_value(v) for v in r]
                for r in read_columns(info, sheet.name, sheet.first_row, last, 1, len(columns))
                if any(v not in (None, "") for v in r)]
    if not rows:
        raise UnprocessableInput(f"Sheet '{sheet.name}' has headers but no data rows to chart.", code="empty_sheet")
    table = Table(sheet.name, columns, rows, truncated=sheet.n_rows > max_rows)
    table.fields = profile_columns(columns, rows)
    return table


def table_from_rows(name: str, columns: list[str], rows: list[list[Any]]) -> Table:
    parsed = [[parse_value(v) for v in r] for r in rows]
    t = Table(name, columns, parsed)
    t.fields = profile_columns(columns, parsed)
    return t
