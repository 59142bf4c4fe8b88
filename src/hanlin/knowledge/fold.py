"""Unicode folding for Chinese documents and queries: look-alike code points → the characters people type.

A Chromium-printed PDF stores many CJK characters as Kangxi radicals (⼀ U+2F00, ⽔ U+2F54, ⽓ U+2F53, ⾃ U+2F83)
or CJK radical-supplement forms (⻓ ⻔ ⻢): they look right on the page but match nothing a user types. NFKC maps
the Kangxi radicals and the CJK compatibility ideographs (U+F900–FAFF, U+2F800–2FA1F) to the unified ideographs;
the radical-supplement forms have no NFKC mapping, so the common ones are listed below (Unicode's
EquivalentUnifiedIdeograph data). Full-width letters and digits become ASCII ("２０２４" → "2024", so figures match).

Only single code points that fold to a single code point are changed, so the text keeps its length and every
offset (citations' spans) stays valid. Full-width *punctuation* (，：（）) is kept: it is how Chinese is written.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# CJK Radicals Supplement → unified ideograph (no NFKC decomposition except U+2E9F and U+2EF3)
_RADICALS_SUPPLEMENT = {
    "⺅": "亻", "⺊": "卜", "⺌": "小", "⺗": "心", "⺝": "月", "⺟": "母", "⺠": "民", "⺡": "氵", "⺧": "牛",
    "⺨": "犭", "⺩": "王", "⺪": "疋", "⺫": "罒", "⺬": "示", "⺭": "礻", "⺮": "竹", "⺶": "羊", "⺼": "月",
    "⺾": "艹", "⻁": "虎", "⻂": "衤", "⻃": "覀", "⻄": "西", "⻅": "见", "⻆": "角", "⻈": "讠", "⻉": "贝",
    "⻊": "足", "⻋": "车", "⻌": "辶", "⻏": "阝", "⻑": "長", "⻓": "长", "⻔": "门", "⻖": "阝", "⻗": "雨",
    "⻘": "青", "⻙": "韦", "⻚": "页", "⻛": "风", "⻜": "飞", "⻝": "食", "⻟": "飠", "⻠": "饣", "⻢": "马",
    "⻣": "骨", "⻤": "鬼", "⻥": "鱼", "⻦": "鸟", "⻧": "卤", "⻨": "麦", "⻩": "黄", "⻪": "黾", "⻬": "齐",
    "⻮": "齿", "⻰": "龙", "⻳": "龟",
}
_RANGES = ((0x2F00, 0x2FD5), (0x2E80, 0x2EF3), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
           (0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
_EXTRA = {"\u00a0": " ", "％": "%", "．": "."}  # no-break space; full-width percent and full stop in figures


@lru_cache(maxsize=1)
def _table() -> dict[int, str]:
    table: dict[int, str] = {}
    for lo, hi in _RANGES:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            folded = _RADICALS_SUPPLEMENT.get(ch) or unicodedata.normalize("NFKC", ch)
            if len(folded) == 1 and folded != ch:
                table[cp] = folded
    table.update({ord(k): v for k, v in _EXTRA.items()})
    return table


def fold(text: str) -> str:
    """``text`` with look-alike code points folded (same length: offsets stay valid)."""
    return text.translate(_table())
