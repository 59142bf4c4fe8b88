"""公文 register rules (issue 20 item 3): enforced by code after drafting, reported in ``checks`` from the saved file.
Drafts are the bad ones the 1.5B wrote (salutation, thanks, a request in a 报告, a three-line title, repeats,
paragraphs set as headings); FakeEngine only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from docx import Document

from hanlin.apps.documents.app import DocRequest, assemble, make_document, render_and_check
from hanlin.apps.documents.register import register_checks, shorten_title, title_width
from hanlin.engine.fake import FakeEngine

BAD_QINGSHI = {"title": "关于申请追加办公设备购置经费的请示", "to": ["某某市财政局"], "paragraphs": [
    {"level": 0, "text": "尊敬的某某市财政局领导：您好！"},
    {"level": 0, "text": "因我局办公设备老化严重，影响统计工作正常开展。特申请追加经费20万元，请予批准。"},
    {"level": 1, "text": "设备现状"},
    {"level": 0, "text": "现有电脑多数已使用8年以上。因我局办公设备老化严重，影响统计工作正常开展。"},
    {"level": 0, "text": "谢谢您的支持和帮助。"}], "attachments": [], "signature": "某某市统计局", "date": ""}


def _save(tmp_path: Path, doc_type: str, data: dict[str, Any], brief: str = "事项", fmt: str = "docx") -> dict[str, Any]:
    req = DocRequest(doc_type=doc_type, brief=brief, org="某某市统计局", fmt=fmt)
    doc, _ = asyncio.run(make_document(FakeEngine(responses=[data]), req))
    return render_and_check(doc, tmp_path / f"{doc_type}.{fmt}", fmt)


@pytest.mark.parametrize("fmt", ["docx", "txt"])
def test_qingshi_salutation_thanks_and_request_repaired(tmp_path: Path, fmt: str) -> None:
    res = _save(tmp_path, "请示", BAD_QINGSHI, "申请追加办公设备购置经费20万元", fmt)
    texts = [p["text"] for p in res["document"]["paragraphs"]]
    assert not any("尊敬的" in t or "谢谢" in t or "您好" in t for t in texts)
    assert texts[-1] == "妥否，请批示。" and sum("请予批准" in t or "请批示" in t for t in texts) == 1
    assert sum(t.count("因我局办公设备老化严重") for t in texts) == 1  # the repeated sentence once
    for name in ("no_salutation", "no_thanks", "no_repeats", "request_close", "one_matter", "real_headings"):
        assert res["checks"][name], (name, res["problems"])
    assert res["passed"], res["problems"]
    assert any("salutation" in r for r in res["repairs"]) and any("thanks" in r for r in res["repairs"])


def test_register_checks_catch_the_raw_draft() -> None:
    body = [(p["text"], p["level"] > 0) for p in BAD_QINGSHI["paragraphs"]]
    got = {k: ok for k, (ok, _) in register_checks("请示", BAD_QINGSHI["title"], "某某市财政局：", body).items()}
    assert got == {"no_salutation": False, "no_thanks": False, "no_repeats": False, "real_headings": True,
                   "title_two_lines": True, "request_close": False, "one_matter": True}
    long_head = [("各单位要高度重视安全生产工作，切实落实主体责任，认真开展隐患排查治理，确保不发生重大事故", True)]
    assert not register_checks("通知", "关于开展安全检查的通知", "各区：", long_head)["real_headings"][0]


def test_report_never_asks_for_approval(tmp_path: Path) -> None:
    data = {"title": "关于一季度统计工作情况的报告", "to": ["某某市人民政府"], "paragraphs": [
        {"level": 0, "text": "一季度，我局完成各项统计调查任务。"},
        {"level": 0, "text": "下一步拟增加两名调查员，妥否，请批示。"}], "attachments": [], "signature": "", "date": ""}
    res = _save(tmp_path, "报告", data)
    texts = [p["text"] for p in res["document"]["paragraphs"]]
    assert texts[-1] == "特此报告。" and not any("请批示" in t for t in texts)
    assert res["checks"]["no_request"] and res["passed"], res["problems"]


@pytest.mark.parametrize(("brief", "closing"), [("商洽借用会议室事宜，请对方答复", "请予函复。"),
                                                 ("告知我局办公地址变更", "特此函告。")])
def test_letter_closing(tmp_path: Path, brief: str, closing: str) -> None:
    data = {"title": "关于有关事项的函", "to": ["某某市档案馆"], "paragraphs": [
        {"level": 0, "text": "我局因工作需要，" + brief + "。"}, {"level": 0, "text": "具体事项如下。"}],
        "attachments": [], "signature": "", "date": ""}
    res = _save(tmp_path, "函", data, brief)
    assert res["document"]["paragraphs"][-1]["text"] == closing
    assert res["checks"]["letter_close"] and res["passed"], res["problems"]


def test_notice_title_recipient_repeats_and_heading_paragraphs(tmp_path: Path) -> None:
    long_title = "关于进一步加强全市各级各部门安全生产隐患排查治理和应急管理体系建设以及防汛抗旱工作（2026年度）的通知"
    para = "各单位要高度重视安全生产工作，切实落实主体责任，认真开展隐患排查治理，确保不发生重大事故。"
    data = {"title": long_title, "to": [], "paragraphs": [
        {"level": 1, "text": para}, {"level": 0, "text": "请于3月31日前报送自查报告。"},
        {"level": 0, "text": "请于3月31日前报送自查报告。务必按时完成。"}], "attachments": [], "signature": "", "date": ""}
    res = _save(tmp_path, "通知", data)
    doc = res["document"]
    assert title_width(doc["title"]) <= 40 and doc["title"].startswith("关于") and doc["title"].endswith("的通知")
    assert doc["to"] == ["各有关单位"]
    assert [p["level"] for p in doc["paragraphs"]][0] == 0  # a whole paragraph is not a 黑体 heading
    assert sum(p["text"].count("请于3月31日前报送自查报告") for p in doc["paragraphs"]) == 1
    for name in ("notice_title", "title_two_lines", "no_repeats", "real_headings", "recipient"):
        assert res["checks"][name], (name, res["problems"])
    saved = Document(res["output"])  # and the saved file: no body paragraph set in 黑体 beyond real headings
    heiti = [p.text for p in saved.paragraphs for r in p.runs[:1] if r._element.rPr is not None
             and r._element.rPr.rFonts is not None and r._element.rPr.rFonts.get(
                 "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia") == "黑体"]
    assert all(len(t) <= 35 for t in heiti)


def test_shorten_title_keeps_the_form() -> None:
    t = shorten_title("关于" + "做好全市重点行业领域安全生产专项整治和隐患排查治理" * 2 + "的通知", "通知")
    assert t.startswith("关于") and t.endswith("的通知") and title_width(t) <= 40
    assert shorten_title("关于召开会议的通知", "通知") == "关于召开会议的通知"


def test_assemble_lists_repairs_for_a_clean_draft_as_empty() -> None:
    data = {"title": "关于召开安全生产会议的通知", "to": ["各区人民政府"], "paragraphs": [
        {"level": 0, "text": "定于5月8日召开全市安全生产工作会议。"}, {"level": 0, "text": "特此通知。"}]}
    assert assemble(DocRequest(doc_type="通知", brief="召开会议", org="某局"), data).repairs == []
