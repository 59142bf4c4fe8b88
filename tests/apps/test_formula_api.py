"""Explain, catalogue, REST routes and CLI commands of the formula app (no model needed, or a FakeEngine)."""

from __future__ import annotations

import json
from pathlib import Path

import formulas
import openpyxl
import pytest
from typer.testing import CliRunner

from hanlin.apps.formulas.catalogue import catalogue
from hanlin.apps.formulas.explain import explain
from hanlin.apps.formulas.workbook import load_workbook_info
from hanlin.cli.main import app as cli_app
from hanlin.errors import BadRequest
from tests.support.formula_books import sales_rows, write_xlsx

ROWS = sales_rows()


def test_catalogue_has_300_functions_with_honest_executable_flag() -> None:
    cat = catalogue()
    assert len(cat) >= 300
    engine = {n.upper() for n in formulas.get_functions()}
    for e in cat.entries:
        assert e.description and e.description_en and e.syntax.startswith(e.name)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in e.description)
        assert e.executable == (e.name in engine)
    assert {"SUMIFS", "AVERAGEIFS", "COUNTIFS", "XLOOKUP", "INDEX", "MATCH", "TEXT", "DATEDIF"} <= set(cat.by_name)
    assert not cat.get("OFFSET").executable  # type: ignore[union-attr]
    assert [e.name for e in cat.search("xlookup")][0] == "XLOOKUP"
    assert "AVERAGEIFS" in [e.name for e in cat.relevant("各地区的平均销售额")]


def test_explain_nested_functions_and_references_zh_en(tmp_path: Path) -> None:
    book = write_xlsx(ROWS, tmp_path / "s.xlsx")
    f = '=IFERROR(INDEX(H2:H61, MATCH("SO1003", A2:A61, 0)), SUMIFS(H:H, C:C, ">=北京"))'
    d = explain(f, "zh", load_workbook_info(book))
    names = [x["name"] for x in d["functions"]]
    assert names == ["IFERROR", "INDEX", "MATCH", "SUMIFS"]
    depths = {x["name"]: x["depth"] for x in d["functions"]}
    assert depths["IFERROR"] < depths["INDEX"] < depths["MATCH"]
    assert [r["ref"] for r in d["references"]] == ["H2:H61", "A2:A61", "H:H", "C:C"]
    assert "「销售额」列" in d["explanation"] and "按多个条件求和" in d["explanation"]
    en = explain(f, "en")
    assert "returns the relative position" in en["explanation"] and "按" not in en["explanation"]
    with pytest.raises(BadRequest):
        explain("=SUM(A1,")


def test_rest_formula_explain_and_errors(fake_client, fake_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    book = write_xlsx(ROWS, tmp_path / "s.xlsx")
    fake_engine.enqueue({"pattern": "average", "value_column": "数量", "criteria": [
        {"column": "产品", "op": "=", "value": "鼠标"}], "second_column": "", "operation": "none", "n": 1,
        "formula": ""})
    r = fake_client.post("/v1/apps/formula", data={"request": "鼠标的平均数量", "write": "true"},
                         files={"file": ("s.xlsx", book.read_bytes())})
    assert r.status_code == 200, r.text
    body = r.json()
    vals = [x["数量"] for x in ROWS if x["产品"] == "鼠标"]
    assert body["verified"] and body["value"] == pytest.approx(sum(vals) / len(vals))
    assert body["output_xlsx_base64"]
    r = fake_client.post("/v1/apps/formula/explain", json={"formula": "=YEAR(B2)", "lang": "en"})
    assert r.status_code == 200 and r.json()["functions"][0]["name"] == "YEAR"
    r = fake_client.post("/v1/apps/formula", data={"request": "x"}, files={"file": ("bad.xlsx", b"PK\x03\x04junk")})
    assert r.status_code == 422 and "xlsx" in r.json()["error"]["message"]
    r = fake_client.post("/v1/apps/formula", data={"request": "x"}, files={"file": ("a.pdf", b"%PDF")})
    assert r.status_code == 400
    r = fake_client.post("/v1/apps/formula", data={"request": "\"库存\"列合计"},
                         files={"file": ("s.xlsx", book.read_bytes())})
    assert r.status_code == 404 and "库存" in r.json()["error"]["message"]
    r = fake_client.post("/v1/apps/formula/explain", json={"formula": "=SUM(("})
    assert r.status_code == 400


def test_cli_explain_functions_and_bad_file(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli_app, ["formula", "explain", "=XLOOKUP(A2,B:B,C:C)", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["functions"][0]["name"] == "XLOOKUP"
    r = runner.invoke(cli_app, ["formula", "explain", "=LEFT(A1,3)", "--lang", "en"])
    assert r.exit_code == 0 and "leftmost" in r.stdout
    r = runner.invoke(cli_app, ["formula", "functions", "--search", "SUMIF", "--json"])
    names = [f["name"] for f in json.loads(r.stdout)["functions"]]
    assert names[:2] == ["SUMIF", "SUMIFS"]
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    r = runner.invoke(cli_app, ["formula", "总和", "--sheet", str(bad)])
    assert r.exit_code == 1 and "not a valid xlsx" in r.output
    empty = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(empty)
    r = runner.invoke(cli_app, ["formula", "--sheet", str(empty), "总和"])
    assert r.exit_code == 1 and "no data" in r.output
