"""Evals on a scripted FakeEngine: constrained answers, scoring, resume after an interrupt (a real kill), reports,
the job API. The real model is exercised in test_evals_e2e.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hanlin.engine.fake import FakeEngine
from hanlin.errors import BadRequest
from hanlin.evals import mcq
from hanlin.evals.base import default_data_dir
from hanlin.evals.report import PUBLISHED_LABEL, build_report
from hanlin.evals.runner import RunSpec, load_results, run_eval

SUBJECTS = {"STEM": ["physics", "math"], "Humanities": ["law"]}


def make_ceval(root: Path, per_subject: int = 5) -> Path:
    """A tiny C-Eval-shaped folder: gold answers cycle A, B, C, D, A..."""
    for category, subjects in SUBJECTS.items():
        folder = root / "ceval_val" / category
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(per_subject):
            q = f"{subjects[0]}题{i}：哪一项正确？\nA. 甲{i}\nB. 乙{i}\nC. 丙{i}\nD. 丁{i}"
            lines.append(json.dumps({"id": i, "inputs_pretokenized": q, "choices_pretokenized": [" A", " B", " C", " D"],
                                     "label": i % 4, "targets_pretokenized": ["ABCD"[i % 4]]}, ensure_ascii=False))
        for subject in subjects:
            (folder / f"{subject}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def gold_of(request: dict[str, Any]) -> str:
    """The fake model 'knows' the answer: it reads the index back from the question text."""
    text = text_of(request).rsplit("\n\n", 1)[-1]
    i = int(text.split("题", 1)[1].split("：", 1)[0])
    return "ABCD"[i % 4]


def grammar_letters(request: dict[str, Any]) -> list[str]:
    return [part.strip().strip('"') for part in request["grammar"].split("::=", 1)[1].split("|")]


class LlamaLikeFake(FakeEngine):
    """A FakeEngine that says it is llama.cpp (so the runner uses the letter grammar), optionally slow."""

    def __init__(self, responder: Any, delay: float = 0.0) -> None:
        super().__init__("fake-llama", responder=responder)
        self.info.kind = "llamacpp"
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0

    async def _tracked(self, call: Any, request: dict[str, Any]) -> dict[str, Any]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return dict(await call(request))
        finally:
            self.in_flight -= 1

    async def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self._tracked(super().chat, request)

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self._tracked(super().complete, request)


def text_of(request: dict[str, Any]) -> str:
    """The exam text of a request: the completion prompt, or the chat's user message."""
    return str(request.get("prompt") or request["messages"][-1]["content"])


def run(engine: Any, home: Path, data: Path, suite: str = "ceval", **kw: Any) -> dict[str, Any]:
    spec = RunSpec(suite=suite, model=engine.info.name, data_dir=data, **kw)
    return asyncio.run(run_eval(engine, spec, home))


# ---- prompts and constrained answers --------------------------------------------------------------------------
def test_request_is_constrained_to_the_choice_letters() -> None:
    item = mcq.MCQItem("x/1", "law", "问题？", ["甲", "乙", "丙"], 2)
    body = mcq.answer_request(item, [], "grammar")
    assert body["grammar"] == 'root ::= "A" | "B" | "C"' and body["max_tokens"] <= 5 and body["temperature"] == 0
    body = mcq.answer_request(item, [], "json")
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["enum"] == ["A", "B", "C"] and "grammar" not in body
    assert "答案：" in body["messages"][-1]["content"]


def test_logprobs_mode_asks_for_one_constrained_token_with_letter_logprobs() -> None:
    item = mcq.MCQItem("x/1", "law", "问题？", ["甲", "乙", "丙", "丁"], 2)
    body = mcq.answer_request(item, [], "logprobs")
    assert body["grammar"] == 'root ::= "A" | "B" | "C" | "D"' and body["max_tokens"] == 1
    assert body["logprobs"] is True and body["top_logprobs"] >= 4
    resp = {"choices": [{"logprobs": {"content": [{"top_logprobs": [
        {"token": "B", "logprob": -0.5}, {"token": " A", "logprob": -1.0}, {"token": "答案", "logprob": -2.0},
        {"token": "A", "logprob": -3.0}, {"token": "C", "logprob": -4.0}]}]}}]}
    # " A" is the likelier spelling of A; D is missing from the top tokens
    assert mcq.letter_logprobs(resp, "ABCD") == {"A": -1.0, "B": -0.5, "C": -4.0, "D": mcq.MISSING_LOGPROB}
    assert mcq.letter_logprobs({"choices": [{"message": {"content": "B"}}]}, "ABCD") is None


class BiasedLogprobFake(LlamaLikeFake):
    """A model with a strong prior for "B" that still ranks the right letter second: the constrained answer is
    always B, and only its log-probabilities carry the knowledge."""

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._with_logprobs(request, await super().complete(request))

    async def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._with_logprobs(request, await super().chat(request))

    def _with_logprobs(self, request: dict[str, Any], resp: dict[str, Any]) -> dict[str, Any]:
        gold = gold_of(request)
        lp = {x: -4.0 for x in "ABCD"}
        lp["B"] = -0.2
        lp[gold] = -0.2 if gold == "B" else -1.5
        top = sorted(({"token": x, "logprob": v} for x, v in lp.items()), key=lambda t: -t["logprob"])
        resp["choices"][0]["logprobs"] = {"content": [{"token": "B", "logprob": lp["B"], "top_logprobs": top}]}
        return resp


def test_batch_calibration_removes_a_letter_prior_without_labels(tmp_path: Path) -> None:
    data = make_ceval(tmp_path / "data", per_subject=8)  # 24 items, gold cycles A,B,C,D
    rec = run(BiasedLogprobFake(lambda r: "B"), tmp_path / "h", data)
    m = rec["metrics"]
    assert m["calibrated"] is True and m["accuracy_uncalibrated"] == 0.25 and m["top_letter_share_uncalibrated"] == 1.0
    assert m["accuracy"] == 1.0 and m["top_letter_share"] < 0.5
    assert set(rec["items"].values()) == {True} and len(rec["items"]) == 24
    # switched off, or too few items to estimate the prior: the plain constrained answer is the score
    off = run(BiasedLogprobFake(lambda r: "B"), tmp_path / "h2", data, options={"calibrate": "none"})
    few = run(BiasedLogprobFake(lambda r: "B"), tmp_path / "h3", data, limit=mcq.MIN_CALIBRATION_ITEMS - 1)
    assert off["metrics"]["calibrated"] is False and off["metrics"]["accuracy"] == 0.25
    assert few["metrics"]["calibrated"] is False and few["metrics"]["top_letter_share"] == 1.0
    assert "accuracy_uncalibrated" not in off["metrics"] and "accuracy_uncalibrated" not in few["metrics"]
    with pytest.raises(BadRequest, match="calibrate"):
        run(BiasedLogprobFake(lambda r: "B"), tmp_path / "h4", data, options={"calibrate": "maybe"})


def test_in_process_models_get_the_exam_as_a_completion_and_chat_on_request(tmp_path: Path) -> None:
    data = make_ceval(tmp_path / "data", per_subject=2)
    plain = LlamaLikeFake(gold_of)
    rec = run(plain, tmp_path / "h1", data)
    assert rec["metrics"]["accuracy"] == 1.0 and all("messages" not in r for r in plain.requests)
    first = plain.requests[0]
    assert first["prompt"].startswith("以下是中国关于") and first["prompt"].endswith("答案：") and first["max_tokens"] == 1
    assert first["grammar"] == 'root ::= "A" | "B" | "C" | "D"' and first["n_probs"] >= 4
    chat = LlamaLikeFake(gold_of)
    rec = run(chat, tmp_path / "h2", data, options={"prompt": "chat"})
    assert rec["metrics"]["accuracy"] == 1.0 and all(r["messages"][0]["role"] == "system" for r in chat.requests)
    with pytest.raises(BadRequest, match="prompt=completion"):  # an upstream has no grammar-constrained completion
        run(FakeEngine("up"), tmp_path / "h3", data, options={"prompt": "completion"})


def test_parse_answer_accepts_only_a_choice() -> None:
    assert mcq.parse_answer("B", "ABCD") == "B"
    assert mcq.parse_answer('"C"  \n', "ABCD") == "C"
    assert mcq.parse_answer("E", "ABCD") is None
    assert mcq.parse_answer("答案是B", "ABCD") is None  # free text is never mined for a letter
    assert mcq.parse_answer("", "AB") is None


def test_few_shot_exemplars_carry_answers_and_exclude_the_item() -> None:
    items = [mcq.MCQItem(f"s/{i}", "s", f"问{i}", ["a", "b"], i % 2) for i in range(3)]
    msgs = mcq.build_messages(items[0], items[1:3])
    text = msgs[-1]["content"]
    assert text.count("答案：") == 3 and "问1" in text and "答案：A" in text and text.endswith("答案：")


def test_ceval_choices_may_span_lines() -> None:
    q, choices = mcq._split_ceval_question("程序输出？\nA. x\ny\nB. 1\nC. 2\nD. 3")
    assert q == "程序输出？" and choices == ["x\ny", "1", "2", "3"]


# ---- scoring ----------------------------------------------------------------------------------------------------
def test_perfect_and_constant_models_score_as_expected(tmp_path: Path) -> None:
    data = make_ceval(tmp_path / "data")
    perfect = LlamaLikeFake(gold_of)
    rec = run(perfect, tmp_path / "h1", data)
    assert rec["n"] == 15 and rec["metrics"]["accuracy"] == 1.0 and rec["metrics"]["invalid"] == 0
    assert all(r.get("grammar") for r in perfect.requests)
    always_a = LlamaLikeFake(lambda r: "A")
    rec = run(always_a, tmp_path / "h2", data)
    # gold cycles A,B,C,D,A over 5 items per subject: 2 of 5 are A
    assert rec["metrics"]["correct"] == 6 and rec["metrics"]["accuracy"] == pytest.approx(0.4)
    assert rec["breakdown"]["physics"] == {"accuracy": 0.4, "n": 5, "correct": 2}
    assert rec["metrics"]["top_letter_share"] == 1.0 and rec["metrics"]["best_constant_accuracy"] == 0.4
    assert rec["breakdown"]["[STEM]"]["n"] == 10
    assert rec["published"] and all("zero-shot" in k for k in rec["published"])


def test_upstream_engines_get_the_json_schema_and_bad_replies_count_as_wrong(tmp_path: Path) -> None:
    data = make_ceval(tmp_path / "data", per_subject=4)
    eng = FakeEngine("up", responder=lambda r: '"B"' if "乙1" in r["messages"][-1]["content"] else "不知道")
    rec = run(eng, tmp_path / "h", data)
    assert all("response_format" in r and "grammar" not in r for r in eng.requests)
    assert rec["metrics"]["correct"] == 3 and rec["metrics"]["invalid"] == 9  # item 1 of each subject is B


def test_limit_interleaves_subjects_and_items_run_in_parallel(tmp_path: Path) -> None:
    data = make_ceval(tmp_path / "data")
    eng = LlamaLikeFake(gold_of, delay=0.02)
    rec = run(eng, tmp_path / "h", data, limit=6)
    assert rec["n"] == 6 and {k for k in rec["breakdown"] if not k.startswith("[")} == {"law", "math", "physics"}
    assert eng.max_in_flight == 4  # the engine's slots, not one at a time


def test_task_option_selects_subjects_and_unknown_is_explained(tmp_path: Path) -> None:
    data = make_ceval(tmp_path / "data")
    rec = run(LlamaLikeFake(gold_of), tmp_path / "h", data, options={"task": "law"})
    assert rec["n"] == 5
    with pytest.raises(BadRequest, match="Subjects: law, math, physics"):
        run(LlamaLikeFake(gold_of), tmp_path / "h", data, options={"task": "chemistry"})


def test_missing_data_folder_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="--data"):
        run(LlamaLikeFake(gold_of), tmp_path / "h", tmp_path / "nowhere")


# ---- resume -----------------------------------------------------------------------------------------------------
def test_failed_run_resumes_from_the_cache(tmp_path: Path) -> None:
    data = make_ceval(tmp_path / "data")
    calls = {"n": 0}

    def flaky(request: dict[str, Any]) -> str:
        calls["n"] += 1
        if calls["n"] > 7:
            raise RuntimeError("engine died")
        return gold_of(request)

    with pytest.raises(RuntimeError):
        run(LlamaLikeFake(flaky), tmp_path / "h", data)
    cached = len(list((tmp_path / "h" / "evals").glob("*.jsonl"))[0].read_text().splitlines())
    assert 7 <= cached < 15
    second = LlamaLikeFake(gold_of)
    rec = run(second, tmp_path / "h", data)
    assert len(second.requests) == 15 - cached and rec["new_items"] == 15 - cached
    assert rec["n"] == 15 and rec["metrics"]["accuracy"] == 1.0


KILL_SCRIPT = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.evals.test_evals_unit import LlamaLikeFake, gold_of
from hanlin.evals.runner import RunSpec, run_eval
eng = LlamaLikeFake(gold_of, delay=0.3)
asyncio.run(run_eval(eng, RunSpec(suite="ceval", model="fake-llama", data_dir=Path({data!r})), Path({home!r})))
"""


def test_killed_process_resumes_from_the_cache(tmp_path: Path) -> None:
    """SIGKILL a real eval process mid-run; the rerun asks only what the cache lacks."""
    data = make_ceval(tmp_path / "data", per_subject=20)  # 60 items, 4 at a time, 0.3 s each: ~4.5 s
    home = tmp_path / "h"
    script = KILL_SCRIPT.format(root=str(Path(__file__).resolve().parents[2]), data=str(data), home=str(home))
    proc = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ))
    cache_file = None
    deadline = time.time() + 120
    while time.time() < deadline:
        files = list((home / "evals").glob("*.jsonl")) if (home / "evals").exists() else []
        if files and len(files[0].read_text().splitlines()) >= 8:
            cache_file = files[0]
            break
        assert proc.poll() is None, "the eval process ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert cache_file is not None
    cached_ids = {json.loads(x)["id"] for x in cache_file.read_text().splitlines() if x.strip().endswith("}")}
    assert 8 <= len(cached_ids) < 60
    second = LlamaLikeFake(gold_of)
    rec = run(second, home, data)
    asked = {text_of(r) for r in second.requests}
    assert len(second.requests) <= 60 - len(cached_ids) + 1  # at most one torn line is asked again
    assert len(asked) == len(second.requests)
    assert rec["n"] == 60 and rec["metrics"]["accuracy"] == 1.0


def test_cache_key_separates_shots_but_not_limit(tmp_path: Path) -> None:
    data = make_ceval(tmp_path / "data")
    run(LlamaLikeFake(gold_of), tmp_path / "h", data, limit=5)
    again = LlamaLikeFake(gold_of)
    run(again, tmp_path / "h", data, limit=9)
    assert len(again.requests) == 4  # the first 5 came from the cache
    shots = LlamaLikeFake(gold_of)
    rec = run(shots, tmp_path / "h", data, limit=3, shots=2)
    assert len(shots.requests) == 3 and rec["shots"] == 2
    assert text_of(shots.requests[0]).count("答案：") == 3


# ---- report -----------------------------------------------------------------------------------------------------
def test_report_compares_models_with_published_numbers_labelled(tmp_path: Path) -> None:
    data = make_ceval(tmp_path / "data")
    home = tmp_path / "h"
    good, bad = LlamaLikeFake(gold_of), LlamaLikeFake(lambda r: "D")
    good.info.name, bad.info.name = "model-good", "model-bad"
    run(good, home, data)
    run(bad, home, data)
    records = load_results(home)
    assert {r["model"] for r in records} == {"model-good", "model-bad"}
    out = build_report(records, tmp_path / "out" / "report.md")
    md = Path(out["report"]).read_text(encoding="utf-8")
    assert "| ceval 0-shot | 20.0% (15) | 100.0% (15) |" in md  # columns sorted: model-bad, model-good
    assert PUBLISHED_LABEL in md and "GPT-4" in md
    assert "accuracy on the 15 items all answered" in md
    png = Path(out["chart"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


# ---- real data loaders (skipped where the shared data is absent) ------------------------------------------------
@pytest.mark.skipif(not (default_data_dir() / "ceval_val").exists(), reason="shared eval data not present")
def test_real_data_loaders_read_every_item() -> None:
    root = default_data_dir()
    ceval = mcq.load_ceval(root / "ceval_val")
    assert len(ceval) == 52 and sum(map(len, ceval.values())) == 1346
    assert all(len(i.choices) == 4 and i.subject_zh for items in ceval.values() for i in items)
    cmmlu = mcq.load_cmmlu_split(root / "cmmlu", "test")
    assert len(cmmlu) == 67 and sum(map(len, cmmlu.values())) == 11582
    assert cmmlu["agronomy"][0].category == "Other"
    counts = {t: len(mcq.fewclue_items(t, root / "fewclue" / t, "test_public")) for t in mcq.FEWCLUE_TASKS}
    assert counts == {"ocnli": 2520, "cluewsc": 976, "chid": 2002, "bustm": 1772, "eprstmt": 610, "tnews": 2010}


# ---- job API ----------------------------------------------------------------------------------------------------
def test_eval_api_job_runs_and_reports(fake_services: Any, fake_client: Any, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_ceval(tmp_path / "data")
    fake_services.settings.eval_data = data
    fake_services.engines.loaded()["fake"].responder = lambda r: json.dumps(gold_of(r))
    r = fake_client.post("/v1/evals", json={"suite": "ceval", "model": "fake", "limit": 6})
    assert r.status_code == 202, r.text
    eval_id = r.json()["id"]
    assert r.headers["location"] == f"/v1/evals/{eval_id}"
    deadline = time.time() + 30
    body: dict[str, Any] = {}
    while time.time() < deadline:
        body = fake_client.get(f"/v1/evals/{eval_id}").json()
        if body["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert body["state"] == "succeeded", body
    assert body["result"]["n"] == 6 and body["result"]["metrics"]["accuracy"] == 1.0 and body["progress"] == 1.0
    assert fake_client.get("/v1/evals/job-nope").status_code == 404
    bad = fake_client.post("/v1/evals", json={"suite": "nope"})
    assert bad.status_code == 404 and "ceval" in bad.json()["error"]["message"]
    assert fake_client.post("/v1/evals", json={"suite": "ceval", "model": "fake", "shots": 50}).status_code == 400
    suites = {s["name"] for s in fake_client.get("/v1/evals/suites").json()["data"]}
    assert {"ceval", "cmmlu", "ocnli", "cluewsc", "chid"} <= suites


def test_custom_app_is_evaluated_through_the_chat_service(fake_services: Any, fake_client: Any,
                                                          tmp_path: Path) -> None:
    fake_services.settings.eval_data = make_ceval(tmp_path / "data")
    engine = fake_services.engines.loaded()["fake"]
    engine.responder = lambda r: json.dumps(gold_of(r))
    created = fake_client.post("/v1/custom-apps", json={"name": "答题助手", "system_prompt": "你是严谨的考官。"})
    if created.status_code == 404:
        pytest.skip("custom apps are not installed")
    assert created.status_code == 201, created.text
    r = fake_client.post("/v1/evals", json={"suite": "ceval", "model": "app:答题助手", "limit": 3})
    assert r.status_code == 202, r.text
    deadline = time.time() + 30
    body: dict[str, Any] = {}
    while time.time() < deadline:
        body = fake_client.get(f"/v1/evals/{r.json()['id']}").json()
        if body["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert body["state"] == "succeeded", body
    assert body["result"]["model"] == "app:答题助手" and body["result"]["metrics"]["accuracy"] == 1.0
    # the app's system prompt reached the engine, and the answer was constrained by the JSON schema
    assert all("response_format" in q for q in engine.requests)
    assert any("你是严谨的考官。" in str(q["messages"]) for q in engine.requests)


def test_one_engine_blip_is_retried_but_a_dead_engine_fails(tmp_path: Path) -> None:
    from hanlin.errors import EngineError

    data = make_ceval(tmp_path / "data", per_subject=2)
    calls = {"n": 0}

    def blip(request: dict[str, Any]) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise EngineError("upstream timed out")
        return gold_of(request)

    rec = run(LlamaLikeFake(blip), tmp_path / "h1", data)
    assert rec["n"] == 6 and rec["metrics"]["accuracy"] == 1.0 and calls["n"] == 7

    def dead(request: dict[str, Any]) -> str:
        raise EngineError("upstream unreachable")

    with pytest.raises(EngineError):
        run(LlamaLikeFake(dead), tmp_path / "h2", data)
