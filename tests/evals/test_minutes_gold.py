"""The minutes-gold suite: its scorer, its data (code alone must find the annotated actions), and a run through
the eval runner without shared data."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hanlin.apps.minutes.extract import extractive_items
from hanlin.apps.minutes.transcript import parse_transcript
from hanlin.engine.fake import FakeEngine
from hanlin.evals.minutes_gold import (
    GOLD_DIR,
    aggregate,
    has_keys,
    load_gold,
    normalize_numbers,
    score_meeting,
)
from hanlin.evals.runner import RunSpec, run_eval


def test_code_alone_finds_the_gold_actions() -> None:
    """With a model that returns nothing, the patterns still find the annotated action items and owners."""
    recs = []
    for g in load_gold(GOLD_DIR):
        t = parse_transcript(Path(g["path"]).read_bytes(), g["file"])
        assert set(t.speakers) == set(g["speakers"]), g["id"]
        items = extractive_items(t.utterances, t.speakers)
        recs.append(score_meeting(g, {"speakers": t.speakers, **items}))
    agg = aggregate(recs)
    assert agg["action_recall"] >= 0.8 and agg["owner_accuracy"] >= 0.9 and agg["speaker_sets_exact"] == 1.0
    assert agg["unassigned_listed"] == 0


def test_gold_scoring() -> None:
    assert normalize_numbers("一千一百万，百分之四，十月十五日") == "1100万，4%，10月15日"
    assert has_keys("提成比例提高到4%", [["提成"], ["百分之四"]])
    g = {"id": "x", "speakers": ["甲", "乙"], "decisions": [{"text": "d", "keys": [["预算"]]}],
         "actions": [{"owner": "乙", "task": "t", "keys": [["报表"]]}],
         "corrections": [{"keys": [["团建"]], "new": ["六万"], "stale": ["五万"]}], "rejected": [["十所"]],
         "unassigned": [["题库"]]}
    good = {"speakers": ["乙", "甲"], "decisions": [{"text": "预算定了，团建六万"}],
            "action_items": [{"owner": "乙", "task": "做报表"}]}
    r = score_meeting(g, good)
    assert (r["decisions_found"], r["actions_found"], r["owners_right"], r["corrections_right"]) == (1, 1, 1, 1)
    bad = {"speakers": ["甲", "乙", "会议"], "decisions": [{"text": "去十所学校，团建五万"}],
           "action_items": [{"owner": "甲", "task": "报表和题库"}]}
    r = score_meeting(g, bad)
    assert not r["speakers_exact"] and r["owners_right"] == 0 and r["decisions_found"] == 0
    assert (r["rejected_listed"], r["unassigned_listed"], r["corrections_right"]) == (1, 1, 0)


def test_suite_runs_through_the_runner_without_shared_data(tmp_path: Path) -> None:
    empty = json.dumps({"title": "会议", "summary": "讨论。", "views": [], "decisions": [], "action_items": []})
    engine = FakeEngine(responder=lambda body: empty)
    rec = asyncio.run(run_eval(engine, RunSpec(suite="minutes-gold", model="fake", data_dir=tmp_path / "none"),
                               tmp_path))
    m = rec["metrics"]
    assert rec["n"] == 5 and m["speaker_sets_exact"] == 1.0
    assert m["action_recall"] >= 0.8 and m["rejected_listed"] == 0  # the patterns alone
    assert m["decision_recall"] >= 0.8  # the patterns alone (tuned on this set: the held-out set is the real test)
