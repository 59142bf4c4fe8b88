"""Code checks every cited item against the transcript.

- every cited index exists (and lies inside the part of the meeting the item was drawn from);
- a speaker's view cites that speaker's own utterances (other people's lines are trimmed; none left = fail);
- an action item's owner is who committed (``我来…``) or who was assigned (``请赵磊…``, ``你…前把…`` → the
  addressee) in the cited lines, as code reads them (extract.py); a model owner that is someone else is replaced
  by that person, and a task nobody took (``谁来…？``, ``回头再说``) fails; a due date the lines do not state is
  cleared;
- a decision's lines state a decision that is not negated (``不同意``, ``还没定``) nor refused right after
  (``不行``); a later correction of one of its numbers wins (``更正一下，是45万``);
- a view is the speaker's own point in their own lines, not their words copied at length (a copy is worded as
  reported speech by code, views.py, and marked ``source: reworded``);
- no invented speakers; the cited lines share words with the item (a lexical support check).
What fails is dropped and counted (pipeline.py may give it one repair turn first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hanlin.apps.minutes import extract, views
from hanlin.apps.minutes.transcript import Utterance

GROUP_OWNERS = ("全体", "大家", "各部门", "各位", "所有人", "团队", "双方", "everyone", "all", "team")
MIN_SUPPORT = 0.12


@dataclass
class Checker:
    """Verifies items against the utterances a chunk showed the model (``allowed``) and the whole meeting."""

    by_index: dict[int, Utterance]
    allowed: set[int]
    speakers: set[str]
    order: list[Utterance] = field(default_factory=list)  # the whole meeting in order (neighbours, corrections)

    def __post_init__(self) -> None:
        if not self.order:
            self.order = [self.by_index[i] for i in sorted(self.by_index)]
        self.pos_of = {u.index: p for p, u in enumerate(self.order)}
        self.people = list(dict.fromkeys([*(u.speaker for u in self.order), *sorted(self.speakers)]))

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
        if kind == "action_items":
            return self._check_action(item)
        return self._check_decision(item)

    def _check_decision(self, item: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        lines = item["lines"]
        stated = [i for i in lines if extract.states_decision(self.by_index[i].text)
                  or extract.approves(self.order, self.pos_of[i])]
        if not stated:  # a proposal settled in the next line (``同意，就这么定``) is a decision of that line
            nxt = self._next(max(lines))
            if nxt is not None and nxt.index in self.allowed and extract.states_decision(nxt.text):
                stated, lines = [nxt.index], [*lines, nxt.index]
        if not stated:
            return None, "所引行中没有表示决定或共识的话（提议、疑问或否定不算决定）"
        if extract.rejected_after(self.order, self.pos_of[max(stated)]):
            return None, "这项提议随后被否决了"
        text = extract.clause(str(item.get("text") or ""), 80)
        if support(text, self._cited_text(lines)) < MIN_SUPPORT:
            return None, "所引行的内容与条目不符"
        text, lines = extract.corrected(text, lines, self.order, self.pos_of, support)
        return {**item, "text": text, "lines": sorted(set(lines))}, None

    def _check_action(self, item: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        lines = item["lines"]
        task = extract.clause(str(item.get("task") or ""), 80)
        owner, reason = self._owner(item, lines, task)
        if owner is None:
            return None, reason
        cited = self._cited_text(lines)
        first = self.order[self.pos_of[min(lines)]]
        if extract.is_reply(first.text) and self.pos_of[first.index] > 0:  # ``好的，我来`` answers the line before
            cited = self.order[self.pos_of[first.index] - 1].text + "\n" + cited
        if support(task, cited) < MIN_SUPPORT:
            return None, "所引行的内容与条目不符"
        due = str(item.get("due") or "").strip()
        if due and due not in cited:  # a due date the lines do not state is invented: clear it
            due = ""
        task, lines = extract.corrected(task, lines, self.order, self.pos_of, support)
        out = {**item, "owner": owner, "task": task, "due": due, "lines": sorted(set(lines))}
        if owner != str(item.get("owner") or "").strip():
            out["owner_fixed_from"] = str(item.get("owner") or "")
        return out, None

    def _next(self, index: int) -> Utterance | None:
        p = self.pos_of.get(index)
        return self.order[p + 1] if p is not None and p + 1 < len(self.order) else None

    def _owner(self, item: dict[str, Any], lines: list[int], task: str) -> tuple[str | None, str]:
        """The person who committed or was assigned in the cited lines (code decides; the model's pick must match)."""
        said = str(item.get("owner") or "").strip()
        cands: list[tuple[float, str]] = []
        for i in lines:
            p = self.pos_of[i]
            for s in extract.sentences(self.order[p].text):
                for who in extract.sentence_owners(self.order, p, s, self.people):
                    cands.append((support(task, s), who))
        if not cands:
            cited = self._cited_text(lines)
            if said in GROUP_OWNERS and re.search(r"大家|各位|各部门|全体|所有人|everyone", cited, re.I):
                return said, ""
            return None, "所引行中没有人承诺或被分配这项任务"
        named = extract.resolve_name(said, [w for _, w in cands]) if said else None
        if named:
            return named, ""
        return max(cands, key=lambda c: c[0])[1], ""

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
        text = extract.clause(str(item.get("text") or ""), 80)
        if not text and not item.get("source"):  # the model pointed at the line (digest schema): code words it
            said = views.pointed([self.by_index[i] for i in own])
            if said is None:
                return None, "所引行中没有完整的观点"
            return {**item, "text": said[0], "lines": [said[1]], "source": "reworded"}, None
        cited = self._cited_text(own)
        if support(text, cited) < MIN_SUPPORT:
            return None, "所引行的内容与观点不符"
        if item.get("source"):  # worded by code already
            return {**item, "text": text, "lines": own}, None
        # a copy of any of the speaker's lines in the chapter (the model often cites one line and copies the next)
        mine = [self.by_index[i] for i in sorted(self.allowed) if self.by_index[i].speaker == speaker]
        if not views.copies(text, "\n".join(u.text for u in mine), self.people):
            return {**item, "text": text, "lines": own}, None
        said = views.reworded(text, mine, self.people)  # code words the copied sentence as reported speech
        if said is None:
            return None, "观点照抄了原话，没有提炼"
        return {**item, "text": said[0], "lines": [said[1]], "source": "reworded"}, None


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
