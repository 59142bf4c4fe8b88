"""Minutes as Markdown or as a .docx 纪要 (python-docx): every item shows the transcript lines it cites."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

SECTION_NUMBERS = "一二三四五六七八九十"


def cite(lines: list[int], stamps: dict[str, str] | None = None) -> str:
    """``（见第 3、5 行）``, or ``（见 00:12:31 发言人2）`` when the lines have times (minutes from a recording)."""
    if not lines:
        return ""
    if stamps and all(str(i) in stamps for i in lines):
        return "（见 " + "、".join(stamps[str(i)] for i in lines) + "）"
    return "（见第 " + "、".join(str(i) for i in lines) + " 行）"


def _sections(m: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) in 纪要 order; the instruction's focus comes first."""
    chapters = [f"{c['title']}（第 {c['start_line']}–{c['end_line']} 行）：{c['summary']}" for c in m["chapters"]]
    st = m.get("line_stamps")
    views = [f"{v['speaker']}：" + "；".join(p["text"] + cite(p["lines"], st) for p in v["points"])
             for v in m["views"]]
    decisions = [d["text"] + cite(d["lines"], st) for d in m["decisions"]]
    actions = [f"{a['owner']}：{a['task']}" + (f"（截止：{a['due']}）" if a.get("due") else "") + cite(a["lines"], st)
               for a in m["action_items"]]
    secs = [("会议概要", [m["summary"]]), ("议程与讨论", chapters), ("各方观点", views),
            ("决定事项", decisions or ["无明确决定。"]), ("待办事项", actions or ["无明确待办。"])]
    focus = (m.get("instruction") or {}).get("focus")
    first = {"action_items": "待办事项", "decisions": "决定事项", "by_speaker": "各方观点"}.get(focus or "")
    if first:
        secs.sort(key=lambda s: s[0] != first)
    return secs


def to_markdown(m: dict[str, Any]) -> str:
    out = [f"# {m['title']}", ""]
    if m.get("speakers"):
        out += [f"**参会发言人**：{'、'.join(m['speakers'])}", ""]
    instr = (m.get("instruction") or {}).get("text")
    if instr:
        out += [f"**整理要求**：{instr}", ""]
    for i, (heading, paras) in enumerate(_sections(m)):
        out += [f"## {SECTION_NUMBERS[i]}、{heading}", ""]
        out += ([f"- {p}" for p in paras] if heading != "会议概要" else paras) + [""]
    d = m.get("dropped") or {}
    if d.get("total"):
        out += [f"> 校验：{d['total']} 条无法由原文支持的条目已删除。", ""]
    return "\n".join(out)


def _set_font(run: Any, name: str, size: float, bold: bool = False) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    run.font.name = name
    run.font.size = Pt(size)
    run.font.bold = bold
    rpr = run._element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), name)


def to_docx_bytes(m: dict[str, Any]) -> bytes:
    """A 纪要 layout: 小标宋 title, 黑体 numbered headings, 仿宋 body (三号 = 16pt), citations inline."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    document = docx.Document()
    for s in document.sections:
        s.top_margin, s.bottom_margin, s.left_margin, s.right_margin = Cm(3.7), Cm(3.5), Cm(2.8), Cm(2.6)
    p = document.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _set_font(p.add_run(m["title"] or "会议纪要"), "方正小标宋简体", 22)
    if m.get("speakers"):
        _set_font(document.add_paragraph().add_run("参会发言人：" + "、".join(m["speakers"])), "仿宋_GB2312", 16)
    for i, (heading, paras) in enumerate(_sections(m)):
        _set_font(document.add_paragraph().add_run(f"{SECTION_NUMBERS[i]}、{heading}"), "黑体", 16)
        for text in paras:
            para = document.add_paragraph()
            para.paragraph_format.first_line_indent = Pt(32)
            para.paragraph_format.line_spacing = Pt(28)
            _set_font(para.add_run(text), "仿宋_GB2312", 16)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def write(m: dict[str, Any], fmt: str, path: Path) -> Path:
    import json

    if fmt == "docx":
        path.write_bytes(to_docx_bytes(m))
    elif fmt == "md":
        path.write_text(to_markdown(m), encoding="utf-8")
    else:
        path.write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")
    return path
