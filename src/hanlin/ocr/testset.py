"""A scanned-page test set built in code, and the measures of OCR quality on it.

Pages are rendered from known Chinese text with the CJK fonts the test script installs (Noto Sans/Serif CJK,
WenQuanYi Zen Hei, AR PL UMing/UKai): one- and two-column layouts under a headline, tables, several fonts and
sizes, then degraded like real scans (skew, a page turned by 90° or 180°, noise, blur, JPEG artefacts).
Each page knows its text in reading order, so OCR output is scored by character error rate (CER, whitespace
ignored) and by reading-order errors (consecutive paragraphs found in the wrong order).
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FONT_CANDIDATES = {
    "noto-sans": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # index 2 = SC
    "noto-serif": ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    "noto-sans-bold": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    "wqy-zenhei": ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    "arphic-uming": ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    "arphic-ukai": ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0),
}
A4_INCHES = (8.27, 11.69)

SAMPLE_PARAGRAPHS = [
    "国家统计局今天发布数据，1至10月全国规模以上工业企业实现利润总额58215亿元，同比增长3.2%。其中，高技术制造业利润增长较快，"
    "电子设备制造业利润同比增长15.6%，对全部规模以上工业企业利润增长的拉动作用明显增强。",
    "记者从省交通运输厅获悉，今年前三季度全省完成交通固定资产投资1269亿元，新建改建农村公路4800公里。"
    "沿江高铁合肥至武汉段全线开工建设，预计2028年建成通车，届时两地最快1小时可达。",
    "市教育局表示，今年秋季学期全市新增公办学位3.2万个，新建、改扩建中小学和幼儿园46所。"
    "为缓解入学压力，教育部门将继续推进集团化办学，让更多孩子在家门口上好学校。",
    "据气象部门预报，受冷空气影响，本周后期我省大部地区将出现明显降温，过程降温幅度可达8至10摄氏度，"
    "北部山区最低气温将降至零下3摄氏度左右，请公众注意防寒保暖。",
    "第二届数字经济博览会昨日闭幕。本届博览会共吸引来自32个国家和地区的860家企业参展，现场签约项目127个，"
    "签约总金额达到465亿元，涉及人工智能、工业互联网、智能网联汽车等领域。",
    "一、总体要求。坚持以人民为中心的发展思想，持续改善城乡人居环境，到2027年，城市生活垃圾回收利用率达到40%以上，"
    "农村卫生厕所普及率稳步提高。",
]
SAMPLE_TABLE = [["地区", "产量（万吨）", "同比增长", "占比"], ["华东", "1256.3", "4.2%", "31.5%"],
                ["华北", "873.9", "2.8%", "21.9%"], ["华南", "640.2", "5.1%", "16.0%"], ["西部", "1218.6", "3.6%", "30.6%"]]


def available_fonts() -> dict[str, tuple[str, int]]:
    return {k: v for k, v in FONT_CANDIDATES.items() if Path(v[0]).exists()}


def _font(name: str, px: int) -> Any:
    from PIL import ImageFont

    path, index = available_fonts()[name]
    return ImageFont.truetype(path, px, index=index, layout_engine=ImageFont.Layout.BASIC)


@dataclass
class Page:
    image: Any  # PIL RGB
    paragraphs: list[str]  # reading order: headline, paragraphs, table rows ("cell cell ...")
    tags: dict[str, Any] = field(default_factory=dict)
    rest: list[str] = field(default_factory=list)  # paragraphs that did not fit (for the next page)

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


def _wrap(text: str, font: Any, width: float, indent: float) -> list[str]:
    lines, cur, used = [], "", indent
    for c in text:
        w = font.getlength(c)
        if cur and used + w > width:
            lines.append(cur)
            cur, used = "", 0.0
        cur += c
        used += w
    if cur:
        lines.append(cur)
    return lines


class _Canvas:
    def __init__(self, dpi: int, height_in: float = A4_INCHES[1]) -> None:
        from PIL import Image, ImageDraw

        self.dpi = dpi
        self.w, self.h = int(A4_INCHES[0] * dpi), int(height_in * dpi)
        self.image = Image.new("RGB", (self.w, self.h), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.margin = int(0.8 * dpi)
        self.heading_font = "noto-sans-bold"

    def px(self, pt: float) -> int:
        return max(6, round(pt * self.dpi / 72))

    def paragraphs(self, texts: list[str], font: Any, x0: int, x1: int, y: int, y_max: int,
                   spacing: float = 1.55) -> tuple[int, list[str], list[str]]:
        """Draw paragraphs into the column [x0, x1] from y; returns (new y, drawn paragraphs, left over)."""
        size = font.size
        drawn: list[str] = []
        for i, text in enumerate(texts):
            if text.startswith("## "):  # a subheading inside the column
                sub = _font(self.heading_font, round(size * 1.35))
                if y + sub.size * 3 + size * spacing * 2 > y_max:
                    return y, drawn, texts[i:]
                y += int(sub.size * 0.5)
                self.draw.text((x0, y), text[3:], font=sub, fill=(0, 0, 0))
                y += int(sub.size * 1.7)
                drawn.append(text[3:])
                continue
            lines = _wrap(text, font, x1 - x0, 2 * size)
            if y + len(lines) * size * spacing > y_max:
                fit = max(0, int((y_max - y) / (size * spacing)))
                if fit < 2:
                    return y, drawn, texts[i:]
                cut = sum(len(ln) for ln in lines[:fit])
                lines = lines[:fit]
                texts = [*texts[:i], text[:cut], text[cut:], *texts[i + 1:]]
                text = text[:cut]
            for j, ln in enumerate(lines):
                self.draw.text((x0 + (2 * size if j == 0 else 0), y), ln, font=font, fill=(20, 20, 20))
                y += int(size * spacing)
            drawn.append(text)
        return y, drawn, []

    def centered(self, text: str, font: Any, y: int) -> int:
        w = font.getlength(text)
        self.draw.text(((self.w - w) / 2, y), text, font=font, fill=(0, 0, 0))
        return y + int(font.size * 1.8)

    def table(self, rows: list[list[str]], font: Any, y: int) -> int:
        x0, x1 = self.margin, self.w - self.margin
        cw = (x1 - x0) / len(rows[0])
        rh = int(font.size * 2.0)
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                self.draw.text((x0 + c * cw + font.size * 0.6, y + r * rh + font.size * 0.45), cell, font=font,
                               fill=(0, 0, 0))
        for r in range(len(rows) + 1):
            self.draw.line([(x0, y + r * rh), (x1, y + r * rh)], fill=(90, 90, 90), width=max(1, self.dpi // 150))
        return y + len(rows) * rh + int(font.size * 1.5)


def render_page(headline: str, paragraphs: list[str], *, dpi: int = 150, columns: int = 1,
                font: str = "noto-serif", size_pt: float = 10.5, table: list[list[str]] | None = None,
                headline_font: str = "noto-sans-bold", height_in: float = A4_INCHES[1]) -> Page:
    """A page in reading order: the headline, the paragraphs (flowing down column 1 then column 2; what does not
    fit is left out; "## " starts a subheading), a table. ``height_in`` below A4's 11.69 makes a smaller,
    quicker test page."""
    cv = _Canvas(dpi, height_in)
    cv.heading_font = headline_font
    body = _font(font, cv.px(size_pt))
    y = cv.centered(headline, _font(headline_font, cv.px(size_pt * 2)), cv.margin)
    y += cv.px(size_pt)
    y_max = cv.h - cv.margin - (len(table) * cv.px(size_pt) * 2 + cv.px(size_pt) * 3 if table else 0)
    gutter = cv.px(size_pt) * 2
    col_w = (cv.w - 2 * cv.margin - (columns - 1) * gutter) / columns
    order, left = [headline], list(paragraphs)
    bottom = y
    for c in range(columns):
        x0 = int(cv.margin + c * (col_w + gutter))
        end, drawn, left = cv.paragraphs(left, body, x0, int(x0 + col_w), y, y_max)
        order += drawn
        bottom = max(bottom, end)
        if not left:
            break
    if table:
        cv.table(table, body, bottom + cv.px(size_pt))
        order += [" ".join(r) for r in table]
    return Page(cv.image, [p for p in order if p], {"dpi": dpi, "columns": columns, "font": font,
                                                      "size_pt": size_pt, "table": bool(table)}, left)


# ---- degradations
def skewed(img: Any, degrees: float) -> Any:
    return img.rotate(degrees, resample=3, expand=False, fillcolor="white")


def turned(img: Any, degrees: int) -> Any:
    """The page turned counter-clockwise by 90, 180 or 270 degrees (as a scanner feeding it sideways would)."""
    return img.rotate(degrees, expand=True)


def noisy(img: Any, rng: random.Random, sigma: float = 12.0, specks: float = 0.002, blur: float = 0.6) -> Any:
    from PIL import Image, ImageFilter

    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(img).astype(np.float32)
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    arr += nrng.normal(0, sigma, arr.shape[:2])[:, :, None]
    mask = nrng.random(arr.shape[:2])
    arr[mask < specks / 2] = 0
    arr[mask > 1 - specks / 2] = 255
    arr = arr * 0.92 + 235 * 0.08  # greyish paper
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def jpeg(img: Any, quality: int = 35) -> Any:
    from PIL import Image

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def image_bytes(img: Any, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def pdf_bytes(images: list[Any], dpi: int = 150) -> bytes:
    """An image-only PDF (a scan): one page per image."""
    buf = io.BytesIO()
    images[0].save(buf, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return buf.getvalue()


# ---- measures
_WS = re.compile(r"\s+")
_FOLD = str.maketrans("，。：；！？（）％，", ",.:;!?()%,")


def canon(text: str) -> str:
    """Text as scored: no whitespace, full-width punctuation folded to ASCII (a scan does not tell them apart)."""
    return _WS.sub("", text).translate(_FOLD).replace("|", "")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one numpy row at a time (insertions via a running minimum)."""
    if not a:
        return len(b)
    if not b:
        return len(a)
    bb = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    idx = np.arange(len(b) + 1)
    prev = idx.copy()
    for i, ch in enumerate(a, 1):
        code = ord(ch)
        cur = np.empty_like(prev)
        cur[0] = i
        cur[1:] = np.minimum(prev[1:] + 1, prev[:-1] + (bb != code))
        cur = np.minimum.accumulate(cur - idx) + idx
        prev = cur
    return int(prev[-1])


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = canon(reference), canon(hypothesis)
    return edit_distance(ref, hyp) / max(1, len(ref))


def _find(anchor: str, hyp: str) -> int:
    for n in (12, 8, 6):
        for start in range(0, max(1, len(anchor) - n + 1), max(1, n // 2)):
            piece = anchor[start:start + n]
            if len(piece) == n:
                pos = hyp.find(piece)
                if pos >= 0:
                    return max(0, pos - start)
    return -1


def order_errors(paragraphs: list[str], hypothesis: str) -> tuple[int, int]:
    """(consecutive paragraph pairs read in the wrong order, paragraphs not found) — paragraphs are located in the
    hypothesis by a few of their characters."""
    hyp = canon(hypothesis)
    pos = [_find(canon(p), hyp) for p in paragraphs if len(canon(p)) >= 6]
    found = [p for p in pos if p >= 0]
    wrong = sum(1 for a, b in zip(found, found[1:], strict=False) if b < a)
    return wrong, len(pos) - len(found)


def newspaper_articles(eval_dir: Path, n: int, skip: int = 0) -> list[str]:
    """Real news passages (RGB zh dev positives) of 120–500 characters, for newspaper pages."""
    import json

    out: list[str] = []
    seen: set[str] = set()
    with open(eval_dir / "rgb_zh" / "zh_refine_dev.jsonl", encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            for p in item.get("positive", []):
                p = _WS.sub("", p)
                if 120 <= len(p) <= 500 and p not in seen:
                    seen.add(p)
                    out.append(p)
                    break
            if len(out) >= skip + n:
                break
    return out[skip:]
