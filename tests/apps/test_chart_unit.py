"""Charts: profiling, rule recommendations, schema-constrained intents, Vega-Lite validation, CJK rendering."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hanlin.apps.charts.app import make_charts
from hanlin.apps.charts.profile import load_table
from hanlin.apps.charts.render import cjk_font_dir, render_bytes
from hanlin.apps.charts.spec import ChartIntent, build_vegalite, intent_schema, spec_fields
from hanlin.cli.main import app as cli_app
from hanlin.engine.fake import FakeEngine
from hanlin.errors import UnprocessableInput
from tests.support.formula_books import COLUMNS, sales_rows, write_csv, write_xlsx

ROWS = sales_rows()
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def csv_book(tmp_path: Path) -> Path:
    return write_csv(ROWS, tmp_path / "sales.csv")


def test_profile_types_and_measures(csv_book: Path) -> None:
    t = load_table(csv_book)
    types = {f.name: f.vtype for f in t.fields}
    assert types["日期"] == "temporal" and types["地区"] == "nominal" and types["销售额"] == "quantitative"
    assert t.field("订单号").is_id and t.field("销售额").is_measure
    assert t.field("地区").cardinality == len({r["地区"] for r in ROWS})


def test_recommendations_use_real_columns_and_render(csv_book: Path, tmp_path: Path) -> None:
    d = asyncio.run(make_charts(load_table(csv_book), tmp_path / "rec.png"))
    assert 1 <= len(d["charts"]) <= 3
    assert len({c["chart_type"] for c in d["charts"]}) == len(d["charts"])
    for c in d["charts"]:
        assert set(spec_fields(c["spec"])) <= set(COLUMNS)
        assert Path(c["output"]).read_bytes().startswith(PNG)


def test_ask_intent_schema_and_aggregated_values(csv_book: Path, tmp_path: Path) -> None:
    t = load_table(csv_book)
    schema = intent_schema(t)
    assert schema["properties"]["x"]["enum"] == COLUMNS
    eng = FakeEngine()
    # the model says "line" and mean; the request says 柱状图 and 总 → code repairs both
    eng.enqueue({"chart_type": "line", "x": "地区", "y": "销售额", "aggregate": "mean", "color": "",
                 "time_unit": "none", "sort": "none", "filters": [], "title": "各地区销售额"})
    d = asyncio.run(make_charts(t, tmp_path / "ask.svg", ask="各地区销售额总和的柱状图", engine=eng))
    assert d["chart_type"] == "bar" and d["notes"]
    got = {r["地区"]: r["销售额"] for r in d["charts"][0]["data"]}
    for region, value in got.items():
        assert value == pytest.approx(sum(r["销售额"] for r in ROWS if r["地区"] == region))
    assert set(spec_fields(d["spec"])) == {"地区", "销售额"}
    assert "<svg" in Path(d["output"]).read_text()


def test_count_chart_uses_vegalite_count_and_filters(csv_book: Path) -> None:
    t = load_table(csv_book)
    intent = ChartIntent("pie", "产品", "", "count", filters=[])
    from hanlin.apps.charts.spec import Filter

    intent.filters = [Filter("地区", "=", "上海")]
    spec, data = build_vegalite(t, intent)
    assert spec["encoding"]["theta"]["aggregate"] == "count" and set(spec_fields(spec)) == {"产品"}
    expected: dict[str, int] = {}
    for r in ROWS:
        if r["地区"] == "上海":
            expected[r["产品"]] = expected.get(r["产品"], 0) + 1
    assert {r["产品"]: r["记录数"] for r in data} == expected
    assert len(spec["data"]["values"]) == sum(expected.values())


def test_invalid_intent_is_rejected(csv_book: Path) -> None:
    t = load_table(csv_book)
    with pytest.raises(UnprocessableInput, match="not a column"):
        build_vegalite(t, ChartIntent("bar", "利润", "销售额", "sum"))
    with pytest.raises(UnprocessableInput, match="not numeric"):
        build_vegalite(t, ChartIntent("bar", "地区", "产品", "sum"))


@pytest.mark.skipif(cjk_font_dir() is None, reason="no CJK font installed (apt-get install fonts-noto-cjk)")
def test_png_renders_chinese_as_glyphs_not_boxes(csv_book: Path) -> None:
    # With no CJK font every Chinese character is the same "tofu" box, so two titles of equal length render
    # identically; with glyphs they differ.
    t = load_table(csv_book)
    spec, _ = build_vegalite(t, ChartIntent("bar", "地区", "销售额", "sum", title="北京上海"))
    a = render_bytes(spec, "png")
    spec["title"] = "广州深圳"
    b = render_bytes(spec, "png")
    assert a.startswith(PNG) and a != b


def test_chart_bad_inputs_and_cli(tmp_path: Path, csv_book: Path) -> None:
    (tmp_path / "head.csv").write_text("a,b\n")
    with pytest.raises(UnprocessableInput):
        load_table(tmp_path / "head.csv")
    runner = CliRunner()
    r = runner.invoke(cli_app, ["chart", str(csv_book), "-o", str(tmp_path / "c.html"), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["chart_type"] and Path(d["output"]).read_text().lower().startswith("<!doctype html")
    r = runner.invoke(cli_app, ["chart", str(csv_book), "-o", str(tmp_path / "c.gif")])
    assert r.exit_code == 1 and ".png" in r.output


def test_rest_chart(fake_client, fake_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    book = write_xlsx(ROWS, tmp_path / "s.xlsx")
    r = fake_client.post("/v1/apps/chart", data={"format": "png"}, files={"file": ("s.xlsx", book.read_bytes())})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["chart_type"] and base64.b64decode(body["output"].split(",", 1)[1]).startswith(PNG)
    fake_engine.enqueue({"chart_type": "line", "x": "日期", "y": "数量", "aggregate": "sum", "color": "",
                         "time_unit": "month", "sort": "x_asc", "filters": [], "title": "每月数量"})
    r = fake_client.post("/v1/apps/chart", data={"ask": "每月数量走势", "format": "svg"},
                         files={"file": ("s.xlsx", book.read_bytes())})
    assert r.status_code == 200 and r.json()["chart_type"] == "line"
    r = fake_client.post("/v1/apps/chart", files={"file": ("s.xlsx", b"garbage")})
    assert r.status_code == 422
