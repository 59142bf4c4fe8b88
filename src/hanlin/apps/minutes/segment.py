"""Split a meeting into chapters at topic shifts (TextTiling-style lexical dips), sized for one prompt each."""

from __future__ import annotations

import math
import re
from collections import Counter

from hanlin.apps.minutes.transcript import Utterance

WINDOW = 3  # utterances each side of a gap when measuring lexical cohesion


def term_bag(text: str, min_latin: int = 4) -> Counter[str]:
    """Han-character bigrams and Latin words of at least ``min_latin`` letters, counted (lower-cased)."""
    text = text.lower()
    cjk = re.sub(r"[^\u4e00-\u9fff]", "", text)
    bag: Counter[str] = Counter(cjk[i:i + 2] for i in range(len(cjk) - 1))
    bag.update(w for w in re.findall(rf"[a-z]{{{min_latin},}}", text))
    return bag


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def gap_scores(utts: list[Utterance]) -> list[float]:
    """Cohesion across the gap after utterance i (lower = more likely a topic shift)."""
    bags = [term_bag(u.text[:600]) for u in utts]
    scores = []
    for i in range(len(utts) - 1):
        left: Counter[str] = Counter()
        right: Counter[str] = Counter()
        for b in bags[max(0, i - WINDOW + 1):i + 1]:
            left.update(b)
        for b in bags[i + 1:i + 1 + WINDOW]:
            right.update(b)
        scores.append(_cosine(left, right))
    return scores


def chapter_count(utts: list[Utterance], target_chars: int, max_chapters: int, max_utts: int) -> int:
    total = sum(len(u.text) for u in utts)
    by_chars = min(max_chapters, max(1, math.ceil(total / max(1, target_chars))))
    return min(len(utts), max(by_chars, math.ceil(len(utts) / max_utts)))


def segment(utts: list[Utterance], *, target_chars: int = 4000, max_chapters: int = 12,
            max_utts: int = 60) -> list[list[Utterance]]:
    """Chapters of consecutive utterances; each boundary is the lowest-cohesion gap near an even split."""
    n = chapter_count(utts, target_chars, max_chapters, max_utts)
    if n <= 1:
        return [utts]
    scores = gap_scores(utts)
    cum, acc = [], 0
    for u in utts:
        acc += len(u.text)
        cum.append(acc)
    total = cum[-1]
    cuts: list[int] = []  # a cut after utterance position i
    for k in range(1, n):
        ideal = total * k / n
        slack = total / n * 0.35
        lo = cuts[-1] + 1 if cuts else 0
        cands = [i for i in range(lo, len(utts) - 1) if abs(cum[i] - ideal) <= slack]
        if not cands:
            cands = [min(range(lo, len(utts) - 1), key=lambda i: abs(cum[i] - ideal))] if lo < len(utts) - 1 else []
        if not cands:
            break
        cuts.append(min(cands, key=lambda i: (scores[i], abs(cum[i] - ideal))))
    chapters, start = [], 0
    for c in cuts:
        chapters.append(utts[start:c + 1])
        start = c + 1
    chapters.append(utts[start:])
    out = [c for c in chapters if c]
    return _split_long(out, max_utts)


def _split_long(chapters: list[list[Utterance]], max_utts: int) -> list[list[Utterance]]:
    out: list[list[Utterance]] = []
    for ch in chapters:
        while len(ch) > max_utts:
            out.append(ch[:max_utts])
            ch = ch[max_utts:]
        out.append(ch)
    return out
