"""公文 (GB/T 9704-2012): layout read back from the saved .docx with python-docx, content rules, text/PDF output,
REST and CLI. Unit tests drive a FakeEngine; the e2e tests use the real 0.5B model through the shared server.

The layout reader below is deliberately independent of hanlin.apps.documents.checks, so a wrong check is caught.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

from hanlin.apps.documents.app import DocRequest, assemble, make_document, render_and_check
from hanlin.apps.documents.checks import check_docx, check_text
from hanlin.apps.documents.schema import DOC_TYPES, normalize_date, normalize_number, strip_numbering
from hanlin.engine.fake import FakeEngine
from hanlin.errors import BadRequest

# ---- independent read-back -------------------------------------------------------------------------------
EMU_PER_MM = 36000


def mm(emu: Any) -> float:
    return int(emu) / EMU_PER_MM


def east_asia(run: Any) -> str | None:
    rpr = run._element.rPr
    return None if rpr is None or rpr.rFonts is None else rpr.rFonts.get(qn("w:eastAsia"))


@dataclass
class Layout:
    page_w: float
    page_h: float
    top: float
    left: float
    right: float
    bottom: float
    line_pitch: int
    title_text: str
    title_sizes: set[float]
    title_centred: bool
    body_fonts: set[tuple[str | None, float | None]]
    date_text: str
    date_right: bool
    date_right_indent_pt: float
    red_runs: int
    red_rule: bool
    footer_texts: list[str]


def read_layout(path: str | Path | io.BytesIO) -> Layout:
    doc = Document(path if isinstance(path, io.BytesIO) else str(path))
    sec = doc.sections[0]
    paras = [p for p in doc.paragraphs if p.text.strip()]
    title = next(p for p in paras if any(r.font.size is not None and r.font.size.pt == 22 for r in p.runs))
    ti = paras.index(title)
    date = paras[-1]
    body = [p for p in paras[ti + 1:-2] if p.paragraph_format.first_line_indent is not None
            and not p.text.startswith(("一、", "二、", "三、", "四、", "五、", "（", "附件"))]
    red_runs = sum(1 for p in paras for r in p.runs if r.font.color is not None and r.font.color.rgb is not None
                   and str(r.font.color.rgb) == "FF0000")
    red_rule = any(p._element.pPr is not None and p._element.pPr.find(qn("w:pBdr")) is not None
                   and 'w:color="FF0000"' in p._element.pPr.xml for p in doc.paragraphs)
    grid = sec._sectPr.find(qn("w:docGrid"))
    return Layout(
        page_w=mm(sec.page_width), page_h=mm(sec.page_height), top=mm(sec.top_margin), left=mm(sec.left_margin),
        right=mm(sec.right_margin), bottom=mm(sec.bottom_margin),
        line_pitch=int(grid.get(qn("w:linePitch"))) if grid is not None else 0,
        title_text=title.text, title_sizes={r.font.size.pt for r in title.runs if r.font.size is not None},
        title_centred=title.alignment == WD_ALIGN_PARAGRAPH.CENTER,
        body_fonts={(east_asia(r), r.font.size.pt if r.font.size else None) for p in body for r in p.runs
                    if r.text.strip()},
        date_text=date.text, date_right=date.alignment == WD_ALIGN_PARAGRAPH.RIGHT,
        date_right_indent_pt=date.paragraph_format.right_indent.pt if date.paragraph_format.right_indent else 0.0,
        red_runs=red_runs, red_rule=red_rule,
        footer_texts=[p.text for f in (sec.footer, sec.even_page_footer) for p in f.paragraphs],
    )


def assert_gb9704(lay: Layout) -> None:
    assert abs(lay.page_w - 210) <= 1 and abs(lay.page_h - 297) <= 1
    assert abs(lay.top - 37) <= 1 and abs(lay.left - 28) <= 1
    assert abs((210 - lay.left - lay.right) - 156) <= 1 and abs((297 - lay.top - lay.bottom) - 225) <= 1
    assert int((297 - lay.top - lay.bottom) / 25.4 * 1440 / lay.line_pitch) == 22
    assert lay.title_sizes == {22.0} and lay.title_centred
    assert lay.body_fonts and lay.body_fonts == {("仿宋_GB2312", 16.0)}
    assert lay.date_right and abs(lay.date_right_indent_pt - 4 * 16) < 1
    assert lay.red_rule
    assert all(t.startswith("—") and t.endswith("—") for t in lay.footer_texts if t), lay.footer_texts


# ---- fixtures --------------------------------------------------------------------------------------------

def fake_draft(doc_type: str, *, to: list[str] | None = None, last: str = "请认真贯彻执行。") -> dict[str, Any]:
    return {
        "title": f"关于做好年度安全检查工作的{doc_type}",
        "to": ["各区县人民政府"] if to is None else to,
        "paragraphs": [
            {"level": 0, "text": "为切实做好年度安全检查工作，现将有关事项通知如下。"},
            {"level": 1, "text": "一、总体要求"},
            {"level": 0, "text": "各单位要高度重视，认真组织开展自查自纠。"},
            {"level": 2, "text": "（一）检查范围"},
            {"level": 3, "text": "重点行业和重点部位"},
            {"level": 4, "text": "危险化学品仓库"},
            {"level": 1, "text": "工作安排"},
            {"level": 2, "text": "（二）时间要求。请于3月31日前报送自查报告"},
            {"level": 0, "text": last},
            {"level": 0, "text": "下一步工作主要集中在以下几个方面："},
        ],
        "attachments": ["安全检查表"],
        "signature": "某某市人民政府",
        "date": "二〇二六年三月一日",
    }


def make_doc(tmp_path: Path, doc_type: str, fmt: str = "docx", **kw: Any) -> dict[str, Any]:
    req = DocRequest(doc_type=doc_type, brief="开展年度安全检查，附件为检查表", org="某某市人民政府",
                     number="某府发[2026]012号", to=kw.pop("to", []), date="2026-03-01", fmt=fmt, **kw)
    engine = FakeEngine("fake", responses=[fake_draft(doc_type, to=["某某市应急管理局"] if doc_type in ("请示", "函")
                                                      else None)])
    doc, _ = asyncio.run(make_document(engine, req))
    return render_and_check(doc, tmp_path / f"{doc_type}.{fmt}", fmt)


# ---- layout read back, every type --------------------------------------------------------------------------

@pytest.mark.parametrize("doc_type", DOC_TYPES)
def test_every_type_is_laid_out_per_gb9704(tmp_path: Path, doc_type: str) -> None:
    result = make_doc(tmp_path, doc_type)
    assert result["output"].endswith(".docx") and Path(result["output"]).is_file()
    lay = read_layout(result["output"])
    assert_gb9704(lay)
    assert lay.date_text == "2026年3月1日"
    assert lay.title_text.endswith(doc_type)
    assert lay.red_runs >= 1
    # checks agree with what this independent reader saw
    assert result["passed"], result["problems"]
    for name in ("page_a4", "margins", "text_block", "line_grid", "body_font", "title_font", "date_position",
                 "date_arabic", "red_banner", "red_separator", "page_numbers", "doc_number"):
        assert result["checks"][name] is True, name


def test_headings_numbered_by_code_with_their_fonts(tmp_path: Path) -> None:
    result = make_doc(tmp_path, "通知")
    doc = Document(result["output"])
    fonts = {p.text: east_asia(p.runs[0]) for p in doc.paragraphs if p.runs}
    assert fonts["一、总体要求"] == "黑体"  # the model's own "一、" was replaced, not doubled
    assert fonts["（一）检查范围"] == "楷体_GB2312"
    assert fonts["1.重点行业和重点部位"] == "仿宋_GB2312"
    assert fonts["（1）危险化学品仓库"] == "仿宋_GB2312"
    assert fonts["二、工作安排"] == "黑体"  # counters continue across body paragraphs
    inline = next(p for p in doc.paragraphs if p.text.startswith("（一）时间要求"))  # counter reset under 二、
    assert [(r.text, east_asia(r)) for r in inline.runs] == [("（一）时间要求。", "楷体_GB2312"),
                                                              ("请于3月31日前报送自查报告", "仿宋_GB2312")]
    assert not any(p.text.endswith("：") for p in doc.paragraphs if p.text.startswith("下一步"))  # dangling lead-in
    assert result["checks"]["heading_fonts"]


def test_grid_page_numbers_and_odd_even_footers(tmp_path: Path) -> None:
    doc = Document(make_doc(tmp_path, "报告")["output"])
    sec = doc.sections[0]
    grid = sec._sectPr.find(qn("w:docGrid"))
    assert grid.get(qn("w:type")) == "linesAndChars"
    pitch = 16 + int(grid.get(qn("w:charSpace"))) / 4096
    assert int(156 / 25.4 * 72 / pitch) == 28
    assert doc.settings.odd_and_even_pages_header_footer
    odd, even = sec.footer.paragraphs[0], sec.even_page_footer.paragraphs[0]
    assert odd.alignment == WD_ALIGN_PARAGRAPH.RIGHT and even.alignment == WD_ALIGN_PARAGRAPH.LEFT
    assert "PAGE" in odd._element.xml and odd.text == "— 1 —"
    assert {east_asia(r) for r in odd.runs if r.text.strip()} == {"宋体"}
    assert {r.font.size.pt for r in odd.runs if r.text.strip()} == {14.0}


# ---- the checks read the file, not the writer's intent ------------------------------------------------------

def test_checks_catch_a_tampered_file(tmp_path: Path) -> None:
    path = Path(make_doc(tmp_path, "通知")["output"])
    doc = Document(str(path))
    sec = doc.sections[0]
    sec.top_margin, sec.left_margin = Mm(25), Mm(20)
    title = next(p for p in doc.paragraphs if p.text.endswith("通知") and p.alignment == WD_ALIGN_PARAGRAPH.CENTER
                 and p.runs[0].font.size.pt == 22)
    title.runs[0].font.size = Pt(18)
    body = next(p for p in doc.paragraphs if p.text.startswith("各单位要高度重视"))
    body.runs[0]._element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")
    doc.paragraphs[-1].runs[0].text = "二〇二六年三月一日"
    doc.paragraphs[-1].paragraph_format.right_indent = Pt(0)
    doc.save(str(path))
    rep = check_docx(path, "通知")
    for name in ("margins", "text_block", "title_font", "body_font", "date_arabic", "date_position"):
        assert rep.checks[name] is False, name
        assert rep.problems[name]
    assert rep.checks["page_a4"] and rep.checks["red_banner"]


def test_qingshi_rules(tmp_path: Path) -> None:
    result = make_doc(tmp_path, "请示")  # the draft ends without a request: code appends one
    assert result["document"]["paragraphs"][-1]["text"] == "妥否，请批示。"
    assert result["checks"]["request_sentence"] and result["checks"]["single_recipient"]
    with pytest.raises(BadRequest, match="exactly one"):
        DocRequest(doc_type="请示", brief="x", to=["甲局", "乙局"]).validate()
    # a file whose last body paragraph is not a request fails the check
    path = Path(result["output"])
    doc = Document(str(path))
    last = next(p for p in doc.paragraphs if p.text == "妥否，请批示。")
    last.runs[0].text = "以上情况，特此说明。"
    doc.save(str(path))
    assert check_docx(path, "请示").checks["request_sentence"] is False


def test_qingshi_request_moved_to_the_end() -> None:
    data = {"title": "关于追加经费的请示", "to": ["某某市财政局"], "paragraphs": [
        {"level": 0, "text": "因工作需要，拟追加经费。"}, {"level": 0, "text": "以上请示妥否，请批示。"},
        {"level": 0, "text": "经费主要用于更换电脑。"}]}
    d = assemble(DocRequest(doc_type="请示", brief="追加经费", org="某局"), data)
    assert [p.text for p in d.paragraphs] == ["因工作需要，拟追加经费。", "经费主要用于更换电脑。", "以上请示妥否，请批示。"]


def test_han_goes_to_one_party_and_number_format(tmp_path: Path) -> None:
    d = assemble(DocRequest(doc_type="函", brief="商洽", org="甲局", number="甲函(2026)3"),
                 {"title": "关于商洽培训事宜", "to": ["乙局", "丙局"], "paragraphs": [{"level": 0, "text": "现就培训事宜函商。"}]})
    assert d.to == ["乙局"] and d.title == "关于商洽培训事宜的函" and d.number == "甲函〔2026〕3号"
    from hanlin.apps.documents.writer import write_official_document
    write_official_document(d, tmp_path / "f.docx")
    rep = check_docx(tmp_path / "f.docx", "函")
    assert rep.checks["single_recipient"] and rep.checks["doc_number"]
    d.number = "甲函2026第3号"
    write_official_document(d, tmp_path / "g.docx")
    assert check_docx(tmp_path / "g.docx", "函").checks["doc_number"] is False


def test_jiyao_without_number_or_signature(tmp_path: Path) -> None:
    from hanlin.apps.documents.schema import OfficialDocument, Paragraph
    from hanlin.apps.documents.writer import official_document_bytes

    d = OfficialDocument("纪要", "局务会议纪要", [Paragraph("会议研究了两项工作。"), Paragraph("数据质量检查", 1)],
                         org="某某市统计局", date="2026年6月3日")
    path = tmp_path / "jy.docx"
    path.write_bytes(official_document_bytes(d))
    rep = check_docx(path, "纪要")
    assert rep.passed, rep.problems
    assert "signature" not in rep.checks and "doc_number" not in rep.checks and rep.checks["red_separator"]
    lay = read_layout(path)
    assert lay.red_rule and lay.date_text == "2026年6月3日"
    banner = Document(str(path)).paragraphs[0]
    assert banner.text == "某某市统计局会议纪要" and banner.runs[0].font.color.rgb == RGBColor(0xFF, 0, 0)


def test_normalizers() -> None:
    assert normalize_number("国办发[2026]012号") == "国办发〔2026〕12号"
    assert normalize_number("国办发（2026）12") == "国办发〔2026〕12号"
    assert normalize_date("二〇二六年十一月二十五日") == "2026年11月25日"
    assert normalize_date("2026/5/8") == "2026年5月8日"
    assert normalize_date("2026-02-30").endswith("日")  # invalid → today, still Arabic
    assert strip_numbering("（三）加强领导") == "加强领导" and strip_numbering("2.落实责任") == "落实责任"


@pytest.mark.parametrize("fmt", ["md", "txt"])
def test_text_formats(tmp_path: Path, fmt: str) -> None:
    result = make_doc(tmp_path, "请示", fmt=fmt)
    text = Path(result["output"]).read_text("utf-8")
    assert "某府发〔2026〕12号" in text and "一、总体要求" in text and "（一）检查范围" in text
    assert text.rstrip().endswith("2026年3月1日")
    assert result["passed"], result["problems"]
    assert set(result["checks"]) >= {"date_arabic", "request_sentence", "single_recipient", "doc_number"}
    Path(result["output"]).write_text(text.replace("2026年3月1日", "二〇二六年三月一日"), "utf-8")
    assert check_text(result["output"], "请示").checks["date_arabic"] is False


def test_pdf_skipped_cleanly_without_libreoffice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hanlin.apps.documents.render_text as rt

    monkeypatch.setattr(rt, "soffice_binary", lambda: None)
    result = make_doc(tmp_path, "通报", fmt="pdf")
    assert result["output"].endswith(".docx") and Path(result["output"]).is_file()
    assert "pdf_skipped" in result and result["passed"]


# ---- REST over the fake engine -----------------------------------------------------------------------------

def test_rest_document_and_download(fake_client: Any, fake_engine: FakeEngine) -> None:
    fake_engine.enqueue(fake_draft("通知"))
    r = fake_client.post("/v1/apps/document", json={"type": "通知", "brief": "安全检查", "org": "某某市人民政府",
                                                    "number": "某府发〔2026〕5号", "date": "2026-04-01",
                                                    "inline": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "通知" and body["passed"] and body["checks"]["margins"]
    got = fake_client.get(body["download_url"])
    assert got.status_code == 200 and got.content == base64.b64decode(body["content_base64"])
    assert_gb9704(read_layout(io.BytesIO(got.content)))
    assert fake_client.get("/v1/apps/document/files/doc_00000000000000000000.docx").status_code == 404
    assert fake_client.get("/v1/apps/document/files/..%2Fhanlin.db").status_code == 404
    bad = fake_client.post("/v1/apps/document", json={"type": "便条", "brief": "x"})
    assert bad.status_code == 400 and "type" in bad.json()["error"]["message"]
    two = fake_client.post("/v1/apps/document", json={"type": "请示", "brief": "x", "to": "甲局、乙局"})
    assert two.status_code == 400 and "one" in two.json()["error"]["message"]


def test_rest_background_job(fake_client: Any, fake_engine: FakeEngine) -> None:
    import time

    fake_engine.enqueue(fake_draft("决定"))
    r = fake_client.post("/v1/apps/document", json={"type": "决定", "brief": "表彰先进", "org": "某某市人民政府",
                                                    "background": True})
    assert r.status_code == 202, r.text
    job_url = r.headers["location"]
    for _ in range(200):
        job = fake_client.get(job_url).json()
        if job["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert result["type"] == "决定" and result["checks"]["page_a4"]
    got = fake_client.get(result["download_url"])
    assert got.status_code == 200
    assert_gb9704(read_layout(io.BytesIO(got.content)))


@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice not installed")
def test_pdf_through_libreoffice(tmp_path: Path) -> None:
    result = make_doc(tmp_path, "意见", fmt="pdf")
    pdf = Path(result["output"])
    assert pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")
    assert Path(result["docx"]).is_file() and result["passed"]
    from pypdf import PdfReader

    page = PdfReader(str(pdf)).pages[0]
    assert abs(float(page.mediabox.width) - 595.3) < 3 and abs(float(page.mediabox.height) - 841.9) < 3  # A4


def test_cli_doc_with_fake_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import hanlin.cli.documents as cli_docs
    from hanlin.cli.main import app

    async def fake_local_engine(*_a: Any, **_k: Any) -> FakeEngine:
        return FakeEngine(responses=[fake_draft("报告")])
    monkeypatch.setattr(cli_docs, "local_engine", fake_local_engine)
    monkeypatch.setenv("HANLIN_HOME", str(tmp_path / "home"))
    out = tmp_path / "out" / "报告.docx"
    res = CliRunner().invoke(app, ["doc", "--type", "报告", "--brief", "上半年工作", "--org", "某某市统计局",
                                   "--number", "某统发〔2026〕3号", "--to", "某某市人民政府", "--date", "2026-07-01",
                                   "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout[res.stdout.index("{"):])
    assert result["output"] == str(out) and result["passed"] and set(result) >= {"output", "type", "checks"}
    assert_gb9704(read_layout(out))
    bad = CliRunner().invoke(app, ["doc", "--type", "便条", "--brief", "x", "-o", str(out)])
    assert bad.exit_code != 0


# ---- real model -----------------------------------------------------------------------------------------

def _e2e_rest_tongzhi(server: Any) -> None:
    r = httpx.post(server.base_url + "/apps/document", timeout=900, json={
        "type": "通知", "brief": "定于下周五下午召开全市安全生产工作会议，请各区县分管领导参加", "org": "某某市人民政府办公室",
        "number": "某政办发〔2026〕8号", "to": "各区县人民政府、市政府各部门", "date": "2026-06-01"})
    assert r.status_code == 200, r.text
    body = r.json()
    got = httpx.get(server.url + body["download_url"], timeout=60)
    assert got.status_code == 200
    lay = read_layout(io.BytesIO(got.content))
    assert_gb9704(lay)  # whatever the 0.5B wrote, the format is right
    assert lay.date_text == "2026年6月1日" and lay.title_text.endswith("通知")
    for name in ("page_a4", "margins", "text_block", "body_font", "title_font", "date_position", "date_arabic",
                 "doc_number", "recipient"):
        assert body["checks"][name] is True, (name, body["problems"])


def _e2e_cli_qingshi(server: Any, out: Path) -> None:
    proc = server.cli("doc", "--type", "请示", "--brief", "申请追加办公设备购置经费20万元", "--org", "某某市统计局",
                      "--number", "某统发[2026]7号", "--to", "某某市财政局", "-o", str(out), "--json",
                      "--url", server.url, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["output"] == str(out) and result["type"] == "请示"
    assert_gb9704(read_layout(out))
    doc = Document(str(out))
    texts = [p.text for p in doc.paragraphs if p.text.strip()]
    assert "某统发〔2026〕7号" in texts and "某某市财政局：" in texts
    assert result["checks"]["request_sentence"] and result["checks"]["single_recipient"]
    body_end = texts[-3].rstrip("。")
    assert body_end.endswith(("请批示", "请审批", "请批准", "请予批准", "请审示", "请核准", "请予审批", "请指示", "请批复"))


@pytest.mark.e2e
def test_e2e_documents_with_real_model(server: Any, tmp_path: Path) -> None:
    """REST (通知) and CLI (请示) at the same time: the server batches both in its slots."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(_e2e_rest_tongzhi, server), pool.submit(_e2e_cli_qingshi, server, tmp_path / "qs.docx")]
        for job in jobs:
            job.result()
