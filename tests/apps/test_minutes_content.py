"""Minutes content on a scripted model: what code decides (owners, rejections, corrections, metadata, citations).

The scripted model makes the mistakes the 1.5B made (an owner who only spoke near the task, a rejected proposal
listed as a decision, a task nobody took, a copied view, a title that echoes the instruction); code must catch them.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hanlin.apps.minutes import render
from hanlin.apps.minutes.extract import extractive_items, owners_in
from hanlin.apps.minutes.pipeline import Options, make_minutes
from hanlin.apps.minutes.transcript import parse_transcript
from hanlin.engine.fake import FakeEngine
from hanlin.errors import EngineError

MEETING = "\n".join([
    "会议：三季度预算会",  # 1
    "时间：2026年9月3日 14:00",  # 2
    "参会：张伟、赵磊、刘建国、李娜",  # 3
    "",  # 4
    "张伟：先说预算，团建预算定为五万，线上投放减五万。",  # 5  idx 0
    "刘建国：我建议把发布会提前到十月八日。",  # 6  idx 1
    "李娜：不行，版本来不及。",  # 7  idx 2
    "张伟：赵磊，你周五前把调整后的预算表发给大家。",  # 8  idx 3
    "赵磊：好的，我周五前发。",  # 9  idx 4
    "李娜：媒体邀请名单谁来整理？",  # 10 idx 5
    "张伟：这个回头再说。",  # 11 idx 6
    "刘建国：宣传册我来准备，下周三前出初稿。",  # 12 idx 7
    "张伟：我更正一下，团建省的应该是六万，不是五万。",  # 13 idx 8
])


def _lines(body: dict[str, Any]) -> dict[int, str]:
    user = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\[(\d+)\] (\S+?)：(.*)$", user, re.M)}


def mistaken(body: dict[str, Any]) -> str:
    """A model that gets the owners, the rejected proposal, the unassigned task and the title wrong."""
    props = body["response_format"]["json_schema"]["schema"]["properties"]
    if "views" not in props:
        return json.dumps({"title": "预算会", "summary": "会议讨论了预算和发布会。"}, ensure_ascii=False)
    seen = _lines(body)
    return json.dumps({
        "title": "只整理预算相关讨论",  # the instruction echoed back
        "summary": "讨论了预算、发布会和宣传册。",
        "views": [{"speaker": "刘建国", "text": "我建议把发布会提前到十月八日。", "lines": [1]},  # copied
                  {"speaker": "李娜", "text": "版本来不及，反对提前发布会", "lines": [2]}],
        "decisions": [{"text": "发布会提前到十月八日", "lines": [1]},  # rejected right after
                      {"text": "团建预算定为五万", "lines": [0]}],  # corrected later to 六万
        "action_items": [{"owner": "刘建国", "task": "调整预算表", "due": "周五前", "lines": [4]},  # 赵磊's reply
                         {"owner": "李娜", "task": "整理媒体邀请名单", "due": "", "lines": [5]}],  # nobody took it
    }, ensure_ascii=False) if seen else "{}"


def _minutes(responder: Any = mistaken, instruction: str | None = None) -> tuple[dict[str, Any], FakeEngine]:
    engine = FakeEngine(responder=responder)
    t = parse_transcript(MEETING, "周会.txt")
    return asyncio.run(make_minutes(engine, t, Options(instruction=instruction))), engine


def test_header_block_is_metadata_and_lines_are_the_files() -> None:
    t = parse_transcript(MEETING, "周会.txt")
    assert t.speakers == ["张伟", "刘建国", "李娜", "赵磊"]  # 会议/时间/参会 are not speakers
    assert t.meta["title"] == "三季度预算会" and t.meta["attendees"] == ["张伟", "赵磊", "刘建国", "李娜"]
    assert [u.line for u in t.utterances][:2] == [5, 6]
    m, _ = _minutes()
    assert m["title"] == "三季度预算会" and m["meta"]["time"] == "2026年9月3日 14:00"


def test_owner_is_who_committed_or_was_assigned_in_the_cited_line() -> None:
    m, _ = _minutes()
    owners = {a["task"]: a["owner"] for a in m["action_items"]}
    assert owners["调整预算表"] == "赵磊"  # the model said 刘建国; line 9 is 赵磊's commitment
    assert any(a["owner"] == "刘建国" and "宣传册" in a["task"] for a in m["action_items"])  # found by code
    assert not any("媒体" in a["task"] for a in m["action_items"])  # 谁来…？ 回头再说: nobody took it


def test_you_before_ba_means_the_addressee() -> None:
    t = parse_transcript("张伟：下周的汇报材料，你周四前把初稿发我。\n李娜：好的。\n", "a.txt")
    assert owners_in(t.utterances, 0, t.speakers) == ["李娜"]  # who answered 好的
    t2 = parse_transcript("李娜：数据我整理好了。\n张伟：那你明天前把报告写出来。\n", "a.txt")
    assert owners_in(t2.utterances, 1, t2.speakers) == ["李娜"]  # who was spoken to
    t3 = parse_transcript("张伟：王芳，你负责联系场地。\n王芳：我觉得场地不急。\n", "a.txt")
    assert owners_in(t3.utterances, 0, t3.speakers) == ["王芳"]
    assert owners_in(t3.utterances, 1, t3.speakers) == []  # an opinion is no commitment


def test_rejected_proposals_are_not_decisions_and_corrections_win() -> None:
    m, _ = _minutes()
    texts = [d["text"] for d in m["decisions"]]
    assert not any("十月八日" in t for t in texts)
    team = [t for t in texts if "团建" in t]
    assert team and all("六万" in t for t in team), texts
    assert all("五万" not in t.split("，")[0] or "投放" in t for t in team)
    corrected = next(d for d in m["decisions"] if "团建" in d["text"])
    assert 8 in corrected["lines"]  # the correcting line is cited


def test_views_are_points_not_copies_and_titles_not_the_instruction() -> None:
    m, _ = _minutes(instruction="只整理预算相关讨论")
    points = [p["text"] for v in m["views"] for p in v["points"]]
    assert "我建议把发布会提前到十月八日。" not in points
    assert all(c["title"] != "只整理预算相关讨论" for c in m["chapters"])


def test_every_utterance_is_read_whole() -> None:
    long_text = "\n".join(f"{'张伟' if i % 2 else '李娜'}：第{i}条意见，" + "预算细节说明" * 60 + f"结尾{i}。"
                          for i in range(12))
    engine = FakeEngine(responder=lambda body: "{}")
    t = parse_transcript(long_text, "a.txt")
    asyncio.run(make_minutes(engine, t, Options(max_chapters=40)))
    prompts = "\n".join(m["content"] for r in engine.requests for m in r["messages"] if m["role"] == "user")
    assert all(u.text in prompts for u in t.utterances)


def test_citations_are_file_lines_and_counts_match_what_is_shown() -> None:
    m, _ = _minutes()
    md = render.to_markdown(m)
    assert "调整预算表（截止：周五前）（见第 9 行）" in md  # 赵磊's line 9 of the file, not utterance index 4
    c = m["counts"]
    assert c["decisions"] == len(m["decisions"]) and c["action_items"] == len(m["action_items"])
    assert md.count("\n- ") >= c["decisions"] + c["action_items"]


def test_docx_is_a_gbt_9704_jiyao_from_the_documents_writer(tmp_path: Path) -> None:
    from hanlin.apps.documents.checks import check_docx

    m, _ = _minutes()
    out = render.write(m, "docx", tmp_path / "纪要.docx")
    report = check_docx(out, "纪要")
    assert all(report.checks.values()), report.problems
    import docx

    texts = [p.text for p in docx.Document(str(out)).paragraphs]
    assert "2026年9月3日" in texts  # 成文日期 from the header block


def test_timestamps_are_shown_when_present() -> None:
    t = parse_transcript("[00:12:31] 赵磊：我周五前把预算表发出来。\n[00:13:02] 张伟：好。", "a.txt")
    engine = FakeEngine(responder=lambda body: "{}")
    m = asyncio.run(make_minutes(engine, t, Options()))
    assert "（见 00:12:31 赵磊）" in render.to_markdown(m)


def test_a_model_that_never_answers_is_an_error_not_junk_minutes() -> None:
    def down(body: dict[str, Any]) -> str:
        raise EngineError("connection refused")

    with pytest.raises(EngineError, match="every chapter"):
        _minutes(responder=down)


def test_cli_with_the_server_down_exits_non_zero(tmp_path: Path) -> None:
    from hanlin.cli.main import app

    src = tmp_path / "m.txt"
    src.write_text(MEETING, encoding="utf-8")
    res = CliRunner().invoke(app, ["minutes", str(src), "--url", "http://127.0.0.1:9"])
    assert res.exit_code != 0
    assert "Cannot reach the Hanlin server" in res.output


AGENDA = "\n".join([
    "张伟：第一件事，发布会。原计划是十月十五日。",  # idx 0
    "刘建国：我提议提前到十月八日。",  # idx 1
    "张伟：提前不行，版本来不及。那就还是按原计划十月十五日。",  # idx 2
    "张伟：第二件事，供应商续签。",  # idx 3
    "李娜：我觉得可以再找两家比一比价。",  # idx 4
    "张伟：对，不能直接续。",  # idx 5
    "李娜：另外宣讲会的学校怎么选？我建议去十所。",  # idx 6
    "郭敏：十所太多了，人手不够，还是六所。",  # idx 7
    "田雨：很多人的密码还是生日。",  # idx 8
    "张伟：那就决定上海和南京两场都办。",  # idx 9
])


def flipped(body: dict[str, Any]) -> str:
    """A model that words the decision of line 9 as its opposite."""
    props = body["response_format"]["json_schema"]["schema"]["properties"]
    if "views" not in props:
        return json.dumps({"title": "会", "summary": "讨论。"}, ensure_ascii=False)
    return json.dumps({"title": "会", "summary": "讨论。", "views": [], "action_items": [],
                       "decisions": [{"text": "上海两场都办，南京不办", "lines": [9]}]}, ensure_ascii=False)


def test_decisions_name_their_agenda_item_and_keep_plain_choices() -> None:
    t = parse_transcript(AGENDA, "a.txt")
    found = [d["text"] for d in extractive_items(t.utterances, t.speakers, per_kind=10)["decisions"]]
    assert "发布会：按原计划十月十五日" in found  # the agenda item named, the rejected 十月八日 not
    assert "供应商续签：不能直接续" in found  # the status quo kept is a decision
    assert "宣讲会的学校：还是六所" in found  # the choice, without the rejected 十所 it answers
    assert not any("生日" in d for d in found)  # ``还是`` meaning "still" is no decision


def test_the_speakers_decision_sentence_beats_a_flipped_paraphrase() -> None:
    m = asyncio.run(make_minutes(FakeEngine(responder=flipped), parse_transcript(AGENDA, "a.txt"), Options()))
    texts = [d["text"] for d in m["decisions"]]
    assert not any("南京不办" in x for x in texts), texts
    assert any("两场都办" in x for x in texts), texts
