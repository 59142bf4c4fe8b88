"""OCR pieces that need no model: layout (reading order, headings, tables), page ranges, input limits, measures."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from hanlin.errors import BadRequest, PayloadTooLarge, UnprocessableInput
from hanlin.ocr.engine import Line
from hanlin.ocr.inputs import OcrLimits, page_images, parse_pages, render_scale
from hanlin.ocr.kb import good_text_layer
from hanlin.ocr.layout import layout, split_cells
from hanlin.ocr.testset import cer, edit_distance, order_errors

H = 20  # body text height in px


def ln(text: str, x0: int, y0: int, x1: int, h: int = H) -> Line:
    return Line(text, (x0, y0, x1, y0 + h), 0.99)


def column(texts: list[str], x0: int, x1: int, y0: int, indent_first: bool = True) -> list[Line]:
    out = []
    for i, t in enumerate(texts):
        out.append(ln(t, x0 + (2 * H if indent_first and i == 0 else 0), y0 + i * 32, x1))
    return out


def test_two_columns_under_a_headline_read_column_by_column() -> None:
    head = ln("全省经济运行稳中向好", 300, 40, 700, h=40)
    left = column(["左栏第一段第一行文字内容较长", "左栏第一段第二行文字内容较长", "左栏第一段第三行文字内容较长"],
                  100, 480, 120)
    right = column(["右栏第一段第一行文字内容较长", "右栏第一段第二行文字内容较长", "右栏第一段第三行文字内容较长"],
                   520, 900, 120)
    # same baselines in both columns: a row-by-row reading would interleave them
    blocks = layout([head, *right, *left])
    assert [b.type for b in blocks] == ["heading", "paragraph", "paragraph"]
    assert blocks[0].level == 1
    assert blocks[1].text.startswith("左栏第一段第一行") and blocks[1].text.endswith("第三行文字内容较长")
    assert blocks[2].text.startswith("右栏")


def test_tight_gutter_overhung_by_latin_words_still_splits_columns() -> None:
    # the gutter is 40 px (2 heights), but a left line with Latin words runs to 2 px from the right column: no strip
    # GUTTER heights wide is left, and a row-by-row reading would interleave the columns
    texts = ["左栏第一段第一行文字内容较长", "左栏第一段第二行文字内容较长", "左栏第一段第三行文字内容较长",
             "左栏第一段第四行文字内容较长"]
    left = column(texts, 100, 480, 120)
    left[2] = ln("立法会（英语：SeventhLegislativeCouncil）", 100, left[2].bbox[1], 518)
    right = column([t.replace("左", "右") for t in texts], 520, 900, 120)
    text = "".join(b.text for b in layout([*right, *left]))
    assert text.index("左栏第一段第四行") < text.index("右栏第一段第一行")  # column by column
    # one column of prose (every line crosses the middle) is never cut
    single = column(texts, 100, 900, 120) + [ln("短行", 100, 300, 160), ln("右侧页码 12", 820, 330, 900)]
    text = "".join(b.text for b in layout(single))
    assert text.index("第三行") < text.index("第四行") < text.index("短行") < text.index("页码")


def test_detection_strips_keep_each_line_once_and_whole() -> None:
    import numpy as np

    from hanlin.ocr import engine as ocr_engine

    rows = [(y, y + 46) for y in range(30, 3400, 70)]  # text lines of a tall page, some cut by strip edges

    class FakeDetector:
        calls: list[tuple[int, int]] = []

        def text_det(self, img: np.ndarray) -> tuple[np.ndarray, float]:
            top = int(img[0, 0, 0]) * 256 + int(img[0, 0, 1])  # the strip's first page row, written in its pixels
            h = img.shape[0]
            self.calls.append((top, h))
            boxes = []
            for y0, y1 in rows:  # the detector sees the part of each line inside its strip
                a, b = max(y0, top), min(y1, top + h)
                if b - a > 4:
                    boxes.append([[10, a - top], [600, a - top], [600, b - top], [10, b - top]])
            return np.array(boxes, dtype=np.float32), 0.0

    page = np.zeros((3460, 1700, 3), np.uint8)
    page[:, 0, 0], page[:, 0, 1] = np.arange(3460) // 256, np.arange(3460) % 256
    det = FakeDetector()
    boxes = ocr_engine._detect(det, page)
    assert len(det.calls) >= 3  # really cut into strips
    found = sorted((int(b[:, 1].min()), int(b[:, 1].max())) for b in boxes)
    assert found == rows  # every line once, at its full height


def test_paragraph_breaks_at_indent_and_short_last_line() -> None:
    lines = [ln("第一段开头这一行写满了整个栏宽", 140, 0, 500), ln("第一段结束。", 100, 32, 220),
             ln("第二段开头这一行也写满了栏宽度", 140, 64, 500), ln("第二段的第二行写满整个栏宽度了", 100, 96, 500)]
    blocks = layout(lines)
    assert [b.text for b in blocks] == ["第一段开头这一行写满了整个栏宽第一段结束。",
                                        "第二段开头这一行也写满了栏宽度第二段的第二行写满整个栏宽度了"]


def test_table_rows_become_a_grid() -> None:
    rows = [["地区", "产量", "增长"], ["华东", "1256.3", "4.2%"], ["华北", "873.9", "2.8%"], ["华南", "640.2", "5.1%"]]
    lines = [ln(c, 100 + j * 250, 500 + i * 40, 100 + j * 250 + 20 * len(c)) for i, r in enumerate(rows)
             for j, c in enumerate(r)]
    para = column(["表格上面的一段正文，写满整个版心宽度，还有更多的字"], 100, 700, 400, indent_first=False)
    blocks = layout(para + lines)
    assert [b.type for b in blocks] == ["paragraph", "table"]
    assert blocks[1].rows == rows and blocks[1].grid


def test_box_over_two_cells_is_split() -> None:
    parts = split_cells(ln("华东 1256.3", 100, 0, 400))
    assert [p.text for p in parts] == ["华东", "1256.3"]
    assert parts[0].bbox[2] < parts[1].bbox[0]
    assert [p.text for p in split_cells(ln("Hello world", 0, 0, 100))] == ["Hello world"]


def test_parse_pages() -> None:
    assert parse_pages("1-3,5") == [1, 2, 3, 5]
    assert parse_pages(None) is None
    for bad in ("0-2", "3-1", "a", "1-x"):
        with pytest.raises(BadRequest):
            parse_pages(bad)
    with pytest.raises(BadRequest, match="does not exist"):
        parse_pages("9", total=3)


def huge_png(w: int, h: int) -> bytes:
    """A PNG whose header says w×h (the pixel data is a few bytes: never decodable, never decoded)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def bomb_pdf() -> bytes:
    """One page whose content stream inflates from ~100 KB to 100 MB."""
    content = zlib.compress(b" " * 100_000_000, 9)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + o + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()



def test_pdf_bomb_refused_before_rendering() -> None:
    with pytest.raises(PayloadTooLarge, match="decompression limit"):
        next(page_images(bomb_pdf(), "bomb.pdf", OcrLimits()))


def test_giant_image_refused_from_its_header() -> None:
    with pytest.raises(PayloadTooLarge, match="HANLIN_OCR_MAX_PIXELS"):
        next(page_images(huge_png(30_000, 30_000), "big.png", OcrLimits()))


def test_corrupt_and_empty_images_refused() -> None:
    with pytest.raises(UnprocessableInput, match="not a readable image"):
        next(page_images(b"\x89PNG\r\n\x1a\nnot really", "bad.png", OcrLimits()))
    with pytest.raises(UnprocessableInput, match="damaged image"):
        next(page_images(huge_png(200, 100), "truncated.png", OcrLimits()))
    with pytest.raises(UnprocessableInput, match="empty"):
        next(page_images(b"", "empty.jpg", OcrLimits()))
    with pytest.raises(UnprocessableInput, match="not a readable PDF"):
        next(page_images(b"%PDF-1.4 garbage", "bad.pdf", OcrLimits()))


def test_ten_thousand_page_pdf_refused_before_rendering() -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(10_000):
        pdf.new_page(100, 100)
    buf = io.BytesIO()
    pdf.save(buf)
    with pytest.raises(PayloadTooLarge, match="10,000 pages.*HANLIN_OCR_MAX_PAGES"):
        next(page_images(buf.getvalue(), "many.pdf", OcrLimits()))
    # picking pages within the limit is fine
    page = next(page_images(buf.getvalue(), "many.pdf", OcrLimits(), [9_999]))
    assert page.page == 9_999 and page.image.shape[0] > 0


def test_huge_page_rendered_within_the_pixel_limit() -> None:
    limits = OcrLimits(max_pixels=20_000_000, dpi=300)
    scale = render_scale(14_400, 14_400, limits)  # a 200-inch square page
    assert (14_400 * scale) ** 2 <= 20_000_000 * 1.001
    assert render_scale(595, 842, limits) == pytest.approx(300 / 72)


def test_text_layer_quality() -> None:
    assert good_text_layer("国家统计局今天发布数据，1至10月全国规模以上工业企业实现利润总额58215亿元。")
    assert not good_text_layer("  \n 3 \n")
    assert not good_text_layer("\ufffd\ufffd\ue000\ue001ÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜ")


def test_cer_and_order_errors() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert cer("中国 人民", "中国人民") == 0.0
    assert cer("中国人民银行", "中国人氏银行") == pytest.approx(1 / 6)
    paras = ["国家统计局今天发布数据", "记者从省交通运输厅获悉", "市教育局表示今年秋季"]
    assert order_errors(paras, "".join(paras)) == (0, 0)
    assert order_errors(paras, paras[1] + paras[0] + paras[2]) == (1, 0)
    assert order_errors(paras, paras[0]) == (0, 2)
