"""Minutes as Markdown or as a GB/T 9704 纪要 .docx (through the documents app's writer, ``doc_type="纪要"``).

Every item shows where it comes from in the user's own terms: ``（见 00:12:31 赵磊）`` when the transcript has
timestamps, else ``（见第 21 行）`` (1-based lines of the user's file), else the utterance's ordinal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hanlin.text import CN_DIGITS


def _where(r: dict[str, Any]) -> str:
    if r.get("time"):
        return f"{r['time']} {r.get('speaker', '')}".strip()
    return f"第 {r['line'] if r.get('line') is not None else r['index'] + 1} 行"


def cite(item: dict[str, Any]) -> str:
    """``（见 00:12:31 赵磊、00:13:05 李娜）`` / ``（见第 21、23 行）`` for an item's cited utterances."""
    refs = item.get("refs") or [{"index": i} for i in item.get("lines") or []]
    if not refs:
        return ""
    if all(r.get("time") for r in refs):
        return "（见 " + "、".join(_where(r) for r in refs) + "）"
    nums = [str(r["line"] if r.get("line") is not None else r["index"] + 1) for r in refs]
    return "（见第 " + "、".join(nums) + " 行）"


def _span(c: dict[str, Any]) -> str:
    refs = c.get("refs") or [{"index": c["start_line"]}, {"index": c["end_line"]}]
    first, last = refs[0], refs[-1]
    if first.get("time") and last.get("time"):
        return f"{first['time']}–{last['time']}"
    a = first["line"] if first.get("line") is not None else first["index"] + 1
    b = last["line"] if last.get("line") is not None else last["index"] + 1
    return f"第 {a}–{b} 行"


def _sections(m: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) in 纪要 order; the instruction's focus comes first."""
    chapters = [f"{c['title']}（{_span(c)}）：{c['summary']}" for c in m["chapters"]]
    views = [f"{v['speaker']}：" + "；".join(p["text"] + cite(p) for p in v["points"]) for v in m["views"]]
    decisions = [d["text"] + cite(d) for d in m["decisions"]]
    actions = [f"{a['owner']}：{a['task']}" + (f"（截止：{a['due']}）" if a.get("due") else "") + cite(a)
               for a in m["action_items"]]
    secs = [("会议概要", [m["summary"]]), ("议程与讨论", chapters), ("各方观点", views),
            ("决定事项", decisions or ["无明确决定。"]), ("待办事项", actions or ["无明确待办。"])]
    focus = (m.get("instruction") or {}).get("focus")
    first = {"action_items": "待办事项", "decisions": "决定事项", "by_speaker": "各方观点"}.get(focus or "")
    if first:
        secs.sort(key=lambda s: s[0] != first)
    return secs


def header_lines(m: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) lines under the title: time, place, attendees (the header block, else the speakers)."""
    meta = m.get("meta") or {}
    out = []
    for key, label in (("time", "时间"), ("place", "地点"), ("host", "主持")):
        if meta.get(key):
            out.append((label, str(meta[key])))
    people = meta.get("attendees") or m.get("speakers") or []
    if people:
        out.append(("参会人员" if meta.get("attendees") else "参会发言人", "、".join(people)))
    return out


def to_markdown(m: dict[str, Any]) -> str:
    out = [f"# {m['title']}", ""]
    for label, value in header_lines(m):
        out += [f"**{label}**：{value}", ""]
    instr = (m.get("instruction") or {}).get("text")
    if instr:
        out += [f"**整理要求**：{instr}", ""]
    for i, (heading, paras) in enumerate(_sections(m)):
        out += [f"## {CN_DIGITS[i]}、{heading}", ""]
        out += ([f"- {p}" for p in paras] if heading != "会议概要" else paras) + [""]
    d = m.get("dropped") or {}
    if d.get("total"):
        out += [f"> 校验：{d['total']} 条无法由原文支持的条目已删除。", ""]
    return "\n".join(out)


def official_document(m: dict[str, Any]) -> Any:
    """The minutes as the documents app's ``OfficialDocument`` of type 纪要 (headings 一、… as level-1 paragraphs)."""
    from hanlin.apps.documents.schema import OfficialDocument, Paragraph

    paras = [Paragraph(f"{label}：{value}") for label, value in header_lines(m)]
    for heading, texts in _sections(m):
        paras.append(Paragraph(heading, level=1))
        paras += [Paragraph(t) for t in texts]
    title = m.get("title") or "会议纪要"
    return OfficialDocument(doc_type="纪要", title=title if title.endswith("纪要") else f"{title}纪要",
                            paragraphs=paras, header_text="会议纪要", date=meeting_date(m))


def meeting_date(m: dict[str, Any]) -> str:
    """成文日期 in Arabic numerals: the meeting's date from the header block, else today."""
    import datetime as dt
    import re

    when = str((m.get("meta") or {}).get("time") or "")
    found = re.search(r"(\d{4})\s*[年/.-]\s*(\d{1,2})\s*[月/.-]\s*(\d{1,2})", when)
    if found:
        y, mo, d = (int(x) for x in found.groups())
        return f"{y}年{mo}月{d}日"
    today = dt.date.today()
    return f"{today.year}年{today.month}月{today.day}日"


def to_docx_bytes(m: dict[str, Any]) -> bytes:
    """A GB/T 9704 纪要 laid out by ``apps/documents/writer.py`` (the one 公文 writer)."""
    from hanlin.apps.documents.writer import official_document_bytes

    return official_document_bytes(official_document(m))


def write(m: dict[str, Any], fmt: str, path: Path) -> Path:
    if fmt == "docx":
        path.write_bytes(to_docx_bytes(m))
    elif fmt == "md":
        path.write_text(to_markdown(m), encoding="utf-8")
    else:
        path.write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")
    return path
