"""RAG eval suites: metrics helpers, and the rgb suite end to end over a tiny data set and the FakeEngine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hanlin.engine.fake import FakeEngine
from hanlin.evals.base import EvalContext
from hanlin.evals.rag import check_answer, em_f1, rgb


def test_check_answer_rgb_semantics() -> None:
    assert check_answer("死亡人数为12人", ["12人"])
    assert check_answer("冠军是阿根廷队，亚军法国", [["阿根廷", "Argentina"], "法国"])
    assert not check_answer("冠军是阿根廷队", [["阿根廷"], "法国"])


def test_em_f1_official_normalization() -> None:
    assert em_f1("1949年。", ["1949年"]) == (1.0, 1.0)
    em, f1 = em_f1("在1949年10月", ["1949年"])
    assert em == 0.0 and 0.5 < f1 < 1.0
    assert em_f1("", ["北京"]) == (0.0, 0.0)


def test_rgb_suite_runs_the_pipeline(tmp_path: Path) -> None:
    folder = tmp_path / "rgb_zh"
    folder.mkdir()
    item = {"id": 0, "query": "2022年卡塔尔世界杯冠军是哪支球队？", "answer": [["阿根廷"]],
            "positive": ["2022年卡塔尔世界杯决赛中，阿根廷队通过点球大战击败法国队，夺得冠军。"],
            "negative": ["2018年俄罗斯世界杯，法国队夺得冠军。", "卡塔尔是位于西亚的国家，首都是多哈。"]}
    (folder / "zh_refine_dev.jsonl").write_text(json.dumps(item, ensure_ascii=False) + "\n", encoding="utf-8")

    def responder(body: dict) -> str:  # type: ignore[type-arg]
        prompt = "\n".join(m["content"] for m in body["messages"])
        if "资料：" not in prompt:
            return "我不知道。"  # closed book
        return "阿根廷队夺得冠军[1]。" if "阿根廷" in prompt else "资料中没有找到相关信息。"

    ctx = EvalContext(engine=FakeEngine("fake", responder=responder), model="fake", data_dir=tmp_path)
    res = asyncio.run(rgb(ctx))
    assert res.n == 1
    assert res.metrics["hit@1"] == 1.0 and res.metrics["accuracy"] == 1.0 and res.metrics["cited_gold"] == 1.0
    assert res.metrics["rejection_rate"] == 1.0
    assert res.baselines["closed_book"]["accuracy"] == 0.0
