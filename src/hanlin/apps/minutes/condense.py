"""What the model reads of a meeting too long to read whole in time (code still reads every utterance).

On two CPU cores the 1.5B prefills ~60–80 tokens/s, so reading a 45k-character meeting alone takes ~6 minutes.
Past a read budget each chapter is shown to the model **condensed**: the sentences that carry the minutes
(decisions, commitments, assignments, corrections, rejections, dates, agenda items), each speaker's most central
sentence, then the most central of the rest (a figure counts a little more), in their original order under their
own line numbers, with ``…`` where something was left out. Everything the model cites is still verified against the
whole utterance, and the code-found decisions and action items (extract.py) come from the whole chapter, not from
this digest.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from hanlin.apps.minutes.extract import clause, cue_weight, sentences
from hanlin.apps.minutes.segment import term_bag
from hanlin.apps.minutes.transcript import Utterance

MAX_SENTENCE = 120  # a kept sentence longer than this is cut at a clause boundary
MIN_SENTENCE = 6  # shorter ones (``对对对。``) are kept only for a cue
CUE_SHARE = 0.6  # cue sentences may take up to this share of a chapter's budget


def _bigrams(text: str) -> set[str]:
    return set(term_bag(text, min_latin=3))


@dataclass
class Rarity:
    """Document frequency of bigrams over the meeting's sentences: ``这个``/``我们`` are everywhere and weigh
    nothing; a chapter's own terms weigh most."""

    df: Counter[str]
    n: int

    @classmethod
    def of(cls, utts: list[Utterance]) -> Rarity:
        df: Counter[str] = Counter()
        n = 0
        for u in utts:
            for s in sentences(u.text):
                df.update(_bigrams(s))
                n += 1
        return cls(df, max(1, n))

    def idf(self, gram: str) -> float:
        return math.log((self.n + 1) / (self.df.get(gram, 0) + 1))


@dataclass
class _Sentence:
    pos: int  # utterance position in the chapter
    k: int  # sentence number in the utterance
    text: str
    cue: int
    score: float = 0.0


def condense(utts: list[Utterance], budget: int, rarity: Rarity | None = None) -> list[Utterance]:
    """``utts`` cut to about ``budget`` characters of text (unchanged when they fit), same indices and speakers.
    Utterances with nothing kept are left out."""
    if sum(len(u.text) for u in utts) <= budget:
        return utts
    rarity = rarity or Rarity.of(utts)
    cands = [_Sentence(p, k, clause(s, MAX_SENTENCE) if len(s) > MAX_SENTENCE else s, cue_weight(s))
             for p, u in enumerate(utts) for k, s in enumerate(sentences(u.text))]
    tf: Counter[str] = Counter()
    grams = [_bigrams(c.text) for c in cands]
    for g in grams:
        tf.update(g)
    for c, g in zip(cands, grams, strict=True):  # central to this chapter, rare in the meeting
        weight = sum(math.log1p(tf[x]) * rarity.idf(x) for x in g if tf[x] > 1)
        c.score = weight / math.sqrt(len(g) + 4) * (1.3 if c.cue == 1 else 1.0)  # a figure counts a little
    kept: set[int] = set()
    used = 0

    def take(i: int) -> bool:
        nonlocal used
        size = len(cands[i].text) + 1
        if i in kept or used + size > budget:
            return False
        kept.add(i)
        used += size
        return True

    order = sorted(range(len(cands)), key=lambda i: (-cands[i].cue, -cands[i].score))
    for i in order:  # what the minutes are made of, strongest cue first, up to a share of the budget
        if cands[i].cue >= 2 and used < budget * CUE_SHARE:
            take(i)
    best_of: dict[str, int] = {}  # every speaker who said something of substance is heard once
    for i in sorted(range(len(cands)), key=lambda i: -cands[i].score):
        who = utts[cands[i].pos].speaker
        if who not in best_of and len(cands[i].text) >= MIN_SENTENCE:
            best_of[who] = i
    for i in sorted(best_of.values(), key=lambda i: -cands[i].score):
        take(i)
    for i in sorted(range(len(cands)), key=lambda i: -cands[i].score):  # then the most central of the rest
        if len(cands[i].text) >= MIN_SENTENCE:
            take(i)
    return _render(utts, cands, kept)


def _render(utts: list[Utterance], cands: list[_Sentence], kept: set[int]) -> list[Utterance]:
    by_pos: dict[int, list[_Sentence]] = {}
    for i in sorted(kept, key=lambda i: (cands[i].pos, cands[i].k)):
        by_pos.setdefault(cands[i].pos, []).append(cands[i])
    n_of = Counter(c.pos for c in cands)
    out = []
    for pos, said in sorted(by_pos.items()):
        parts, last = [], -1
        for c in said:
            if c.k != last + 1:
                parts.append("…")
            parts.append(c.text)
            last = c.k
        if last != n_of[pos] - 1:
            parts.append("…")
        out.append(replace(utts[pos], text="".join(parts)))
    return out


def chapter_budgets(chapters: list[list[Utterance]], read_chars: int, floor: int = 500) -> list[int]:
    """The read budget shared out by chapter length (each at least ``floor``); a chapter that fits keeps all."""
    sizes = [sum(len(u.text) for u in ch) for ch in chapters]
    total = sum(sizes) or 1
    return [max(floor, int(read_chars * s / total)) for s in sizes]
