"""Execute a formula on the real workbook with the ``formulas`` engine, in the target cell's context.

Only the ranges the formula references are read (whole-column references are clamped to the used rows), so a
large sheet is never loaded whole. Checks: it parses, every function exists and is executable, every reference
names a real sheet and overlaps the data, and the result is not an Excel error value.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hanlin.apps.formulas.workbook import WorkbookInfo, read_columns, sheet_exists, to_serial

log = logging.getLogger(__name__)

MAX_EXEC_CELLS = 3_000_000  # cells read for one execution
ERROR_VALUES = ("#VALUE!", "#REF!", "#NAME?", "#DIV/0!", "#N/A", "#NUM!", "#NULL!", "#SPILL!", "#CALC!")
_CELL_RE = re.compile(r"^\$?([A-Z]{1,3})?\$?(\d+)?(?::\$?([A-Z]{1,3})?\$?(\d+)?)?$")


@dataclass
class Reference:
    sheet: str
    ref: str  # A1 notation without sheet
    min_row: int
    max_row: int
    min_col: int
    max_col: int

    def text(self) -> str:
        return f"'{self.sheet}'!{self.ref}"


@dataclass
class Execution:
    formula: str
    ok: bool = False
    value: Any = None
    error: str = ""
    functions: list[str] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    is_array: bool = False

    @property
    def kind(self) -> str:
        v = self.value
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        if v is None:
            return "empty"
        return "text"


class FormulaProblem(Exception):
    pass


def normalize(formula: str) -> str:
    f = (formula or "").strip().strip("`").strip()
    if f.lower().startswith("excel"):
        f = f[5:].strip()
    if not f.startswith("="):
        f = "=" + f
    # full-width punctuation a Chinese IME leaves behind
    if '"' not in f:
        f = f.replace("“", '"').replace("”", '"')
    table: dict[str, str | int | None] = {"，": ",", "（": "(", "）": ")", "：": ":", "；": ";"}
    parts = f.split('"')  # even parts lie outside string literals: only those are fixed
    return '"'.join(p.translate(str.maketrans(table)) if i % 2 == 0 else p for i, p in enumerate(parts))


def known_functions() -> set[str]:
    import formulas

    return {n.upper() for n in formulas.get_functions()}


def _col_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def _parse_ref(text: str, sheet_rows: int, sheet_cols: int) -> tuple[int, int, int, int]:
    m = _CELL_RE.match(text.upper())
    if not m:
        raise FormulaProblem(f"cannot read the reference '{text}'")
    c1, r1, c2, r2 = m.groups()
    if c2 is None and r2 is None:
        c2, r2 = c1, r1
    min_col = _col_number(c1) if c1 else 1
    max_col = _col_number(c2) if c2 else max(sheet_cols, 1)
    min_row = int(r1) if r1 else 1
    max_row = int(r2) if r2 else max(sheet_rows, 1)
    if not c1 and not c2 and not r1:
        raise FormulaProblem(f"cannot read the reference '{text}'")
    return min(min_row, max_row), max(min_row, max_row), min(min_col, max_col), max(min_col, max_col)


def _sheet_bounds(info: WorkbookInfo, sheet: str) -> tuple[int, int]:
    for s in info.sheets:
        if s.name.upper() == sheet.upper():
            return s.last_row, len(s.columns)
    return 0, 0


def resolve_reference(info: WorkbookInfo, attr: dict[str, Any], default_sheet: str) -> Reference:
    ref = str(attr.get("ref") or attr.get("name") or "")
    sheet = str(attr.get("sheet") or default_sheet)
    if not _CELL_RE.match(ref.replace("$", "").upper()) or ref.replace("$", "") == "":
        named = {k.upper(): v for k, v in info.named_ranges.items()}
        target = named.get(ref.upper())
        if target is None:
            raise FormulaProblem(f"'{ref}' is neither a cell reference nor a named range of this workbook "
                                 f"(named ranges: {', '.join(info.named_ranges) or 'none'})")
        if "!" in target:
            sheet, ref = target.rsplit("!", 1)
            sheet = sheet.strip("'")
        else:
            ref = target
    ref = ref.replace("$", "")
    if not sheet_exists(info, sheet):
        raise FormulaProblem(f"the sheet '{sheet}' does not exist (sheets: {', '.join(info.sheet_names)})")
    rows, cols = _sheet_bounds(info, sheet)
    r1, r2, c1, c2 = _parse_ref(ref, rows, cols)
    if r1 > max(rows, 1) or c1 > max(cols, 1):
        raise FormulaProblem(f"the reference {sheet}!{ref} lies outside the data (sheet '{sheet}' has rows "
                             f"1–{rows}, columns 1–{cols})")
    return Reference(sheet, ref, r1, min(r2, max(rows, 1)), c1, min(c2, max(cols, 1)))


def _to_engine(v: Any) -> Any:
    import schedula as sh

    if v is None or v == "":
        return sh.EMPTY
    if isinstance(v, (dt.datetime, dt.date)):
        return to_serial(v)
    if isinstance(v, dt.time):
        return (v.hour * 3600 + v.minute * 60 + v.second) / 86400
    return v


def _from_engine(v: Any) -> Any:
    import schedula as sh

    if v is sh.EMPTY:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _read(info: WorkbookInfo, ref: Reference, target: tuple[str, int, int] | None) -> np.ndarray:
    if target and ref.sheet.upper() == target[0].upper() and \
            ref.min_row <= target[1] <= ref.max_row and ref.min_col <= target[2] <= ref.max_col:
        raise FormulaProblem(f"circular reference: {ref.text()} contains the target cell")
    cells = (ref.max_row - ref.min_row + 1) * (ref.max_col - ref.min_col + 1)
    if cells > MAX_EXEC_CELLS:
        raise FormulaProblem(f"{ref.text()} covers {cells:,} cells, more than this verifier executes "
                             f"({MAX_EXEC_CELLS:,})")
    rows = read_columns(info, ref.sheet, ref.min_row, ref.max_row, ref.min_col, ref.max_col)
    return np.array([[_to_engine(v) for v in r] for r in rows], dtype=object)


def execute(formula: str, info: WorkbookInfo, sheet: str, target: tuple[int, int] | None = None) -> Execution:
    """Run ``formula`` as if in ``sheet`` at ``target`` (row, col); never raises for a bad formula."""
    import formulas
    from formulas.tokens.operand import XlError

    ex = Execution(normalize(formula))
    try:
        tokens, builder = formulas.Parser().ast(ex.formula, context={"sheet": sheet})
    except Exception as e:  # noqa: BLE001 - the parser raises many kinds
        ex.error = f"the formula does not parse: {e}"
        return ex
    known = known_functions()
    attrs: dict[str, dict[str, Any]] = {}
    for t in tokens:
        kind = type(t).__name__
        if kind == "Function":
            name = str(t.attr.get("name", "")).upper().replace("_XLFN.", "").replace("_XLWS.", "")
            ex.functions.append(name)
            if name not in known:
                ex.error = f"unknown function {name}()" + _unknown_hint(name)
                return ex
        elif kind == "Range":
            attrs[str(t.attr.get("name", "")).upper()] = dict(t.attr)
    tgt = (sheet, target[0], target[1]) if target else None
    try:
        func = builder.compile()
        args = []
        for key in func.inputs:
            ref = resolve_reference(info, attrs.get(str(key).upper(), {"ref": key}), sheet)
            ex.references.append(ref)
            args.append(_read(info, ref, tgt))
        raw = func(*args)
    except FormulaProblem as e:
        ex.error = str(e)
        return ex
    except Exception as e:  # noqa: BLE001 - engine failures are reported, not raised
        log.debug("formula engine failed", exc_info=True)
        ex.error = f"the formula engine could not execute it: {type(e).__name__}: {str(e)[:200]}"
        return ex
    arr = np.asarray(raw, dtype=object)
    flat = [_from_engine(v) for v in arr.ravel()]
    ex.is_array = len(flat) > 1
    ex.value = flat[0] if len(flat) == 1 else flat[:50]
    errors = [v for v in flat if isinstance(v, XlError) or (isinstance(v, str) and v in ERROR_VALUES)]
    if errors:
        ex.value = str(errors[0])
        ex.error = f"the result is the error value {errors[0]}"
        return ex
    ex.ok = True
    return ex


def _unknown_hint(name: str) -> str:
    from hanlin.apps.formulas.catalogue import catalogue

    entry = catalogue().get(name)
    if entry:
        return " (an Excel function this verifier cannot execute; use another one)"
    near = catalogue().search(name, limit=3)
    return f" (not an Excel function; did you mean {', '.join(e.name for e in near)}?)" if near else \
        " (not an Excel function)"
