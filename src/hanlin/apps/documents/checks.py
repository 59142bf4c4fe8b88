"""Checks read from the SAVED file, never from what the writer meant to do.

``check_docx(path, doc_type)`` opens the .docx with python-docx, finds the parts of the 公文 by their content
and position (红色版头, 发文字号 above the red rule, title, 主送机关, body, 署名, 成文日期) and checks them against
GB/T 9704-2012 and the per-type content rules. ``check_text`` does the content rules for .md/.txt output.
Each check is a name → bool; ``problems`` says in words why a check failed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph as DocxParagraph

from hanlin.apps.documents import writer as W
from hanlin.apps.documents.register import register_checks
from hanlin.apps.documents.schema import DATE_RE, NUMBER_RE, REQUEST_ENDINGS, SINGLE_RECIPIENT_TYPES

EMU_PER_MM = 36000
TOL_MM = 1.0
HEADING_RE = {1: re.compile(r"^[一二三四五六七八九十]+、"), 2: re.compile(r"^（[一二三四五六七八九十]+）"),
              3: re.compile(r"^\d+\.(?!\d)"), 4: re.compile(r"^（\d+）")}
RECIPIENT_SPLIT = re.compile(r"[、，,；;]")


@dataclass
class CheckReport:
    checks: dict[str, bool] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, ok: bool, why: str = "") -> None:
        self.checks[name] = bool(ok)
        if not ok:
            self.problems[name] = why or name

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def to_dict(self) -> dict[str, Any]:
        return {"checks": self.checks, "problems": self.problems}


# ---- reading runs and paragraphs back ---------------------------------------------------------------------

def _style_chain_value(p: DocxParagraph, getter: Any) -> Any:
    style = p.style
    while style is not None:
        v = getter(style)
        if v is not None:
            return v
        style = style.base_style
    return None


def run_east_asia_font(run: Any, p: DocxParagraph) -> str | None:
    rpr = run._element.rPr
    if rpr is not None and rpr.rFonts is not None:
        v = rpr.rFonts.get(qn("w:eastAsia"))
        if v:
            return str(v)

    def from_style(style: Any) -> str | None:
        rp = style.element.rPr
        if rp is not None and rp.rFonts is not None:
            return rp.rFonts.get(qn("w:eastAsia"))
        return None
    return _style_chain_value(p, from_style)


def run_size_pt(run: Any, p: DocxParagraph) -> float | None:
    if run.font.size is not None:
        return float(run.font.size.pt)
    v = _style_chain_value(p, lambda s: s.font.size)
    return float(v.pt) if v is not None else None


def _runs(p: DocxParagraph) -> list[Any]:
    return [r for r in p.runs if r.text.strip()]


def para_fonts(p: DocxParagraph) -> set[tuple[str | None, float | None]]:
    return {(run_east_asia_font(r, p), run_size_pt(r, p)) for r in _runs(p)}


def is_red(p: DocxParagraph) -> bool:
    runs = _runs(p)
    return bool(runs) and all(r.font.color is not None and r.font.color.rgb is not None
                              and str(r.font.color.rgb).upper() == W.RED_HEX for r in runs)


def bottom_border_color(p: DocxParagraph) -> str | None:
    ppr = p._element.pPr
    if ppr is None:
        return None
    bottom = ppr.find(qn("w:pBdr") + "/" + qn("w:bottom"))
    return None if bottom is None else str(bottom.get(qn("w:color"), "")).upper()


def alignment(p: DocxParagraph) -> Any:
    return p.alignment if p.alignment is not None else _style_chain_value(p, lambda s: s.paragraph_format.alignment)


def _pt(length: Any) -> float:
    return float(length.pt) if length is not None else 0.0


def _is_attachment(p: DocxParagraph) -> bool:
    """附件说明: "附件：1. 名称" and the following "2. 名称" lines (hanging, no first-line indent)."""
    text = p.text.strip()
    return text.startswith("附件") or (bool(re.match(r"^\d+\.\s", text))
                                       and _pt(p.paragraph_format.first_line_indent) == 0)


@dataclass
class Parts:
    """The parts of a 公文 as found in the saved file."""

    banner: DocxParagraph | None = None
    number: DocxParagraph | None = None
    separator: DocxParagraph | None = None
    title: DocxParagraph | None = None
    recipients: DocxParagraph | None = None
    body: list[DocxParagraph] = field(default_factory=list)
    signature: DocxParagraph | None = None
    date: DocxParagraph | None = None


def find_parts(paragraphs: list[DocxParagraph]) -> Parts:
    parts = Parts()
    nonempty = [p for p in paragraphs if p.text.strip()]
    i = 0
    if nonempty and is_red(nonempty[0]):
        parts.banner, i = nonempty[0], 1
    # the red rule is the bottom border of the 发文字号 paragraph, which is empty when there is no number
    start = paragraphs.index(parts.banner) + 1 if parts.banner is not None else 0
    rule = next((p for p in paragraphs[start:start + 4] if bottom_border_color(p) == W.RED_HEX), None)
    if rule is not None:
        parts.separator = rule
        if rule.text.strip():
            parts.number = rule
            i += 1
    if i < len(nonempty) and alignment(nonempty[i]) == WD_ALIGN_PARAGRAPH.CENTER:
        parts.title, i = nonempty[i], i + 1
    if i < len(nonempty) and nonempty[i].text.strip().endswith(("：", ":")):
        parts.recipients, i = nonempty[i], i + 1
    tail = nonempty[i:]
    # from the end: date (right-aligned), then 署名 (right-aligned), ignoring a 版记 (抄送) line
    while tail and tail[-1].text.strip().startswith(("抄送", "印发")):
        tail = tail[:-1]
    if tail and alignment(tail[-1]) == WD_ALIGN_PARAGRAPH.RIGHT:
        parts.date, tail = tail[-1], tail[:-1]
        if tail and alignment(tail[-1]) == WD_ALIGN_PARAGRAPH.RIGHT:
            parts.signature, tail = tail[-1], tail[:-1]
    parts.body = [p for p in tail if not _is_attachment(p)]
    return parts


# ---- the checks ---------------------------------------------------------------------------------------

def _near(emu: Any, mm: float) -> bool:
    return emu is not None and abs(int(emu) / EMU_PER_MM - mm) <= TOL_MM


def _page_checks(doc: Any, rep: CheckReport) -> None:
    sec = doc.sections[0]
    w_mm, h_mm = int(sec.page_width) / EMU_PER_MM, int(sec.page_height) / EMU_PER_MM
    rep.add("page_a4", _near(sec.page_width, W.PAGE_W_MM) and _near(sec.page_height, W.PAGE_H_MM),
            f"page is {w_mm:.1f}×{h_mm:.1f} mm, not A4 210×297")
    m = {k: int(getattr(sec, f"{k}_margin")) / EMU_PER_MM for k in ("top", "bottom", "left", "right")}
    rep.add("margins", _near(sec.top_margin, W.TOP_MM) and _near(sec.left_margin, W.LEFT_MM),
            f"top {m['top']:.1f} mm / left {m['left']:.1f} mm; GB/T 9704 wants 37±1 / 28±1")
    block_w, block_h = w_mm - m["left"] - m["right"], h_mm - m["top"] - m["bottom"]
    rep.add("text_block", abs(block_w - W.BLOCK_W_MM) <= TOL_MM and abs(block_h - W.BLOCK_H_MM) <= TOL_MM,
            f"text block {block_w:.1f}×{block_h:.1f} mm; GB/T 9704 wants 156×225")
    grid = sec._sectPr.find(qn("w:docGrid"))
    lines = chars = 0
    if grid is not None and grid.get(qn("w:linePitch")):
        lines = math.floor(block_h / 25.4 * 1440 / int(grid.get(qn("w:linePitch"))) + 1e-6)
        normal = doc.styles["Normal"].font.size
        font_pt = normal.pt if normal is not None else 10.5
        pitch = font_pt + int(grid.get(qn("w:charSpace"), "0")) / 4096
        chars = math.floor(block_w / 25.4 * 72 / pitch + 1e-3) if grid.get(qn("w:type")) == "linesAndChars" else 0
    rep.add("line_grid", (lines, chars) == (W.LINES, W.CHARS),
            f"document grid gives {lines} lines × {chars} characters; GB/T 9704 wants 22 × 28")


def _font_ok(p: DocxParagraph, family: str, size: float) -> bool:
    fonts = para_fonts(p)
    return bool(fonts) and all(f == family and s is not None and abs(s - size) < 0.1 for f, s in fonts)


def _layout_checks(parts: Parts, rep: CheckReport) -> None:
    rep.add("red_banner", parts.banner is not None and alignment(parts.banner) == WD_ALIGN_PARAGRAPH.CENTER,
            "no red, centred 发文机关标志 at the top (pass --org)")
    rep.add("red_separator", parts.separator is not None, "no red separator line under the 发文字号")
    t = parts.title
    rep.add("title_font", t is not None and alignment(t) == WD_ALIGN_PARAGRAPH.CENTER
            and all(s is not None and abs(s - W.TITLE_PT) < 0.1 and f is not None and "小标宋" in f
                    for f, s in para_fonts(t)) and bool(para_fonts(t)),
            f"title must be centred 2号 小标宋 ({W.TITLE_PT:g} pt): found {sorted(map(str, para_fonts(t))) if t else 'no title'}")
    plain = [p for p in parts.body if not any(rx.match(p.text.strip()) for rx in HEADING_RE.values())]
    bad = [p.text[:12] for p in plain if not _font_ok(p, W.FONT_BODY, W.BODY_PT)]
    if parts.recipients is not None and not _font_ok(parts.recipients, W.FONT_BODY, W.BODY_PT):
        bad.append(parts.recipients.text[:12])
    rep.add("body_font", bool(plain) and not bad, f"body text must be 3号 {W.FONT_BODY} 16 pt: {bad or 'no body'}")
    wrong = []
    for p in parts.body:
        for level, rx in HEADING_RE.items():
            if rx.match(p.text.strip()):
                runs = _runs(p)  # the heading is the first run; text run in after it is body type
                if not runs or run_east_asia_font(runs[0], p) != W.HEADING_FONTS[level] \
                        or any(run_east_asia_font(r, p) not in (W.HEADING_FONTS[level], W.FONT_BODY) for r in runs):
                    wrong.append(f"{p.text[:8]}… should be {W.HEADING_FONTS[level]}")
                break
    rep.add("heading_fonts", not wrong, "; ".join(wrong))
    loose = [p.text[:10] for p in [*parts.body, *([parts.recipients] if parts.recipients else [])]
             if p.paragraph_format.line_spacing is None or _pt(p.paragraph_format.line_spacing) > 29.5]
    rep.add("line_spacing", not loose, f"paragraphs with a line pitch over 28.95 pt break the 22-line page: {loose}")


def _signature_checks(parts: Parts, rep: CheckReport, doc_type: str) -> None:
    d = parts.date
    text = d.text.strip() if d is not None else ""
    rep.add("date_arabic", bool(DATE_RE.match(text)),
            f"成文日期 must be Arabic numerals like 2026年11月25日: found {text!r}")
    right = _pt(d.paragraph_format.right_indent) / W.BODY_PT if d is not None else -1
    rep.add("date_position", d is not None and alignment(d) == WD_ALIGN_PARAGRAPH.RIGHT and abs(right - 4) < 0.25,
            f"成文日期 must be right-aligned 4 characters from the right edge (found {right:.2f})")
    if doc_type != "纪要":  # GB/T 9704 10.2: a 纪要 carries no 署名
        rep.add("signature", parts.signature is not None and bool(parts.signature.text.strip()),
                "no 发文机关署名 above the 成文日期")


def _page_number_checks(doc: Any, rep: CheckReport) -> None:
    sec = doc.sections[0]
    odd_even = bool(doc.settings.odd_and_even_pages_header_footer)

    def ok(footer: Any, align: Any) -> bool:
        ps = [p for p in footer.paragraphs if "PAGE" in p._element.xml]
        return bool(ps) and alignment(ps[0]) == align and ps[0].text.startswith("—") and ps[0].text.endswith("—") \
            and all(f == W.FONT_PAGE_NO and s == W.PAGE_NO_PT for f, s in para_fonts(ps[0]))
    rep.add("page_numbers", odd_even and ok(sec.footer, WD_ALIGN_PARAGRAPH.RIGHT)
            and ok(sec.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT),
            "page numbers must be \"— 1 —\" 4号 宋体, odd pages right and even pages left")


def heading_text(text: str) -> str | None:
    """The heading part of a body paragraph numbered 一、/（一） (its run-in text excluded), None for body text."""
    t = text.strip()
    if HEADING_RE[1].match(t) or HEADING_RE[2].match(t):
        return W.split_heading(t)[0]
    return None


def content_checks(doc_type: str, rep: CheckReport, *, number: str | None, title: str, recipients: str | None,
                   last_body: str, body: list[str] | None = None) -> None:
    """Per-type content rules, shared by the .docx and the text checks; with ``body`` (the body paragraphs' text)
    also the register rules of :mod:`register` (salutation, thanks, repeats, headings, closings, title length)."""
    if number is not None:
        rep.add("doc_number", bool(NUMBER_RE.match(number)),
                f"发文字号 must look like 国办发〔2026〕12号: found {number!r}")
    rep.add("title_names_type", title.endswith(doc_type), f"title should end with 「{doc_type}」: {title!r}")
    names = [n for n in RECIPIENT_SPLIT.split((recipients or "").rstrip("：:")) if n.strip()]
    if doc_type in SINGLE_RECIPIENT_TYPES:
        rep.add("single_recipient", len(names) == 1, f"a {doc_type} goes to exactly one 主送机关: found {names}")
    elif doc_type != "纪要":
        rep.add("recipient", len(names) >= 1, "no 主送机关 line (ends with ：) under the title")
    if doc_type == "请示":
        tail = last_body.strip().rstrip("。.！!")
        rep.add("request_sentence", tail.endswith(REQUEST_ENDINGS),
                f"a 请示 must end with a request such as 妥否，请批示: ends with {last_body[-12:]!r}")
    if body is not None:
        pairs: list[tuple[str, bool]] = []
        for text in body:
            head = heading_text(text)
            pairs.append((head if head is not None else text, head is not None))
        for name, (ok, why) in register_checks(doc_type, title, recipients, pairs).items():
            rep.add(name, ok, why)


def check_docx(path: str | Path, doc_type: str) -> CheckReport:
    doc = Document(str(path))
    rep = CheckReport()
    _page_checks(doc, rep)
    parts = find_parts(list(doc.paragraphs))
    _layout_checks(parts, rep)
    _signature_checks(parts, rep, doc_type)
    _page_number_checks(doc, rep)
    number = parts.number.text.split("\t")[0].strip() if parts.number is not None else None
    content_checks(doc_type, rep, number=number or None,
                   title=parts.title.text.strip() if parts.title is not None else "",
                   recipients=parts.recipients.text.strip() if parts.recipients is not None else None,
                   last_body=parts.body[-1].text if parts.body else "", body=[p.text for p in parts.body])
    return rep


def check_text(path: str | Path, doc_type: str) -> CheckReport:
    """Content rules on .md/.txt output (layout does not exist there). Reads the lines render_text wrote."""
    lines = [ln.strip().lstrip("#").strip().strip("*").strip() for ln in Path(path).read_text("utf-8").splitlines()]
    lines = [ln for ln in lines if ln and set(ln) - set("-—─=_*")]
    rep = CheckReport()
    number = next((ln for ln in lines[:3] if "〔" in ln or re.search(r"[\[(（]\d{4}[\])）]", ln)), None)
    # the title is the last of the head lines (版头, 发文字号, title) naming the type: a 纪要's 版头 does too
    title_i = max((i for i, ln in enumerate(lines[:3]) if ln.endswith(doc_type)), default=None)
    title = lines[title_i] if title_i is not None else ""
    start = (title_i + 1) if title_i is not None else 0
    recipients = lines[start] if start < len(lines) and lines[start].endswith(("：", ":")) else None
    body = [ln for ln in lines[start + (1 if recipients else 0):] if not ln.startswith(("附件", "抄送"))]
    date = body[-1] if body else ""
    rep.add("date_arabic", bool(DATE_RE.match(date)), f"成文日期 must be Arabic numerals: last line {date!r}")
    rep.add("signature", len(body) >= 2 and len(body[-2]) <= 30, "no 发文机关署名 above the date")
    content_checks(doc_type, rep, number=number.split("签发人")[0].strip() if number else None, title=title,
                   recipients=recipients, last_body=body[-3] if len(body) >= 3 else "", body=body[:-2])
    return rep
