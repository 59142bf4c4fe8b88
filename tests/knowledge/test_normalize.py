"""Messy OCR/PDF text normalization, with the offset map back to the original."""

from __future__ import annotations

from pathlib import Path

from hanlin.knowledge.chunk import chunk_blocks
from hanlin.knowledge.extract import extract
from hanlin.knowledge.normalize import normalize

DATA = Path(__file__).parent / "data"


def test_spaces_between_cjk_removed_latin_spaces_kept() -> None:
    n = normalize("中 国 汽 车 产 业 使 用 Python 编 程 ， the quick brown fox")
    assert n.text == "中国汽车产业使用 Python 编程，the quick brown fox"


def test_spaced_digits_and_units_rejoin() -> None:
    n = normalize("产 销 分 别 完 成 2 0 5 . 8 万 辆 ， 增 长 7 8 . 7 % 。")
    assert n.text == "产销分别完成205.8万辆，增长78.7%。"


def test_number_split_from_unit_across_lines() -> None:
    text = "全 年 汽 车 销 量 有 望 突 破 2800\n万 辆 ， 其 中 出 口 有 望 超 过 4 0 0 万 辆 。"
    assert "突破2800万辆，" in normalize(text).text


def test_mid_sentence_line_breaks_joined_paragraphs_kept() -> None:
    text = ("国家能源局近日发布的数据显示，一季度全国光伏新增装机3366万千瓦，同比\n"
            "增长154.8%。其中，集中式光伏新增1552万千瓦，分布式光伏新增1814万千\n"
            "瓦。\n"
            "　　第二段从这里开始，讲的是另外一件事情，内容与上一段没有关系。\n")
    out = normalize(text).text.split("\n")
    assert out[0] == ("国家能源局近日发布的数据显示，一季度全国光伏新增装机3366万千瓦，同比增长154.8%。"
                      "其中，集中式光伏新增1552万千瓦，分布式光伏新增1814万千瓦。")
    assert out[1].startswith("第二段从这里开始")


def test_full_lines_of_chinese_are_not_mistaken_for_short_ones_next_to_lines_with_digits() -> None:
    # the same printed width holds 16 Chinese characters or 13 characters and a number: counted in characters the
    # all-Chinese lines looked "short" (a paragraph end); counted in display width they are full lines
    text = ("全 年 城 镇 新 增 就 业 1269 万 人 ， 比 上 年 增 加 83 万\n"
            "人 。 数 据 显 示 ， 就 业 形 势 总 体 稳 定 ， 城 镇\n"
            "调 查 失 业 率 降 低 ， 2021 年 12 月 份 为 5.1% ，\n"
            "全 年 平 均 值 为 5.1% ， 低 于 5.5% 左 右 的 预 期 目\n"
            "标 。\n")
    assert normalize(text).text == ("全年城镇新增就业1269万人，比上年增加83万人。数据显示，就业形势总体稳定，城镇调查失业率降低，"
                                    "2021年12月份为5.1%，全年平均值为5.1%，低于5.5%左右的预期目标。")


def test_hyphenated_and_wrapped_latin_words() -> None:
    assert normalize("the quick brown\nfox jumps over the lazy dog and keeps run-\nning away").text == \
        "the quick brown fox jumps over the lazy dog and keeps running away"


def test_running_headers_and_page_numbers_dropped() -> None:
    page = "某 某 日 报    2023年6月{d}日    第 {p} 版\n正 文 第 {p} 页 的 内 容 ， 这 是 一 个 比 较 长 的 句 子 。\n\n- {p} -\n"
    text = "".join(page.format(d=i + 1, p=i + 3) for i in range(3))
    out = normalize(text).text
    assert "日报" not in out and "- 3 -" not in out
    assert out.count("正文第") == 3


def test_bare_number_followed_by_unit_is_not_a_page_number() -> None:
    assert "达到656万辆" in normalize("今 年 我 国 汽 车 出 口 量 达 到\n656\n万 辆 。").text


def test_offset_map_points_at_original_text() -> None:
    raw = "销 量 达 到 222.2\n万 辆 ， 市 场 占 有 率 达 到 2 5 . 8 % 。"
    n = normalize(raw)
    i = n.text.index("222.2万辆")
    start, end = n.span(i, i + len("222.2万辆"))
    assert raw[start:end] == "222.2\n万 辆"
    assert len(n.offsets) == len(n.text)


def test_newspaper_fixture_reads_as_written() -> None:
    data = (DATA / "newspaper_ocr.txt").read_bytes()
    source, chunks = chunk_blocks("doc", extract(data, "newspaper_ocr.txt"))
    text = "\n".join(c.text for c in chunks)
    for fact in ("新能源汽车销量达到222.2万辆", "全年汽车销量有望突破2800万辆", "光伏新增装机3366万千瓦",
                 "共设40个大项", "在酒泉卫星发射中心点火发射", "Travel agencies such as Trip.com reported"):
        assert fact in text
    assert "经济观察日报" not in text  # running header
    headings = {c.heading for c in chunks}
    assert "神舟十六号航天员顺利进驻空间站" in headings
    for c in chunks:  # every chunk cites a span of the original that holds its characters
        original = source[c.start:c.end].replace(" ", "").replace("\n", "")
        assert c.text[:6] in original


def test_side_by_side_columns_are_read_one_after_the_other() -> None:
    text = ("上海市政府昨日宣布，将在浦东新区建设        北京市教委发布通知，今年中考将于6月\n"
            "一座新的国际会议中心，总投资约120亿元，    24日至26日举行，全市共有约11万名考生\n"
            "预计2026年建成投入使用。该中心建筑面积     报名参加。考试科目包括语文、数学、外语\n"
            "达到50万平方米。                           等七门。\n")
    n = normalize(text)
    left, right = n.text.split("\n")
    assert left == "上海市政府昨日宣布，将在浦东新区建设一座新的国际会议中心，总投资约120亿元，预计2026年建成投入使用。该中心建筑面积达到50万平方米。"
    assert right == "北京市教委发布通知，今年中考将于6月24日至26日举行，全市共有约11万名考生报名参加。考试科目包括语文、数学、外语等七门。"
    i = n.text.index("24日至26日")
    start, end = n.span(i, i + 7)
    assert text[start:end] == "24日至26日"


def test_a_table_like_layout_is_not_split_into_columns() -> None:
    text = "姓名    部门    工号\n张三    财务    1001\n李四工程师    研发中心    1002\n王五    人事部门主管    1003\n"
    assert "张三" in normalize(text).text.split("\n")[1]


def _w(s: str) -> int:
    return sum(2 if ord(c) > 0x2E80 else 1 for c in s)


def _set(text: str, width: int) -> list[str]:
    """``text`` set in a column ``width`` Chinese characters wide (a digit takes half), the first line indented
    by two full-width spaces."""
    lines = [""]
    for c in "\u3000\u3000" + text:
        if _w(lines[-1] + c) > 2 * width:
            lines.append("")
        lines[-1] += c
    return lines


LEFT = ("上海市政府昨日宣布，将在浦东新区建设一座新的国际会议中心，总投资约120亿元，预计2026年建成投入使用。"
        "该中心建筑面积达到50万平方米，可同时容纳一万名参会者，将成为亚洲最大的会议中心之一。项目由市属国企负责建设和运营。")
RIGHT = "北京市教委发布通知，今年中考将于6月24日至26日举行，全市共有约11万名考生报名参加。考试科目包括语文、数学、外语等七门。"
WIDE = ("国家统计局今天发布数据，全年国内生产总值比上年增长百分之五点二，其中第一产业增加值增长百分之四点一，"
        "第二产业增加值增长百分之四点七，第三产业增加值增长百分之五点八，经济回升向好的态势进一步巩固。")


def test_columns_on_part_of_a_page_are_split_and_the_rest_of_the_page_stays_in_order() -> None:
    # two columns for a few lines (the right one starts with a paragraph indent), the left column runs on alone,
    # then a full-width article: each comes out whole, in reading order
    left, right = _set(LEFT, 16), _set(RIGHT, 16)
    col = 2 * 16 + 6
    lines = [a + " " * (col - _w(a)) + (right[i] if i < len(right) else "") for i, a in enumerate(left)]
    text = "\n".join([*lines, *_set(WIDE, 30)]) + "\n"
    assert normalize(text).text.split("\n") == [LEFT, RIGHT, WIDE]


def test_an_article_set_narrower_than_the_one_above_it_is_not_broken_at_every_line() -> None:
    # judged against the whole text, every line of the narrow article looked "short" (a paragraph end)
    narrow = "国家能源局近日发布数据显示，一季度全国光伏新增装机三千多万千瓦，同比增长一倍以上，其中分布式光伏占比过半，继续保持较快发展势头，行业前景被普遍看好。"
    text = "\n".join([*_set(WIDE, 30), *_set(narrow, 13)]) + "\n"
    assert normalize(text).text.split("\n") == [WIDE, narrow]


def test_short_lines_repeated_close_together_are_text_not_running_headers() -> None:
    text = ("全 国 谷 物 产 量 12655\n亿 斤 ， 比 上 年 增 加 320\n亿 斤 ， 增 长 2.6\n% 。 其 中 稻 谷 产 量 4257\n"
            "亿 斤 ， 比 上 年 增 加 20\n亿 斤 ， 增 长 0.5\n% ； 小 麦 产 量 2739\n亿 斤 ， 比 上 年 增 加 54\n"
            "亿 斤 ， 增 长 2.0\n% 。\n")
    assert normalize(text).text == ("全国谷物产量12655亿斤，比上年增加320亿斤，增长2.6%。其中稻谷产量4257亿斤，比上年增加20亿斤，"
                                    "增长0.5%；小麦产量2739亿斤，比上年增加54亿斤，增长2.0%。")
