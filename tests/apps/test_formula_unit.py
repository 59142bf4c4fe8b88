"""Formula app on a scripted engine: pattern formulas executed on generated workbooks must give the values
computed independently in Python; failing formulas are never reported as verified."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from hanlin.apps.formulas.generate import FormulaGenerator, write_output
from hanlin.apps.formulas.verify import execute
from hanlin.apps.formulas.workbook import load_workbook_info
from hanlin.engine.fake import FakeEngine
from hanlin.errors import BadRequest, NotFound, UnprocessableInput
from tests.support.formula_books import REGIONS, sales_rows, write_csv, write_xlsx

ROWS = sales_rows()


def spec(pattern: str, value_column: str = "", criteria: list[dict[str, Any]] | None = None,
         second: str = "", operation: str = "none", n: int = 1, formula: str = "") -> dict[str, Any]:
    return {"pattern": pattern, "value_column": value_column, "criteria": criteria or [], "second_column": second,
            "operation": operation, "n": n, "formula": formula}


def crit(column: str, value: Any, op: str = "=") -> dict[str, Any]:
    return {"column": column, "op": op, "value": value}


@pytest.fixture(params=["xlsx", "csv"])
def book(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "xlsx":
        return write_xlsx(ROWS, tmp_path / "sales.xlsx")
    return write_csv(ROWS, tmp_path / "sales.csv")


def run_one(path: Path, request: str, *responses: dict[str, Any] | str, target: str | None = None,
            attempts: int = 3) -> tuple[dict[str, Any], FakeEngine]:
    eng = FakeEngine()
    for r in responses:
        eng.enqueue(r)
    res = asyncio.run(FormulaGenerator(eng, max_attempts=attempts).generate(request, path, target=target))
    return res.to_dict(), eng


CASES = [
    ("北京地区的销售额总和", spec("sum", "销售额", [crit("地区", "北京")]),
     sum(r["销售额"] for r in ROWS if r["地区"] == "北京")),
    ("上海的平均销售额", spec("average", "销售额", [crit("地区", "上海")]),
     statistics.mean(r["销售额"] for r in ROWS if r["地区"] == "上海")),
    ("广州数量大于20的订单有多少个", spec("count", "订单号", [crit("地区", "广州"), crit("数量", 20, ">")]),
     sum(1 for r in ROWS if r["地区"] == "广州" and r["数量"] > 20)),
    ("深圳键盘的最大销售额", spec("max", "销售额", [crit("地区", "深圳"), crit("产品", "键盘")]),
     max(r["销售额"] for r in ROWS if r["地区"] == "深圳" and r["产品"] == "键盘")),
    ("查找订单 SO1017 的销售员", spec("lookup", "销售员", [crit("订单号", "SO1017")]),
     next(r["销售员"] for r in ROWS if r["订单号"] == "SO1017")),
    ("How many orders did 王芳 make?", spec("count", "", [crit("销售员", "王芳")]),
     sum(1 for r in ROWS if r["销售员"] == "王芳")),
]


@pytest.mark.parametrize(("request_text", "model_spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_pattern_value_equals_independent_computation(book: Path, request_text: str, model_spec: dict[str, Any],
                                                      expected: Any) -> None:
    d, _ = run_one(book, request_text, model_spec)
    assert d["verified"] is True, d["problems"]
    assert d["attempts"] == 1
    if isinstance(expected, float):
        assert d["value"] == pytest.approx(expected)
    else:
        assert d["value"] == expected
    assert d["explanation"] and set(d) >= {"formula", "verified", "value", "explanation", "attempts"}


def test_per_row_patterns_fill_down_and_match_python(book: Path, tmp_path: Path) -> None:
    d, _ = run_one(book, "提取每个订单日期的月份", spec("date_part", "日期", operation="month"))
    assert d["verified"] and d["formula"] == "=MONTH(B2)" and d["value"] == ROWS[0]["日期"].month
    assert d["fill_to"] == f"I{len(ROWS) + 1}"
    out = write_output_result(book, d, tmp_path / "out.xlsx")
    ws = openpyxl.load_workbook(out)["销售" if book.suffix == ".xlsx" else "sales"]
    assert ws["I2"].value == "=MONTH(B2)" and ws[f"I{len(ROWS) + 1}"].value == f"=MONTH(B{len(ROWS) + 1})"
    d, _ = run_one(book, "单价乘以数量", spec("row_math", "单价", second="数量", operation="*"), target="K5")
    assert d["verified"] and d["formula"] == "=G5*F5" and d["value"] == pytest.approx(ROWS[3]["单价"] * ROWS[3]["数量"])
    d, _ = run_one(book, "订单号的前两个字符", spec("text", "订单号", operation="left", n=2))
    assert d["verified"] and d["value"] == ROWS[0]["订单号"][:2]


def write_output_result(book: Path, d: dict[str, Any], out: Path) -> str:
    from hanlin.apps.formulas.generate import FormulaResult

    res = FormulaResult(d["formula"], d["verified"], d["value"], d["explanation"], d["attempts"], d["sheet"],
                        d["target"], d["fill_to"] or "")
    return write_output(res, load_workbook_info(book), out, label="月份")


def test_freeform_index_match_and_date_functions(book: Path) -> None:
    sheet = "销售" if book.suffix == ".xlsx" else "sales"
    f = "=INDEX(H2:H61, MATCH(\"SO1005\", A2:A61, 0))"
    d, _ = run_one(book, "订单SO1005的销售额", spec("freeform", formula=f))
    assert d["verified"] and d["value"] == pytest.approx(ROWS[5]["销售额"])
    ex = execute('=COUNTIFS(B2:B61, ">="&DATE(2024,7,1), C2:C61, "北京")', load_workbook_info(book), sheet)
    assert ex.ok and ex.value == sum(1 for r in ROWS if r["日期"] >= dt.datetime(2024, 7, 1) and r["地区"] == "北京")
    ex = execute('=TEXT(B2,"yyyy-mm")&"/"&UPPER(LEFT(A2,2))', load_workbook_info(book), sheet)
    assert ex.ok and ex.value == ROWS[0]["日期"].strftime("%Y-%m") + "/SO"


BAD_FORMULAS = ["=1/0", "=FOOBAR(A2)", "=SUM(不存在!A1:A3)", "=SUM(A2:A61", "=XLOOKUP(\"nope\", A2:A61, H2:H61)",
                "=SUM(Z900:Z901)", "=A2+1"]


@pytest.mark.parametrize("bad", BAD_FORMULAS)
def test_erroring_formula_is_never_verified(book: Path, bad: str) -> None:
    d, eng = run_one(book, "算点什么", *[spec("freeform", formula=bad)] * 3)
    assert d["verified"] is False
    assert d["attempts"] == 3 and len(eng.requests) == 3
    assert d["problems"]
    assert "没有通过验证" in eng.requests[-1]["messages"][-1]["content"]


def test_retry_with_error_then_success(book: Path) -> None:
    d, eng = run_one(book, "北京的销售额合计", spec("freeform", formula="=SUMIFS(H:H, C:C, 北京)"),
                     spec("sum", "销售额", [crit("地区", "北京")]))
    assert d["verified"] and d["attempts"] == 2
    assert d["value"] == pytest.approx(sum(r["销售额"] for r in ROWS if r["地区"] == "北京"))
    feedback = eng.requests[1]["messages"][-1]["content"]
    assert "'北京' is neither a cell reference nor a named range" in feedback


def test_sanity_check_rejects_wrong_type(book: Path) -> None:
    # "how many" but the formula returns text → not verified even though it executes
    d, _ = run_one(book, "北京有多少个订单", *[spec("freeform", formula="=A2")] * 2, attempts=2)
    assert d["verified"] is False and "count" in " ".join(d["problems"])


def test_code_repairs_model_column_and_criteria(book: Path) -> None:
    # the model picks the wrong value column and invents a criterion; the request names both
    d, _ = run_one(book, "上海的销售额总和", spec("sum", "数量", [crit("地区", "广州"), crit("产品", "鼠标")]))
    assert d["verified"]
    assert d["value"] == pytest.approx(sum(r["销售额"] for r in ROWS if r["地区"] == "上海"))
    assert d["repairs"]


def test_schema_enums_are_real_headers_and_values(book: Path) -> None:
    d, eng = run_one(book, "北京地区的销售额总和", spec("sum", "销售额", [crit("地区", "北京")]))
    schema = eng.requests[0]["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]["value_column"]["enum"]) == set(ROWS[0])
    region = next(a for a in schema["properties"]["criteria"]["items"]["anyOf"]
                  if a["properties"]["column"]["enum"] == ["地区"])
    assert set(region["properties"]["value"]["enum"]) == set(REGIONS)


def test_bad_inputs(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(UnprocessableInput, match="not a valid xlsx|damaged|could not be read"):
        load_workbook_info(corrupt)
    locked = tmp_path / "locked.xlsx"
    locked.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 600)
    with pytest.raises(UnprocessableInput, match="password"):
        load_workbook_info(locked)
    empty = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(empty)
    with pytest.raises(UnprocessableInput, match="no data"):
        load_workbook_info(empty)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(UnprocessableInput):
        load_workbook_info(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(UnprocessableInput, match="no data rows"):
        load_workbook_info(tmp_path / "header.csv")
    with pytest.raises(BadRequest):
        load_workbook_info(tmp_path / "x.pdf") if (tmp_path / "x.pdf").write_text("x") else None
    book = write_xlsx(ROWS, tmp_path / "s.xlsx")
    with pytest.raises(NotFound, match="利润"):
        run_one(book, "「利润」列的总和", spec("sum", "销售额"))
    with pytest.raises(NotFound, match="Sheet"):
        load_workbook_info(book).sheet("不存在的表")


def test_million_row_csv_is_sampled_with_bounded_memory(tmp_path: Path) -> None:
    import tracemalloc

    big = tmp_path / "big.csv"
    big.write_text("id,region,amount\n" + "".join(f"{i},{REGIONS[i % 4]},{i % 100}\n" for i in range(1_000_000)))
    tracemalloc.start()
    info = load_workbook_info(big)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sheet = info.sheet()
    assert sheet.n_rows == 1_000_000 and sheet.scanned_rows < sheet.n_rows
    assert peak < 64 * 1024 * 1024, f"profiling used {peak / 1e6:.0f} MB"
    assert sheet.column("region").distinct and sheet.column("amount").dtype == "number"
    # a formula over the whole column is refused honestly rather than executed on a sample
    d, _ = run_one(big, "amount 总和", *[spec("sum", "amount")] * 2, attempts=2)
    assert d["formula"] == "=SUM($C$2:$C$1000001)"
    assert d["verified"] is False or d["value"] == sum(i % 100 for i in range(1_000_000))


def test_date_criteria_and_text_join(book: Path) -> None:
    cutoff = dt.datetime(2024, 7, 1)
    d, _ = run_one(book, "2024年7月1日以后北京的订单有多少个",
                   spec("count", "订单号", [crit("日期", "2024-07-01", ">="), crit("地区", "北京")]))
    assert d["verified"] and 'DATE(2024,7,1)' in d["formula"]
    assert d["value"] == sum(1 for r in ROWS if r["日期"] >= cutoff and r["地区"] == "北京")
    # a date the request never wrote is dropped rather than trusted
    d, _ = run_one(book, "北京的订单有多少个", spec("count", "订单号", [crit("日期", "2023-01-01", ">="),
                                                              crit("地区", "北京")]))
    assert d["value"] == sum(1 for r in ROWS if r["地区"] == "北京") and d["repairs"]
    d, _ = run_one(book, "把地区和产品拼接起来", spec("row_math", "地区", second="产品", operation="&"))
    assert d["verified"] and d["value"] == ROWS[0]["地区"] + ROWS[0]["产品"]


def test_reply_cut_off_by_max_tokens_is_salvaged(book: Path) -> None:
    # the 0.5B sometimes pads the inside of the JSON object with newlines until max_tokens
    cut = ('{\n "pattern": "sum",\n "value_column": "销售额",\n "criteria": [{"column": "地区", "op": "=", '
           '"value": "北京"}],\n "second_column": "",\n' + "\n" * 40)
    d, _ = run_one(book, "北京地区的销售额总和", cut)
    assert d["verified"] and d["value"] == pytest.approx(sum(r["销售额"] for r in ROWS if r["地区"] == "北京"))
    d, _ = run_one(book, "北京地区的销售额总和", "not json at all", attempts=1)
    assert d["verified"] is False and d["problems"] == ["the reply was not valid JSON"]


@pytest.mark.parametrize(("request_text", "model_spec", "expected"), [
    # the model put the region on the order-number column: the value belongs to 地区
    ("广州有多少个订单", spec("count", "订单号", [crit("订单号", "广州")]),
     sum(1 for r in ROWS if r["地区"] == "广州")),
    # "> 30" on a text column is moved to the numeric column the request names
    ("数量大于30的订单有多少个", spec("count", "订单号", [crit("订单号", 30, ">")]),
     sum(1 for r in ROWS if r["数量"] > 30)),
    ("2024年7月1日以后的订单有多少个", spec("count", "订单号", [crit("订单号", "2024-07-10", ">=")]),
     sum(1 for r in ROWS if r["日期"] >= dt.datetime(2024, 7, 1))),
    ("2024年7月1日以后的订单有多少个", spec("count", "订单号", [crit("日期", "2024-07-01", ">")]),
     sum(1 for r in ROWS if r["日期"] >= dt.datetime(2024, 7, 1))),
    ("2024年3月的销售额合计", spec("sum", "销售额"),
     sum(r["销售额"] for r in ROWS if (r["日期"].year, r["日期"].month) == (2024, 3))),
    ("每个订单日期的月份", spec("sum", "日期"), ROWS[0]["日期"].month),
], ids=["wrong-column", "numeric-compare", "date-after", "date-op", "whole-month", "date-part"])
def test_request_wording_repairs_weak_model_choices(book: Path, request_text: str, model_spec: dict[str, Any],
                                                    expected: Any) -> None:
    d, _ = run_one(book, request_text, model_spec, attempts=1)
    assert d["verified"], d["problems"]
    assert d["value"] == pytest.approx(expected) and d["repairs"]
