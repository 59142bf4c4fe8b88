"""Chinese text helpers shared by every layer: display width of CJK text and the patterns of Chinese-numbered
headings. The one place these live; features import them rather than keep their own copy."""

from __future__ import annotations

import re
import unicodedata

CN_DIGITS = "一二三四五六七八九十"  # section numbers 一 … 十 (一、 （一） 第一章)
CN_WIDE_PUNCT = "“”‘’…—·"  # full-width in a Chinese font although Unicode calls them East Asian Ambiguous

# The starts of a Chinese heading line. Each is a regex fragment; combine them with ``|``.
HEADING_CHAPTER = r"第[一二三四五六七八九十百零〇\d]+[章节条部分篇]"  # 第一章 第3条 第二部分
HEADING_ENUM = rf"[{CN_DIGITS}]+、"  # 一、
HEADING_PAREN = rf"（[{CN_DIGITS}]+）"  # （一）
HEADING_DECIMAL = r"\d+(\.\d+)*[、.．]"  # 1. 1.2. 3、
CN_HEADING = f"{HEADING_CHAPTER}|{HEADING_ENUM}|{HEADING_PAREN}"
CN_HEADING_START = re.compile(rf"^({CN_HEADING})")  # a line that starts like 第一章 / 一、 / （一）


def char_width(c: str, *, ambiguous: float = 0.5, wide: str = "") -> float:
    """Width of one character in full-width (汉字) units: East Asian Wide/Full-width 1, the rest ½.
    ``ambiguous``: what an East Asian Ambiguous character (“ ” … — · ①) counts; ``wide``: characters that count 1
    whatever their class."""
    if c in wide:
        return 1.0
    cls = unicodedata.east_asian_width(c)
    if cls in ("W", "F"):
        return 1.0
    return ambiguous if cls == "A" else 0.5


def display_width(text: str, *, ambiguous: float = 0.5, wide: str = "") -> float:
    """Width of ``text`` in full-width (汉字) units; see :func:`char_width`. Twice this is its monospace columns."""
    return sum(char_width(c, ambiguous=ambiguous, wide=wide) for c in text)


def columns(text: str) -> int:
    """Columns ``text`` takes in a monospaced Chinese layout: full-width characters two, the rest one; the
    punctuation a Chinese font sets full-width (“ ” ‘ ’ … — ·) counts two although Unicode calls it ambiguous."""
    return round(2 * display_width(text, wide=CN_WIDE_PUNCT))


def cn_index(n: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十, 35 → 三十五 (for 1 ≤ n ≤ 99)."""
    if n <= 10:
        return CN_DIGITS[n - 1]
    if n < 20:
        return "十" + CN_DIGITS[n - 11]
    tens, ones = divmod(n, 10)
    return CN_DIGITS[tens - 1] + "十" + (CN_DIGITS[ones - 1] if ones else "")
