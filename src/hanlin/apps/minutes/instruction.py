"""Turn a plain-language instruction into a real filter over the utterances, plus a focus for the prompts.

"只整理预算相关讨论" keeps utterances about the topic (and one neighbour each side for context);
"只看张伟的发言" keeps that speaker's utterances; "只看前一小时" / "最后20分钟" / "00:10-00:40" keep a time window
(estimated from text length at ~4 characters a second when the transcript has no timestamps);
"列出所有待办" / "按发言人整理" / "只要决定" set the focus of prompts and layout. Indices stay the original ones,
so citations still point into the full transcript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hanlin.apps.minutes.transcript import Utterance, parse_time
from hanlin.errors import UnprocessableInput

CHARS_PER_SECOND = 4.0  # Chinese speech ≈ 220-260 characters a minute
_CN_NUM = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
           "半": 0.5}
_SYNONYMS = {
    "预算": ["预算", "经费", "费用", "成本", "资金", "花费", "开支", "钱", "万元", "报价", "价格"],
    "人员": ["人员", "招聘", "人手", "团队", "编制", "人力"],
    "进度": ["进度", "时间表", "排期", "里程碑", "延期", "上线", "节点"],
    "风险": ["风险", "问题", "隐患", "担心", "困难"],
    "市场": ["市场", "客户", "用户", "销售", "推广", "渠道"],
    "技术": ["技术", "系统", "架构", "开发", "算法", "平台"],
}
_TOPIC_PATTERNS = [
    r"(?:只|仅)?(?:整理|看|要|关注|总结|保留)(?:一下)?(?:和|与|跟|关于|有关)?(?P<t>[^，,。；;]{1,12}?)(?:相关|有关|方面)(?:的)?(?:讨论|内容|部分|议题|发言)?",
    r"关于(?P<t>[^，,。；;的]{1,12})的(?:讨论|内容|部分|议题)",
    r"(?:only|just)\s+(?:the\s+)?(?:discussion|parts?)\s+(?:about|on)\s+(?P<t>[\w\s-]{2,30})",
]


@dataclass
class Plan:
    """What an instruction asks for; ``apply`` does the filtering."""

    text: str = ""
    speakers: list[str] = field(default_factory=list)
    time_window: tuple[float, float] | None = None  # seconds
    topic: str | None = None
    keywords: list[str] = field(default_factory=list)
    focus: str | None = None  # action_items | decisions | by_speaker

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "speakers": self.speakers, "topic": self.topic, "keywords": self.keywords,
                "time_window_s": list(self.time_window) if self.time_window else None, "focus": self.focus}


def _num(s: str) -> float:
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return float(s)
    if s in _CN_NUM:
        return float(_CN_NUM[s])
    if len(s) == 2 and s[0] == "十":
        return 10 + _CN_NUM.get(s[1], 0)
    if len(s) >= 2 and s[-1] == "十":
        return _CN_NUM.get(s[0], 1) * 10
    if len(s) == 3 and s[1] == "十":
        return _CN_NUM.get(s[0], 1) * 10 + _CN_NUM.get(s[2], 0)
    return 0.0


def _duration(instr: str) -> tuple[str, float] | None:
    """('first'|'last', seconds) for 前一小时 / 最后20分钟 / first 30 minutes / 前半小时."""
    m = re.search(r"(前|最后|后|first|last)\s*([\d.]+|[一两二三四五六七八九十半]{1,3})\s*(?:个)?\s*"
                  r"(小时|钟头|分钟|分|hours?|minutes?|mins?)", instr, re.I)
    if not m:
        return None
    n = _num(m.group(2))
    unit = 3600 if m.group(3).lower().startswith(("小", "钟", "h")) else 60
    side = "first" if m.group(1).lower() in ("前", "first") else "last"
    return side, n * unit


def parse_instruction(instr: str | None, speakers: list[str]) -> Plan:
    plan = Plan(text=(instr or "").strip())
    s = plan.text
    if not s:
        return plan
    plan.speakers = [sp for sp in speakers if sp and re.search(re.escape(sp) + r"(?!\d)", s)
                     and not re.search("按" + re.escape(sp), s)]
    if re.search(r"待办|任务|行动项|action items?|to-?dos?", s, re.I):
        plan.focus = "action_items"
    elif re.search(r"决定|决议|结论|decisions?", s, re.I):
        plan.focus = "decisions"
    elif re.search(r"按发言人|按人|各方观点|每个人|by speaker", s, re.I):
        plan.focus = "by_speaker"
    m = re.search(r"(\d{1,2}:\d{2}(?::\d{2})?)\s*(?:-|–|~|到|至|to)\s*(\d{1,2}:\d{2}(?::\d{2})?)", s)
    if m:
        plan.time_window = (parse_time(m.group(1)), parse_time(m.group(2)))
    elif (d := _duration(s)) is not None:
        side, secs = d
        plan.time_window = (0.0, secs) if side == "first" else (-secs, 0.0)  # negative: from the end
    for pat in _TOPIC_PATTERNS:
        tm = re.search(pat, s, re.I)
        if tm and tm.group("t").strip() and not any(sp in tm.group("t") for sp in plan.speakers):
            plan.topic = tm.group("t").strip()
            break
    if plan.topic:
        plan.keywords = topic_keywords(plan.topic)
    return plan


def topic_keywords(topic: str) -> list[str]:
    import jieba

    words = [w for w in jieba.lcut(topic) if len(w.strip()) >= 2] or [topic]
    out: list[str] = []
    for w in [topic, *words]:
        for key, syns in _SYNONYMS.items():
            if key in w or w in syns:
                out.extend(syns)
        out.append(w)
    return list(dict.fromkeys(x.lower() for x in out if x.strip()))


def _starts(utts: list[Utterance]) -> list[float]:
    if all(u.start is not None for u in utts):
        return [float(u.start or 0.0) for u in utts]
    out, t = [], 0.0
    for u in utts:
        out.append(t)
        t += len(u.text) / CHARS_PER_SECOND
    return out


def apply_plan(plan: Plan, utts: list[Utterance]) -> list[Utterance]:
    """The utterances the minutes should cover (original indices kept)."""
    keep = list(utts)
    if plan.time_window:
        starts = _starts(utts)
        lo, hi = plan.time_window
        if lo < 0:  # "last N minutes"
            end = starts[-1] + len(utts[-1].text) / CHARS_PER_SECOND if starts else 0.0
            lo, hi = end + lo, end + 1
        keep = [u for u, t in zip(utts, starts, strict=True) if lo <= t < hi]
    if plan.speakers:
        keep = [u for u in keep if u.speaker in plan.speakers]
    if plan.keywords:
        pos = {u.index: i for i, u in enumerate(keep)}
        hits = {pos[u.index] for u in keep if any(k in u.text.lower() for k in plan.keywords)}
        near = {j for i in hits for j in (i - 1, i, i + 1) if 0 <= j < len(keep)}
        keep = [keep[i] for i in sorted(near)]
    if not keep:
        raise UnprocessableInput(f"The instruction '{plan.text}' leaves no utterances to summarise "
                                 f"(filter: {plan.to_dict()}). Loosen the topic, speaker or time range.",
                                 param="instruction")
    return keep
