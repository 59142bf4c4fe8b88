"""Extractive fallbacks: sentences that state a decision or assign a task, cited to their utterance.

Used when the model finds none in a chapter (small models often return empty arrays). They go through the same
verification as model items and are marked ``"source": "extractive"``.
"""

from __future__ import annotations

import re
from typing import Any

from hanlin.apps.minutes.transcript import Utterance

_DECISION = re.compile(r"(我们|大家|会议|一致|最终|最后)(就)?(决定|同意|通过|确定|定下来|拍板)|就这么定|"
                       r"\b(we|we've|we have)\s+(decided|agreed)\b", re.I)
_ACTION = re.compile(r"(由|请|让)(?P<who>[\u4e00-\u9fffA-Za-z0-9]{1,6}?)(来)?(负责|牵头|跟进|落实|完成|整理|准备|提交)|"
                     r"(?P<me>我来|我负责|我去|我会在|我下周|我明天)|"
                     r"\b(?P<en>I will|I'll|I'm going to)\b", re.I)
_DUE = re.compile(r"(\d{1,2}月\d{1,2}[日号]|下周[一二三四五六日天]?|本周[一二三四五六日天]?|明天|后天|月底|周[一二三四五六日]|"
                  r"\d{1,2}号|年底|季度末|next week|tomorrow|by \w+day)", re.I)
_SENT = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]?")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.findall(text) if len(s.strip()) >= 6]


def extractive_items(utts: list[Utterance], speakers: set[str], per_kind: int = 2) -> dict[str, list[dict[str, Any]]]:
    decisions: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for u in utts:
        for s in _sentences(u.text):
            if len(decisions) < per_kind and _DECISION.search(s):
                decisions.append({"text": s[:80], "lines": [u.index]})
            m = _ACTION.search(s)
            if m and len(actions) < per_kind:
                owner = u.speaker if (m.group("me") or m.group("en")) else _owner(m.group("who") or "", speakers)
                if owner:
                    due = _DUE.search(s)
                    actions.append({"owner": owner, "task": s[:80], "due": due.group(0) if due else "",
                                    "lines": [u.index]})
    return {"views": [], "decisions": decisions, "action_items": actions}


def _owner(who: str, speakers: set[str]) -> str:
    for s in speakers:
        if s and (s in who or who in s) and len(who) >= 2:
            return s
    return who if len(who) >= 2 else ""


def fallback_summary(utts: list[Utterance], max_chars: int) -> str:
    """The chapter's first sentences, when the model gave no summary."""
    out = ""
    for u in utts:
        for s in _sentences(u.text):
            if len(out) + len(s) > max_chars:
                return out or s[:max_chars]
            out += s
    return out or (utts[0].text[:max_chars] if utts else "")
