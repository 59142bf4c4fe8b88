"""hanlin.text: the one CJK width and the one set of Chinese heading patterns."""

from __future__ import annotations

import math

from hanlin.apps.ads.rules import ad_length
from hanlin.apps.documents.register import title_width
from hanlin.knowledge.normalize import is_cjk
from hanlin.text import CN_HEADING_START, cn_index, columns, display_width


def test_display_width_counts_full_width_one_and_half_width_half() -> None:
    assert display_width("关于2024年") == 3 + 2  # three 汉字, four digits at ½
    assert display_width("（一）ABC") == 3 + 1.5
    assert display_width("“好”") == 2  # ambiguous quotes count ½ by default …
    assert display_width("“好”", ambiguous=1.0) == 3  # … 1 for ad platforms …
    assert display_width("“好”", wide="“”") == 3  # … or when named wide


def test_the_callers_keep_their_own_rules() -> None:
    assert ad_length("新品上市“限时”") == math.ceil(display_width("新品上市“限时”", ambiguous=1.0)) == 8
    assert title_width("关于“十四五”规划的通知") == 12  # quotes full-width in a 公文 title
    assert title_width("关于2024年工作的通知") == 8 + 2


def test_columns_match_the_old_cjk_rule_on_chinese_text() -> None:
    text = "第一章 总则“引号”…—·，。（一）ABC 123 ％①×°、《》〔〕"
    assert columns(text) == sum(2 if is_cjk(c) else 1 for c in text)


def test_heading_start() -> None:
    for line in ("第一章 总则", "第12条 规定", "第二部分", "一、总体要求", "（三）工作安排"):
        assert CN_HEADING_START.match(line), line
    for line in ("一是加强领导", "第一次会议", "1. 概述", "(一) 半角括号"):
        assert not CN_HEADING_START.match(line), line


def test_cn_index() -> None:
    assert [cn_index(n) for n in (1, 10, 11, 20, 35)] == ["一", "十", "十一", "二十", "三十五"]
