"""Views in reported speech (views.py): a copied view is worded by code instead of dropped, and a main speaker the
model left out gets a stance sentence of their own — never a commitment or a correction."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from hanlin.apps.minutes.pipeline import Options, make_minutes
from hanlin.apps.minutes.transcript import parse_transcript
from hanlin.apps.minutes.views import copies, reported
from hanlin.engine.fake import FakeEngine


@pytest.mark.parametrize(("said", "view"), [
    ("我建议把发布会提前到十月八日。", "建议把发布会提前到十月八日"),
    ("嗯，我觉得这个方案的成本太高了，我们应该先做小范围试点。", "认为这个方案的成本太高了，我们应该先做小范围试点"),
    ("我不同意，这样做风险太大。", "不同意，这样做风险太大"),
    ("不行，版本来不及。", "不同意，版本来不及"),
    ("那个，我个人认为区块链本质上是一种底层协作工具。", "认为区块链本质上是一种底层协作工具"),
    ("还有一个问题，改版后的首页要不要加直播入口？", "提出改版后的首页要不要加直播入口的问题"),
    ("其实我们现在人手不够，客服排班排不过来。", "认为我们现在人手不够，客服排班排不过来"),
    ("我担心我手上的项目会延期。", "担心自己手上的项目会延期"),
    ("直播入口我觉得这次先不要加，工作量太大。", "认为直播入口这次先不要加，工作量太大"),  # a short topic stays
    ("刚才大家讲了很多，关于去中心化的问题，我觉得两者是并存的。", "认为两者是并存的"),  # a long run-up goes
    ("我我觉得，这个这个方案其实可以再等等。", "认为这个方案可以再等等"),  # stutters and fillers
    ("我觉得天天加班不是办法。", "认为天天加班不是办法"),  # a doubled word that is no stutter stays
])
def test_reported_speech(said: str, view: str) -> None:
    r = reported(said)
    assert r is not None and r.text == view


@pytest.mark.parametrize("said", ["我同意。", "好的。", "嗯嗯，对对对。", "我觉得可以。", "我说一下市场活动。",
                                  "下面我汇报一下三季度的销售情况。"])
def test_a_sentence_that_says_nothing_is_no_view(said: str) -> None:
    assert reported(said) is None


def test_a_view_is_one_clause_at_most_thirty_characters() -> None:
    r = reported("我觉得我们这个季度的投放预算应该往短视频平台倾斜，因为去年的数据显示转化率高出很多，而且成本更低。")
    assert r is not None and len(r.text) <= 30 and r.text.startswith("认为")


def test_a_point_cut_mid_thought_is_not_whole() -> None:
    cut = reported("所以我觉得简单来说，网络咨询对于咨询师的共情感受能力、表达能力，还有个案化的能力要求都更高。")
    dependent = reported("我觉得因此对于一个刚开始从事心理咨询的新手来说，网络咨询不合适。")
    assert cut is not None and not cut.whole and dependent is not None and not dependent.whole
    whole = reported("我觉得网络咨询更适合短程的结构化咨询。")
    assert whole is not None and whole.whole


def test_what_counts_as_a_copy() -> None:
    line = "机器人那块可以换一个新的知识库，我们之前评估过，准确率能到八成。"
    people = ["孙浩", "陈晨"]
    assert copies("机器人那块可以换一个新的知识库，我们之前评估过", line, people)  # verbatim at length
    assert copies("我每周统计响应时间。陈晨：还有一个", line, people)  # runs on into the next digest line
    assert copies("准确率能到八成…", line, people)  # the digest's elision mark
    assert not copies("主张更换客服机器人的知识库", line, people)  # a point in other words
    assert not copies("结论：换知识库", line, people)  # a colon is not a speaker
    crowd = [f"发言人{i}" for i in range(20_000)] + people  # a transcript naming thousands of speakers
    assert copies("我每周统计响应时间。发言人19999：还有", line, crowd) and not copies("结论：换知识库", line, crowd)


MEETING = "\n".join([
    "孙浩：机器人那块可以换一个新的知识库，我们之前评估过，准确率能到八成。",  # 0
    "陈晨：还有一个问题，改版后的首页要不要加直播入口？",  # 1
    "王芳：我觉得直播入口现在加太早了，用户量还不够，应该等下个季度再说。",  # 2
    "周敏：好的，我来整理客服排班表，周五前发给大家。",  # 3
    "王芳：另外客服人手也不够。",  # 4
    "周敏：我更正一下，排班表下周一发。",  # 5
])


def chapter_model(views: list[dict[str, Any]],
                  schemas: list[dict[str, Any]] | None = None) -> Callable[[dict[str, Any]], str]:
    """A scripted model whose chapter answers give ``views`` and no items (code finds those); the overview call gets
    a title and summary. ``schemas`` collects every schema it was sent."""
    def answer(body: dict[str, Any]) -> str:
        schema = body["response_format"]["json_schema"]["schema"]
        if schemas is not None:
            schemas.append(schema)
        head = {"title": "会议", "summary": "讨论了几件事。"}
        if "views" not in schema["properties"]:
            return json.dumps(head, ensure_ascii=False)
        return json.dumps({**head, "decisions": [], "action_items": [], "views": views}, ensure_ascii=False)
    return answer


# the 1.5B's habit on a digest: the 'view' is the line itself, running on into the next one
copying_model = chapter_model([
    {"speaker": "孙浩", "text": "机器人那块可以换一个新的知识库，我们之前评估过，准确率能到八", "lines": [0]},
    {"speaker": "陈晨", "text": "改版后的首页要不要加直播入口？王芳：我觉得", "lines": [1]}])


def test_copied_views_are_reworded_and_left_out_speakers_heard() -> None:
    t = parse_transcript(MEETING, "会.txt")
    m = asyncio.run(make_minutes(FakeEngine(responder=copying_model), t, Options()))
    views = {v["speaker"]: v["points"] for v in m["views"]}
    assert views["孙浩"][0]["source"] == "reworded" and views["孙浩"][0]["text"].startswith("表示机器人那块")
    assert views["陈晨"][0] == {**views["陈晨"][0], "text": "提出改版后的首页要不要加直播入口的问题",
                              "source": "reworded", "lines": [1]}
    wang = views["王芳"][0]  # the model gave none: code found her stance sentence
    assert wang["source"] == "extractive" and wang["lines"] == [2] and wang["text"].startswith("认为直播入口")
    assert "周敏" not in views  # a commitment and a correction are action items, not views
    for who, points in views.items():
        for p in points:
            assert all(t.utterances[i].speaker == who for i in p["lines"])
            assert not re.search(r"…|(?:孙浩|陈晨|王芳|周敏)：", p["text"]) and "我" not in p["text"].replace("我们", "")
    assert m["verification"]["dropped"] == 0  # the two copies were worded, not lost


def test_code_views_pick_whole_stances_of_the_main_speakers() -> None:
    from hanlin.apps.minutes.transcript import Utterance
    from hanlin.apps.minutes.views import code_views

    utts = [Utterance(0, "甲", "我觉得这个季度的线上投放可以先减一点，效果也一般。" + "补充说明。" * 20),
            Utterance(1, "乙", "所以我觉得简单来说，网络咨询对于咨询师的共情感受能力、表达能力，还有个案化的能力要求都更高。"),
            Utterance(2, "丙", "我建议高峰期增加两个人工客服。"),
            Utterance(3, "丁", "我觉得可以。"),
            Utterance(4, "戊", "我建议下周再讨论一次排班的问题。")]
    views = code_views(utts, skip={"戊"}, cap=2)
    assert [v["speaker"] for v in views] == ["甲", "丙"]  # most said first; 乙 only cut mid-thought; 丁 nothing
    assert views[0]["text"] == "认为这个季度的线上投放可以先减一点，效果也一般" and views[0]["lines"] == [0]
    assert code_views(utts, skip=set(), cap=0) == []


def test_a_view_copied_from_an_uncited_line_cites_that_line_and_copied_items_are_not_views() -> None:
    meeting = "\n".join(["田雨：好的，没问题。",  # 0
                         "林静：培训放在下周。",  # 1
                         "田雨：我觉得培训的时间还是放在月底比较合适，大家手上的活太多了。",  # 2
                         "吴刚：上海那个客户我一直在跟，我争取十一月底前把合同签下来。"])  # 3

    model = chapter_model([  # 田雨's cites her reply and copies her next line; 吴刚's is a commitment
        {"speaker": "田雨", "text": "好的，没问题。我觉得培训的时间还是放在月底比较合适", "lines": [0]},
        {"speaker": "吴刚", "text": "上海那个客户我一直在跟，我争取十一月底前把合同签下来", "lines": [3]}])

    t = parse_transcript(meeting, "会.txt")
    m = asyncio.run(make_minutes(FakeEngine(responder=model), t, Options()))
    views = {v["speaker"]: v["points"] for v in m["views"]}
    assert views["田雨"] == [{**views["田雨"][0], "text": "认为培训的时间还是放在月底比较合适，大家手上的活太多了",
                             "lines": [2], "source": "reworded"}]
    assert "吴刚" not in views
    assert any(a["owner"] == "吴刚" and "合同" in a["task"] for a in m["action_items"])  # it stands as an item


def test_on_a_digest_the_model_points_at_a_line_and_code_words_the_view() -> None:
    filler = "，".join(f"第{i}项指标的情况说明" for i in range(30))
    meeting = "\n".join(["王芳：" + filler + "。",  # 0: long, so the meeting is condensed
                         "王芳：我觉得直播入口现在加太早了，用户量还不够。",  # 1
                         "李娜：好的。",  # 2
                         "赵磊：" + filler + "。"])  # 3
    schemas: list[dict[str, Any]] = []

    # pointers only; 李娜's line holds nothing to word
    model = chapter_model([{"speaker": "王芳", "lines": [1]}, {"speaker": "李娜", "lines": [2]}], schemas)

    t = parse_transcript(meeting, "会.txt")
    m = asyncio.run(make_minutes(FakeEngine(responder=model), t, Options(read_chars=200)))
    assert m["stats"]["read"]["condensed"]
    digest = next(s for s in schemas if "views" in s["properties"])
    assert set(digest["properties"]["views"]["items"]["properties"]) == {"speaker", "lines"}  # no text asked
    views = {v["speaker"]: v["points"] for v in m["views"]}
    assert views["王芳"][0]["text"] == "认为直播入口现在加太早了，用户量还不够" and views["王芳"][0]["lines"] == [1]
    assert "李娜" not in views
    assert any("完整的观点" in r for r in m["verification"]["reasons"])


def test_code_reads_the_chapters_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Minutes jobs run on the server's event loop; the regex passes over every line (seconds on a long meeting)
    must not stall it."""
    import threading

    from hanlin.apps.minutes import pipeline

    threads: dict[str, set[str]] = {}

    def spy(name: str, fn: Any) -> Any:
        def wrapped(*a: Any, **k: Any) -> Any:
            threads.setdefault(name, set()).add(threading.current_thread().name)
            return fn(*a, **k)
        return wrapped

    for name in ("segment", "verify_items", "extractive_items", "code_views"):
        monkeypatch.setattr(pipeline, name, spy(name, getattr(pipeline, name)))
    t = parse_transcript(MEETING, "会.txt")
    m = asyncio.run(make_minutes(FakeEngine(responder=copying_model), t, Options()))
    assert m["views"]
    assert set(threads) == {"segment", "verify_items", "extractive_items", "code_views"}
    assert all(threading.main_thread().name not in names for names in threads.values()), threads
