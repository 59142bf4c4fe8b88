"""A tiny real fine-tuning run through the shared server: a few steps on a handful of examples, exported as a
llama.cpp LoRA GGUF, registered as ft:NAME and served through the official openai SDK."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from hanlin.tuning.examples import make_support_replies as ex

pytestmark = pytest.mark.e2e
pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")
pytest.importorskip("gguf")


def wait_done(base_url: str, job_id: str, timeout: float = 1500) -> dict:  # type: ignore[type-arg]
    # a fresh connection per poll: while training keeps the CPU busy, a pooled keep-alive connection can be
    # closed by the server between polls
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = httpx.get(f"{base_url}/fine_tuning/jobs/{job_id}", timeout=60).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job  # type: ignore[no-any-return]
        time.sleep(3)
    raise AssertionError(f"fine-tuning job {job_id} still {job['status']} after {timeout}s")


def test_bad_lines_are_refused_before_training(server) -> None:  # type: ignore[no-untyped-def]
    good = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]})
    body = {"model": "qwen2.5-coder-0.5b-instruct", "training_data": "\n".join([good, "oops", good, "{}"])}
    r = httpx.post(server.base_url + "/fine_tuning/jobs", json=body, timeout=120)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert [e["line"] for e in err["errors"]] == [2, 4]
    assert httpx.get(server.base_url + "/fine_tuning/jobs", timeout=30).json()["data"] == []


def test_tiny_job_trains_exports_and_serves_ft_model(server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from openai import OpenAI

    openai_client = OpenAI(base_url=server.base_url, api_key="unused", timeout=600, max_retries=2)
    train = tmp_path / "train.jsonl"
    lines = (ex.HERE / "support_replies.train.jsonl").read_text("utf-8").splitlines()
    train.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    val = tmp_path / "val.jsonl"
    val.write_text("\n".join(lines[4:6]) + "\n", encoding="utf-8")

    train_file = openai_client.files.create(file=train.open("rb"), purpose="fine-tune")
    val_file = openai_client.files.create(file=val.open("rb"), purpose="fine-tune")
    job = openai_client.fine_tuning.jobs.create(
        model="qwen2.5-coder-0.5b-instruct", training_file=train_file.id, validation_file=val_file.id, suffix="ci-tiny",
        extra_body={"hyperparameters": {"max_steps": 2, "batch_size": 2, "layers": 2, "rank": 4}})
    assert job.status in ("queued", "running") and job.model == "qwen2.5-coder-0.5b-instruct"
    assert job.training_file == train_file.id
    done = wait_done(server.base_url, job.id)
    assert done["status"] == "succeeded", done["error"]
    assert done["fine_tuned_model"] == "ft:ci-tiny" and done["trained_tokens"] > 0

    events = openai_client.fine_tuning.jobs.list_events(job.id, limit=100).data
    messages = [e.message for e in events]
    assert any(m.startswith("Step 2/2: training loss=") for m in messages), messages
    assert any("validation loss" in m for m in messages)
    assert any("ft:ci-tiny" in m for m in messages)
    extra = openai_client.fine_tuning.jobs.retrieve(job.id).model_extra or {}
    assert extra["metrics"]["val_loss"] is not None and extra["metrics"]["steps"] == 2

    assert "ft:ci-tiny" in [m.id for m in openai_client.models.list().data]
    msgs = json.loads(lines[0])["messages"][:-1]
    reply = openai_client.chat.completions.create(model="ft:ci-tiny", messages=msgs, max_tokens=12, temperature=0)
    assert reply.model == "ft:ci-tiny" and reply.choices[0].message.content
    assert reply.usage and reply.usage.completion_tokens > 0

    shown = server.cli("tune", "show", job.id, "--json", "--url", server.url, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["fine_tuned_model"] == "ft:ci-tiny"
    listed = server.cli("tune", "list", "--json", "--url", server.url, timeout=120)
    assert job.id in [j["id"] for j in json.loads(listed.stdout)["data"]]
    again = httpx.post(server.base_url + "/fine_tuning/jobs", timeout=120, json={
        "model": "qwen2.5-coder-0.5b-instruct", "training_file": train_file.id, "suffix": "ci-tiny"})
    assert again.status_code == 409
