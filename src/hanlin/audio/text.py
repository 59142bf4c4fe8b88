"""Transcript text clean-up: simplified characters, Chinese punctuation, and glossary post-correction.

The glossary pass fixes Whisper's same-sound errors against the user's hotwords (names, products): a span of
the transcript whose pinyin matches a glossary term's is replaced by the term. Matching ignores tones, folds
the finals/initials Mandarin speakers and Whisper confuse (in/ing, en/eng, an/ang, z/zh, c/ch, s/sh, l/n), and
for terms of 3+ characters tolerates one syllable that differs only in its initial (故事康 → 富士康).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_CJK = r"\u4e00-\u9fff"
_ASCII_TO_CJK = {",": "，", "?": "？", "!": "！", ";": "；", ":": "，"}  # Whisper marks pauses with ":"
_END = "。！？…"
_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z",
             "c", "s", "y", "w")


@lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    return str(_t2s().convert(text))


def punctuate(text: str) -> str:
    """Full-width punctuation between Chinese characters, pauses (spaces) as commas, a final full stop."""
    text = text.strip()
    for a, b in _ASCII_TO_CJK.items():
        text = re.sub(rf"(?<=[{_CJK}])\s*{re.escape(a)}\s*|\s*{re.escape(a)}\s*(?=[{_CJK}])", b, text)
    text = re.sub(rf"(?<=[{_CJK}])\.(?!\d)", "。", text)
    text = re.sub(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])", "，", text)
    if text and text[-1] in "，,：:；;、":
        text = text[:-1] + "。"
    elif text and text[-1] not in _END + ".?!”\"」』）)":
        text += "。"
    return text


def clean(text: str) -> str:
    return punctuate(to_simplified(text))


# --- glossary --------------------------------------------------------------------------------------------
def _fold(syllable: str) -> str:
    s = syllable.lower()
    for a, b in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if s.startswith(a):
            s = b + s[2:]
    if s.startswith("l"):
        s = "n" + s[1:]
    for a, b in (("ing", "in"), ("eng", "en"), ("ang", "an")):
        if s.endswith(a):
            s = s[: -len(a)] + b
    return s


def _final(syllable: str) -> str:
    for ini in _INITIALS:
        if syllable.startswith(ini):
            return syllable[len(ini):]
    return syllable


def _syllables(text: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    return [_fold(p) for p in lazy_pinyin(text, style=Style.NORMAL, errors="default")]


def _sounds_like(span: list[str], term: list[str]) -> bool:
    diffs = [i for i, (a, b) in enumerate(zip(span, term, strict=True)) if a != b]
    if not diffs:
        return True
    return len(term) >= 3 and len(diffs) == 1 and _final(span[diffs[0]]) == _final(term[diffs[0]]) != ""


def correct(text: str, glossary: list[str]) -> tuple[str, list[tuple[str, str]]]:
    """``text`` with same-sound spans replaced by glossary terms, and the (wrong, right) pairs replaced."""
    fixes: list[tuple[str, str]] = []
    terms = sorted({t.strip() for t in glossary if len(t.strip()) >= 2 and re.fullmatch(rf"[{_CJK}]+", t.strip())},
                   key=len, reverse=True)
    if not terms or not re.search(rf"[{_CJK}]", text):
        return text, fixes
    chars = list(text)
    sounds = [(_syllables(c)[0] if re.match(rf"[{_CJK}]", c) else None) for c in chars]
    protected = [False] * len(chars)
    for term in terms:
        target = _syllables(term)
        n = len(term)
        i = 0
        while i + n <= len(chars):
            window = sounds[i:i + n]
            span = "".join(chars[i:i + n])
            if (None not in window and not any(protected[i:i + n]) and span != term
                    and _sounds_like(window, target)):  # type: ignore[arg-type]
                chars[i:i + n] = list(term)
                fixes.append((span, term))
                protected[i:i + n] = [True] * n
                i += n
            elif span == term:
                protected[i:i + n] = [True] * n
                i += n
            else:
                i += 1
    return "".join(chars), fixes
