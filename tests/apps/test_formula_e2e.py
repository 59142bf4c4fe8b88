"""End to end with the real 0.5B model behind `hanlin serve`: CLI and REST. The model is weak, so these assert
the contract and the invariants (a verified formula re-executes to the reported value; an erroring formula is
never verified), not its wording."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from hanlin.apps.formulas.verify import execute
from hanlin.apps.formulas.workbook import load_workbook_info
from tests.support.formula_books import sales_rows, write_xlsx

pytestmark = pytest.mark.e2e
ROWS = sales_rows()


def _check_contract(d: dict, book: Path) -> None:  # type: ignore[type-arg]
    assert {"formula", "verified", "value", "explanation", "attempts"} <= set(d)
    assert 1 <= d["attempts"] <= 3
    if d["verified"]:
        info = load_workbook_info(book)
        ex = execute(d["formula"], info, d["sheet"])
        assert ex.ok and not d["problems"]
        assert ex.value == pytest.approx(d["value"]) if isinstance(ex.value, float) else ex.value == d["value"]
    elif d["formula"]:
        assert d["problems"]


def test_cli_formula_with_real_model(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    book = write_xlsx(ROWS, tmp_path / "sales.xlsx")
    out = tmp_path / "out.xlsx"
    r = server.cli("formula", "北京地区的销售额总和", "--sheet", str(book), "--url", server.url, "--json",
                   "--write", str(out))
    assert r.returncode in (0, 2), r.stderr[-2000:]
    d = json.loads(r.stdout)
    _check_contract(d, book)
    if d["verified"] and d["spec"]["pattern"] == "sum" and d["spec"]["value_column"] == "销售额" and \
            [c["value"] for c in d["spec"]["criteria"]] == ["北京"]:
        assert d["value"] == pytest.approx(sum(x["销售额"] for x in ROWS if x["地区"] == "北京"))
    if d["formula"]:
        assert out.exists()


def test_rest_formula_with_real_model(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    book = write_xlsx(ROWS, tmp_path / "sales.xlsx")
    r = httpx.post(server.base_url + "/apps/formula", data={"request": "How many orders are from 上海?"},
                   files={"file": ("sales.xlsx", book.read_bytes())}, timeout=600)
    assert r.status_code == 200, r.text
    d = r.json()
    _check_contract(d, book)
    if d["verified"] and d["spec"]["pattern"] == "count":
        assert isinstance(d["value"], int) and 0 <= d["value"] <= len(ROWS)


def test_chart_ask_with_real_model(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    book = write_xlsx(ROWS, tmp_path / "sales.xlsx")
    out = tmp_path / "chart.png"
    r = server.cli("chart", str(book), "--ask", "各产品的销售额合计柱状图", "-o", str(out), "--url", server.url,
                   "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout)
    assert out.read_bytes().startswith(b"\x89PNG")
    fields = [ch["field"] for ch in d["spec"]["encoding"].values() if ch.get("field")]
    assert fields and set(fields) <= set(ROWS[0])
    assert d["chart_type"] == "bar"  # the request says 柱状图: code enforces it whatever the model chose
