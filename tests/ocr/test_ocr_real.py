"""OCR with the real models on pages rendered in code: reading order and CER, turned and skewed scans, the CLI,
scans into a knowledge base (mixed PDF: text layer kept, scanned page OCR'd, page + box on the chunks)."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hanlin.ocr.inputs import PageImage
from hanlin.ocr.service import ocr_image
from hanlin.ocr.testset import (
    SAMPLE_PARAGRAPHS,
    SAMPLE_TABLE,
    available_fonts,
    cer,
    image_bytes,
    jpeg,
    noisy,
    order_errors,
    pdf_bytes,
    render_page,
    skewed,
    turned,
)

pytestmark = pytest.mark.skipif(len(available_fonts()) < 2, reason="CJK fonts missing: run scripts/test.sh")


def two_column_page(**kw):  # type: ignore[no-untyped-def]
    return render_page("全省经济运行稳中向好", SAMPLE_PARAGRAPHS[:4], columns=2, height_in=6.2, **kw)


def test_cli_two_columns_and_table_in_reading_order(tmp_path: Path) -> None:
    page = render_page("全省经济运行稳中向好", SAMPLE_PARAGRAPHS[:4], columns=2, height_in=7.4, table=SAMPLE_TABLE)
    src = tmp_path / "scan.png"
    page.image.save(src)
    md = tmp_path / "scan.md"
    proc = subprocess.run([sys.executable, "-m", "hanlin.cli.main", "ocr", str(src), "--json", "-o", str(md)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["stats"]["pages"] == 1
    p1 = result["pages"][0]
    assert p1["page"] == 1 and (p1["width"], p1["height"]) == page.image.size
    types = [b["type"] for b in p1["blocks"]]
    assert types[0] == "heading" and types[-1] == "table" and "paragraph" in types
    table = p1["blocks"][-1]
    assert table["rows"][0] == SAMPLE_TABLE[0] and len(table["rows"]) == len(SAMPLE_TABLE)
    line = p1["blocks"][1]["lines"][0]
    assert set(line) == {"text", "bbox", "score"} and len(line["bbox"]) == 4
    assert cer(page.text, result["text"]) <= 0.02
    assert order_errors(page.paragraphs, result["text"]) == (0, 0)
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# 全省经济运行稳中向好") or text.startswith("## 全省经济运行稳中向好")
    assert "| --- | --- | --- | --- |" in text


@pytest.mark.parametrize("turn", [90, 180])
def test_turned_skewed_noisy_scan(turn: int) -> None:
    page = two_column_page(font="wqy-zenhei")
    rng = random.Random(turn)
    img = jpeg(noisy(turned(skewed(page.image, 1.5), turn), rng), quality=45)
    result = ocr_image(PageImage(1, np.asarray(img)))
    assert result.rotation in (90, 180, 270)
    assert (result.width, result.height) == page.image.size
    assert cer(page.text, result.text) <= 0.05
    assert order_errors(page.paragraphs, result.text) == (0, 0)


def mixed_pdf(scan: bytes) -> bytes:
    """Page 1: a real text layer (Latin, like tests/knowledge's make_pdf); page 2: a scanned image."""
    import pypdfium2 as pdfium

    from tests.knowledge.test_extract import make_pdf

    text = make_pdf(["Annual report of the Hanlin test company.", "Revenue grew by twelve percent this year."])
    doc = pdfium.PdfDocument(text)
    doc.import_pages(pdfium.PdfDocument(scan))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_kb_mixed_pdf_keeps_text_layer_and_ocrs_the_scan(kb_service) -> None:  # type: ignore[no-untyped-def]
    page = two_column_page()
    data = mixed_pdf(pdf_bytes([page.image]))
    kb_service.create_kb("default", "scans")
    stages: list[str] = []
    info = kb_service.add_document("default", "scans", "report.pdf", data,
                                   progress=lambda d, t, s: stages.append(s))
    assert info["chunks"] >= 2
    assert any(s.startswith("OCR page 2") for s in stages) and not any(s.startswith("OCR page 1") for s in stages)
    hits = kb_service.search("default", "scans", "沿江高铁合肥至武汉段预计哪一年建成通车", k=3)
    top = hits[0].to_dict()
    assert top["page"] == 2 and "2028" in top["text"]
    x0, y0, x1, y1 = top["bbox"]
    assert 0 <= x0 < x1 <= page.image.size[0] and 0 <= y0 < y1 <= page.image.size[1]
    hits = kb_service.search("default", "scans", "Revenue grew", k=3)
    assert hits[0].row.page == 1 and hits[0].row.bbox is None  # from the text layer


def test_kb_image_upload(kb_service) -> None:  # type: ignore[no-untyped-def]
    page = two_column_page(font="arphic-uming")
    kb_service.create_kb("default", "photos")
    info = kb_service.add_document("default", "photos", "page.jpg", image_bytes(page.image, "JPEG"))
    assert info["chunks"] >= 1
    hits = kb_service.search("default", "photos", "今年秋季学期全市新增多少公办学位", k=3)
    assert "3.2万" in hits[0].row.text and hits[0].row.page == 1


def test_scanned_transcript_and_background_for_the_apps(tmp_path: Path) -> None:
    from hanlin.apps.minutes.transcript import parse_transcript
    from hanlin.cli.documents import _with_background
    from hanlin.cli.minutes import _scanned_or_raw

    turns = ["张伟：今天讨论三季度预算，市场部的投放费用需要压缩百分之十五。",
             "李娜：我同意压缩，但是新品发布会的预算要保留，请财务部下周五前给出方案。",
             "王强：好的，我负责在下周五之前提交调整后的预算方案。"]
    page = render_page("项目例会记录", turns, height_in=3.6, font="noto-sans")
    scan = tmp_path / "会议记录.png"
    page.image.save(scan)
    transcript = parse_transcript(*_scanned_or_raw(scan))
    assert [u.speaker for u in transcript.utterances] == ["张伟", "李娜", "王强"]
    assert "下周五之前提交" in transcript.utterances[2].text
    brief = _with_background("关于压缩三季度市场投放预算的通知", scan)
    assert brief.startswith("关于压缩三季度市场投放预算的通知") and "新品发布会的预算要保留" in brief
