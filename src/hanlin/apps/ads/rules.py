"""Rules checked by code for ad copy: each platform's length limits, and the absolute terms China's
Advertising Law (《中华人民共和国广告法》第九条第（三）项: 不得使用“国家级”“最高级”“最佳”等用语) forbids.

Lengths count in 汉字: a full-width character is 1, a half-width one (ASCII letter, digit) is ½, the way the
ad platforms count "字". The banned-term scan knows common false positives (最近, 第一季度, 100%纯棉…).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from hanlin.text import display_width

LAW = "《广告法》第九条第（三）项禁止使用“国家级”“最高级”“最佳”等绝对化用语"


@dataclass(frozen=True)
class Platform:
    name: str
    title_max: int  # 0 = the platform has no separate title
    text_max: int
    note: str

    def limits(self) -> dict[str, int]:
        return {"title": self.title_max, "text": self.text_max}


PLATFORMS: dict[str, Platform] = {p.name: p for p in (
    Platform("朋友圈", 0, 40, "朋友圈广告外层文案不超过 40 字"),
    Platform("公众号", 64, 120, "公众号图文：标题不超过 64 字，摘要不超过 120 字"),
    Platform("抖音", 0, 55, "抖音/巨量引擎创意标题不超过 55 字"),
    Platform("小红书", 20, 1000, "小红书笔记：标题不超过 20 字，正文不超过 1000 字"),
    Platform("搜索广告", 25, 80, "搜索推广：标题不超过 25 字（50 字符），描述不超过 80 字"),
)}


def ad_length(text: str) -> int:
    """Length in 汉字 as ad platforms count it: full-width 1, half-width ½, rounded up."""
    return math.ceil(display_width(text, ambiguous=1.0))


def truncate(text: str, limit: int) -> str:
    """Cut to ``limit`` 汉字, preferring the last sentence or clause boundary that fits."""
    if ad_length(text) <= limit:
        return text
    cut = ""
    for ch in text:
        if ad_length(cut + ch) > limit:
            break
        cut += ch
    for marks in ("。！？!?", "，；、,;"):
        idx = max(cut.rfind(m) for m in marks)
        if idx >= len(cut) // 2:
            return cut[:idx + 1] if cut[idx] in "。！？!?" else cut[:idx]
    return cut


# ---- banned absolute terms ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    pattern: str  # a regex
    replacement: str  # deterministic fallback
    allowed: tuple[str, ...] = ()  # words containing the match that are fine (最近, 第一季度…)


TERMS: tuple[Term, ...] = (
    Term("国家级", "专业"), Term("世界级", "高品质"), Term("全球级", "高品质"), Term("宇宙级", "高品质"),
    Term("最高级", "高级"), Term("最佳", "优质"), Term("最好", "很好"), Term("最优", "优质"), Term("最强", "强劲"),
    Term("最受欢迎", "广受欢迎"), Term("最安全", "安全可靠"), Term("最低价?", "实惠"), Term("最便宜", "实惠"),
    Term("最", "", allowed=("最近", "最后", "最终", "最初", "最新")),
    Term("(?:全网|全国|全球|行业|销量|世界)第一", "广受欢迎"), Term("第一品牌", "知名品牌"), Term("第一名", "前列"),
    Term("第一", "领先", allowed=("第一季度", "第一次", "第一步", "第一天", "第一期", "第一章", "第一条", "第一批",
                                 "第一时间", "第一届", "第一轮", "第一阶段", "第一部分", "第一周", "第一眼", "第一口",
                                 "第一个月", "第一年")),
    Term("(?i:NO\\.?\\s?1|TOP\\s?1)(?!\\d)", ""), Term("唯一", "理想"), Term("首个", "新一代"), Term("首家", "专业"),
    Term("首选", "优选"), Term("独家", "特色"), Term("顶级", "高端"), Term("顶尖", "出色"), Term("极致", "出色"), Term("极品", "精品"),
    Term("绝对", "十分", allowed=("绝对值",)), Term("万能", "多用途"), Term("独一无二", "独具特色"),
    Term("史无前例", "焕然一新"), Term("前无古人", "焕然一新"), Term("销量冠军", "热销"), Term("王牌", "招牌"),
    Term("(?:领导|领袖|领先)品牌", "知名品牌"), Term("遥遥领先", "表现出色"), Term("百分之百", "充分"),
    Term("100\\s?%", "", allowed=("100%纯棉", "100%棉", "100%羊毛", "100%桑蚕丝", "100%纯羊毛")),
    Term("永久", "长期", allowed=("永久居民",)),
)


@dataclass
class Finding:
    term: str  # the text that matched
    start: int
    reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _allowed_here(text: str, start: int, end: int, allowed: tuple[str, ...]) -> bool:
    for word in allowed:
        for m in re.finditer(re.escape(word), text):
            if m.start() <= start and end <= m.end():
                return True
    return False


def find_banned(text: str) -> list[Finding]:
    """Every banned absolute term in ``text``, longest match first, with the legal reason."""
    found: list[Finding] = []
    covered: set[int] = set()
    for term in TERMS:
        for m in re.finditer(term.pattern, text):
            span = set(range(m.start(), m.end()))
            if span & covered or _allowed_here(text, m.start(), m.end(), term.allowed):
                continue
            covered |= span
            found.append(Finding(m.group(0), m.start(), f"含绝对化用语“{m.group(0)}”：{LAW}"))
    return sorted(found, key=lambda f: f.start)


def rewrite_banned(text: str) -> str:
    """Deterministic fallback: replace each banned term (longest rules first), then tidy the seams."""
    out = text
    for _ in range(3):  # a replacement never introduces a term, but overlapping rules may need a second pass
        if not find_banned(out):
            break
        for term in TERMS:
            out = _sub_outside_allowed(out, term)
    out = re.sub(r"的的", "的", out)
    out = re.sub(r"\s{2,}", " ", out).strip()
    return out


def _sub_outside_allowed(text: str, term: Term) -> str:
    parts: list[str] = []
    last = 0
    for m in re.finditer(term.pattern, text):
        if _allowed_here(text, m.start(), m.end(), term.allowed):
            continue
        parts += [text[last:m.start()], term.replacement]
        last = m.end()
    return "".join(parts) + text[last:]


# ---- numbers the product description does not support ---------------------------------------------------

# figures a claim rests on: Arabic numbers, ratios such as 一对四, and Chinese numerals before a measure word
# (``一`` alone is left out: 一杯, 一次, 一份 are no claims)
_NUMBER = re.compile(r"一对[一二两三四五六七八九十\d]+|\d+(?:\.\d+)?|"
                     r"[两三四五六七八九十百千万][零一二两三四五六七八九十百千万]*(?=[个人年月天倍折元岁次件位节款种层])")


def unsupported_numbers(text: str, source: str) -> list[str]:
    """Numbers in the copy that the product description never states (a small model invents 1000毫升 for
    500毫升). 《广告法》第十一条: data used in an ad must be true and accurate."""
    known = set(_NUMBER.findall(source))
    return [n for n in dict.fromkeys(_NUMBER.findall(text)) if n not in known]


def drop_clauses_with(text: str, numbers: list[str]) -> str:
    """Deterministic fallback: remove each clause that carries an unsupported number."""
    if not numbers:
        return text
    pieces = re.split(r"(?<=[，,。！!？?；;])", text)
    bad = re.compile(r"(?<![\d.])(?:" + "|".join(map(re.escape, numbers)) + r")(?![\d.])")
    kept = "".join(p for p in pieces if not bad.search(p)).strip("，,；; ")
    return kept


def dedupe_clauses(text: str) -> str:
    """"送杯套，送杯套，送杯套" → "送杯套": a small model loops on a clause; keep its first occurrence."""
    pieces = re.split(r"(?<=[，,。！!？?；;、])", text)
    seen: set[str] = set()
    out: list[str] = []
    for piece in pieces:
        key = piece.rstrip("，,。！!？?；;、 ").strip()
        if key and key in seen:
            continue
        seen.add(key)
        out.append(piece)
    kept = "".join(out).rstrip("，,；;、")
    return kept or text
