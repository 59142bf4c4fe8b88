"""Read a workbook's shape without loading huge sheets whole.

xlsx is streamed with openpyxl ``read_only``; csv is streamed with the csv module. A profile keeps the headers,
a type per column, a few sample rows, up to ``MAX_DISTINCT`` distinct values per column (the enums the model
chooses from) and the row count; cell values for execution are read later, range by range (``read_range``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from openpyxl.utils import column_index_from_string, get_column_letter

from hanlin.errors import BadRequest, NotFound, PayloadTooLarge, UnprocessableInput
from hanlin.limits import check_zip, current_limits

MAX_DISTINCT = 40  # distinct values kept per column (enum for criteria)
SCAN_ROWS = 20_000  # rows scanned for types/distinct values; the rest is only counted
SAMPLE_ROWS = 5
CACHE_CELLS = 400_000  # sheets up to this many cells are cached whole for repeated executions
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_DATE_RE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")


@dataclass
class Column:
    name: str
    letter: str
    index: int  # 1-based column number
    dtype: str = "empty"  # number | text | date | bool | mixed | empty
    distinct: list[Any] = field(default_factory=list)
    n_distinct: int = 0  # capped at MAX_DISTINCT + 1 ("more than")
    n_values: int = 0
    minimum: float | None = None
    maximum: float | None = None

    @property
    def low_cardinality(self) -> bool:
        return 0 < self.n_distinct <= MAX_DISTINCT

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "letter": self.letter, "type": self.dtype,
                "distinct": [_jsonable(v) for v in self.distinct[:10]],
                "n_distinct": self.n_distinct if self.n_distinct <= MAX_DISTINCT else f">{MAX_DISTINCT}",
                "min": self.minimum, "max": self.maximum}


@dataclass
class SheetInfo:
    name: str
    header_row: int
    last_row: int  # last data row (1-based, inclusive)
    columns: list[Column]
    samples: list[list[Any]]
    scanned_rows: int = 0

    @property
    def first_row(self) -> int:
        return self.header_row + 1

    @property
    def n_rows(self) -> int:
        return max(0, self.last_row - self.header_row)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        for c in self.columns:  # tolerate case/space differences
            if c.name.strip().lower() == str(name).strip().lower():
                return c
        raise NotFound(f"Column '{name}' does not exist in sheet '{self.name}'. "
                       f"Columns: {', '.join(c.name for c in self.columns)}", param="column")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "header_row": self.header_row, "rows": self.n_rows,
                "columns": [c.to_dict() for c in self.columns],
                "samples": [[_jsonable(v) for v in r] for r in self.samples]}


@dataclass
class WorkbookInfo:
    path: Path
    kind: str  # xlsx | csv
    sheets: list[SheetInfo]
    sheet_names: list[str]
    named_ranges: dict[str, str] = field(default_factory=dict)
    csv_dialect: Any = None
    csv_encoding: str = "utf-8"

    def sheet(self, name: str | None = None) -> SheetInfo:
        if not name:
            return self.sheets[0]
        for s in self.sheets:
            if s.name == name or s.name.lower() == name.lower():
                return s
        raise NotFound(f"Sheet '{name}' not found. Sheets: {', '.join(self.sheet_names)}", param="sheet_name")


def _jsonable(v: Any) -> Any:
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, dt.time):
        return v.isoformat()
    return v


def to_serial(v: dt.datetime | dt.date) -> float:
    if not isinstance(v, dt.datetime):
        v = dt.datetime(v.year, v.month, v.day)
    delta = v - EXCEL_EPOCH
    return delta.days + delta.seconds / 86400


def from_serial(x: float) -> dt.datetime:
    return EXCEL_EPOCH + dt.timedelta(days=float(x))


def parse_csv_value(s: str) -> Any:
    s = s.strip()
    if s == "":
        return None
    try:
        if re.fullmatch(r"[+-]?\d+", s):
            return int(s)
        return float(s.replace(",", "")) if re.fullmatch(r"[+-]?[\d,]*\.?\d+(?:[eE][+-]?\d+)?", s) else _maybe_date(s)
    except ValueError:
        return s


def _maybe_date(s: str) -> Any:
    if _DATE_RE.match(s):
        norm = re.sub(r"[/.]", "-", s).replace("T", " ")
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
            try:
                return dt.datetime.strptime(norm, fmt)
            except ValueError:
                continue
    return s


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, (dt.datetime, dt.date)):
        return "date"
    return "text"


class _Profiler:
    """Accumulates column statistics over a stream of rows."""

    def __init__(self, headers: list[str]) -> None:
        self.columns = [Column(h, get_column_letter(i + 1), i + 1) for i, h in enumerate(headers)]
        self.kinds: list[dict[str, int]] = [{} for _ in headers]
        self.seen: list[dict[Any, None]] = [{} for _ in headers]

    def add(self, row: tuple[Any, ...] | list[Any]) -> None:
        for i, col in enumerate(self.columns):
            v = row[i] if i < len(row) else None
            if v is None or v == "":
                continue
            col.n_values += 1
            k = _kind(v)
            self.kinds[i][k] = self.kinds[i].get(k, 0) + 1
            if k == "number":
                col.minimum = v if col.minimum is None else min(col.minimum, v)
                col.maximum = v if col.maximum is None else max(col.maximum, v)
            seen = self.seen[i]
            if len(seen) <= MAX_DISTINCT:
                seen.setdefault(v if k != "text" else str(v).strip(), None)

    def finish(self) -> list[Column]:
        for i, col in enumerate(self.columns):
            kinds = self.kinds[i]
            if kinds:
                top, n = max(kinds.items(), key=lambda kv: kv[1])
                col.dtype = top if n >= 0.9 * sum(kinds.values()) else "mixed"
            col.distinct = list(self.seen[i])[:MAX_DISTINCT]
            col.n_distinct = len(self.seen[i])
        return self.columns


def _headers(row: tuple[Any, ...] | list[Any]) -> list[str]:
    out: list[str] = []
    for i, v in enumerate(row):
        name = str(v).strip() if v not in (None, "") else get_column_letter(i + 1)
        if isinstance(v, (dt.datetime, dt.date)):
            name = v.strftime("%Y-%m-%d")
        while name in out:
            name += "_"
        out.append(name)
    while out and out[-1] == get_column_letter(len(out)) and all(
            x in (None, "") for x in row[len(out) - 1:len(out)]):
        out.pop()  # trailing blank header cells
    return out


def _check_file(path: Path) -> str:
    if not path.exists():
        raise NotFound(f"File not found: {path}", param="sheet")
    head = path.open("rb").read(8)
    suffix = path.suffix.lower()
    if head == OLE2_MAGIC:
        if suffix == ".xls":
            raise UnprocessableInput("Old binary .xls workbooks are not supported: save it as .xlsx first.")
        raise UnprocessableInput(f"'{path.name}' is password-protected (encrypted). Remove the password in Excel "
                                 "(File > Info > Protect Workbook) and try again.", code="encrypted_workbook")
    if suffix in (".xlsx", ".xlsm"):
        if not zipfile.is_zipfile(path):
            raise UnprocessableInput(f"'{path.name}' is not a valid xlsx file (corrupt or not an Excel workbook).",
                                     code="corrupt_workbook")
        with zipfile.ZipFile(path) as zf:
            check_zip(zf, path.name, current_limits())
        return "xlsx"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    raise BadRequest(f"Unsupported file type '{suffix}': use .xlsx or .csv.", param="sheet")


def load_workbook_info(path: str | Path, scan_rows: int = SCAN_ROWS) -> WorkbookInfo:
    path = Path(path)
    kind = _check_file(path)
    info = _load_csv(path, scan_rows) if kind == "csv" else _load_xlsx(path, scan_rows)
    if not info.sheets:
        raise UnprocessableInput(f"'{path.name}' has no data: every sheet is empty.", code="empty_sheet")
    return info


def _open_xlsx(path: Path) -> Any:
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise UnprocessableInput(f"'{path.name}' could not be read as an xlsx workbook ({e}).",
                                 code="corrupt_workbook") from None
    except Exception as e:  # openpyxl raises assorted errors on damaged XML
        raise UnprocessableInput(f"'{path.name}' is damaged and could not be read ({type(e).__name__}: {e}).",
                                 code="corrupt_workbook") from None


def _load_xlsx(path: Path, scan_rows: int) -> WorkbookInfo:
    wb = _open_xlsx(path)
    try:
        names = list(wb.sheetnames)
        sheets = [s for s in (_profile_ws(wb[n], n, scan_rows) for n in names) if s is not None]
        named: dict[str, str] = {}
        try:
            for name, dn in wb.defined_names.items():
                named[name] = str(dn.attr_text)
        except Exception:  # noqa: BLE001 - names are optional context
            pass
    finally:
        wb.close()
    return WorkbookInfo(path, "xlsx", sheets, names, named)


def _profile_ws(ws: Any, name: str, scan_rows: int) -> SheetInfo | None:
    if hasattr(ws, "reset_dimensions"):  # a forged <dimension ref="A1:XFD1048576"/> must not pad every row
        ws.reset_dimensions()
    rows = ws.iter_rows(values_only=True)
    header_row = 0
    headers: list[str] = []
    for i, row in enumerate(rows, start=1):
        if any(v not in (None, "") for v in row):
            header_row, headers = i, _headers(row)
            break
        if i > 50:
            break
    if not headers:
        return None
    prof = _Profiler(headers)
    samples: list[list[Any]] = []
    last = header_row
    scanned = 0
    for i, row in enumerate(rows, start=header_row + 1):
        if not any(v not in (None, "") for v in row):
            continue
        last = i
        if scanned < scan_rows:
            prof.add(row)
            scanned += 1
            if len(samples) < SAMPLE_ROWS:
                samples.append(list(row[:len(headers)]) + [None] * (len(headers) - len(row)))
    return SheetInfo(name, header_row, last, prof.finish(), samples, scanned)


def _sniff(path: Path) -> tuple[str, Any]:
    raw = path.open("rb").read(64 * 1024)
    if not raw.strip():
        raise UnprocessableInput(f"'{path.name}' is empty.", code="empty_sheet")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError as e:
            if enc == "utf-8-sig" and e.start > len(raw) - 4:  # a character cut by the 64 KiB window
                text = raw[:e.start].decode(enc)
                break
    else:
        raise UnprocessableInput(f"'{path.name}' is neither UTF-8 nor GB18030 text.")
    try:
        dialect: Any = csv.Sniffer().sniff(text.split("\n", 20)[0] if "\n" in text else text, ",\t;|")
    except csv.Error:
        dialect = csv.excel
    return enc, dialect


def checked_csv(f: Any, dialect: Any, name: str) -> Iterator[list[str]]:
    """csv rows with every field within HANLIN_MAX_CELL_CHARS; an over-long or malformed field is a 4xx (csv's
    own 128 KiB field limit raised ``csv.Error``, a 500)."""
    limit = current_limits().max_cell_chars
    reader = csv.reader(f, dialect)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise PayloadTooLarge(f"'{name}' line {reader.line_num}: {e}; fields may hold at most {limit:,} "
                                  "characters (HANLIN_MAX_CELL_CHARS)", param="file", code="cell_too_long") from None
        if any(len(v) > limit for v in row):
            raise PayloadTooLarge(f"'{name}' line {reader.line_num} has a field over {limit:,} characters "
                                  "(HANLIN_MAX_CELL_CHARS)", param="file", code="cell_too_long")
        yield row


def iter_csv(info: WorkbookInfo) -> Iterator[list[Any]]:
    with info.path.open(encoding=info.csv_encoding, newline="", errors="replace") as f:
        yield from checked_csv(f, info.csv_dialect, info.path.name)


def _load_csv(path: Path, scan_rows: int) -> WorkbookInfo:
    enc, dialect = _sniff(path)
    info = WorkbookInfo(path, "csv", [], [path.stem], csv_dialect=dialect, csv_encoding=enc)
    with path.open(encoding=enc, newline="", errors="replace") as f:
        rows = checked_csv(f, dialect, path.name)
        first = next(rows, None)
        if not first or not any(x.strip() for x in first):
            raise UnprocessableInput(f"'{path.name}' has no header row.", code="empty_sheet")
        prof = _Profiler(_headers(first))
        samples: list[list[Any]] = []
        last, scanned = 1, 0
        for raw in rows:
            last += 1
            if not any(x.strip() for x in raw):
                continue
            row = [parse_csv_value(x) for x in raw]
            prof.add(row)
            scanned += 1
            if len(samples) < SAMPLE_ROWS:
                samples.append(row[:len(prof.columns)])
            if scanned >= scan_rows:
                last += _count_lines(f)  # the rest is only counted, in 1 MiB chunks
                break
    if scanned == 0:
        raise UnprocessableInput(f"'{path.name}' has a header but no data rows.", code="empty_sheet")
    info.sheets = [SheetInfo(path.stem, 1, last, prof.finish(), samples, scanned)]
    return info


def _count_lines(f: Any) -> int:
    n, tail = 0, ""
    while chunk := f.read(1 << 20):
        n += chunk.count("\n")
        tail = chunk
    if tail and not tail.endswith("\n"):
        n += 1
    return n


def read_columns(info: WorkbookInfo, sheet: str, min_row: int, max_row: int, min_col: int,
                 max_col: int) -> list[list[Any]]:
    """Values of a rectangle (1-based, inclusive), dates as datetimes, empty cells as None."""
    width = max_col - min_col + 1
    out: list[list[Any]] = []
    if info.kind == "csv":
        for i, raw in enumerate(iter_csv(info), start=1):
            if i < min_row:
                continue
            if i > max_row:
                break
            vals = [parse_csv_value(x) for x in raw[min_col - 1:max_col]]
            out.append(vals + [None] * (width - len(vals)))
    else:
        name = _real_sheet_name(info, sheet)
        cached = _sheet_values(str(info.path), info.path.stat().st_mtime, name)
        if cached is not None:
            for row in cached[min_row - 1:max_row]:
                vals = list(row[min_col - 1:max_col])
                out.append(vals + [None] * (width - len(vals)))
        else:
            wb = _open_xlsx(info.path)
            try:
                for row in wb[name].iter_rows(min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col,
                                              values_only=True):
                    vals = list(row)
                    out.append(vals + [None] * (width - len(vals)))
            finally:
                wb.close()
    while len(out) < max_row - min_row + 1:
        out.append([None] * width)
    return out


@lru_cache(maxsize=4)
def _sheet_values(path: str, mtime: float, sheet: str) -> tuple[tuple[Any, ...], ...] | None:
    """All values of a small sheet (≤ CACHE_CELLS), kept so repeated executions do not reopen the file."""
    wb = _open_xlsx(Path(path))
    try:
        ws = wb[sheet]
        dims = ws.calculate_dimension() if hasattr(ws, "calculate_dimension") else ""
        m = re.match(r"[A-Z]+(\d+):([A-Z]+)(\d+)$", str(dims))
        if not m or int(m[3]) * column_index_from_string(m[2]) > CACHE_CELLS:
            return None
        rows = ws.iter_rows(min_row=1, min_col=1, max_row=int(m[3]), max_col=column_index_from_string(m[2]),
                            values_only=True)
        return tuple(tuple(r) for r in rows)
    except Exception:  # noqa: BLE001 - fall back to streaming reads
        return None
    finally:
        wb.close()


def _real_sheet_name(info: WorkbookInfo, sheet: str) -> str:
    for n in info.sheet_names:
        if n.upper() == sheet.upper():
            return n
    raise NotFound(f"The formula refers to sheet '{sheet}', which does not exist. "
                   f"Sheets: {', '.join(info.sheet_names)}", param="formula")


def sheet_exists(info: WorkbookInfo, sheet: str) -> bool:
    return any(n.upper() == sheet.upper() for n in info.sheet_names)


def csv_to_xlsx(info: WorkbookInfo, out: Path) -> Any:
    """A writable openpyxl workbook holding the csv's rows (for ``--write``)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = info.sheet_names[0][:31]
    for raw in iter_csv(info):
        ws.append([parse_csv_value(x) for x in raw])
    return wb


def describe(info: WorkbookInfo, sheet: SheetInfo) -> str:
    """A compact text description for prompts."""
    buf = io.StringIO()
    buf.write(f"工作表 '{sheet.name}'，表头在第 {sheet.header_row} 行，数据 {sheet.n_rows} 行"
              f"（第 {sheet.first_row}–{sheet.last_row} 行）。\n列：\n")
    for c in sheet.columns:
        ex = ", ".join(str(_jsonable(v)) for v in c.distinct[:4])
        buf.write(f"- {c.letter} 列 「{c.name}」 类型 {c.dtype}，例：{ex}\n")
    if len(info.sheet_names) > 1:
        buf.write(f"全部工作表：{', '.join(info.sheet_names)}\n")
    if info.named_ranges:
        buf.write("命名区域：" + ", ".join(f"{k}={v}" for k, v in list(info.named_ranges.items())[:20]) + "\n")
    return buf.getvalue()
