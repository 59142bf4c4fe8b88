"""Prompts and schemas for ad copy: variants per platform, and the compliance rewrite."""

from __future__ import annotations

from typing import Any

from hanlin.apps.ads.distinct import ANGLES
from hanlin.apps.ads.rules import LAW, Platform

GEN_TEXT_CAP = 300  # 小红书 allows 1000 字; generating that much on CPU is slow and rarely wanted

STYLE = {
    "朋友圈": "像朋友分享一样亲切自然，一两句话，突出一个卖点。",
    "公众号": "标题吸引人点开，摘要说清楚产品价值和适用人群。",
    "抖音": "口语化、节奏快、有画面感，适合短视频口播。",
    "小红书": "真实体验分享口吻，可用少量表情符号，标题简短有亮点，正文分几点说使用感受。",
    "搜索广告": "标题包含产品关键词，描述写清卖点和行动号召（如“立即咨询”），简洁直接。",
}


def _field(max_len: int, min_len: int = 2) -> dict[str, Any]:
    return {"type": "string", "minLength": min_len, "maxLength": max_len}


def variants_schema(platform: Platform, n: int) -> dict[str, Any]:
    props: dict[str, Any] = {"text": _field(min(platform.text_max, GEN_TEXT_CAP), 4)}
    if platform.title_max:
        props["title"] = _field(platform.title_max)
    item = {"type": "object", "properties": props, "required": list(props)}
    return {"type": "object", "properties": {"variants": {"type": "array", "items": item, "minItems": n,
                                                          "maxItems": n}},
            "required": ["variants"]}


def rewrite_schema(platform: Platform) -> dict[str, Any]:
    item: dict[str, Any] = variants_schema(platform, 1)["properties"]["variants"]["items"]
    return item


def _limits_text(platform: Platform) -> str:
    parts = [f"标题不超过 {platform.title_max} 字"] if platform.title_max else []
    parts.append(f"正文不超过 {min(platform.text_max, GEN_TEXT_CAP)} 字")
    return "，".join(parts)


SYSTEM = ("你是资深广告文案策划，熟悉《中华人民共和国广告法》。只输出 JSON。\n"
          "硬性要求：{law}，因此不得出现“最”“第一”“国家级”“顶级”“绝对”“唯一”“首个”“100%”等词；"
          "不得虚构数据、奖项和功效承诺。")


def _angles(n: int) -> str:
    return "；".join(f"第{i + 1}条{ANGLES[i % len(ANGLES)]}" for i in range(n))


def variants_messages(product: str, platform: Platform, n: int) -> list[dict[str, Any]]:
    title = "标题要自己拟，不要照抄产品信息；" if platform.title_max else ""
    user = (f"产品信息：{product.strip()}\n投放平台：{platform.name}（{platform.note}）\n"
            f"风格：{STYLE.get(platform.name, '')}\n"
            f"请写 {n} 条角度和措辞都不相同的广告文案（{_angles(n)}），{title}{_limits_text(platform)}。")
    return [{"role": "system", "content": SYSTEM.format(law=LAW)}, {"role": "user", "content": user}]


def another_messages(product: str, platform: Platform, index: int, existing: list[str],
                     reasons: list[str]) -> list[dict[str, Any]]:
    """One more variant, unlike the ones already written (the model repeated itself or copied the brief)."""
    have = "\n".join(f"- {t}" for t in existing) or "（无）"
    title = "标题要自己拟，不要照抄产品信息；" if platform.title_max else ""
    user = (f"产品信息：{product.strip()}\n投放平台：{platform.name}（{platform.note}）\n"
            f"风格：{STYLE.get(platform.name, '')}\n已有文案：\n{have}\n问题：{'；'.join(reasons)}\n"
            f"请再写 1 条与已有文案明显不同的文案：{ANGLES[index % len(ANGLES)]}，换用不同的词语和句式，"
            f"{title}{_limits_text(platform)}。")
    return [{"role": "system", "content": SYSTEM.format(law=LAW)}, {"role": "user", "content": user}]


def rewrite_messages(product: str, platform: Platform, variant: dict[str, str], reasons: list[str]) -> list[dict[str, Any]]:
    original = "\n".join(f"{k}：{v}" for k, v in variant.items() if v)
    user = (f"产品信息：{product.strip()}\n投放平台：{platform.name}\n下面这条广告文案不合规：\n{original}\n"
            "问题：\n" + "\n".join(f"- {r}" for r in reasons) +
            f"\n请改写这条文案：保留原意和卖点，删除或替换上述用语，{_limits_text(platform)}。")
    return [{"role": "system", "content": SYSTEM.format(law=LAW)}, {"role": "user", "content": user}]
