"""Files for the quality suites (``gold.py``), built in code from the suite data: the knowledge-base documents in
the formats companies upload (docx, xlsx, a Chromium-style PDF with Kangxi radicals, md, txt, html) and the three
workbooks of ``formulas-gold`` with their requests and independently computed expected values."""

from __future__ import annotations

import datetime as dt
import io
import random
import unicodedata
from pathlib import Path
from typing import Any

# ---- knowledge-base documents -----------------------------------------------------------------------------


def _kangxi_map() -> dict[str, str]:
    """Unified ideograph → the Kangxi radical a Chromium-printed PDF's text layer holds instead (⼀ for 一)."""
    out: dict[str, str] = {}
    for cp in range(0x2F00, 0x2FD6):
        unified = unicodedata.normalize("NFKC", chr(cp))
        if len(unified) == 1:
            out.setdefault(unified, chr(cp))
    return out


def kangxi(text: str) -> str:
    table = _kangxi_map()
    return "".join(table.get(c, c) for c in text)


def pdf_with_text(pages: list[list[str]], *, kangxi_radicals: bool = True) -> bytes:
    """A PDF whose text layer holds ``pages`` (lines), like Chromium's "print to PDF": a Type0 font with a
    ToUnicode map — here the map sends many CJK glyphs to Kangxi radicals, as Chromium's does (⼀ ⽔ ⽓ ⾃ …)."""
    text_pages = [[kangxi(ln) if kangxi_radicals else ln for ln in page] for page in pages]
    chars = sorted({c for page in text_pages for ln in page for c in ln})
    cid = {c: i + 1 for i, c in enumerate(chars)}
    bfchars = "\n".join(f"<{cid[c]:04X}> <{ord(c):04X}>" if ord(c) <= 0xFFFF else
                        f"<{cid[c]:04X}> <{_utf16(c)}>" for c in chars)
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Hanlin def "
            "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
            f"{len(chars)} beginbfchar\n{bfchars}\nendbfchar endcmap CMapName currentdict /CMap defineresource pop "
            "end end")
    objs: list[bytes] = []
    n_pages = len(text_pages)
    page_ids = [6 + 2 * i for i in range(n_pages)]
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {n_pages} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type0 /BaseFont /NotoSansCJK /Encoding /Identity-H "
                b"/DescendantFonts [4 0 R] /ToUnicode 5 0 R >>")
    objs.append(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /NotoSansCJK /CIDSystemInfo << /Registry (Adobe) "
                b"/Ordering (Identity) /Supplement 0 >> /DW 1000 >>")
    cm = cmap.encode()
    objs.append(b"<< /Length %d >>\nstream\n" % len(cm) + cm + b"\nendstream")
    for page in text_pages:
        ops = ["BT", "/F1 11 Tf", "14 TL", "50 780 Td"]
        for ln in page:
            ops += [f"<{''.join(f'{cid[c]:04X}' for c in ln)}> Tj", "T*"]
        ops.append("ET")
        content = "\n".join(ops).encode()
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
                    b"/Contents %d 0 R >>" % (len(objs) + 2))
        objs.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _utf16(c: str) -> str:
    return c.encode("utf-16-be").hex().upper()


def _docx(blocks: list[list[Any]]) -> bytes:
    from docx import Document

    d = Document()
    for kind, content in blocks:
        if kind == "heading":
            d.add_heading(content, level=1)
        elif kind == "heading2":
            d.add_heading(content, level=2)
        elif kind == "table":
            t = d.add_table(rows=len(content), cols=len(content[0]))
            for r, row in enumerate(content):
                for c, cell in enumerate(row):
                    t.cell(r, c).text = cell
        else:
            d.add_paragraph(content)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _xlsx(sheets: list[list[Any]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def document_bytes(doc: dict[str, Any]) -> bytes:
    kind = doc["kind"]
    if kind == "docx":
        return _docx(doc["blocks"])
    if kind == "xlsx":
        return _xlsx(doc["sheets"])
    if kind == "kangxi_pdf":
        return pdf_with_text(doc["pages"])
    return str(doc["text"]).encode("utf-8")


# ---- formulas-gold workbooks ------------------------------------------------------------------------------

REGIONS = ["北京", "上海", "广州", "深圳", "成都"]
SELLERS = ["王芳", "李强", "张伟", "刘洋", "陈静", "赵磊"]
PRODUCTS = {"笔记本电脑": 5800, "显示器": 1299, "键盘": 199, "鼠标": 89, "打印机": 1650}
DEPTS = ["研发部", "销售部", "财务部", "人力资源部", "市场部"]
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = ["明", "丽", "强", "敏", "静", "杰", "涛", "娟", "磊", "洋", "艳", "勇", "军", "霞", "平", "刚", "婷", "鹏", "华", "超"]
CITIES = ["北京", "上海", "杭州", "成都"]
MATERIALS = [("不锈钢板", "原材料"), ("铝型材", "原材料"), ("铜线", "原材料"), ("塑料粒子", "原材料"), ("橡胶密封圈", "原材料"),
             ("纸箱", "包装材料"), ("气泡膜", "包装材料"), ("封箱胶带", "包装材料"), ("木托盘", "包装材料"),
             ("轴承", "备品备件"), ("皮带", "备品备件"), ("电机", "备品备件"), ("传感器", "备品备件"), ("继电器", "备品备件"),
             ("打印纸", "办公用品"), ("签字笔", "办公用品"), ("文件夹", "办公用品"), ("墨盒", "办公用品"), ("订书机", "办公用品"),
             ("螺栓", "原材料"), ("焊丝", "原材料"), ("标签纸", "包装材料"), ("滤芯", "备品备件"), ("计算器", "办公用品")]
SUPPLIERS = ["甲公司", "乙公司", "丙公司", "丁公司"]


def sales_rows(seed: int = 20) -> list[list[Any]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(80):
        product = rnd.choice(list(PRODUCTS))
        qty = rnd.randint(1, 50)
        day = dt.date(2024, 1, 1) + dt.timedelta(days=rnd.randint(0, 365))
        rows.append([f"SO{1001 + i}", day, rnd.choice(REGIONS), rnd.choice(SELLERS), product, qty,
                     PRODUCTS[product], qty * PRODUCTS[product]])
    return rows


def staff_rows(seed: int = 21) -> list[list[Any]]:
    rnd = random.Random(seed)
    names: list[str] = []
    while len(names) < 50:
        n = rnd.choice(SURNAMES) + rnd.choice(GIVEN) + (rnd.choice(GIVEN) if rnd.random() < 0.6 else "")
        if n not in names:
            names.append(n)
    rows = []
    for i, name in enumerate(names):
        dept = rnd.choice(DEPTS)
        hired = dt.date(2015, 1, 1) + dt.timedelta(days=rnd.randint(0, 3650))
        rows.append([f"E{i + 1:03d}", name, dept, hired, rnd.choice(CITIES), rnd.randrange(8000, 40001, 500),
                     rnd.randint(60, 100)])
    return rows


def stock_rows(seed: int = 22) -> list[list[Any]]:
    rnd = random.Random(seed)
    rows = []
    for i, (name, cat) in enumerate(MATERIALS):
        qty = rnd.randint(20, 900)
        rows.append([f"M-{1001 + i}", name, cat, rnd.choice(SUPPLIERS), qty, rnd.choice([50, 100, 150, 200, 300]),
                     round(rnd.uniform(2, 600), 2), dt.date(2024, 1, 1) + dt.timedelta(days=rnd.randint(0, 330))])
    return rows


WORKBOOKS: dict[str, tuple[str, list[str], Any]] = {
    "销售明细.xlsx": ("销售", ["订单号", "日期", "地区", "销售员", "产品", "数量", "单价", "销售额"], sales_rows),
    "员工花名册.xlsx": ("员工", ["工号", "姓名", "部门", "入职日期", "城市", "月薪", "绩效评分"], staff_rows),
    "库存台账.xlsx": ("库存", ["物料编码", "物料名称", "类别", "供应商", "库存数量", "安全库存", "单价", "最近入库日期"],
                  stock_rows),
}


def write_workbooks(folder: Path) -> dict[str, Path]:
    import openpyxl

    out = {}
    for fname, (sheet, header, make) in WORKBOOKS.items():
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = sheet
        ws.append(header)
        for row in make():
            ws.append(row)
        for col in ws.iter_cols(min_row=2):
            for cell in col:
                if isinstance(cell.value, dt.date):
                    cell.number_format = "yyyy-mm-dd"
        path = folder / fname
        wb.save(path)
        out[fname] = path
    return out


def _col(rows: list[list[Any]], header: list[str], name: str) -> list[Any]:
    i = header.index(name)
    return [r[i] for r in rows]


def _rank_desc(values: list[float], v: float) -> int:
    return 1 + sum(1 for x in values if x > v)


def formula_requests() -> list[dict[str, Any]]:
    """The 40 requests with expected values computed here in Python (never by the formula engine)."""
    s, st, sk = sales_rows(), staff_rows(), stock_rows()
    sh, th, kh = WORKBOOKS["销售明细.xlsx"][1], WORKBOOKS["员工花名册.xlsx"][1], WORKBOOKS["库存台账.xlsx"][1]

    def rows_where(rows: list[list[Any]], header: list[str], **eq: Any) -> list[list[Any]]:
        return [r for r in rows if all(r[header.index(k)] == v for k, v in eq.items())]

    def total(rows: list[list[Any]], header: list[str], col: str) -> float:
        return float(sum(_col(rows, header, col)))

    sale = {k: sh.index(k) for k in sh}
    staff = {k: th.index(k) for k in th}
    stock = {k: kh.index(k) for k in kh}
    reqs: list[tuple[str, str, Any, str]] = [
        # 销售明细 (80 orders)
        ("销售明细.xlsx", "北京地区的销售额总和", total(rows_where(s, sh, 地区="北京"), sh, "销售额"), "multi"),
        ("销售明细.xlsx", "上海地区打印机的销售额合计",
         total(rows_where(s, sh, 地区="上海", 产品="打印机"), sh, "销售额"), "multi"),
        ("销售明细.xlsx", "王芳在广州的订单有多少笔", len(rows_where(s, sh, 销售员="王芳", 地区="广州")), "multi"),
        ("销售明细.xlsx", "数量大于30的订单有多少个", sum(1 for r in s if r[sale["数量"]] > 30), "multi"),
        ("销售明细.xlsx", "2024年3月的销售额总和",
         float(sum(r[sale["销售额"]] for r in s if r[sale["日期"]].month == 3)), "dates"),
        ("销售明细.xlsx", "2024年7月1日以后的订单有多少笔",
         sum(1 for r in s if r[sale["日期"]] >= dt.date(2024, 7, 1)), "dates"),
        ("销售明细.xlsx", "显示器订单的平均数量",
         sum(_col(rows_where(s, sh, 产品="显示器"), sh, "数量")) / len(rows_where(s, sh, 产品="显示器")), "multi"),
        ("销售明细.xlsx", "深圳地区单笔最高销售额是多少", max(_col(rows_where(s, sh, 地区="深圳"), sh, "销售额")), "multi"),
        ("销售明细.xlsx", "查找订单SO1017的销售员", s[16][sale["销售员"]], "lookups"),
        ("销售明细.xlsx", "查找订单SO1050的销售额", s[49][sale["销售额"]], "lookups"),
        ("销售明细.xlsx", "北京地区销售额占全部销售额的百分比",
         total(rows_where(s, sh, 地区="北京"), sh, "销售额") / total(s, sh, "销售额"), "percentages"),
        ("销售明细.xlsx", "每个订单的销售额排名", _rank_desc(_col(s, sh, "销售额"), s[0][sale["销售额"]]), "ranks"),
        ("销售明细.xlsx", "提取每个订单日期的月份", s[0][sale["日期"]].month, "dates"),
        ("销售明细.xlsx", "取订单号的后4位", s[0][sale["订单号"]][-4:], "text"),
        # 员工花名册 (50 people)
        ("员工花名册.xlsx", "研发部员工的平均月薪",
         total(rows_where(st, th, 部门="研发部"), th, "月薪") / len(rows_where(st, th, 部门="研发部")), "multi"),
        ("员工花名册.xlsx", "绩效评分高于90分的员工有多少人", sum(1 for r in st if r[staff["绩效评分"]] > 90), "multi"),
        ("员工花名册.xlsx", "销售部员工的最高月薪", max(_col(rows_where(st, th, 部门="销售部"), th, "月薪")), "multi"),
        ("员工花名册.xlsx", "2020年1月1日之前入职的员工人数",
         sum(1 for r in st if r[staff["入职日期"]] < dt.date(2020, 1, 1)), "dates"),
        ("员工花名册.xlsx", "查找工号E015的姓名", st[14][staff["姓名"]], "lookups"),
        ("员工花名册.xlsx", f"查找{st[7][staff['姓名']]}所在的部门", st[7][staff["部门"]], "lookups"),
        ("员工花名册.xlsx", "财务部员工的月薪总额", total(rows_where(st, th, 部门="财务部"), th, "月薪"), "multi"),
        ("员工花名册.xlsx", "在上海工作的研发部员工有多少人", len(rows_where(st, th, 城市="上海", 部门="研发部")), "multi"),
        ("员工花名册.xlsx", "提取每位员工入职日期的年份", st[0][staff["入职日期"]].year, "dates"),
        ("员工花名册.xlsx", "计算每位员工姓名的字数", len(st[0][staff["姓名"]]), "text"),
        ("员工花名册.xlsx", "市场部员工人数占全部员工的比例",
         len(rows_where(st, th, 部门="市场部")) / len(st), "percentages"),
        ("员工花名册.xlsx", "每位员工月薪在全公司的排名", _rank_desc(_col(st, th, "月薪"), st[0][staff["月薪"]]), "ranks"),
        ("员工花名册.xlsx", "全公司绩效评分最低是多少", min(_col(st, th, "绩效评分")), "multi"),
        ("员工花名册.xlsx", "2021年1月1日以后入职的员工有多少人",
         sum(1 for r in st if r[staff["入职日期"]] >= dt.date(2021, 1, 1)), "dates"),
        # 库存台账 (24 materials)
        ("库存台账.xlsx", "原材料类别的库存数量合计", total(rows_where(sk, kh, 类别="原材料"), kh, "库存数量"), "multi"),
        ("库存台账.xlsx", "计算每种物料的库存金额（库存数量乘以单价）",
         sk[0][stock["库存数量"]] * sk[0][stock["单价"]], "multi"),
        ("库存台账.xlsx", "查找物料编码M-1008对应的物料名称", sk[7][stock["物料名称"]], "lookups"),
        ("库存台账.xlsx", "甲公司供应的物料有多少种", len(rows_where(sk, kh, 供应商="甲公司")), "multi"),
        ("库存台账.xlsx", "物料单价最高是多少", max(_col(sk, kh, "单价")), "multi"),
        ("库存台账.xlsx", "2024年6月1日以后入库的物料有多少种",
         sum(1 for r in sk if r[stock["最近入库日期"]] >= dt.date(2024, 6, 1)), "dates"),
        ("库存台账.xlsx", "办公用品的平均单价",
         total(rows_where(sk, kh, 类别="办公用品"), kh, "单价") / len(rows_where(sk, kh, 类别="办公用品")), "multi"),
        ("库存台账.xlsx", "提取每个物料名称的前两个字", sk[0][stock["物料名称"]][:2], "text"),
        ("库存台账.xlsx", "原材料的库存数量占总库存数量的百分比",
         total(rows_where(sk, kh, 类别="原材料"), kh, "库存数量") / total(sk, kh, "库存数量"), "percentages"),
        ("库存台账.xlsx", "库存数量在100到500之间的物料有多少种",
         sum(1 for r in sk if 100 <= r[stock["库存数量"]] <= 500), "multi"),
        ("库存台账.xlsx", "每种物料按库存数量排名", _rank_desc(_col(sk, kh, "库存数量"), sk[0][stock["库存数量"]]), "ranks"),
        ("库存台账.xlsx", "查找物料编码M-1020的供应商", sk[19][stock["供应商"]], "lookups"),
    ]
    items = [{"id": f"f{i + 1:02d}", "workbook": wb, "request": q, "expected": v, "kind": kind}
             for i, (wb, q, v, kind) in enumerate(reqs)]
    by_book = [[r for r in items if r["workbook"] == wb] for wb in WORKBOOKS]
    # round-robin over the workbooks, so that --limit N keeps all three
    return [r for group in zip(*by_book, strict=False) for r in group] + \
        [r for g in by_book for r in g[min(len(b) for b in by_book):]]


def value_matches(got: Any, expected: Any, kind: str = "") -> bool:
    """A numeric answer within 0.5% (or 0.01); a share also as a percentage (0.23 or 23); text exactly; a date
    compared as its ISO day."""
    if isinstance(expected, str):
        return str(got).strip() == expected
    if isinstance(expected, dt.date):
        return str(got)[:10] == expected.isoformat()
    try:
        g = float(got)
    except (TypeError, ValueError):
        return False
    e = float(expected)
    ok = abs(g - e) <= max(0.01, 0.005 * abs(e))
    if kind == "percentages":
        ok = ok or abs(g - e * 100) <= max(0.01, 0.005 * abs(e * 100))
    return ok
