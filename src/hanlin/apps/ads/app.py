"""Ad copy: the model writes variants (length capped by grammar), code checks each platform's limits and the
Advertising Law's banned absolute terms. A flagged variant is rewritten by the model with the reason, and by
deterministic rules when that still fails; the flags and who rewrote it are always in the output."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from hanlin.apps.ads import distinct, prompts
from hanlin.apps.ads.rules import (
    PLATFORMS,
    Platform,
    ad_length,
    dedupe_clauses,
    drop_clauses_with,
    find_banned,
    rewrite_banned,
    truncate,
    unsupported_numbers,
)
from hanlin.engine.ask import ask_json
from hanlin.engine.base import Engine
from hanlin.engine.manager import EngineManager
from hanlin.errors import BadRequest, EngineError, HanlinError
from hanlin.principal import Principal

APP_SCOPE = "app:ad"
MAX_VARIANTS = 10
NUMBERS_LAW = "《广告法》第十一条：广告使用数据应当真实、准确"
FIELDS = ("title", "text")


@dataclass
class AdRequest:
    product: str
    platform: str = "朋友圈"
    n: int = 3

    def validate(self) -> Platform:
        if not self.product.strip():
            raise BadRequest("The product description is empty (--product / \"product\").", param="product")
        if len(self.product) > 2000:
            raise BadRequest("The product description is over 2000 characters; shorten it.", param="product")
        if self.platform not in PLATFORMS:
            raise BadRequest(f"Unknown platform {self.platform!r}; use one of {'|'.join(PLATFORMS)}.",
                             param="platform")
        if not 1 <= self.n <= MAX_VARIANTS:
            raise BadRequest(f"n must be between 1 and {MAX_VARIANTS}; got {self.n}.", param="n")
        return PLATFORMS[self.platform]


def _trim_cut(text: str, cap: int) -> str:
    """The grammar stops a field at ``cap`` characters, mid-word ("12小时保温，50"): back off to the last
    clause boundary when the field ran into the cap."""
    if len(text) < cap:
        return text
    idx = max(text.rfind(m) for m in "，。！？；,!?;")
    return text[:idx].rstrip("，,；;") if idx >= len(text) // 2 else text


def _clean(text: str) -> str:
    """What a small model leaves in copy: the platform's name as a tag (``【小红书】``), empty quotes (``“”``)."""
    text = re.sub(r"^\s*[【\[]\s*[^】\]]{1,10}[】\]]\s*", "", text)
    return re.sub(r"“\s*”|\"\s*\"|「\s*」|《\s*》", "", text).strip()


def _fields(platform: Platform, raw: dict[str, Any]) -> dict[str, str]:
    caps = {"text": min(platform.text_max, prompts.GEN_TEXT_CAP), "title": platform.title_max}
    keys = ("text", "title") if platform.title_max else ("text",)
    return {k: _trim_cut(dedupe_clauses(_clean(str(raw.get(k, "")))), caps[k]) for k in keys}


def _findings(fields: dict[str, str], product: str) -> list[dict[str, Any]]:
    """Banned absolute terms, and numbers the product description does not state."""
    found = [{"field": k, "kind": "absolute_term", **f.to_dict()} for k, v in fields.items() for f in find_banned(v)]
    for k, v in fields.items():
        for n in unsupported_numbers(v, product):
            found.append({"field": k, "kind": "unsupported_number", "term": n, "start": v.find(n),
                          "reason": f"数字“{n}”在产品信息中没有出处：{NUMBERS_LAW}"})
    return found


def _rules_rewrite(fields: dict[str, str], product: str) -> dict[str, str]:
    out = {k: rewrite_banned(v) for k, v in fields.items()}
    return {k: drop_clauses_with(v, unsupported_numbers(v, product)) or v for k, v in out.items()}


def _over_limit(platform: Platform, fields: dict[str, str]) -> list[str]:
    lim = platform.limits()
    return [k for k, v in fields.items() if ad_length(v) > lim[k]]


async def _model_rewrite(engine: Engine, product: str, platform: Platform, fields: dict[str, str],
                         reasons: list[str], usage: dict[str, int]) -> dict[str, str] | None:
    try:
        res = await ask_json(engine, prompts.rewrite_messages(product, platform, fields, reasons),
                                  prompts.rewrite_schema(platform), name="ad_rewrite",
                                  max_tokens=_budget(platform, 1), temperature=0.4)
    except HanlinError:
        return None
    for k, v in res.usage.items():
        usage[k] = usage.get(k, 0) + v
    return _fields(platform, res.data) if isinstance(res.data, dict) else None


async def _finalize(engine: Engine, req: AdRequest, platform: Platform, fields: dict[str, str],
                    usage: dict[str, int]) -> dict[str, Any]:
    """Check one variant; rewrite when flagged (model first, then rules); enforce the length limit."""
    flagged = _findings(fields, req.product)
    original = dict(fields)
    rewritten_by: str | None = None
    if flagged:
        reasons = sorted({f["reason"] for f in flagged})
        candidate = await _model_rewrite(engine, req.product, platform, fields, reasons, usage)
        if candidate and all(candidate.values()) and not _findings(candidate, req.product) \
                and not _over_limit(platform, candidate):
            fields, rewritten_by = candidate, "model"
        else:
            fields, rewritten_by = _rules_rewrite(fields, req.product), "rules"
    truncated = _over_limit(platform, fields)
    fields = {k: truncate(v, platform.limits()[k]) for k, v in fields.items()}
    remaining = _findings(fields, req.product)
    lengths = {k: ad_length(v) for k, v in fields.items()}
    return {**fields, "length": lengths, "within_limits": not _over_limit(platform, fields) and all(fields.values()),
            "banned_terms": [f["term"] for f in remaining if f["kind"] == "absolute_term"],
            "unsupported_numbers": [f["term"] for f in remaining if f["kind"] == "unsupported_number"],
            "flagged": flagged, "rewritten_by": rewritten_by,
            "original": original if rewritten_by else None, "truncated": truncated}


def _budget(platform: Platform, n: int) -> int:
    chars = min(platform.text_max, prompts.GEN_TEXT_CAP) + platform.title_max
    return int(n * chars * 1.3) + 60


async def make_ads(engine: Engine, req: AdRequest) -> dict[str, Any]:
    platform = req.validate()
    res = await ask_json(engine, prompts.variants_messages(req.product, platform, req.n),
                              prompts.variants_schema(platform, req.n), name="ad_variants",
                              max_tokens=_budget(platform, req.n), temperature=0.8)
    usage = dict(res.usage)
    raw = res.data.get("variants") if isinstance(res.data, dict) else None
    drafts = [_fields(platform, v) for v in (raw or []) if isinstance(v, dict)][:req.n]
    drafts = [d for d in drafts if d.get("text")]
    if not drafts:
        raise EngineError("The model returned no usable ad variants; try again or use a larger model.")
    drafts = await _distinct(engine, req, platform, drafts, usage)
    variants = list(await asyncio.gather(*(_finalize(engine, req, platform, d, usage) for d in drafts)))
    for i, v in enumerate(variants):  # measured on what is shown (after any compliance rewrite)
        v["similarity"] = round(distinct.max_similarity(v, variants[:i] + variants[i + 1:]), 3)
        v["title_copies_brief"] = distinct.title_copies_brief(v.get("title", ""), req.product)
    checks = {"within_limits": all(v["within_limits"] for v in variants),
              "no_banned_terms": all(not v["banned_terms"] for v in variants),
              "numbers_supported": all(not v["unsupported_numbers"] for v in variants),
              "variant_count": len(variants) == req.n,
              "variants_distinct": all(v["similarity"] < distinct.MAX_SIMILARITY for v in variants),
              "titles_not_brief": not any(v["title_copies_brief"] for v in variants)}
    return {"product": req.product, "platform": platform.name, "limits": platform.limits(), "unit": "汉字",
            "variants": list(variants), "checks": checks, "usage": usage}


ASK_AGAIN = 2  # model attempts per variant that repeats another or copies the brief, before the composed fallback


async def _another(engine: Engine, req: AdRequest, platform: Platform, index: int, kept: list[dict[str, str]],
                   reasons: list[str], usage: dict[str, int], attempt: int) -> dict[str, str] | None:
    messages = prompts.another_messages(req.product, platform, index, [distinct.ad_text(k) for k in kept], reasons)
    try:
        res = await ask_json(engine, messages, prompts.rewrite_schema(platform), name="ad_variant",
                                  max_tokens=_budget(platform, 1), temperature=0.9, seed=1000 * index + attempt)
    except HanlinError:
        return None
    for k, v in res.usage.items():
        usage[k] = usage.get(k, 0) + v
    fields = _fields(platform, res.data) if isinstance(res.data, dict) else None
    return fields if fields and fields.get("text") else None


async def _distinct(engine: Engine, req: AdRequest, platform: Platform, drafts: list[dict[str, str]],
                    usage: dict[str, int]) -> list[dict[str, str]]:
    """``req.n`` variants that differ from each other (bigram Jaccard < 0.6) with titles that are not the brief:
    a repeat or a copied title is asked again with the reason and another angle, then composed by code."""
    kept: list[dict[str, str]] = []
    for i in range(req.n):
        cand = drafts[i] if i < len(drafts) else None
        for attempt in range(ASK_AGAIN + 1):
            why = distinct.problems(cand, kept, req.product) if cand else ["缺少这一条"]
            if not why:
                break
            cand = await _another(engine, req, platform, i, kept, why, usage, attempt) if attempt < ASK_AGAIN \
                else None
        if cand is None or distinct.problems(cand, kept, req.product):
            options = [distinct.composed(req.product, i + j, bool(platform.title_max)) for j in range(6)]
            cand = min(options, key=lambda o: distinct.max_similarity(o, kept))
        kept.append(cand)
    return kept


class AdService:
    def __init__(self, engines: EngineManager) -> None:
        self.engines = engines

    async def create(self, req: AdRequest, model: str | None = None, *, principal: Principal) -> dict[str, Any]:
        req.validate()
        engine = await self.engines.get(model, principal=principal, app=APP_SCOPE)
        return await make_ads(engine, req)

