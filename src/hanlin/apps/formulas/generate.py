"""Request → verified formula: schema-constrained choice by the model, formula text by code, execution by the
``formulas`` engine on the real workbook, bounded retries with the error fed back."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl.utils import column_index_from_string, get_column_letter

from hanlin.apps.formulas import patterns as P
from hanlin.apps.formulas.catalogue import catalogue
from hanlin.apps.formulas.explain import explain
from hanlin.apps.formulas.verify import execute
from hanlin.apps.formulas.workbook import SheetInfo, WorkbookInfo, describe, load_workbook_info
from hanlin.engine.ask import ask_json
from hanlin.engine.base import Engine
from hanlin.errors import BadRequest, NotFound
from hanlin.offload import run_cpu

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
SYSTEM = ("你是 Excel 公式专家。根据表格结构和用户请求，选择公式模式并从给定的真实列名和取值中选择，"
          "只输出 JSON。模式：sum 求和 / average 平均 / count 计数 / max 最大 / min 最小（criteria 为筛选条件）；"
          "share 占比（criteria 是部分的条件，value_column 是求和的数值列，按行数算占比时留空）；"
          "rank 逐行排名（value_column 是排名依据的数值列）；"
          "lookup 查找（criteria[0] 是用来查找的列和值，value_column 是要返回的列）；"
          "row_math 逐行两列运算（value_column operation second_column）；date_part 逐行取日期的年/月/日/星期；"
          "text 逐行文本处理（left/right 取 n 个字符、len、upper、lower、trim）；"
          "都不适用时用 freeform，并在 formula 中写出完整公式。请求里没提到的条件不要加。")


@dataclass
class FormulaResult:
    formula: str
    verified: bool
    value: Any
    explanation: str
    attempts: int
    sheet: str = ""
    target: str = ""
    fill_to: str = ""  # last cell of a filled-down column, "" for a single cell
    spec: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    output: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"formula": self.formula, "verified": self.verified, "value": self.value,
                "explanation": self.explanation, "attempts": self.attempts, "sheet": self.sheet,
                "target": self.target, "fill_to": self.fill_to or None, "spec": self.spec, "checks": self.checks,
                "problems": self.problems, "repairs": self.repairs, "output": self.output}


def parse_target(target: str | None, sheet: SheetInfo, per_row: bool) -> tuple[str, int, int]:
    """(sheet name, row, col) of the cell the formula goes in; a default right of the table."""
    name = sheet.name
    if target:
        t = target.strip()
        if "!" in t:
            name, t = t.rsplit("!", 1)
            name = name.strip("'")
        m = re.fullmatch(r"\$?([A-Za-z]{1,3})\$?(\d+)", t)
        if not m:
            raise BadRequest(f"--target '{target}' is not a cell address like H2 or Sheet1!H2.", param="target")
        return name, int(m[2]), column_index_from_string(m[1].upper())
    col = len(sheet.columns) + (1 if per_row else 2)
    return name, sheet.first_row, col


def _messages(request: str, info: WorkbookInfo, sheet: SheetInfo, hints: P.Hints) -> list[dict[str, Any]]:
    funcs = catalogue().relevant(request, limit=6)
    fn_text = "\n".join(f"- {f.syntax}：{f.description}" for f in funcs)
    user = (f"{describe(info, sheet)}\n相关函数：\n{fn_text or '（无）'}\n{hints.to_prompt()}\n"
            f"用户请求：{request}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


async def make_formula(engine: Engine, request: str, path: str | Path, sheet_name: str | None = None,
                       target: str | None = None, *, lang: str = "zh", max_attempts: int = MAX_ATTEMPTS,
                       progress: Callable[[float, str], None] | None = None) -> FormulaResult:
    """The formula app's entry point: a formula for ``request`` over the workbook at ``path``, verified by running
    it on the real sheet (see :class:`FormulaGenerator`, which keeps the attempts)."""
    return await FormulaGenerator(engine, max_attempts=max_attempts, lang=lang).generate(
        request, path, sheet_name, target, progress=progress)


class FormulaGenerator:
    def __init__(self, engine: Engine, *, max_attempts: int = MAX_ATTEMPTS, max_tokens: int = 300,
                 lang: str = "zh") -> None:
        self.engine = engine
        self.max_attempts = max(1, max_attempts)
        self.max_tokens = max_tokens
        self.lang = lang

    async def generate(self, request: str, path: str | Path, sheet_name: str | None = None,
                       target: str | None = None,
                       progress: Callable[[float, str], None] | None = None) -> FormulaResult:
        if not request.strip():
            raise BadRequest("The request is empty: say what the formula should compute.", param="request")
        progress = progress or (lambda f, s: None)
        progress(0.05, "reading workbook")
        info = await run_cpu(load_workbook_info, path, what="reading the workbook")
        sheet = info.sheet(sheet_name)
        hints = P.request_hints(request, sheet)
        _check_named_columns(request, sheet)
        messages = _messages(request, info, sheet, hints)
        schema = P.spec_schema(sheet)
        last: FormulaResult | None = None
        for attempt in range(1, self.max_attempts + 1):
            progress(0.1 + 0.8 * (attempt - 1) / self.max_attempts, f"attempt {attempt}")
            reply = await ask_json(self.engine, messages, schema, name="formula_spec",
                                   max_tokens=self.max_tokens, seed=41 + attempt, on_cut="salvage")
            data, raw = reply.data, reply.raw
            spec = P.Spec.from_json(data if isinstance(data, dict) else {})
            result = await run_cpu(self._try, spec, request, info, sheet, hints, target, attempt,
                                   what="checking the formula")
            if data is None:
                result.problems = ["the reply was not valid JSON"]
            if result.verified:
                progress(1.0, "verified")
                return result
            last = result
            messages = [*messages, {"role": "assistant", "content": raw[:1500]},
                        {"role": "user", "content": "这个结果没有通过验证：" + "；".join(result.problems)
                         + "。请改正后重新输出 JSON。"}]
        assert last is not None
        progress(1.0, "not verified")
        return last

    def _try(self, spec: P.Spec, request: str, info: WorkbookInfo, sheet: SheetInfo, hints: P.Hints,
             target: str | None, attempt: int) -> FormulaResult:
        repairs = P.repair(spec, hints, sheet, request)
        if spec.pattern != "freeform":
            spec.formula = ""  # the model may fill it anyway; code writes pattern formulas
        per_row = spec.pattern in P.ROW_PATTERNS
        tsheet, trow, tcol = parse_target(target, sheet, per_row)
        res = FormulaResult("", False, None, "", attempt, tsheet, f"{get_column_letter(tcol)}{trow}",
                            spec=spec.to_json(), repairs=repairs)
        try:
            res.formula = spec.formula if spec.pattern == "freeform" else P.build_formula(spec, sheet, tsheet, trow)
        except P.SpecError as e:
            res.problems = [str(e)]
            res.formula = spec.formula or ""
            return res
        if not res.formula.strip():
            res.problems = ["the formula is empty"]
            return res
        ex = execute(res.formula, info, tsheet, (trow, tcol))
        res.formula = ex.formula
        res.checks = {"parses": "does not parse" not in ex.error, "functions_exist": "unknown function" not in ex.error,
                      "references_valid": ex.ok or not _is_ref_error(ex.error), "no_error_value": ex.ok}
        if not ex.ok:
            res.problems = [ex.error]
            res.value = ex.value if isinstance(ex.value, str) and ex.value.startswith("#") else None
            return res
        problems = P.freeform_problems(hints, ex.value, sheet) if spec.pattern == "freeform" else \
            P.sanity_problems(spec, ex.value, sheet, info)
        problems += P.unused_columns(spec, hints, res.formula, sheet)
        if ex.is_array and not per_row:
            problems.append("the formula returns an array, not one value")
        res.checks["fits_request"] = not problems
        res.problems = problems
        res.value = P.display_value(ex.value, spec, sheet)
        res.verified = not problems
        if per_row:
            res.fill_to = f"{get_column_letter(tcol)}{sheet.last_row}" if trow == sheet.first_row else ""
        res.explanation = self._explain(spec, res.formula, info)
        return res

    def _explain(self, spec: P.Spec, formula: str, info: WorkbookInfo) -> str:
        head = P.describe_spec(spec) if self.lang != "en" else ""
        try:
            body = explain(formula, self.lang, info)["explanation"]
        except Exception:  # noqa: BLE001 - an explanation never fails the result
            body = ""
        return (head + "\n" + body).strip()


def _is_ref_error(err: str) -> bool:
    return any(w in err for w in ("sheet", "reference", "outside the data", "named range", "circular"))


_COLUMN_MENTION = re.compile(r"[「【\[]([^」】\]]{1,30})[」】\]]|[\"“']([^\"”']{1,30})[\"”']\s*(?:列|字段|这一列|column)"
                             r"|column\s+[\"“']([^\"”']{1,30})[\"”']", re.I)


def _check_named_columns(request: str, sheet: SheetInfo) -> None:
    """A column named in 「」/【】/[] (or quoted and called 列/column) that the sheet lacks is a user error,
    not something to guess."""
    for m in _COLUMN_MENTION.finditer(request):
        name = next(g for g in m.groups() if g)
        if any(P._norm(name) == P._norm(c.name) for c in sheet.columns):
            continue
        if any(P._norm(name) == P._norm(v) for c in sheet.columns for v in c.distinct):
            continue
        raise NotFound(f"The request names the column '{name}', which sheet '{sheet.name}' does not have. "
                       f"Columns: {', '.join(c.name for c in sheet.columns)}", param="request")


def write_output(result: FormulaResult, info: WorkbookInfo, out: str | Path, label: str = "") -> str:
    """Write the formula into the target (filled down for per-row patterns) of a copy of the workbook."""
    import openpyxl
    from openpyxl.formula.translate import Translator

    from hanlin.apps.formulas.workbook import csv_to_xlsx

    if not result.formula:
        raise BadRequest("There is no formula to write.")
    out = Path(out)
    wb = csv_to_xlsx(info, out) if info.kind == "csv" else openpyxl.load_workbook(info.path)
    name = result.sheet if result.sheet in wb.sheetnames else wb.sheetnames[0]
    ws = wb[name]
    m = re.fullmatch(r"([A-Z]+)(\d+)", result.target)
    assert m is not None
    col, row = m[1], int(m[2])
    last = int(re.sub(r"[A-Z]+", "", result.fill_to)) if result.fill_to else row
    for r in range(row, last + 1):
        ws[f"{col}{r}"] = result.formula if r == row else \
            Translator(result.formula, origin=f"{col}{row}").translate_formula(f"{col}{r}")
    header = ws[f"{col}{row - 1}"] if row > 1 else None
    if label and header is not None and header.value in (None, ""):
        header.value = label[:40]
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return str(out)
