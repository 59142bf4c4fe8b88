"""Spreadsheet suites: ``spreadsheetbench`` (SpreadsheetBench 50-task subset, official soft/hard scoring beside
the do-nothing floor) and ``nvbench`` (NL→chart: chart type, field and data-value accuracy)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hanlin.evals.base import EvalContext, EvalResult, map_items, suite

log = logging.getLogger(__name__)
SB_FLOOR = {"soft": 8.0, "hard": 6.0}  # README: input unchanged, 50 tasks
SB_SYSTEM = ("You are an Excel expert. Write ONE Excel formula for the given target cell that answers the "
             "request; it will be copied to every cell of the answer range (use relative row references so it "
             "fills down). Only functions Excel has. Reply with the formula only, starting with =.")


# ------------------------------------------------------------------ SpreadsheetBench scoring (official rules)

def _transform(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return round(float(v), 2)
    if isinstance(v, dt.datetime):
        d = v - dt.datetime(1899, 12, 30)
        return round(d.days + d.seconds / 86400.0, 0)
    if isinstance(v, dt.time):
        return str(v)[:-3]
    if isinstance(v, str):
        try:
            return round(float(v), 2)
        except ValueError:
            return v
    return v


def cell_equal(a: Any, b: Any) -> bool:
    a, b = _transform(a), _transform(b)
    if a in ("", None) and b in ("", None):
        return True
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _positions(pos: str, default_sheet: str) -> list[tuple[str, str]]:
    out = []
    for part in pos.split(","):
        part = part.strip()
        if "!" in part:
            sh, rng = part.rsplit("!", 1)
            out.append((sh.strip("'"), rng.strip("'")))  # the data has 'Sheet1!'A2:B19 and Data'!B5
        else:
            out.append((default_sheet, part.strip("'")))
    return out


def compare_workbooks(output: Path, answer: Path, position: str, answer_sheet: str | None) -> bool:
    import openpyxl

    wo = openpyxl.load_workbook(output, data_only=True)
    wa = openpyxl.load_workbook(answer, data_only=True)
    for sheet, rng in _positions(position, answer_sheet or wa.sheetnames[0]):
        if sheet not in wo.sheetnames or sheet not in wa.sheetnames:
            return False
        so, sa = wo[sheet], wa[sheet]
        for row in sa[rng] if ":" in rng else ((sa[rng],),):
            for c in row:
                if not cell_equal(so[c.coordinate].value, c.value):
                    return False
    return True


def _grid_text(path: Path, limit_rows: int = 10, limit_cols: int = 10) -> str:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    parts = []
    try:
        for ws in wb.worksheets[:2]:  # short: prompt processing dominates on CPU
            parts.append(f"Sheet '{ws.title}':")
            for r in ws.iter_rows(min_row=1, max_row=limit_rows, max_col=limit_cols):
                cells = [f"{c.coordinate}={str(c.value)[:30]!r}" for c in r
                         if getattr(c, "value", None) not in (None, "")]
                if cells:
                    parts.append("  " + "; ".join(cells)[:250])
    finally:
        wb.close()
    return "\n".join(parts)


def _fill(formula: str, origin: str, cells: list[str]) -> dict[str, str]:
    from openpyxl.formula.translate import Translator

    return {c: formula if c == origin else Translator(formula, origin=origin).translate_formula(c) for c in cells}


def _answer_cells(rng: str) -> list[str]:
    from openpyxl.utils import range_boundaries
    from openpyxl.utils.cell import get_column_letter

    c1, r1, c2, r2 = range_boundaries(rng)
    return [f"{get_column_letter(c)}{r}" for r in range(r1 or 1, (r2 or r1 or 1) + 1)
            for c in range(c1 or 1, (c2 or c1 or 1) + 1)]


def apply_formula(inp: Path, out: Path, formula: str, sheet: str, rng: str, max_cells: int = 400) -> int:
    """Execute the filled-down formula cell by cell on ``inp``; write the values into ``out``. Returns the
    number of cells that executed without an error."""
    import openpyxl

    from hanlin.apps.formulas.verify import execute
    from hanlin.apps.formulas.workbook import load_workbook_info

    info = load_workbook_info(inp)
    cells = _answer_cells(rng)[:max_cells]
    wb = openpyxl.load_workbook(inp)
    ws = wb[sheet]
    ok = 0
    for cell, f in _fill(formula, cells[0], cells).items():
        m = re.match(r"([A-Z]+)(\d+)", cell)
        assert m is not None
        from openpyxl.utils import column_index_from_string

        ex = execute(f, info, sheet, (int(m[2]), column_index_from_string(m[1])))
        ws[cell] = ex.value if ex.ok and not ex.is_array else (ex.value if isinstance(ex.value, str) else None)
        ok += ex.ok
    wb.save(out)
    return ok


def extract_formula(text: str) -> str:
    """The first ``=...`` line of a reply (code fences and prose around it are ignored)."""
    for line in text.replace("`", "\n").splitlines():
        line = line.strip()
        if line.startswith("="):
            return line
    m = re.search(r"=\s*[A-Z][A-Z0-9.]*\(.*", text)
    return m[0].strip() if m else ""


async def _sb_formula(ctx: EvalContext, task: dict[str, Any], inp: Path, sheet: str, rng: str) -> tuple[str, int]:
    from openpyxl.utils import column_index_from_string

    from hanlin.apps.formulas.verify import execute
    from hanlin.apps.formulas.workbook import load_workbook_info
    from hanlin.engine.ask import ask_text

    first = _answer_cells(rng)[0]
    user = (f"{_grid_text(inp)}\n\nRequest: {task['instruction']}\nTarget sheet: '{sheet}', answer range {rng}; "
            f"write the formula for cell {first}. Reply with the formula only.")
    # plain text, not JSON: small models break formulas with quotes when they must escape them in a JSON string
    messages = [{"role": "system", "content": SB_SYSTEM}, {"role": "user", "content": user}]
    info = load_workbook_info(inp)
    m = re.match(r"([A-Z]+)(\d+)", first)
    assert m is not None
    formula = ""
    for attempt in range(1, 3):
        text, _ = await ask_text(ctx.engine, messages, max_tokens=160, temperature=0.2)
        formula = extract_formula(text)
        ex = execute(formula, info, sheet, (int(m[2]), column_index_from_string(m[1]))) if formula else None
        if ex is not None and ex.ok:
            return ex.formula, attempt
        messages += [{"role": "assistant", "content": text},
                     {"role": "user", "content": f"Executing it failed: {ex.error if ex else 'no formula found'}. "
                                                 "Reply with the corrected formula only."}]
    return formula, 2


async def _sb_task(ctx: EvalContext, root: Path, task: dict[str, Any]) -> dict[str, Any]:
    tid = str(task["id"])
    folder = root / task["spreadsheet_path"]
    cases = sorted(folder.glob("*_input.xlsx"))
    rec: dict[str, Any] = {"id": tid, "type": task["instruction_type"], "cases": len(cases)}
    floor = [compare_workbooks(c, Path(str(c).replace("_input", "_answer")), task["answer_position"],
                               task.get("answer_sheet")) for c in cases]
    rec["floor_passed"] = sum(floor)
    if task["instruction_type"] != "Cell-Level Manipulation" or not cases:
        rec.update({"passed": sum(floor), "formula": None, "note": "sheet-level: left unchanged"})
        return rec
    pos = _positions(task["answer_position"], task.get("answer_sheet") or "")
    sheet, rng = pos[0]
    try:
        import openpyxl

        sheet = sheet or openpyxl.load_workbook(cases[0], read_only=True).sheetnames[0]
        formula, attempts = await _sb_formula(ctx, task, cases[0], sheet, rng)
        passed = 0
        with tempfile.TemporaryDirectory() as d:
            for c in cases:
                out = Path(d) / c.name
                apply_formula(c, out, formula, sheet, rng) if formula else shutil.copy(c, out)
                passed += compare_workbooks(out, Path(str(c).replace("_input", "_answer")), task["answer_position"],
                                            task.get("answer_sheet"))
        rec.update({"passed": passed, "formula": formula, "attempts": attempts})
    except Exception as e:  # noqa: BLE001 - one broken task must not stop the suite
        log.warning("spreadsheetbench %s failed: %s", tid, e)
        rec.update({"passed": 0, "formula": None, "error": f"{type(e).__name__}: {str(e)[:200]}"})
    return rec


@suite("spreadsheetbench", "SpreadsheetBench 50-task subset: formula written by the model, executed with the "
       "formulas engine, official soft/hard scoring beside the do-nothing floor", "spreadsheetbench50")
async def spreadsheetbench(ctx: EvalContext) -> EvalResult:
    root = ctx.data_dir / "spreadsheetbench50"
    tasks = json.loads((root / "dataset.json").read_text(encoding="utf-8"))[: ctx.limit or None]
    recs = await map_items(ctx, tasks, lambda t: str(t["id"]),
                           lambda t: _sb_task(ctx, root, t), stage="tasks")

    def score(key: str, subset: list[dict[str, Any]]) -> dict[str, float]:
        if not subset:
            return {"soft": 0.0, "hard": 0.0}
        soft = sum(r[key] / max(1, r["cases"]) for r in subset) / len(subset) * 100
        hard = sum(r[key] == r["cases"] and r["cases"] > 0 for r in subset) / len(subset) * 100
        return {"soft": round(soft, 2), "hard": round(hard, 2)}

    cell = [r for r in recs if r["type"] == "Cell-Level Manipulation"]
    sheet = [r for r in recs if r["type"] != "Cell-Level Manipulation"]
    ours, floor = score("passed", recs), score("floor_passed", recs)
    return EvalResult(
        "spreadsheetbench", ctx.model, len(recs), ours,
        baselines={"do_nothing_measured": floor, "do_nothing_readme_50": SB_FLOOR},
        published={"gpt-4o_912": {"soft": 18.35, "hard": 15.02}, "copilot_in_excel_sample": {"soft": 20.0}},
        breakdown={"cell_level": score("passed", cell), "sheet_level": score("passed", sheet),
                   "cell_level_floor": score("floor_passed", cell)},
        details=recs,
        notes=f"soft {ours['soft']}/hard {ours['hard']} vs do-nothing floor {floor['soft']}/{floor['hard']} "
              f"(README 8.0/6.0 on all 50). Cell-level tasks: one model formula, filled over the answer range and "
              f"executed with the `formulas` engine; sheet-level tasks are left unchanged.")


# ------------------------------------------------------------------ nvBench

GOLD_TYPES = {"bar": "Bar", "stacked_bar": "Stacked Bar", "line": "Line", "grouped_line": "Grouping Line",
              "pie": "Pie", "scatter": "Scatter", "grouped_scatter": "Grouping Scatter", "area": "Line",
              "histogram": "Bar"}


def predicted_type(intent: Any) -> str:
    t = intent.chart_type
    if intent.color and t in ("bar", "line", "scatter"):
        t = {"bar": "stacked_bar", "line": "grouped_line", "scatter": "grouped_scatter"}[t]
    return GOLD_TYPES.get(t, t)


def parse_vql(vql: str) -> dict[str, Any]:
    m = re.match(r"Visualize\s+\w+(?:\s+\w+)?\s+SELECT\s+(.+?)\s+FROM\s", vql, re.I | re.S)
    sel = [s.strip() for s in (m[1] if m else "").split(",")]
    x = sel[0] if sel else ""
    y = sel[1] if len(sel) > 1 else ""
    agg, ycol = "none", y
    ym = re.match(r"(\w+)\s*\(\s*(.*?)\s*\)", y)
    if ym:
        agg = {"avg": "mean", "count": "count", "sum": "sum", "max": "max", "min": "min"}.get(ym[1].lower(), ym[1])
        ycol = "" if agg == "count" else ym[2]
    g = re.search(r"GROUP BY\s+(.+?)(?:\s+ORDER BY|\s+BIN|\s*$)", vql, re.I | re.S)
    groups = [s.strip() for s in g[1].split(",")] if g else []
    return {"x": x, "agg": agg, "y": ycol, "groups": groups}


_NAMES = {n[:3]: n[:3] for n in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                                   "january", "february", "march", "april", "may", "june", "july", "august",
                                   "september", "october", "november", "december")}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def _norm(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, str) and v.strip().lower()[:3] in _NAMES and v.strip().isalpha():
        return v.strip().lower()[:3]  # nvBench writes Thur/July, we write Thursday/Jul
    try:
        f = float(v)
        return f"{round(f, 2):g}"
    except (TypeError, ValueError):
        return str(v).strip().lower()


def data_multiset(rows: list[dict[str, Any]], keys: list[str], drop_zero: bool) -> Counter[tuple[str, ...]]:
    out: Counter[tuple[str, ...]] = Counter()
    for r in rows:
        vals = [r.get(k) for k in keys]
        if drop_zero and _norm(vals[1]) == "0":
            continue
        out[tuple(_norm(v) for v in vals)] += 1
    return out


def score_chart(item: dict[str, Any], intent: Any, data: list[dict[str, Any]]) -> dict[str, Any]:
    gold = parse_vql(item["vql"])
    grouped = item["chart"] in ("Stacked Bar", "Grouping Line", "Grouping Scatter")
    cls = gold["groups"][0] if grouped and gold["groups"] else ""
    low = str.lower
    type_ok = predicted_type(intent) == item["chart"]
    y_ok = (intent.aggregate == "count" and gold["agg"] == "count") or \
        (low(intent.y) == low(gold["y"]) and (intent.aggregate == gold["agg"] or
                                                (gold["agg"] == "none" and intent.aggregate in ("none", "sum"))))
    field_ok = low(intent.x) == low(gold["x"]) and y_ok and (low(intent.color) == low(cls) if grouped else True)
    yname = intent.y or "记录数"
    keys = [intent.x, yname] + ([intent.color] if intent.color else [])
    gkeys = ["x_data", "y_data"] + (["classify"] if grouped else [])
    golds = item["vega_lite"]["data"]["values"]
    if golds and all(_norm(g.get("x_data"))[:3] in _MONTHS for g in golds):  # BIN BY MONTH = month of year
        data = [{**r, intent.x: _MONTHS[int(str(r[intent.x])[5:7]) - 1]}
                if re.fullmatch(r"\d{4}-\d{2}", str(r.get(intent.x))) else r for r in data]
    ours = data_multiset(data, keys, drop_zero=True)
    theirs = data_multiset(golds, gkeys, drop_zero=True)
    return {"type": type_ok, "fields": field_ok, "data": ours == theirs, "pred": intent.to_json(),
            "gold": {"chart": item["chart"], **gold}}


def rules_intent(ask: str, table: Any) -> Any:
    """The no-model baseline: chart type, columns and aggregate read from the request words alone."""
    from hanlin.apps.charts.recommend import ask_hints, recommend, repair_intent
    from hanlin.apps.charts.spec import ChartIntent

    h = ask_hints(ask, table)
    base = recommend(table, 1)[0]
    cols = h.columns
    x = cols[0] if cols else base.x
    nums = [c for c in cols[1:] if table.field(c).vtype == "quantitative"]
    intent = ChartIntent(h.chart_type or base.chart_type, x, nums[0] if nums else "",
                         h.aggregate or ("sum" if nums else "count"))
    repair_intent(intent, h, table)
    return intent


async def _nv_item(ctx: EvalContext, item: dict[str, Any]) -> dict[str, Any]:
    from hanlin.apps.charts.app import choose_intent
    from hanlin.apps.charts.profile import table_from_rows
    from hanlin.apps.charts.spec import aggregate_rows

    t = item["table"]
    table = table_from_rows(t["name"], t["columns"], t["rows"])
    ask = item["nl_queries"][0]
    rec: dict[str, Any] = {"id": item["nvbench_id"] + "|" + item["file"], "chart": item["chart"],
                           "hardness": item["hardness"]}
    try:
        base = rules_intent(ask, table)
        rec["rules"] = score_chart(item, base, aggregate_rows(table, base))
    except Exception as e:  # noqa: BLE001
        rec["rules"] = {"type": False, "fields": False, "data": False, "error": str(e)[:200]}
    try:
        intent, notes = await choose_intent(ctx.engine, table, ask)
        rec["model"] = score_chart(item, intent, aggregate_rows(table, intent))
        rec["model"]["notes"] = notes
    except Exception as e:  # noqa: BLE001
        rec["model"] = {"type": False, "fields": False, "data": False, "error": f"{type(e).__name__}: {e}"[:200]}
    return rec


@suite("nvbench", "nvBench NL→chart (English, single table): chart-type, field and data-value accuracy",
       "nvbench")
async def nvbench(ctx: EvalContext) -> EvalResult:
    path = ctx.data_dir / "nvbench" / "nvbench_dev.jsonl"
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = items[: ctx.limit or None]
    recs = await map_items(ctx, items, lambda it: it["nvbench_id"] + "|" + it["file"],
                           lambda it: _nv_item(ctx, it), stage="charts")

    def acc(who: str, subset: list[dict[str, Any]]) -> dict[str, float]:
        n = max(1, len(subset))
        return {k: round(100 * sum(bool(r[who].get(k)) for r in subset) / n, 2) for k in ("type", "fields", "data")} \
            | {"all": round(100 * sum(all(r[who].get(k) for k in ("type", "fields", "data")) for r in subset) / n, 2)}

    by_chart = {c: acc("model", [r for r in recs if r["chart"] == c]) for c in sorted({r["chart"] for r in recs})}
    return EvalResult("nvbench", ctx.model, len(recs), {f"{k}_accuracy": v for k, v in acc("model", recs).items()},
                      baselines={"rules_only": {f"{k}_accuracy": v for k, v in acc("rules", recs).items()}},
                      breakdown=by_chart, details=recs,
                      notes="type = chart type matches (bar/stacked bar/line/grouping line/pie/scatter/grouping "
                            "scatter); fields = x, y(+aggregate) and colour column match the gold VQL; data = "
                            "multiset of (x, y[, colour]) equals the gold data after rounding (zero-filled groups "
                            "dropped). rules_only = the same pipeline with no model.")
