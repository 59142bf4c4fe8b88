"""Code checks every cited item against the transcript.

- every cited index exists (and lies inside the part of the meeting the item was drawn from);
- a speaker's view cites that speaker's own utterances (other people's lines are trimmed; none left = fail);
- an action item's owner is a speaker or is named in the cited lines, and the lines assign or promise a task
  (a due date the lines do not state is cleared); a decision's lines contain a decision/consensus phrase;
- no invented speakers;
- the cited lines share words with the item (a weak lexical support check, catches citations of unrelated lines).
Failed items go back to the model once with the reason (pipeline.py); what still fails is dropped and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hanlin.apps.minutes.transcript import Utterance

GROUP_OWNERS = ("全体", "大家", "各部门", "各位", "所有人", "团队", "双方", "everyone", "all", "team")
MIN_SUPPORT = 0.12
# a decision / a task must be stated somewhere in the cited lines, not just paraphrase a talk
DECISION_CUES = re.compile(r"决定|同意|通过|确定|定了|定下|定为|共识|一致|拍板|批准|就这样|就按|按照这个|没有异议|可以的|"
                           r"agree|decid|approv|conclu|settled", re.I)
ACTION_CUES = re.compile(r"负责|跟进|落实|完成|提交|准备|安排|去做|来做|要做|整理|联系|对接|下周|明天|之前|截止|尽快|任务|"
                         r"我来|我去|我会|麻烦|请你|请大家|will|'ll|action|follow|by (mon|tue|wed|thu|fri|next)", re.I)


@dataclass
class Checker:
    """Verifies items against the utterances a chunk showed the model (``allowed``) and the whole meeting."""

    by_index: dict[int, Utterance]
    allowed: set[int]
    speakers: set[str]

    def lines_of(self, item: dict[str, Any]) -> list[int]:
        raw = item.get("lines") or []
        out: list[int] = []
        for x in raw if isinstance(raw, list) else []:
            if isinstance(x, int) and not isinstance(x, bool) and x not in out:
                out.append(x)
        return out

    def check(self, kind: str, item: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """(verified item, None) or (None, reason in Chinese)."""
        lines = self.lines_of(item)
        if not lines:
            return None, "没有引用行号"
        missing = [i for i in lines if i not in self.by_index or i not in self.allowed]
        if missing:
            return None, f"引用的行号 {missing} 不在会议记录（或本段）中"
        item = {**item, "lines": sorted(lines)}
        if kind == "views":
            return self._check_view(item)
        cited = self._cited_text(item["lines"])
        if kind == "action_items":
            reason = self._owner_problem(item)
            if reason:
                return None, reason
            if not ACTION_CUES.search(cited):
                return None, "所引行中没有分配任务或承诺的话"
            due = str(item.get("due") or "").strip()
            if due and due not in cited:  # a due date the lines do not state is invented: clear it
                item = {**item, "due": ""}
        if kind == "decisions" and not DECISION_CUES.search(cited):
            return None, "所引行中没有表示决定或共识的话"
        text = str(item.get("text") or item.get("task") or "")
        if support(text, cited) < MIN_SUPPORT:
            return None, "所引行的内容与条目不符"
        return item, None

    def _cited_text(self, lines: list[int]) -> str:
        return "\n".join(self.by_index[i].text for i in lines)

    def _check_view(self, item: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        speaker = str(item.get("speaker") or "")
        if speaker not in self.speakers:
            return None, f"发言人“{speaker}”不在会议记录中"
        own = [i for i in item["lines"] if self.by_index[i].speaker == speaker]
        if not own:
            who = sorted({self.by_index[i].speaker for i in item["lines"]})
            return None, f"观点属于{speaker}，但所引行是{'、'.join(who)}说的"
        item = {**item, "lines": own}
        if support(str(item.get("text") or ""), self._cited_text(own)) < MIN_SUPPORT:
            return None, "所引行的内容与观点不符"
        return item, None

    def _owner_problem(self, item: dict[str, Any]) -> str | None:
        owner = str(item.get("owner") or "").strip()
        if not owner or owner in ("无", "未知", "未指定", "none", "unknown", "N/A"):
            return "待办没有负责人"
        if any(owner == s or (len(owner) >= 2 and (owner in s or s in owner)) for s in self.speakers):
            return None
        cited = self._cited_text(item["lines"])
        if owner in cited or owner.lower() in cited.lower() or _surname_title(owner, cited):
            return None
        if owner.lower() in GROUP_OWNERS or owner in GROUP_OWNERS:
            return None
        return f"负责人“{owner}”既不是发言人，也没有在所引行中被提到"


def _surname_title(owner: str, cited: str) -> bool:
    """``王经理`` / ``李总`` named as ``王总`` in the lines: same surname plus a title."""
    return len(owner) >= 2 and bool(re.search(re.escape(owner[0]) + r"(总|经理|老师|工|主任|局|处|部长|科长)", cited))


def _units(text: str) -> set[str]:
    """Chinese character bigrams plus lower-cased words: a tokenizer-free overlap unit."""
    text = text.lower()
    units = {w for w in re.findall(r"[a-z0-9]{3,}", text)}
    cjk = re.sub(r"[^\u4e00-\u9fff]", "", text)
    units |= {cjk[i:i + 2] for i in range(len(cjk) - 1)}
    return units


def support(item_text: str, cited_text: str) -> float:
    """Share of the item's units that occur in the cited lines (1.0 when the item has none)."""
    a = _units(item_text)
    if not a:
        return 1.0
    return len(a & _units(cited_text)) / len(a)


@dataclass
class VerifyStats:
    checked: int = 0
    passed: int = 0
    repaired: int = 0
    dropped: int = 0
    cited: int = 0  # cited indices the model produced (first answers)
    cited_valid: int = 0  # of those, indices that exist and, for views, are the speaker's own
    reasons: list[str] = field(default_factory=list)

    def add(self, other: VerifyStats) -> None:
        for k in ("checked", "passed", "repaired", "dropped", "cited", "cited_valid"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.reasons.extend(other.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "passed": self.passed, "repaired": self.repaired, "dropped": self.dropped,
                "cited_lines": self.cited, "cited_lines_valid": self.cited_valid,
                "cited_valid_share": round(self.cited_valid / self.cited, 4) if self.cited else None,
                "reasons": self.reasons[:20]}


def count_citations(checker: Checker, kind: str, item: dict[str, Any], stats: VerifyStats) -> None:
    for i in checker.lines_of(item):
        stats.cited += 1
        u = checker.by_index.get(i)
        ok = u is not None and i in checker.allowed
        if ok and kind == "views":
            ok = u is not None and u.speaker == item.get("speaker")
        stats.cited_valid += int(ok)


KINDS = ("views", "decisions", "action_items")


def verify_items(checker: Checker, data: dict[str, Any], stats: VerifyStats
                 ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Split a chunk answer into verified items per kind and failures ``{kind, item, reason}``."""
    good: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    failures: list[dict[str, Any]] = []
    for kind in KINDS:
        for item in data.get(kind) or []:
            if not isinstance(item, dict):
                continue
            stats.checked += 1
            count_citations(checker, kind, item, stats)
            fixed, reason = checker.check(kind, item)
            if fixed is not None:
                stats.passed += 1
                good[kind].append(fixed)
            else:
                failures.append({"kind": kind, "item": item, "reason": reason or ""})
    return good, failures
