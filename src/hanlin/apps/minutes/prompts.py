"""Prompts (Chinese first, English for English meetings). Each line of transcript carries its utterance index."""

from __future__ import annotations

from typing import Any

from hanlin.apps.minutes.transcript import Utterance

CHAPTER_SYSTEM = {
    "zh": ("你是会议纪要助手。下面是会议记录的一个片段，每行格式为“[行号] 发言人：内容”。请只根据这些内容输出 JSON：\n"
           "title：本段议题，不超过12字的名词短语；\n"
           "summary：本段要点概述，2到3句；\n"
           "views：各发言人的主要观点，用你自己的话概括成一句（不超过30字，不要照抄原话），speaker 是说这话的人，"
           "lines 只引用该发言人自己说话的行号；\n"
           "decisions：会上明确做出的决定（被否决的提议、没有结论的讨论不算；同一件事后面有更正的，以更正后的为准）；\n"
           "action_items：明确分配或有人认领的任务，owner 是承担任务的人：说“我来/我负责”的人，或被点名、被“你”"
           "指派的人（不是布置任务的人）；没人认领的事不要列；due 是截止时间，没说就填空字符串。\n"
           "lines 引用能证明该条目的行号。没有就输出空数组，不要编造。"),
    "en": ("You write meeting minutes. Below is part of a meeting transcript; each line is "
           "'[line] speaker: text'. Reply with JSON only from these lines: title = the topic (few words); summary = "
           "2-3 sentences; views = each speaker's main points in your own words (one short sentence), where speaker "
           "is who said it and lines cite only that speaker's own lines; decisions = decisions actually made (not "
           "rejected proposals; a later correction wins); action_items = tasks someone took or was given (owner = "
           "the person who will do it, not who asked; due or empty string; leave out tasks nobody took). Use empty "
           "arrays when there are none; invent nothing."),
}

# long meetings: a digest of a chapter (condense.py); decisions and action items are found by code on every line
DIGEST_SYSTEM = {
    "zh": ("你是会议纪要助手。下面是会议记录一个片段的摘录（省略的部分用“…”表示），每行格式为“[行号] 发言人：内容”。"
           "请只根据这些内容输出 JSON：\n"
           "title：本段议题，不超过12字的名词短语；\n"
           "summary：本段要点概述，1到2句；\n"
           "views：最多3位主要发言人，每人给出最能代表其观点的一行：speaker 是发言人，lines 是该发言人自己说这个观点的"
           "那一行的行号。不要编造。"),
    "en": ("You write meeting minutes. Below are excerpts of part of a meeting transcript ('…' marks what was left "
           "out); each line is '[line] speaker: text'. Reply with JSON only from these lines: title = the topic (few "
           "words); summary = 1-2 sentences; views = up to 3 main speakers, each with the one line that best states "
           "their point (speaker = who said it, lines = that speaker's own line). Invent nothing."),
}
# the same, when the model words the views itself (Options.digest_view_text; it copied the line every time)
DIGEST_TEXT_SYSTEM = {
    "zh": DIGEST_SYSTEM["zh"].split("views：")[0] + ("views：主要发言人的观点，用你自己的话概括成一句（不超过30字，不要照抄原话），"
                                                    "speaker 是说这话的人，lines 只引用该发言人自己说话的行号。不要编造。"),
    "en": DIGEST_SYSTEM["en"].split("views =")[0] + ("views = the main speakers' points in your own words (one short "
                                                   "sentence), where speaker is who said it and lines cite only that "
                                                   "speaker's own lines. Invent nothing."),
}

FOCUS_HINTS = {
    "zh": {"action_items": "本次重点：列全所有待办事项。", "decisions": "本次重点：列全所有决定。",
           "by_speaker": "本次重点：按发言人整理各方观点。"},
    "en": {"action_items": "Focus: list every action item.", "decisions": "Focus: list every decision.",
           "by_speaker": "Focus: each speaker's views."},
}

OVERVIEW_SYSTEM = {
    "zh": ("你是会议纪要助手。下面是一场会议各章节的标题和摘要。请输出 JSON：title 为会议标题（不超过20字），"
           "summary 为整场会议的总体摘要（150到300字，概括主要议题、各方观点和结论）。"),
    "en": ("You write meeting minutes. Below are the titles and summaries of a meeting's chapters. Reply with JSON: "
           "title = a short meeting title; summary = an overall summary of the meeting (80-200 words: topics, "
           "positions, outcomes)."),
}

REPAIR_USER = {
    "zh": ("下面这些条目没有通过校验（原因在括号里）：\n{items}\n请对照上面的会议片段改正后重新输出："
           "观点的 lines 必须是该发言人自己说话的行号；待办的负责人必须是发言人或在所引行中被点名，所引行要有分配任务的话；"
           "决定所引的行要有表示决定的话。改不对的条目就不要输出。"),
    "en": ("These items failed the checks (reason in brackets):\n{items}\nFix them against the transcript above: a "
           "view cites only its speaker's own lines; an action item's owner is a speaker or is named in the cited "
           "lines, which must assign the task; a decision's lines must state it. Leave out items you cannot fix."),
}


def is_english(utterances: list[Utterance]) -> bool:
    sample = "".join(u.text for u in utterances[:80])[:4000]
    cjk = sum(1 for ch in sample if "\u4e00" <= ch <= "\u9fff")
    return cjk < len(sample) * 0.05


def render_lines(utterances: list[Utterance], max_chars: int = 7000) -> str:
    """``[idx] speaker：text`` lines, every utterance whole. Only one utterance longer than ``max_chars`` (a
    chapter by itself) keeps its head and tail, so a single prompt still fits a slot's context."""
    lines = []
    for u in utterances:
        text = u.text if len(u.text) <= max_chars else _clip(u.text, max_chars)
        lines.append(f"[{u.index}] {u.speaker}：{text}")
    return "\n".join(lines)


def _clip(text: str, cap: int) -> str:
    """Keep the head and the tail of a long utterance: conclusions and assignments often come last."""
    head = int(cap * 0.7)
    return text[:head] + "……" + text[-(cap - head):]


def chapter_messages(lang: str, lines: str, focus: str | None, topic_hint: str | None,
                     digest: bool = False, view_text: bool = False) -> list[dict[str, Any]]:
    system = ((DIGEST_TEXT_SYSTEM if view_text else DIGEST_SYSTEM) if digest else CHAPTER_SYSTEM)[lang]
    extra = []
    if focus and focus in FOCUS_HINTS[lang]:
        extra.append(FOCUS_HINTS[lang][focus])
    if topic_hint:
        extra.append(("只关注与此相关的内容：" if lang == "zh" else "Only what concerns: ") + topic_hint)
    # the system prompt is identical for every chapter (the slot's prompt cache reuses it); hints follow the lines
    user = lines + ("\n\n（" + " ".join(extra) + "）" if extra else "")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def overview_messages(lang: str, chapters: list[dict[str, Any]], budget: int = 3000) -> list[dict[str, Any]]:
    per = max(60, budget // max(1, len(chapters)))
    body = "\n".join(f"{i + 1}. {c['title']}：{c['summary'][:per]}" for i, c in enumerate(chapters))
    return [{"role": "system", "content": OVERVIEW_SYSTEM[lang]}, {"role": "user", "content": body}]


def repair_messages(chapter: list[dict[str, Any]], answer: dict[str, Any], lang: str,
                    failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chapter conversation plus one more turn, so the engine can reuse the cached prompt prefix."""
    import json

    items = "\n".join(f"- {json.dumps(f['item'], ensure_ascii=False)}（{f['reason']}）" for f in failures)
    ask = REPAIR_USER[lang].format(items=items)
    return [*chapter, {"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)},
            {"role": "user", "content": ask}]
