"""Transcript formats → utterances; broken input → clear errors naming the line."""

from __future__ import annotations

import io
import json

import pytest

from hanlin.apps.minutes.transcript import parse_transcript
from hanlin.errors import UnprocessableInput


def test_plain_labels_with_continuation_lines() -> None:
    t = parse_transcript("项目周会\n张伟：先说预算。\n今年超了十万。\n李娜: 我同意削减。\n", "a.txt")
    assert [(u.index, u.speaker) for u in t.utterances] == [(0, "张伟"), (1, "李娜")]
    assert t.utterances[0].text == "先说预算。今年超了十万。"
    assert t.skipped_lines == [1]


def test_bracketed_timestamps() -> None:
    t = parse_transcript("[00:01:02] 张伟: 开始吧\n[01:00:00] 王芳：好的", None)
    assert [u.start for u in t.utterances] == [62.0, 3600.0]
    assert t.speakers == ["张伟", "王芳"]


def test_english_names_titles_and_inline_times() -> None:
    t = parse_transcript("John Smith: hello there\n主持人（张伟）：开始\n张伟(00:01:02)：好\nSpeaker 2: ok\n"
                         "李娜（市场部）：收到\n说话人 3 00:02:00\n好的", None)
    # one name per person: a role in brackets is dropped, 主持人（张伟） is 张伟, "说话人 3" is 说话人3
    assert [(u.speaker, u.start) for u in t.utterances] == [("John Smith", None), ("张伟", None), ("张伟", 62.0),
                                                            ("Speaker 2", None), ("李娜", None), ("说话人3", 120.0)]
    assert t.speakers == ["John Smith", "张伟", "Speaker 2", "李娜", "说话人3"]


def test_speaker_time_header_then_text() -> None:
    text = "发言人1 00:00:05\n大家好，今天讨论排期。\n\n发言人2 00:01:10\n我负责测试。\n下周五之前完成。\n"
    t = parse_transcript(text, "meeting.txt")
    assert [(u.speaker, u.start) for u in t.utterances] == [("发言人1", 5.0), ("发言人2", 70.0)]
    assert t.utterances[1].text == "我负责测试。下周五之前完成。"


def test_srt_with_speaker_prefix_merges_consecutive_captions() -> None:
    srt = ("1\n00:00:01,000 --> 00:00:03,000\n张伟：第一句\n\n2\n00:00:03,000 --> 00:00:05,000\n张伟：第二句\n\n"
           "3\n00:00:06,500 --> 00:00:08,000\n李娜：收到\n")
    t = parse_transcript(srt, "a.srt")
    assert t.source_format == "srt"
    assert [(u.speaker, u.text, u.start) for u in t.utterances] == [("张伟", "第一句第二句", 1.0),
                                                                     ("李娜", "收到", 6.5)]


def test_webvtt_voices() -> None:
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v 张伟>预算要砍</v>\n\n"
           "00:00:02.500 --> 00:00:04.000\n<v Li Na>I agree</v>\n")
    t = parse_transcript(vtt, "a.vtt")
    assert [(u.speaker, u.text) for u in t.utterances] == [("张伟", "预算要砍"), ("Li Na", "I agree")]
    assert t.utterances[1].start == 2.5


def test_docx_export() -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("会议记录")
    d.add_paragraph("张伟：我们决定下月上线。")
    d.add_paragraph("李娜：我来负责文档。")
    buf = io.BytesIO()
    d.save(buf)
    t = parse_transcript(buf.getvalue(), "m.docx")
    assert t.source_format == "docx"
    assert t.speakers == ["张伟", "李娜"]


def test_vcsum_and_qmsum_json_shapes() -> None:
    vc = {"utterances": [{"speaker": 1, "text": "你好"}, {"speaker": 2, "text": "收到"}]}
    assert parse_transcript(json.dumps(vc), None).speakers == ["发言人1", "发言人2"]
    qm = {"meeting_transcripts": [{"speaker": "Project Manager", "content": "Let's start."}]}
    assert parse_transcript(json.dumps(qm).encode(), "q.json").utterances[0].speaker == "Project Manager"


@pytest.mark.parametrize(("data", "needle"), [
    ("这是一段没有发言人的文字\n第二行\n第三行\n第四行\n第五行\n第六行\n第七行", "line 1"),
    ('{"utterances": [{"speaker": "a"}]}', "Utterance 0"),
    ('{"utterances": [', "line 1"),
    ("", "empty"),
])
def test_broken_input_names_the_problem(data: str, needle: str) -> None:
    with pytest.raises(UnprocessableInput) as e:
        parse_transcript(data, None)
    assert needle in e.value.message


def test_broken_srt_is_rejected() -> None:
    with pytest.raises(UnprocessableInput):
        parse_transcript("1\n00:00:01,000 --> garbage\ntext\n", "x.srt")


def test_json_times_round_trip_through_a_job_payload() -> None:
    from hanlin.apps.minutes.transcript import transcript_from_utterances

    t = parse_transcript(json.dumps({"utterances": [
        {"speaker": "发言人2", "text": "预算下周定。", "start": 751.4, "end": "00:12:40"},
        {"speaker": "发言人1", "text": "  ", "start": 760},
        {"speaker": "发言人1", "text": "好的。", "start": 761, "end": True}]}, ensure_ascii=False), "t.json")
    assert [(u.index, u.start, u.end) for u in t.utterances] == [(0, 751.4, 760.0), (1, 761.0, None)]
    assert t.utterances[0].stamp == "00:12:31 发言人2"
    again = transcript_from_utterances([u.to_dict() for u in t.utterances])
    assert again.utterances == t.utterances
    assert parse_transcript("张伟：好的。").utterances[0].stamp == "张伟"
