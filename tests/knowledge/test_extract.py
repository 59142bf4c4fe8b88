"""Extraction keeps structure: headings, paragraphs, tables with their header rows; bad files give clear 422s."""

from __future__ import annotations

import io
import re

import pytest

from hanlin.errors import UnprocessableInput
from hanlin.knowledge.chunk import chunk_blocks
from hanlin.knowledge.extract import extract


def make_docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("员工手册", level=1)
    d.add_heading("第三章 休假制度", level=2)
    d.add_paragraph("员工入职满一年后享有带薪年假5天，满十年享有10天。年假需提前3个工作日在OA系统提交申请。")
    t = d.add_table(rows=3, cols=3)
    for r, row in enumerate([["假期类型", "天数", "审批人"], ["婚假", "10", "部门经理"], ["产假", "158", "人事总监"]]):
        for c, v in enumerate(row):
            t.cell(r, c).text = v
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def make_xlsx() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "报销标准"
    ws.append(["城市", "住宿上限(元/晚)", "餐补(元/天)"])
    ws.append(["北京", 600, 100])
    ws.append(["成都", 450, 80])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def make_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with Helvetica text (no PDF writer library needed)."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({ln}) Tj T*" for ln in lines) + " ET"
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            "/Resources << /Font << /F1 5 0 R >> >> >>",
            f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{o}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def test_docx_headings_paragraphs_tables() -> None:
    blocks = extract(make_docx(), "手册.docx")
    kinds = [(b.kind, b.level) for b in blocks]
    assert kinds[:3] == [("heading", 1), ("heading", 2), ("text", 0)]
    table = next(b for b in blocks if b.kind == "table")
    assert table.rows[0] == ["假期类型", "天数", "审批人"]
    _, chunks = chunk_blocks("d", blocks)
    tchunk = next(c for c in chunks if c.kind == "table")
    # every row carries its header, so a row retrieved alone says what its numbers are
    assert tchunk.text.splitlines()[0] == "假期类型：婚假；天数：10；审批人：部门经理"
    assert tchunk.heading == "员工手册 > 第三章 休假制度"


def test_xlsx_and_csv_tables_keep_header() -> None:
    blocks = extract(make_xlsx(), "标准.xlsx")
    assert blocks[0].kind == "heading" and blocks[0].text == "报销标准"
    assert blocks[1].rows[0] == ["城市", "住宿上限(元/晚)", "餐补(元/天)"]
    csv_blocks = extract("城市,住宿上限\n北京,600\n成都,450\n".encode("gbk"), "a.csv")
    assert csv_blocks[0].rows == [["城市", "住宿上限"], ["北京", "600"], ["成都", "450"]]


def test_big_table_split_rows_self_describing() -> None:
    rows = "\n".join(f"员工{i},部门{i % 7},{1000 + i}" for i in range(200))
    _, chunks = chunk_blocks("d", extract(f"姓名,部门,工号\n{rows}\n".encode(), "a.csv"))
    assert len(chunks) > 3
    lines = [ln for c in chunks for ln in c.text.splitlines()]
    assert len(lines) == 200 and all(re.fullmatch(r"姓名：员工\d+；部门：部门\d；工号：\d{4}", ln) for ln in lines)
    assert "姓名：员工17；部门：部门3；工号：1017" in lines
    assert all(c.meta["header"] == ["姓名", "部门", "工号"] and len(c.text) <= 240 for c in chunks)


def test_html_structure() -> None:
    html = ("<html><head><style>p{}</style><script>var x=1;</script></head><body><h1>公司简介</h1>"
            "<p>翰林科技成立于2015年。</p><table><tr><th>年份</th><th>营收</th></tr><tr><td>2022</td><td>3亿</td></tr>"
            "</table></body></html>")
    blocks = extract(html.encode(), "a.html")
    assert [b.kind for b in blocks] == ["heading", "text", "table"]
    assert "var x" not in "".join(b.text for b in blocks)


def test_markdown_headings() -> None:
    blocks = extract("# 总则\n第一条 本制度适用于全体员工。\n## 细则\n内容。\n".encode(), "a.md")
    assert [(b.kind, b.text) for b in blocks][:2] == [("heading", "总则"), ("text", "第一条 本制度适用于全体员工。")]


def test_pdf_text_layer() -> None:
    blocks = extract(make_pdf(["Annual report 2023", "Revenue grew 12 percent to 3.4 billion."]), "r.pdf")
    assert blocks[0].page == 1 and "Revenue grew 12 percent" in blocks[0].text


@pytest.mark.parametrize("data,name,needle", [
    (b"not a pdf at all", "x.pdf", "not a readable PDF"),
    (b"PK\x03\x04garbage", "x.docx", "not a readable .docx"),
    (b"garbage", "x.xlsx", "not a readable .xlsx"),
    (b"", "x.txt", "empty"),
    (b"hello", "x.exe", "Unsupported file type"),
    (b"\xff\xfe\x00\xd8\x00\xdc" * 3, "x.txt", "not text"),
])
def test_malformed_files_name_the_problem(data: bytes, name: str, needle: str) -> None:
    with pytest.raises(UnprocessableInput) as e:
        extract(data, name)
    assert needle in e.value.message
