"""The vcsum/qmsum suites, called directly on a scripted engine: metric plumbing and the lead-300 baseline."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from hanlin.engine.fake import FakeEngine
from hanlin.evals.base import EvalContext, default_data_dir
from hanlin.evals.suites import get_suite

DATA = default_data_dir()


def _echo(body: dict[str, Any]) -> str:
    """Valid JSON for any minutes schema: the first printed line as the summary, citing it."""
    props = body["response_format"]["json_schema"]["schema"]["properties"]
    user = body["messages"][-1]["content"]
    if "views" not in props:
        return json.dumps({"title": "会议", "summary": user[:200]}, ensure_ascii=False)
    ids = props["views"]["items"]["properties"]["lines"]["items"]["enum"]
    speakers = props["views"]["items"]["properties"]["speaker"]["enum"]
    out = {"views": [{"speaker": speakers[0], "text": "观点", "lines": [ids[0]]}], "decisions": [],
           "action_items": []}
    if "title" in props:
        out.update(title="议题", summary=user.split("：", 1)[-1][:150])
    return json.dumps(out, ensure_ascii=False)


@pytest.mark.skipif(not (DATA / "vcsum" / "vcsum_dev.jsonl").exists(), reason="shared/eval/vcsum not present")
def test_vcsum_suite_scores_against_lead_300() -> None:
    spec = get_suite("vcsum")
    ctx = EvalContext(engine=FakeEngine(responder=_echo), model="fake", data_dir=DATA, options={"split": "dev"})
    res = asyncio.run(spec.fn(ctx))
    assert res.n == 22
    lead = res.baselines["lead-300"]
    assert lead["rouge_l"] == pytest.approx(0.1489, abs=0.003)  # shared/eval/vcsum/README.txt, dev split
    assert lead["rouge_1"] == pytest.approx(0.1806, abs=0.003)
    assert 0 < res.metrics["rouge_l"] < 1
    assert 0 < res.metrics["cited_valid_share"] <= 1
    assert all(d["chapters"] >= 1 for d in res.details)


@pytest.mark.skipif(not (DATA / "qmsum" / "qmsum_test.jsonl").exists(), reason="shared/eval/qmsum not present")
def test_qmsum_suite_runs_on_english_meetings() -> None:
    spec = get_suite("qmsum")
    engine = FakeEngine(responder=_echo)
    ctx = EvalContext(engine=engine, model="fake", data_dir=DATA, limit=1)
    res = asyncio.run(spec.fn(ctx))
    assert res.n == 1 and "lead-300" in res.baselines
    assert "You write meeting minutes" in engine.requests[0]["messages"][0]["content"]
