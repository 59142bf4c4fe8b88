"""The quality suites (kb-gold, gongwen, ads, formulas-gold): their data, builders and judges, and a run of each
through `run_eval` with the FakeEngine (the real-model numbers are in docs/evals.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from hanlin.apps.documents.schema import OfficialDocument, Paragraph
from hanlin.apps.documents.writer import write_official_document
from hanlin.engine.fake import FakeEngine
from hanlin.evals.gold import jaccard, judge_ads, judge_gongwen, judge_kb, load
from hanlin.evals.gold_build import formula_requests, pdf_with_text, value_matches, write_workbooks
from hanlin.evals.runner import RunSpec, run_eval
from hanlin.evals.suites import load_suites
from hanlin.knowledge.answer import NOT_FOUND
from hanlin.knowledge.extract import extract
from hanlin.knowledge.fold import fold


def _run(suite: str, engine: FakeEngine, home: Path, limit: int | None = None) -> dict[str, Any]:
    return asyncio.run(run_eval(engine, RunSpec(suite=suite, model="fake", limit=limit, data_dir=home), home))


def test_suites_registered_with_their_own_data() -> None:
    suites = load_suites()
    assert {"kb-gold", "gongwen", "ads", "formulas-gold"} <= set(suites)
    kb = load("kb_gold.json")
    assert len(kb["documents"]) >= 6 and {d["kind"] for d in kb["documents"]} >= {"docx", "xlsx", "kangxi_pdf"}
    qs = kb["questions"]
    assert sum(bool(q["expect"]) for q in qs) == 18 and sum(not q["expect"] for q in qs) == 6
    assert len(load("gongwen.json")["requests"]) >= 12 and len(load("ads.json")["requests"]) >= 4


def test_chromium_style_pdf_has_kangxi_radicals_that_ingest_folds() -> None:
    raw = extract(pdf_with_text([["第五条 机房温度应保持在18至27摄氏度之间，配备气体灭火装置，严禁使用水基灭火器。"]]), "a.pdf")
    text = raw[0].text
    assert "⽓" in text and "⽔" in text and "⼀" not in fold(text)  # as Chromium writes it, then folded
    assert "气体灭火装置" in fold(text) and "水基灭火器" in fold(text)


def test_formula_requests_cover_the_kinds_with_python_values(tmp_path: Path) -> None:
    reqs = formula_requests()
    assert len(reqs) == 40 and len({r["request"] for r in reqs}) == 40
    assert {r["kind"] for r in reqs} == {"multi", "dates", "lookups", "percentages", "ranks", "text"}
    assert all(r["expected"] not in (0, 0.0, "", None) for r in reqs)  # nothing a do-nothing formula gets right
    assert set(write_workbooks(tmp_path)) == {"销售明细.xlsx", "员工花名册.xlsx", "库存台账.xlsx"}
    assert value_matches(0.4269, 0.42687, "percentages") and value_matches(42.69, 0.42687, "percentages")
    assert not value_matches(0.5, 0.42687, "percentages") and value_matches("2024-03-01", dt.date(2024, 3, 1))


def test_judges(tmp_path: Path) -> None:
    q = {"expect": ["550"], "doc": "差旅费报销标准.xlsx"}
    ok = judge_kb(q, {"answer": "每晚550元[1]", "citations": [{"document": "差旅费报销标准.xlsx"}], "verified": True})
    assert ok["right"] and ok["cited_right_doc"] and not ok["refused"]
    assert judge_kb(q, {"answer": "[1]", "citations": [{"document": "x"}]})["bare_marker"]
    assert judge_kb({"expect": []}, {"answer": NOT_FOUND, "citations": []})["refused"]
    bad = OfficialDocument("请示", "关于申请经费的请示", [Paragraph("尊敬的财政局领导："), Paragraph("申请经费20万元。"),
                                                     Paragraph("谢谢您的支持和帮助。")], org="某局", to=["某财政局"],
                           date="2026年5月8日", signature="某局")
    path = tmp_path / "bad.docx"
    write_official_document(bad, path)
    assert set(judge_gongwen(path, "请示")) >= {"salutation", "thanks", "closing", "one_matter"}
    same = [{"title": "冬日暖手", "text": "双层真空保温杯，12小时保温"}] * 2
    assert not judge_ads("保温杯，双层真空，12小时保温", "小红书", same, 2)["distinct"]
    assert jaccard("双层真空保温杯", "双层真空保温杯") == 1.0


def test_kb_gold_runs_the_pipeline_and_counts_refusals(tmp_path: Path) -> None:
    rec = _run("kb-gold", FakeEngine(responder=lambda body: NOT_FOUND), tmp_path)
    m = rec["metrics"]
    assert m["answerable"] == 18 and m["unanswerable"] == 6
    assert m["right_refusals"] == 6 and m["falsely_verified"] == 0
    # a model that always refuses: code alone answers the tiered rules and unique table lookups, and rightly
    assert m["answered_with_citation"] == m["right"] == 18 - m["wrong_refusals"] and m["right"] >= 4


def test_gongwen_suite_scores_a_clean_draft(tmp_path: Path) -> None:
    draft = {"title": "关于申请追加办公设备购置经费的请示", "to": ["某某市财政局"], "paragraphs": [
        {"level": 0, "text": "尊敬的领导：我局办公设备老化，申请追加经费20万元。"}, {"level": 0, "text": "谢谢支持。"}],
        "attachments": [], "signature": "某某市统计局", "date": ""}
    rec = _run("gongwen", FakeEngine(responses=[draft]), tmp_path, limit=1)
    assert rec["n"] == 1 and rec["metrics"]["register_pass_rate"] == 1.0  # repaired by code, judged independently
    assert rec["metrics"]["pass_rate_same_drafts_before"] == 0.0  # the same draft without the register rules
