"""Long meetings: the model reads a condensed chapter (cue sentences, every speaker, central sentences), code reads
every line, and the read budget is reported."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from hanlin.apps.minutes.condense import Rarity, chapter_budgets, condense
from hanlin.apps.minutes.extract import cue_weight
from hanlin.apps.minutes.pipeline import Options, make_minutes
from hanlin.apps.minutes.transcript import Transcript, Utterance
from hanlin.engine.fake import FakeEngine
from tests.support.minutes_fakes import responder

FILLER = ["这个事情我们之前也讨论过很多次了，大家的看法其实都差不多，就是还要再看一看具体的情况。",
          "我补充一点，客户那边的反馈总体还是比较积极的，但是也有一些细节上的意见需要我们消化。",
          "对，这个我同意，市场环境变化很快，我们的节奏也要跟上，不能总是慢半拍。",
          "另外就是人手的问题，最近项目比较多，大家都挺忙的，要合理安排一下时间。"]
CUES = {17: "那我们决定把发布会定在十月十五日，就按这个方案执行。",
        41: "赵磊，你下周五前把供应商的报价单整理出来发给我。",
        66: "更正一下，预算不是三十万，应该是四十五万。"}


def meeting(n: int = 80) -> list[Utterance]:
    people = ["张伟", "李娜", "王芳", "赵磊"]
    out = []
    for i in range(n):
        text = CUES.get(i) or FILLER[i % 4] + FILLER[(i * 3 + 1) % 4]
        out.append(Utterance(i, people[i % 4] if i != 70 else "钱七", text))
    return out


def test_cue_weight_ranks_the_sentences_minutes_are_made_of() -> None:
    assert cue_weight(CUES[17]) == 3 and cue_weight(CUES[41]) == 3 and cue_weight(CUES[66]) == 3
    assert cue_weight("这个不行，成本太高了。") == 2
    assert cue_weight("去年卖了3000台。") == 1
    assert cue_weight(FILLER[0]) == 0 and cue_weight("这是一个问题。") == 0  # ``一个`` is not a figure


def test_condense_keeps_cues_and_every_speaker_within_the_budget() -> None:
    utts = meeting()
    total = sum(len(u.text) for u in utts)
    shown = condense(utts, 1200, Rarity.of(utts))
    chars = sum(len(u.text) for u in shown)
    assert chars <= 1200 * 1.05 and chars < total / 3
    by_index = {u.index: u for u in utts}
    for u in shown:  # same lines, same speakers, text taken from the line itself
        assert u.speaker == by_index[u.index].speaker
        assert all(part in by_index[u.index].text for part in re.split("…", u.text) if part)
    texts = {u.index: u.text for u in shown}
    for i, cue in CUES.items():
        assert cue.rstrip("。") in texts.get(i, ""), i
    assert {u.speaker for u in shown} == {u.speaker for u in utts}  # 钱七 spoke once and is heard
    assert [u.index for u in shown] == sorted(u.index for u in shown)


def test_a_chapter_that_fits_is_shown_whole() -> None:
    utts = meeting(6)
    assert condense(utts, 10_000) is utts
    a, b = [Utterance(0, "甲", "好" * 100)], [Utterance(1, "乙", "好" * 200)]
    assert chapter_budgets([a, b], 1500, floor=100) == [500, 1000]
    assert chapter_budgets([a, b], 150, floor=100) == [100, 100]  # a chapter is never shown less than the floor


def _run(read_chars: int) -> tuple[dict[str, Any], FakeEngine]:
    engine = FakeEngine(responder=responder)
    t = Transcript(meeting(120), "json")
    return asyncio.run(make_minutes(engine, t, Options(read_chars=read_chars))), engine


def _prompt_chars(engine: FakeEngine) -> int:
    users = [m["content"] for r in engine.requests for m in r["messages"] if m["role"] == "user"]
    return sum(len(u) for u in users if re.search(r"^\[\d+\] ", u, re.M))


def test_a_long_meeting_is_condensed_for_the_model_but_code_reads_it_all() -> None:
    full, full_engine = _run(0)
    short, engine = _run(3000)
    assert not full["stats"]["read"]["condensed"] and short["stats"]["read"]["condensed"]
    total = full["stats"]["read"]["chars"]
    assert full["stats"]["read"]["chars_shown_to_model"] == total
    assert short["stats"]["read"]["chars_shown_to_model"] <= 3000 * 1.1
    assert _prompt_chars(engine) < _prompt_chars(full_engine) / 2  # line labels are shown either way
    assert len(short["chapters"]) < len(full["chapters"])
    # the decision, the assignment and the correction are in the minutes either way, cited to their lines
    for m in (full, short):
        assert any(17 in d["lines"] for d in m["decisions"])
        assert any(a["owner"] == "赵磊" and 41 in a["lines"] for a in m["action_items"])
        # the chapters still cover every utterance, in order
        spans = [(c["start_line"], c["end_line"]) for c in m["chapters"]]
        assert spans[0][0] == 0 and spans[-1][1] == 119
        assert all(a[1] + 1 == b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_condensed_chapters_fill_every_slot_and_keep_late_items() -> None:
    from hanlin.apps.minutes.pipeline import _condensed_chapters

    opts = Options(read_chars=9000)
    assert _condensed_chapters(49_500, opts, 4) == 8  # 9 by size, rounded down to two full waves of 4
    assert _condensed_chapters(12_000, opts, 4) == 2  # fewer than the slots: as many as the size says
    assert _condensed_chapters(1_000_000, opts, 4) == 16 and _condensed_chapters(1_000_000, opts, 3) == 15
    # a big chapter full of early commitments still yields the one at its end (the code-found cap scales)
    people = ["张伟", "李娜"]
    topics = ["预算表", "合同", "报价单", "名单", "海报", "周报", "发票", "样品", "测试报告", "培训课件", "巡检记录", "方案"]
    utts = [Utterance(i, people[i % 2], f"好的，{t}我来负责，明天发给大家。") for i, t in enumerate(topics)]
    utts += [Utterance(len(utts), people[i % 2], FILLER[i % 4] + FILLER[(i + 1) % 4] + FILLER[(i + 2) % 4])
             for i in range(48)]
    last = len(utts)
    utts.append(Utterance(last, "王芳", "那我把需求文档更新一下，今天下班前发出来。"))
    m = asyncio.run(make_minutes(FakeEngine(responder=responder), Transcript(utts, "json"),
                                 Options(read_chars=2000)))
    assert len(m["chapters"]) == 1  # one big chapter (a fixed cap of 6 or 8 items lost the last one)
    assert any(a["owner"] == "王芳" and a["lines"] == [last] for a in m["action_items"]), m["action_items"]
