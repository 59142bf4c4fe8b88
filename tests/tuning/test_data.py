"""Training-data validation, hyperparameter checks, example-task rule and the REST error shapes (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hanlin.errors import BadRequest, UnprocessableInput
from hanlin.tuning import data
from hanlin.tuning.examples import make_support_replies as ex
from hanlin.tuning.service import _event_num, _hyper

GOOD = {"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "您好"}]}


def write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "train.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_valid_file_loads_every_example(tmp_path: Path) -> None:
    p = write(tmp_path, [json.dumps(GOOD, ensure_ascii=False)] * 3 + [""])
    ds = data.validate(p)
    assert len(ds.examples) == 3 and ds.ok


def test_every_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    lines = [
        json.dumps(GOOD),  # 1 ok
        "{not json",  # 2
        json.dumps({"prompt": "x"}),  # 3 no messages
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}),  # 4 no assistant reply at the end
        json.dumps({"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}),  # 5
        "",  # 6 blank: skipped
        json.dumps({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "y"}]}),  # 7
        json.dumps([1, 2]),  # 8
        json.dumps(GOOD),  # 9 ok
    ]
    with pytest.raises(UnprocessableInput) as err:
        data.validate(write(tmp_path, lines))
    reported = [e["line"] for e in err.value.extra["errors"]]
    assert reported == [2, 3, 4, 5, 7, 8]
    assert "line 2" in err.value.message and "line 8" in err.value.message
    assert "role" in err.value.extra["errors"][3]["message"]


def test_missing_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnprocessableInput):
        data.validate(tmp_path / "nope.jsonl")
    bad = tmp_path / "gbk.jsonl"
    bad.write_bytes("你好".encode("gbk"))
    with pytest.raises(UnprocessableInput, match="UTF-8"):
        data.validate(bad)


def test_empty_file_needs_examples(tmp_path: Path) -> None:
    with pytest.raises(UnprocessableInput, match="at least 1"):
        data.validate(write(tmp_path, [""]))


def test_hyperparameters_are_checked() -> None:
    h = _hyper({"n_epochs": 3, "learning_rate": "auto"})
    assert h["n_epochs"] == 3 and h["learning_rate"] == 3e-4
    with pytest.raises(BadRequest, match="Unknown hyperparameter"):
        _hyper({"warmup": 3})
    with pytest.raises(BadRequest, match="rank"):
        _hyper({"rank": 0})
    with pytest.raises(BadRequest, match="learning_rate"):
        _hyper({"learning_rate": 5})


def test_event_cursor_parsing() -> None:
    assert _event_num("ftevent-12") == 12 and _event_num("7") == 7 and _event_num(None) == 0
    with pytest.raises(BadRequest):
        _event_num("abc")


def test_bundled_example_follows_its_own_rule() -> None:
    for split in ("train", "heldout"):
        rows = [json.loads(x) for x in (ex.HERE / f"support_replies.{split}.jsonl").read_text("utf-8").splitlines()]
        assert len(rows) == (200 if split == "train" else 40)
        for r in rows:
            user, reply = r["messages"][1]["content"], r["messages"][2]["content"]
            assert ex.follows_format(reply, user)
            assert ex.category_correct(reply, r["metadata"]["category"])
        data.validate(ex.HERE / f"support_replies.{split}.jsonl")


def test_format_rule_rejects_near_misses() -> None:
    user = "快递三天没更新了，订单号123456。"
    good = "【类别】物流\n【回复】您好，我们已登记。——翰林客服\n【工单号】HL-123456"
    assert ex.follows_format(good, user)
    assert not ex.follows_format(good.replace("HL-123456", "HL-654321"), user)  # wrong ticket number
    assert not ex.follows_format(good.replace("【类别】物流", "【类别】其他"), user)
    assert not ex.follows_format(good.replace("——翰林客服", ""), user)
    assert not ex.follows_format("您好，已为您处理。", user)


def test_train_and_heldout_do_not_share_examples() -> None:
    def users(split: str) -> set[str]:
        lines = (ex.HERE / f"support_replies.{split}.jsonl").read_text("utf-8").splitlines()
        return {json.loads(x)["messages"][1]["content"] for x in lines}

    assert not users("train") & users("heldout")


def test_api_reports_bad_lines_and_unknown_things(fake_client) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    r = fake_client.post("/v1/fine_tuning/jobs", json={"model": "no-such-model", "training_data": "{}"})
    assert r.status_code == 404 and "Known models" in r.json()["error"]["message"]
    assert fake_client.get("/v1/fine_tuning/jobs").json() == {"object": "list", "data": [], "has_more": False}
    r = fake_client.get("/v1/fine_tuning/jobs/job-nope")
    assert r.status_code == 404
    r = fake_client.post("/v1/fine_tuning/jobs/job-nope/cancel")
    assert r.status_code == 404
