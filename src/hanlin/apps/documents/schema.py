"""The document model shared by the writer, the checks and the text renderers, and the JSON schema the model
fills per document type.

The model drafts content only (title, 主送机关, body paragraphs with heading levels, 附件说明, 署名, 日期);
numbering, fonts, margins and placement belong to code (writer.py), so a weak draft still gives a correct page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date as _date
from typing import Any

DOC_TYPES = ("通知", "请示", "报告", "函", "纪要", "通报", "意见", "决定")

# 上行文 go up to a superior body; GB/T 9704 puts their 发文字号 left with 签发人 right.
UPWARD_TYPES = ("请示", "报告")
# Types addressed to exactly one 主送机关 (请示: "一文一事、只主送一个上级机关"; 函: one party).
SINGLE_RECIPIENT_TYPES = ("请示", "函")
REQUEST_ENDINGS = ("请批示", "请审批", "请批准", "请予批准", "请审示", "请核准", "请予审批", "请指示", "请批复")

HEADING_LEVELS = (0, 1, 2, 3, 4)  # 0 = body text; 1 一、 2 （一） 3 1. 4 （1）

_CN_DIGITS = {"〇": 0, "零": 0, "○": 0, "Ｏ": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
NUMBER_RE = re.compile(r"^[\u4e00-\u9fffA-Za-z]{2,}〔\d{4}〕[1-9]\d*号$")
DATE_RE = re.compile(r"^\d{4}年(1[0-2]|[1-9])月(3[01]|[12]\d|[1-9])日$")


@dataclass
class Paragraph:
    text: str
    level: int = 0  # 0 body; 1..4 heading levels 一、（一）1.（1）


@dataclass
class OfficialDocument:
    """Everything the GB/T 9704 writer needs. Reused by the minutes app for 纪要 (set ``header_text``)."""

    doc_type: str
    title: str
    paragraphs: list[Paragraph]
    org: str = ""  # 发文机关 (版头 and default 署名)
    number: str = ""  # 发文字号, e.g. 国办发〔2026〕12号
    to: list[str] = field(default_factory=list)  # 主送机关
    attachments: list[str] = field(default_factory=list)  # 附件说明
    signature: str = ""  # 发文机关署名 (defaults to org)
    date: str = ""  # 成文日期, Arabic numerals: 2026年11月25日
    header_text: str = ""  # 发文机关标志; default "<org>文件" ("<org>" for 函, "<org>会议纪要" for 纪要)
    signer: str = ""  # 签发人 (上行文 only)
    cc: list[str] = field(default_factory=list)  # 抄送机关 (版记)
    repairs: list[str] = field(default_factory=list)  # register rules code applied to the draft (register.py)

    @property
    def banner(self) -> str:
        if self.header_text:
            return self.header_text
        if not self.org:
            return ""
        if self.doc_type == "纪要":
            return self.org if self.org.endswith("纪要") else f"{self.org}会议纪要"
        return self.org if self.doc_type == "函" else f"{self.org}文件"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.doc_type, "title": self.title, "org": self.org, "number": self.number, "to": self.to,
                "paragraphs": [{"level": p.level, "text": p.text} for p in self.paragraphs],
                "attachments": self.attachments, "signature": self.signature, "date": self.date,
                "banner": self.banner}


def draft_schema(doc_type: str) -> dict[str, Any]:
    """What the model fills: content only. 请示/函 allow exactly one 主送机关; 纪要 none."""
    to_items = {"type": "string", "minLength": 2, "maxLength": 30}
    if doc_type in SINGLE_RECIPIENT_TYPES:
        to_schema: dict[str, Any] = {"type": "array", "items": to_items, "minItems": 1, "maxItems": 1}
    elif doc_type == "纪要":
        to_schema = {"type": "array", "items": to_items, "maxItems": 0}
    else:
        to_schema = {"type": "array", "items": to_items, "minItems": 1, "maxItems": 4}
    return {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 4, "maxLength": 40},
            "to": to_schema,
            "paragraphs": {"type": "array", "minItems": 2, "maxItems": 12, "items": {
                "type": "object",
                "properties": {"level": {"type": "integer", "enum": list(HEADING_LEVELS)},
                               "text": {"type": "string", "minLength": 2, "maxLength": 300}},
                "required": ["level", "text"]}},
            "attachments": {"type": "array", "maxItems": 3,
                            "items": {"type": "string", "minLength": 2, "maxLength": 40}},
            "signature": {"type": "string", "maxLength": 30},
            "date": {"type": "string", "maxLength": 20},
        },
        "required": ["title", "to", "paragraphs", "attachments", "signature", "date"],
    }


# ---- normalization of user and model values -------------------------------------------------------------

def normalize_number(number: str) -> str:
    """国办发[2026]012号 / 国办发(2026)12号 / 国办发〔2026〕12 → 国办发〔2026〕12号 (GB: 六角括号, no leading 0)."""
    s = re.sub(r"\s+", "", number or "")
    if not s:
        return ""
    m = re.match(r"^(.*?)[\[\(（【〔［](\d{4})[\]\)）】〕］]0*(\d+)号?$", s)
    return f"{m.group(1)}〔{m.group(2)}〕{m.group(3)}号" if m else s


def _cn_number(s: str) -> int | None:
    """二〇二六 → 2026 (digit by digit); 十一 → 11, 二十五 → 25, 三十 → 30."""
    if not s:
        return None
    if "十" in s:
        tens, _, ones = s.partition("十")
        t = _CN_DIGITS.get(tens, -1) if tens else 1
        o = _CN_DIGITS.get(ones, -1) if ones else 0
        return None if t < 0 or o < 0 else t * 10 + o
    digits = [_CN_DIGITS.get(c, -1) for c in s]
    return None if any(d < 0 for d in digits) else int("".join(map(str, digits)))


def normalize_date(value: str | None, *, default: _date | None = None) -> str:
    """2026-11-25 / 2026/11/25 / 2026年11月25日 / 二〇二六年十一月二十五日 → 2026年11月25日.

    Empty or unreadable values give ``default`` (today when None)."""
    s = re.sub(r"\s+", "", value or "")
    m = re.match(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$", s)
    parts: tuple[int | None, ...] | None = None
    if m:
        parts = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    else:
        m = re.match(r"^([〇零○Ｏ一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月([一二三四五六七八九十]{1,3})日$", s)
        if m:
            parts = (_cn_number(m.group(1)), _cn_number(m.group(2)), _cn_number(m.group(3)))
    if parts and all(p is not None for p in parts):
        y, mo, d = (int(p) for p in parts if p is not None)
        try:
            _date(y, mo, d)
            return f"{y}年{mo}月{d}日"
        except ValueError:
            pass
    d0 = default or _date.today()
    return f"{d0.year}年{d0.month}月{d0.day}日"


_NUMBERING_RE = re.compile(
    r"^\s*(?:[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十]+[）)]|\d+[.．、]|[（(]\d+[）)]|第[一二三四五六七八九十]+[条章部分]、?)\s*")


def strip_numbering(text: str) -> str:
    """The model often writes its own 一、/（一）/1.; code numbers headings, so drop the model's."""
    return _NUMBERING_RE.sub("", text, count=1).strip()


def ensure_title(title: str, doc_type: str) -> str:
    """A 公文 title names its type: 关于……的通知. Append the type when the draft forgot it."""
    t = re.sub(r"\s+", "", title or "").strip("《》\"“”")
    if not t:
        t = f"关于有关事项的{doc_type}"
    if doc_type == "纪要":
        return t if t.endswith("纪要") else t + "纪要"
    if not t.endswith(doc_type):
        t = t + ("的" if not t.endswith("的") else "") + doc_type if t.startswith("关于") else t + doc_type
    return t
