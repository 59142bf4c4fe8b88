"""Variants that differ, and titles that are not the brief: measured by code, repaired by asking again, and by a
deterministic composition as the last resort.

Two "variants" a small model returns are often the same sentence, and its titles are often the product brief
copied. Similarity is the Jaccard index of the character bigrams of title + text (punctuation and spaces ignored);
variants at or above ``MAX_SIMILARITY`` count as the same ad.
"""

from __future__ import annotations

import re

MAX_SIMILARITY = 0.6
ANGLES = (
    "突出最核心的一个卖点和它带来的好处",
    "描写一个具体的使用场景（时间、地点、人物）",
    "从使用者的感受和心情出发，口吻亲切",
    "用一个提问开头，引出产品如何解决问题",
    "说明它适合哪些人、什么场合，适合送礼还是自用",
    "强调做工、材料或细节带来的放心",
)
# openers for the deterministic composition: neutral (no claim the brief does not make, no banned term)
_OPENERS = ("日常好物推荐：", "出门在外也安心：", "给生活添一份便利：", "这份实用，看得见：", "自用送人都合适：",
            "细节里见用心：")
_TITLE_WORDS = ("好物推荐", "实用之选", "日常好帮手", "安心之选", "生活好物", "值得一试")
_PUNCT = re.compile(r"[\s，。！？、；：,.!?;:“”\"'（）()【】\[\]#~—…·]")


def _norm(text: str) -> str:
    return _PUNCT.sub("", text or "")


def bigrams(text: str) -> set[str]:
    t = _norm(text)
    return {t[i:i + 2] for i in range(len(t) - 1)} or ({t} if t else set())


def similarity(a: str, b: str) -> float:
    """Jaccard index of character bigrams (punctuation ignored)."""
    x, y = bigrams(a), bigrams(b)
    return len(x & y) / len(x | y) if x and y else 0.0


def ad_text(variant: dict[str, str]) -> str:
    return f"{variant.get('title', '')} {variant.get('text', '')}".strip()


def max_similarity(variant: dict[str, str], others: list[dict[str, str]]) -> float:
    return max((similarity(ad_text(variant), ad_text(o)) for o in others), default=0.0)


def title_copies_brief(title: str, product: str) -> bool:
    """The title is the brief, or a piece of it copied verbatim (at least 4 characters), or contains all of it."""
    t, p = _norm(title), _norm(product)
    if not t:
        return False
    return t == p or (len(t) >= 4 and t in p) or (len(p) >= 4 and p in t)


def clauses(product: str) -> list[str]:
    return [c.strip() for c in re.split(r"[，,。；;、！!？?\n]+", product) if c.strip()]


def composed(product: str, index: int, with_title: bool) -> dict[str, str]:
    """A deterministic variant ``index``: an opener and the brief's clauses in a rotated order (no new claims)."""
    parts = clauses(product) or [product.strip()]
    k = index % len(parts)
    rotated = parts[k:] + parts[:k]
    body = "，".join(rotated[:3]) + "。"
    out = {"text": _OPENERS[index % len(_OPENERS)] + body}
    if with_title:
        name = min(parts, key=len) if len(parts) > 1 else parts[0][:8]
        out["title"] = f"{name[:10]}｜{_TITLE_WORDS[index % len(_TITLE_WORDS)]}"
    return out


def problems(variant: dict[str, str], kept: list[dict[str, str]], product: str) -> list[str]:
    """Why ``variant`` cannot stand beside ``kept``: too similar to one, or its title is the brief."""
    out = []
    sim = max_similarity(variant, kept)
    if sim >= MAX_SIMILARITY:
        out.append(f"与已有文案太相似（相似度 {sim:.2f}），请换一个角度和说法")
    if variant.get("title") and title_copies_brief(variant["title"], product):
        out.append("标题照抄了产品信息，请另拟一个有吸引力的标题")
    return out
