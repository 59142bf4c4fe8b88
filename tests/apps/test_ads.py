"""Ad copy: platform length limits and the Advertising Law's banned absolute terms, checked by code.

Unit tests script the model with a FakeEngine (flagged drafts, failed rewrites, over-long text); the e2e test
runs the real 0.5B model for every platform and checks the output with an independent term list.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from hanlin.apps.ads.app import AdRequest, make_ads
from hanlin.apps.ads.distinct import similarity, title_copies_brief
from hanlin.apps.ads.rules import (
    PLATFORMS,
    ad_length,
    dedupe_clauses,
    find_banned,
    rewrite_banned,
    truncate,
    unsupported_numbers,
)
from hanlin.engine.fake import FakeEngine
from hanlin.errors import BadRequest

# an independent list for the e2e assertions (not the module's own table)
ABSOLUTE = re.compile(r"国家级|世界级|最佳|最好|最高级|最优|顶级|绝对|唯一|首个|第一品牌|全网第一|销量第一|NO\.1|100%有效")


@pytest.mark.parametrize("text,terms", [
    ("全网最低价！国家级品质，绝对好用，NO.1品牌", ["最低价", "国家级", "绝对", "NO.1"]),
    ("我们是唯一的首个顶级品牌，最舒适", ["唯一", "首个", "顶级", "最"]),
    ("行业第一，100%有效", ["行业第一", "100%"]),
    ("最近上新，第一季度热销，100%纯棉，最后三天", []),  # false positives the scan must not flag
    ("第一时间发货，第一次购买立减10元", []),
])
def test_find_banned(text: str, terms: list[str]) -> None:
    assert [f.term for f in find_banned(text)] == terms
    for f in find_banned(text):
        assert "广告法" in f.reason


def test_rules_rewrite_removes_every_term() -> None:
    for text in ("全网最低价！国家级品质，绝对好用，NO.1品牌", "唯一的首个顶级品牌，最舒适，销量冠军"):
        fixed = rewrite_banned(text)
        assert fixed and not find_banned(fixed), fixed
    assert rewrite_banned("最近上新，第一季度热销") == "最近上新，第一季度热销"


def test_looping_clauses_collapsed() -> None:
    assert dedupe_clauses("双层真空，送杯套，送杯套，送杯套，送杯套") == "双层真空，送杯套"
    assert dedupe_clauses("一杯暖到心里。一杯暖到心里。") == "一杯暖到心里。"
    engine = FakeEngine(responses=[{"variants": [{"text": "12小时保温，送杯套，送杯套，送杯套"}]}])
    assert _run(engine, n=1)["variants"][0]["text"] == "12小时保温，送杯套"


def test_field_cut_by_the_grammar_backs_off_to_a_clause() -> None:
    title = "冬天捧在手里的那份暖意，双层真空保温，50"  # the 小红书 title cap stopped it mid-number
    engine = FakeEngine(responses=[{"variants": [{"title": title, "text": "双层真空，12小时保温"}]}])
    v = _run(engine, platform="小红书", n=1)["variants"][0]
    assert v["title"] == "冬天捧在手里的那份暖意，双层真空保温" and not v["flagged"]


def test_lengths() -> None:
    assert ad_length("中文") == 2 and ad_length("abcd") == 2 and ad_length("中a") == 2
    long = "这款保温杯采用双层真空设计，十二小时保温保冷。轻巧便携，适合上班通勤和户外出行。"
    cut = truncate(long, 25)
    assert ad_length(cut) <= 25 and long.startswith(cut) and cut.endswith("。")


def _run(engine: FakeEngine, **kw: Any) -> dict[str, Any]:
    return asyncio.run(make_ads(engine, AdRequest(product="保温杯，双层真空，12小时保温", **kw)))


def test_flagged_variant_rewritten_by_model() -> None:
    engine = FakeEngine(responses=[
        {"variants": [{"text": "最好用的保温杯，国家级品质"}, {"text": "一杯暖到心里，12小时保温"}]},
        {"text": "好用的保温杯，品质可靠"},
    ])
    out = _run(engine, platform="朋友圈", n=2)
    first, second = out["variants"]
    assert first["rewritten_by"] == "model" and first["text"] == "好用的保温杯，品质可靠"
    assert {f["term"] for f in first["flagged"]} == {"最好", "国家级"} and first["original"]["text"].startswith("最好")
    assert second["rewritten_by"] is None and not second["flagged"]
    assert out["checks"] == {"within_limits": True, "no_banned_terms": True, "numbers_supported": True,
                             "variant_count": True, "variants_distinct": True, "titles_not_brief": True}
    rewrite_prompt = engine.requests[1]["messages"][-1]["content"]
    assert "最好" in rewrite_prompt and "广告法" in rewrite_prompt  # the model is told why


def test_failed_model_rewrite_falls_back_to_rules() -> None:
    engine = FakeEngine(responses=[
        {"variants": [{"title": "顶级保温杯", "text": "绝对是最佳选择，唯一推荐"}]},
        {"title": "顶级好杯", "text": "依然是最佳选择"},  # the model's rewrite still breaks the law
    ])
    out = _run(engine, platform="小红书", n=1)
    v = out["variants"][0]
    assert v["rewritten_by"] == "rules" and v["flagged"]
    assert not find_banned(v["title"]) and not find_banned(v["text"]) and v["banned_terms"] == []
    assert out["checks"]["no_banned_terms"]


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_over_long_copy_is_cut_to_the_platform_limit(platform: str) -> None:
    p = PLATFORMS[platform]
    a, b, c = "早晚冬夏春秋昼夜", "办公通勤户外居家出差露营旅行运动", "温暖舒心贴心省心"
    long = "".join(f"{x}间{b[i:i + 2]}{c[j:j + 2]}，" for x in a for i in range(0, 16, 2) for j in range(0, 8, 2))
    assert ad_length(long) > 1000 and len(set(long.split("，"))) > 200  # distinct clauses: nothing to collapse
    engine = FakeEngine(responses=[{"variants": [{"title": "保温杯" * 30, "text": long}]}])
    v = _run(engine, platform=platform, n=1)["variants"][0]
    assert ad_length(v["text"]) <= p.text_max and v["within_limits"]
    assert "text" in v["truncated"]
    if p.title_max:
        assert 0 < ad_length(v["title"]) <= p.title_max


def test_invented_numbers_are_flagged_and_removed() -> None:
    assert unsupported_numbers("500毫升大容量，12小时保温", "保温杯，500毫升，12小时保温") == []
    assert unsupported_numbers("1000毫升，24小时保温", "保温杯，500毫升，12小时保温") == ["1000", "24"]
    # ads suite with the 1.5B: "一对一教学" for a brief that says 一对四; Chinese numerals before a measure word
    brief = "社区亲子游泳课：专业教练一对四教学，4至10岁儿童，首节体验课免费"
    assert unsupported_numbers("专业教练一对一教学，4至10岁", brief) == ["一对一"]
    assert unsupported_numbers("一对四教学，三个月学会游泳", brief) == ["三"]
    assert unsupported_numbers("来一杯，一次搞定", brief) == []
    engine = FakeEngine(responses=[
        {"variants": [{"text": "1000毫升大容量，12小时保温，送杯套"}]},
        {"text": "依旧1000毫升，12小时保温"},  # the rewrite keeps the invented number: rules step in
    ])
    out = asyncio.run(make_ads(engine, AdRequest(product="保温杯，500毫升，12小时保温，送杯套", n=1)))
    v = out["variants"][0]
    assert [f["term"] for f in v["flagged"]] == ["1000"] and v["flagged"][0]["kind"] == "unsupported_number"
    assert v["rewritten_by"] == "rules" and v["text"] == "12小时保温，送杯套"
    assert v["unsupported_numbers"] == [] and out["checks"]["numbers_supported"]


def test_identical_variants_and_copied_titles_are_asked_again() -> None:
    product = "某品牌保温杯，双层真空，12小时保温"
    same = {"title": "某品牌保温杯", "text": "双层真空设计，12小时保温，出门带上它"}
    engine = FakeEngine(responses=[
        {"variants": [same, dict(same), {"title": "冬日暖手好物", "text": "捧在手里的一杯热水，陪你度过寒冷早晨"}]},
        {"title": "通勤路上的热饮", "text": "早上装满热水，到了公司还是热乎的，12小时保温"},  # variant 1: title copied
        {"title": "送给爸妈的心意", "text": "双层真空，随时能喝上热水，适合长辈日常使用"},  # variant 2: a repeat
    ])
    out = asyncio.run(make_ads(engine, AdRequest(product=product, platform="小红书", n=3)))
    vs = out["variants"]
    assert [v["title"] for v in vs] == ["通勤路上的热饮", "送给爸妈的心意", "冬日暖手好物"]
    assert out["checks"]["variants_distinct"] and out["checks"]["titles_not_brief"]
    assert all(v["similarity"] < 0.6 and not v["title_copies_brief"] for v in vs)
    assert "已有文案" in engine.requests[1]["messages"][-1]["content"]  # the model was told what to differ from


def test_composed_fallback_when_the_model_keeps_repeating() -> None:
    same = {"text": "双层真空，12小时保温，冬天喝上热水"}
    engine = FakeEngine(responses=[{"variants": [same, same, same]}, same, same, same, same])
    out = _run(engine, platform="朋友圈", n=3)
    texts = [v["text"] for v in out["variants"]]
    assert len(set(texts)) == 3 and out["checks"]["variants_distinct"] and out["checks"]["within_limits"]
    assert all(similarity(a, b) < 0.6 for i, a in enumerate(texts) for b in texts[i + 1:])
    assert title_copies_brief("保温杯，双层真空", "保温杯，双层真空，12小时保温")
    assert not title_copies_brief("冬日暖手好物", "保温杯，双层真空，12小时保温")


def test_validation() -> None:
    with pytest.raises(BadRequest, match="platform"):
        AdRequest(product="x", platform="微博").validate()
    with pytest.raises(BadRequest):
        AdRequest(product="x", n=0).validate()
    with pytest.raises(BadRequest):
        AdRequest(product=" ").validate()


def test_rest_ad(fake_client: Any, fake_engine: FakeEngine) -> None:
    fake_engine.enqueue({"variants": [{"title": "冬日暖杯", "text": "12小时保温，通勤好伴侣"}]})
    r = fake_client.post("/v1/apps/ad", json={"product": "保温杯，12小时保温", "platform": "公众号", "n": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["platform"] == "公众号" and body["limits"] == {"title": 64, "text": 120}
    assert body["variants"][0]["title"] == "冬日暖杯" and body["checks"]["within_limits"]
    assert fake_client.post("/v1/apps/ad", json={"product": "x", "platform": "微博"}).status_code == 400


def test_cli_ad_with_fake_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    import hanlin.cli.ads as cli_ads
    from hanlin.cli.main import app

    async def fake_local_engine(*_a: Any, **_k: Any) -> FakeEngine:
        return FakeEngine(responses=[{"variants": [{"title": "顶级红糖", "text": "云南甘蔗古法熬制"},
                                                   {"title": "冬日暖饮", "text": "一口回甘，暖到心里"}]},
                                     {"title": "还是顶级", "text": "最好的红糖"}])
    monkeypatch.setattr(cli_ads, "local_engine", fake_local_engine)
    res = CliRunner().invoke(app, ["ad", "--product", "手工红糖", "--platform", "小红书", "--n", "2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{"):])
    assert [v["rewritten_by"] for v in out["variants"]] == ["rules", None]
    assert out["checks"]["no_banned_terms"] and not find_banned(out["variants"][0]["title"])
    human = CliRunner().invoke(app, ["ad", "--product", "手工红糖", "--platform", "朋友圈", "--n", "1"])
    assert human.exit_code == 0 and "朋友圈" in human.stdout


def _e2e_cli_ad(server: Any) -> None:
    import json

    proc = server.cli("ad", "--product", "手工红糖，云南甘蔗熬制", "--platform", "抖音", "--n", "1", "--json",
                      "--url", server.url, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["platform"] == "抖音" and len(out["variants"]) == 1
    assert all(ad_length(v["text"]) <= 55 and not v["banned_terms"] for v in out["variants"])


@pytest.mark.e2e
def test_e2e_ads_every_platform(server: Any) -> None:
    """One variant per platform over REST plus the CLI, all at once (the server batches them)."""
    from concurrent.futures import ThreadPoolExecutor

    def ask(platform: str) -> httpx.Response:
        return httpx.post(server.base_url + "/apps/ad", timeout=900,
                          json={"product": "某品牌保温杯，双层真空，12小时保温，500毫升", "platform": platform, "n": 1})
    with ThreadPoolExecutor(len(PLATFORMS) + 1) as pool:
        cli = pool.submit(_e2e_cli_ad, server)
        replies = dict(zip(PLATFORMS, pool.map(ask, PLATFORMS), strict=True))
        cli.result()
    for platform, r in replies.items():
        p = PLATFORMS[platform]
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["platform"] == platform and body["variants"], body
        for v in body["variants"]:
            assert 0 < ad_length(v["text"]) <= p.text_max
            if p.title_max:
                assert 0 < ad_length(v["title"]) <= p.title_max
            assert not ABSOLUTE.search(v["text"] + v.get("title", "")), v
            assert v["banned_terms"] == [] and v["within_limits"]
            if v["flagged"]:
                assert v["rewritten_by"] in ("model", "rules")  # flagged → rewritten, never silent
        assert body["checks"]["within_limits"] and body["checks"]["no_banned_terms"]


def test_platform_tags_and_empty_quotes_are_cleaned() -> None:
    from hanlin.apps.ads.app import _clean

    assert _clean("【小红书】你想要一杯“”品质的咖啡吗？") == "你想要一杯品质的咖啡吗？"
    assert _clean("[抖音] 好物推荐") == "好物推荐"
