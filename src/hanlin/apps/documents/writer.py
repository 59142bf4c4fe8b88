"""A GB/T 9704-2012 (党政机关公文格式) .docx writer: code owns the format, so the page is right every time.

Layout values (GB/T 9704-2012, see docs/documents.md): A4; top margin 37 mm, left (binding) 28 mm, text block
156 × 225 mm (so right 26 mm, bottom 35 mm); 22 lines × 28 characters (w:docGrid and an exact 28.95 pt line
pitch); body 3号 仿宋_GB2312 16 pt; title 2号 小标宋 22 pt centred; headings 一、黑体 （一）楷体 1.（1）仿宋;
red 发文机关标志 and red separator line; page numbers "— 1 —" 4号 宋体, odd pages right, even pages left, one
character in from the edge; 署名 centred over the 成文日期, which sits 4 characters from the right edge.

``write_official_document(doc, path)`` and ``official_document_bytes(doc)`` are the entry points; every 公文 .docx
Hanlin writes goes through them, the minutes app's 纪要 included (``apps/minutes/render.to_docx_bytes`` builds an
``OfficialDocument(doc_type="纪要")`` and calls ``official_document_bytes``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph as DocxParagraph

from hanlin.apps.documents.schema import UPWARD_TYPES, OfficialDocument, Paragraph
from hanlin.text import cn_index, display_width

# ---- GB/T 9704 values (single source: checks.py reads these back from the saved file) ---------------------
PAGE_W_MM, PAGE_H_MM = 210.0, 297.0
TOP_MM, LEFT_MM = 37.0, 28.0
BLOCK_W_MM, BLOCK_H_MM = 156.0, 225.0
RIGHT_MM, BOTTOM_MM = PAGE_W_MM - LEFT_MM - BLOCK_W_MM, PAGE_H_MM - TOP_MM - BLOCK_H_MM  # 26, 35
LINES, CHARS = 22, 28
BODY_PT, TITLE_PT, PAGE_NO_PT = 16.0, 22.0, 14.0
LINE_PITCH_TWIPS = int(BLOCK_H_MM / 25.4 * 1440 / LINES)  # 579 twips = 28.95 pt
_CHAR_PITCH_PT = BLOCK_W_MM / 25.4 * 72 / CHARS  # 15.79 pt
CHAR_SPACE = round((_CHAR_PITCH_PT - BODY_PT) * 4096)  # docGrid charSpace: 1/4096 pt beyond the font size
DATE_RIGHT_CHARS = 4
BANNER_TOP_MM = 35.0
# 16 pt characters do not fit a 15.79 pt grid cell: Word squeezes them, LibreOffice gives each character two
# cells (14 per line). So paragraphs do not snap to the grid and 3号 runs are condensed by 0.4 pt instead:
# 28 × 15.6 pt = 437 pt fits the 442.2 pt line in Word and in LibreOffice, which also narrows a line under a
# character grid (measured: −0.25 pt gave 27 characters there, −0.4 pt gives 28). The docGrid stays for
# Word's 页面设置 (22 行 × 28 字).
CONDENSE_TWIPS = -8

FONT_BODY = "仿宋_GB2312"
FONT_TITLE = "方正小标宋简体"
FONT_H1 = "黑体"
FONT_H2 = "楷体_GB2312"
FONT_PAGE_NO = "宋体"
HEADING_FONTS = {0: FONT_BODY, 1: FONT_H1, 2: FONT_H2, 3: FONT_BODY, 4: FONT_BODY}
RED = RGBColor(0xFF, 0x00, 0x00)
RED_HEX = "FF0000"


def heading_prefix(level: int, n: int) -> str:
    return {1: f"{cn_index(n)}、", 2: f"（{cn_index(n)}）", 3: f"{n}.", 4: f"（{n}）"}.get(level, "")


def number_paragraphs(paragraphs: list[Paragraph]) -> list[tuple[int, str]]:
    """Add 一、（一）1.（1） by position: a counter per level, reset when a higher level starts."""
    counters = [0, 0, 0, 0, 0]
    out: list[tuple[int, str]] = []
    for p in paragraphs:
        level = p.level if p.level in (1, 2, 3, 4) else 0
        if level:
            counters[level] += 1
            for deeper in range(level + 1, 5):
                counters[deeper] = 0
        out.append((level, heading_prefix(level, counters[level]) + p.text if level else p.text))
    return out


# ---- low-level helpers ---------------------------------------------------------------------------------

# w:pPr children that must come after w:pBdr (OOXML sequence order; Word rejects out-of-order elements)
_AFTER_PBDR = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
               "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid",
               "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
               "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId",
               "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")


_AFTER_RPR_SPACING = ("w:w", "w:kern", "w:position", "w:sz", "w:szCs", "w:highlight", "w:u", "w:effect", "w:bdr",
                      "w:shd", "w:fitText", "w:vertAlign", "w:rtl", "w:cs", "w:em", "w:lang", "w:eastAsianLayout",
                      "w:specVanish", "w:oMath")


def set_run_font(run: Any, name: str, size_pt: float, *, bold: bool = False, color: RGBColor | None = None) -> None:
    """Set a run's font for Latin AND East Asian text (python-docx's ``font.name`` only sets w:ascii/w:hAnsi)."""
    run.font.name = name
    run.font.size = Pt(size_pt)
    run.font.bold = bold
    if color is not None:
        run.font.color.rgb = color
    rfonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        rfonts.set(qn(attr), name)
    rfonts.set(qn("w:hint"), "eastAsia")
    if abs(size_pt - BODY_PT) < 0.01:
        spacing = OxmlElement("w:spacing")
        spacing.set(qn("w:val"), str(CONDENSE_TWIPS))
        run._element.get_or_add_rPr().insert_element_before(spacing, *_AFTER_RPR_SPACING)


def _exact_lines(p: DocxParagraph, *, first_indent_chars: float = 0.0) -> None:
    pf = p.paragraph_format
    pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    pf.line_spacing = Pt(LINE_PITCH_TWIPS / 20)
    pf.space_before = Pt(0)
    pf.space_after = Pt(0)
    pf.first_line_indent = Pt(BODY_PT * first_indent_chars) if first_indent_chars else None
    snap = OxmlElement("w:snapToGrid")
    snap.set(qn("w:val"), "0")
    p._element.get_or_add_pPr().insert_element_before(snap, *_AFTER_PBDR[_AFTER_PBDR.index("w:spacing"):])


def add_text(doc: DocxDocument, text: str, *, font: str = FONT_BODY, size: float = BODY_PT,
             align: WD_ALIGN_PARAGRAPH | None = None, indent_chars: float = 0.0, right_chars: float = 0.0,
             left_chars: float = 0.0, color: RGBColor | None = None, bold: bool = False) -> DocxParagraph:
    p = doc.add_paragraph()
    _exact_lines(p, first_indent_chars=indent_chars)
    if align is not None:
        p.alignment = align
    if right_chars:
        p.paragraph_format.right_indent = Pt(BODY_PT * right_chars)
    if left_chars:
        p.paragraph_format.left_indent = Pt(BODY_PT * left_chars)
    if text:
        set_run_font(p.add_run(text), font, size, bold=bold, color=color)
    return p


def _blank(doc: DocxDocument, n: int = 1) -> None:
    for _ in range(n):
        add_text(doc, "")


def set_borders(p: DocxParagraph, color: str, sides: tuple[str, ...], *, size: int = 12, space: int = 1) -> None:
    """Paragraph borders (a rule the width of the text block): w:pBdr in its schema position."""
    ppr = p._element.get_or_add_pPr()
    bdr = OxmlElement("w:pBdr")
    for side in sides:
        el = OxmlElement(f"w:{side}")
        for k, v in (("w:val", "single"), ("w:sz", str(size)), ("w:space", str(space)), ("w:color", color)):
            el.set(qn(k), v)
        bdr.append(el)
    ppr.insert_element_before(bdr, *_AFTER_PBDR)


def _red_rule_below(p: DocxParagraph, space_pt: int = 11) -> None:
    """A red line the width of the text block under ``p`` (GB: 4 mm ≈ 11 pt under the 发文字号)."""
    set_borders(p, RED_HEX, ("bottom",), size=12, space=space_pt)


def _field_run(p: DocxParagraph, instr: str, size: float) -> None:
    """A Word field (PAGE) as begin/instrText/separate/result/end runs."""
    for kind, text in (("begin", None), ("instr", instr), ("separate", None), ("text", "1"), ("end", None)):
        run = p.add_run()
        set_run_font(run, FONT_PAGE_NO, size)
        if kind == "instr":
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = text
            run._element.append(el)
        elif kind == "text":
            run.text = text or ""
        else:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
            run._element.append(el)


# ---- page setup -----------------------------------------------------------------------------------------

def _setup_page(doc: DocxDocument) -> None:
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = Mm(PAGE_W_MM), Mm(PAGE_H_MM)
    sec.top_margin, sec.bottom_margin = Mm(TOP_MM), Mm(BOTTOM_MM)
    sec.left_margin, sec.right_margin = Mm(LEFT_MM), Mm(RIGHT_MM)
    sec.header_distance, sec.footer_distance = Mm(15), Mm(24)  # "— 1 —" about 7 mm under the text block
    sect_pr = sec._sectPr
    for old in sect_pr.findall(qn("w:docGrid")):
        sect_pr.remove(old)
    grid = OxmlElement("w:docGrid")
    grid.set(qn("w:type"), "linesAndChars")
    grid.set(qn("w:linePitch"), str(LINE_PITCH_TWIPS))
    grid.set(qn("w:charSpace"), str(CHAR_SPACE))
    sect_pr.append(grid)
    # Normal style: 3号 仿宋 so anything unstyled is still body text
    normal = doc.styles["Normal"]
    normal.font.name = FONT_BODY
    normal.font.size = Pt(BODY_PT)
    rfonts = normal.element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        rfonts.set(qn(attr), FONT_BODY)


def _page_numbers(doc: DocxDocument) -> None:
    """"— 1 —" 4号 宋体: odd pages right, even pages left, one character in from the edge."""
    doc.settings.odd_and_even_pages_header_footer = True
    sec = doc.sections[0]
    for footer, align in ((sec.footer, WD_ALIGN_PARAGRAPH.RIGHT), (sec.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)):
        footer.is_linked_to_previous = False
        p = footer.paragraphs[0] if footer.paragraphs else footer.add_paragraph()
        p.alignment = align
        if align == WD_ALIGN_PARAGRAPH.RIGHT:
            p.paragraph_format.right_indent = Pt(PAGE_NO_PT)
        else:
            p.paragraph_format.left_indent = Pt(PAGE_NO_PT)
        set_run_font(p.add_run("— "), FONT_PAGE_NO, PAGE_NO_PT)
        _field_run(p, "PAGE", PAGE_NO_PT)
        set_run_font(p.add_run(" —"), FONT_PAGE_NO, PAGE_NO_PT)


# ---- the parts of a 公文 --------------------------------------------------------------------------------

def _banner(doc: DocxDocument, d: OfficialDocument) -> None:
    """版头: red 发文机关标志 35 mm under the block top, 发文字号 two lines below, red rule 4 mm under it."""
    banner = d.banner
    if banner:
        size = max(22.0, min(36.0, (BLOCK_W_MM / 25.4 * 72) / max(1.0, display_width(banner))))
        p = add_text(doc, banner, font=FONT_TITLE, size=size, align=WD_ALIGN_PARAGRAPH.CENTER, color=RED)
        line = max(LINE_PITCH_TWIPS / 20, size * 1.3)
        p.paragraph_format.line_spacing = Pt(line)
        # GB 7.2.3: the 标志's top edge 35 mm below the text block's top (信函格式 函: at the top of the block)
        top_mm = 0.0 if d.doc_type == "函" else BANNER_TOP_MM
        p.paragraph_format.space_before = Pt(max(0.0, top_mm / 25.4 * 72 - (line - size) / 2))
        _blank(doc, 2)  # 发文字号 "下空二行"
    if not (banner or d.number):
        return
    if d.doc_type in UPWARD_TYPES and d.signer:
        p = add_text(doc, "", align=WD_ALIGN_PARAGRAPH.LEFT, left_chars=1, right_chars=1)
        p.paragraph_format.tab_stops.add_tab_stop(Mm(BLOCK_W_MM) - Pt(BODY_PT), WD_TAB_ALIGNMENT.RIGHT)
        set_run_font(p.add_run(d.number + "\t"), FONT_BODY, BODY_PT)
        set_run_font(p.add_run("签发人："), FONT_BODY, BODY_PT)
        set_run_font(p.add_run(d.signer), FONT_H2, BODY_PT)
    else:
        p = add_text(doc, d.number, align=WD_ALIGN_PARAGRAPH.CENTER)
    _red_rule_below(p)
    _blank(doc, 2)  # title "红色分隔线下空二行"


def split_heading(text: str) -> tuple[str, str]:
    """"一、总体要求。各单位要……" → ("一、总体要求。", "各单位要……"): only the heading takes 黑体/楷体."""
    m = re.search(r"[。：:]", text)
    if not m or m.end() >= len(text):
        return text, ""
    return text[:m.end()], text[m.end():]


def _body(doc: DocxDocument, d: OfficialDocument) -> None:
    add_text(doc, d.title, font=FONT_TITLE, size=TITLE_PT, align=WD_ALIGN_PARAGRAPH.CENTER)
    _blank(doc, 1)
    if d.to:
        add_text(doc, "、".join(d.to) + "：")
    for level, text in number_paragraphs(d.paragraphs):
        head, rest = split_heading(text) if level in (1, 2) else (text, "")
        p = add_text(doc, head, font=HEADING_FONTS[level], indent_chars=2)
        if rest:  # a heading run in with its text: the text after the heading is body type
            set_run_font(p.add_run(rest), FONT_BODY, BODY_PT)
    if d.attachments:
        _blank(doc, 1)
        if len(d.attachments) == 1:
            add_text(doc, f"附件：{d.attachments[0]}", indent_chars=2)
        else:
            for i, name in enumerate(d.attachments, 1):
                # later items align under the first name: 2 chars indent + "附件：" (3 chars)
                add_text(doc, f"附件：{i}. {name}" if i == 1 else f"{i}. {name}",
                         indent_chars=2 if i == 1 else 0, left_chars=0 if i == 1 else 5)


def _signature(doc: DocxDocument, d: OfficialDocument) -> None:
    """署名 centred over the 成文日期; the date 4 characters from the right edge (GB 7.3.5)."""
    date_w = display_width(d.date)
    if d.signature:
        _blank(doc, 2)
        sig_w = display_width(d.signature)
        right = max(2.0, DATE_RIGHT_CHARS + (date_w - sig_w) / 2)
        add_text(doc, d.signature, align=WD_ALIGN_PARAGRAPH.RIGHT, right_chars=right)
    else:
        _blank(doc, 1)
    if d.date:
        add_text(doc, d.date, align=WD_ALIGN_PARAGRAPH.RIGHT, right_chars=DATE_RIGHT_CHARS)


def _imprint(doc: DocxDocument, d: OfficialDocument) -> None:
    """版记: 抄送 line between thin rules (only when there is a 抄送)."""
    if not d.cc:
        return
    _blank(doc, 2)
    p = add_text(doc, "抄送：" + "，".join(d.cc) + "。", size=14, left_chars=1 * 14 / BODY_PT)
    set_borders(p, "000000", ("top", "bottom"), size=6)


def build_official_document(d: OfficialDocument) -> DocxDocument:
    doc = Document()
    # python-docx's template starts with one empty paragraph in some versions; drop it so the banner leads
    body = doc.element.body
    for p in list(body.findall(qn("w:p"))):
        body.remove(p)
    _setup_page(doc)
    _page_numbers(doc)
    _banner(doc, d)
    _body(doc, d)
    _signature(doc, d)
    _imprint(doc, d)
    doc.core_properties.title = d.title
    doc.core_properties.author = d.signature or d.org or "Hanlin"
    return doc


def write_official_document(d: OfficialDocument, path: str | Path) -> Path:
    """Lay ``d`` out per GB/T 9704-2012 and save it as .docx at ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    build_official_document(d).save(str(out))
    return out


def official_document_bytes(d: OfficialDocument) -> bytes:
    """The same .docx in memory (for HTTP responses and other apps)."""
    import io

    buf = io.BytesIO()
    build_official_document(d).save(buf)
    return buf.getvalue()
