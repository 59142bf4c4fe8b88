"""The minutes pipeline on a scripted engine: verification, repair, dropping, instruction filters, rendering."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from hanlin.apps.minutes import render
from hanlin.apps.minutes.instruction import apply_plan, parse_instruction
from hanlin.apps.minutes.pipeline import Options, make_minutes
from hanlin.apps.minutes.transcript import Transcript, parse_transcript
from hanlin.engine.fake import FakeEngine
from hanlin.errors import UnprocessableInput
from tests.support.minutes_fakes import MEETING, responder


def _run(opts: Options | None = None, engine: FakeEngine | None = None) -> tuple[dict[str, Any], FakeEngine]:
    engine = engine or FakeEngine(responder=responder)
    t = parse_transcript(MEETING, "m.txt")
    return asyncio.run(make_minutes(engine, t, opts or Options())), engine


def assert_cited_and_verified(m: dict[str, Any], t: Transcript) -> None:
    by_index = {u.index: u for u in t.utterances}
    for key in ("title", "summary", "chapters", "views", "decisions", "action_items"):
        assert key in m
    for c in m["chapters"]:
        assert c["start_line"] in by_index and c["end_line"] in by_index and c["start_line"] <= c["end_line"]
    for v in m["views"]:
        assert v["speaker"] in t.speakers
        for p in v["points"]:
            assert p["lines"] and all(by_index[i].speaker == v["speaker"] for i in p["lines"])
    for item in m["decisions"] + m["action_items"]:
        assert item["lines"] and all(i in by_index for i in item["lines"])
    for a in m["action_items"]:
        cited = "".join(by_index[i].text for i in a["lines"])
        assert a["owner"] in t.speakers or a["owner"] in cited


def test_items_are_verified_repaired_or_dropped() -> None:
    m, engine = _run(Options(repair=True))
    t = parse_transcript(MEETING, "m.txt")
    assert_cited_and_verified(m, t)
    assert [a["owner"] for a in m["action_items"] if not a.get("source")] == ["王芳"]  # 赵六 was invented
    assert m["action_items"][0]["due"] == "下周五"
    assert m["dropped"]["action_items"] >= 1 and m["dropped"]["total"] >= 1
    assert m["verification"]["repaired"] == 1  # 李娜's misattributed view came back citing her own line
    lina = next(v for v in m["views"] if v["speaker"] == "李娜")
    assert any(p["text"].startswith("同意削减预算") for p in lina["points"])
    assert m["verification"]["cited_lines_valid"] < m["verification"]["cited_lines"]
    assert any(d["lines"] == [2] for d in m["decisions"])
    schemas = [r["response_format"]["json_schema"]["schema"] for r in engine.requests]
    assert set(schemas[0]["properties"]["views"]["items"]["properties"]["speaker"]["enum"]) == set(t.speakers)


def test_long_meeting_is_split_into_cited_chapters() -> None:
    m, engine = _run(Options(chapter_chars=120, max_utts=3))
    assert len(m["chapters"]) >= 3
    spans = [(c["start_line"], c["end_line"]) for c in m["chapters"]]
    assert spans[0][0] == 0 and spans[-1][1] == 6
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert_cited_and_verified(m, parse_transcript(MEETING, "m.txt"))
    chapter_calls = [r for r in engine.requests if "title" in r["response_format"]["json_schema"]["schema"]
                     ["properties"] and "views" in r["response_format"]["json_schema"]["schema"]["properties"]]
    assert len(chapter_calls) == len(m["chapters"])


def _prompted_lines(engine: FakeEngine) -> set[int]:
    import re

    return {int(x) for r in engine.requests for x in re.findall(r"^\[(\d+)\]", r["messages"][-1]["content"], re.M)}


@pytest.mark.parametrize(("instruction", "expected"), [
    ("只整理预算相关讨论", {0, 1, 2, 3, 4}),
    ("只看前一小时", {0, 1, 2, 3, 4}),
    ("只看李娜的发言", {1, 5}),
    ("只看最后10分钟", {5, 6}),
    ("00:01:00到00:03:30", {1, 2, 3}),
])
def test_instruction_really_filters_utterances(instruction: str, expected: set[int]) -> None:
    m, engine = _run(Options(instruction=instruction))
    assert _prompted_lines(engine) == expected
    assert m["covered_utterances"] == len(expected)
    cited = {i for v in m["views"] for p in v["points"] for i in p["lines"]}
    cited |= {i for x in m["decisions"] + m["action_items"] for i in x["lines"]}
    assert cited <= expected


def test_focus_instructions_and_empty_filter() -> None:
    t = parse_transcript(MEETING, "m.txt")
    assert parse_instruction("列出所有待办", t.speakers).focus == "action_items"
    assert parse_instruction("按发言人整理", t.speakers).focus == "by_speaker"
    assert parse_instruction("按发言人整理", t.speakers).speakers == []
    with pytest.raises(UnprocessableInput):
        apply_plan(parse_instruction("只整理和火箭发射相关的讨论", t.speakers), t.utterances)


def test_extractive_fallback_when_the_model_finds_nothing() -> None:
    empty = json.dumps({"title": "会议", "summary": "讨论。", "views": [], "decisions": [], "action_items": []})
    engine = FakeEngine(responder=lambda body: empty)
    m, _ = _run(engine=engine)
    assert m["decisions"] and all(d["source"] == "extractive" for d in m["decisions"])
    assert any(a["owner"] == "王芳" for a in m["action_items"])
    assert_cited_and_verified(m, parse_transcript(MEETING, "m.txt"))


def test_markdown_and_docx_render_every_section() -> None:
    import docx

    m, _ = _run(Options(instruction="列出所有待办"))
    md = render.to_markdown(m)
    assert md.index("待办事项") < md.index("会议概要")
    assert "（见 00:04:00 王芳）" in md  # timestamps and speaker when the transcript has them
    doc = docx.Document(io.BytesIO(render.to_docx_bytes(m)))
    texts = [p.text for p in doc.paragraphs if p.text.strip()]
    assert texts[0] == "会议纪要" and texts[1] == m["title"] + "纪要"  # the documents writer's 纪要 layout
    assert any(x.startswith("一、待办事项") for x in texts)
    assert any("决定事项" in x for x in texts)
